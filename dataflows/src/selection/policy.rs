//! The selection policy trait.

use crate::sample::{Candidate, Key, Position, SampleMeta, TriggerEvent};
use crate::triggers::State;

/// A candidate in a checkpoint: (time, key, label, trigger it was first selected in).
pub type CandidateRow = (u64, Key, i64, u64);

/// `c` as checkpoint rows.
pub fn to_rows(c: &[Candidate]) -> Vec<CandidateRow> {
    c.iter()
        .map(|c| (c.pos.time, c.pos.key, c.label, c.seen_in))
        .collect()
}

/// Checkpoint rows back as candidates.
pub fn from_row(&(time, key, label, seen_in): &CandidateRow) -> Candidate {
    Candidate {
        pos: Position { time, key },
        label,
        seen_in,
    }
}

/// Where a policy puts candidates it keeps but need not hold in memory
/// (`selection.maximum_keys_in_memory`): segments on disk, provided by the caller, since this
/// crate does no I/O.
pub trait CandidateSpill {
    /// Stores `candidates`; returns a handle to read them back, or an error (the policy then
    /// keeps them in memory).
    fn put(&mut self, candidates: &[Candidate]) -> Result<u64, String>;

    /// Appends the `len` candidates stored under `handle` to `out`. Reading back what this
    /// process wrote cannot fail short of a broken disk; implementations panic then.
    fn get(&mut self, handle: u64, len: usize, out: &mut Vec<Candidate>);
}

/// Keeps the state of one worker's share of the samples and answers, for each trigger, which of
/// them are in the trigger's training set.
///
/// The operator calls [`add`](Self::add) for samples and [`select`](Self::select) for triggers,
/// interleaved in stream order: a trigger is answered after every sample up to its boundary (and
/// only those) was added.
pub trait SelectionPolicy: 'static {
    /// A readable name for operator names and logs (`"NewData"`).
    fn name(&self) -> &str;

    /// Adds the next sample (in position order).
    fn add(&mut self, sample: SampleMeta);

    /// Appends to `out` this worker's candidates for `trigger`'s training set (the assembler
    /// then samples globally, see [`SetSampler`](super::SetSampler)).
    fn select(&mut self, trigger: &TriggerEvent, out: &mut Vec<Candidate>);

    /// Moves to `out` the samples that no later trigger can select any more (dropped since the
    /// last call), so their payloads can be compacted away. Strategies over all data retire
    /// nothing.
    fn take_retired(&mut self, _out: &mut Vec<Position>) {}

    /// This worker's state for a checkpoint, taken right after answering a trigger (and taking
    /// its retired samples): every candidate it holds (spilled ones read back) and whatever
    /// else later answers depend on.
    fn save(&mut self) -> State;

    /// Restores the states *every* worker saved at one trigger into a policy freshly built from
    /// the same configuration, keeping what `owns` says is this worker's (so a checkpoint
    /// restores on any number of workers). An error names what did not fit.
    fn restore(&mut self, states: &[State], owns: &dyn Fn(Key) -> bool) -> Result<(), String>;

    /// Appends the positions of the samples it holds: those a later training set may read.
    fn held_positions(&mut self, out: &mut Vec<Position>);
}
