//! The ingest graph the ingest benches run (shared by `kafka_ingest` and `stage_clock`):
//! batches of samples in columns, split by owner as the source loop splits them, exchanged to
//! their owner, the sample store column by column, an amount trigger every 10,000 samples, new-data
//! selection and training-set assembly, probed at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sluice::source::Rows;
use sluice::store::SampleStore;
use sluice_dataflows::selection::{AssembleTrainingSets, NewData, Select};
use sluice_dataflows::triggers::{DataAmount, TriggerCounted, TriggerOptions};
use sluice_dataflows::{Time, owner, route};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Exchange, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle, Scope};

/// Builds the graph in `scope`; `ingested` counts the samples stored.
pub fn ingest_graph(
    scope: Scope<'_, Time>,
    store: Arc<SampleStore>,
    ingested: Arc<AtomicU64>,
) -> (InputHandleVec<Time, Rows>, ProbeHandle<Time>) {
    let (input, samples) = scope.new_input::<Rows>();
    // Each batch is one owner's (see `send`): its first key routes it.
    let metas = samples.exchange(|r: &Rows| route(r.keys[0])).unary(
        Pipeline,
        "Store: Samples",
        move |_, _| {
            move |input, output| {
                input.for_each_stamp(|cap, data| {
                    let mut session = output.session(&cap);
                    for rows in data.flat_map(|d| d.drain(..)) {
                        let rejected = store.insert(
                            (0..rows.len())
                                .map(|i| (rows.keys[i], rows.labels[i], rows.features_of(i))),
                        );
                        assert!(rejected.is_empty());
                        ingested.fetch_add(rows.len() as u64, Ordering::Relaxed);
                        session.give_iterator((0..rows.len()).map(|i| rows.meta(i)));
                    }
                });
            }
        },
    );
    // As a run's amount trigger: counted, a tally per worker and time to worker 0.
    let triggers = metas
        .clone()
        .trigger_counted(Box::new(DataAmount::new(10_000)), TriggerOptions::default())
        .triggers;
    let sets = metas
        .select(triggers.clone(), NewData::default())
        .training_sets(triggers);
    let (probe, _) = sets.probe();
    (input, probe)
}

/// Sends `rows` into `input` split by owner among `peers` workers, as the source loop does.
pub fn send(input: &mut InputHandleVec<Time, Rows>, rows: Rows, peers: usize) {
    for part in rows.split_by(peers, |key| owner(key, peers)) {
        if !part.is_empty() {
            input.send(part);
        }
    }
}
