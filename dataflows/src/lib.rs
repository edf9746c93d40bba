//! Sluice's dataflow operators: pure timely operators over sample *metadata*, no I/O.
//!
//! Time in every dataflow is the samples' event time in Unix milliseconds ([`Time`]). Samples are
//! totally ordered by [`Position`] = (event time, key); trigger boundaries are positions, so
//! "every N samples" is exact even when many samples share a millisecond, and the results do not
//! depend on the number of workers or on how input was batched.
//!
//! | module | responsibility |
//! |---|---|
//! | [`sample`] | the records that flow: [`SampleMeta`], [`Position`], [`TriggerEvent`], key routing |
//! | [`stash`] | buffering records under capabilities until the input frontier passes their time |
//! | [`triggers`] | trigger policies (pure) and the operator that runs one over the ordered stream |
//! | [`drift`] | drift metrics, decision criteria and windows used by the drift trigger |
//! | [`moments`] | running per-feature statistics at each trigger, exact for any number of workers |
//! | [`selection`] | selection strategies: which samples form trigger *i*'s training set |
//! | [`downsampling`] | per-sample scores from trainer feedback, kept incrementally |
#![warn(missing_docs)]

pub mod downsampling;
pub mod drift;
pub mod moments;
pub mod sample;
pub mod selection;
pub mod stash;
pub mod triggers;

pub use sample::{
    BuildKeyHasher, Candidate, Key, KeyHasher, KeyMap, Position, Retraction, SampleMeta,
    SampleScore, Time, TrainingSet, TriggerEvent, owner, route,
};
