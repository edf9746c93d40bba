//! Helpers shared by the dataflow tests.
#![allow(dead_code)]

use sluice_dataflows::SampleMeta;
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;

/// Replays this worker's share of `samples` (every `peers`-th, in order) into `input`, in chunks
/// of `chunk` records, advancing the input to each record's time and stepping after each chunk;
/// then closes the input and steps until `probe` is done.
pub fn replay(
    worker: &mut Worker,
    mut input: InputHandleVec<u64, SampleMeta>,
    probe: &ProbeHandle<u64>,
    samples: &[SampleMeta],
    chunk: usize,
) {
    let (index, peers) = (worker.index(), worker.peers());
    let mine: Vec<SampleMeta> = samples
        .iter()
        .enumerate()
        .filter(|(i, _)| i % peers == index)
        .map(|(_, s)| *s)
        .collect();
    for part in mine.chunks(chunk) {
        for s in part {
            input.advance_to(s.time);
            input.send(*s);
        }
        worker.step();
    }
    drop(input);
    while !probe.done() {
        worker.step_or_park(Some(std::time::Duration::from_millis(1)));
    }
}
