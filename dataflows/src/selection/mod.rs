//! Selection: which stored samples form trigger *i*'s training set.
//!
//! | file | responsibility |
//! |---|---|
//! | `policy.rs` | the [`SelectionPolicy`] trait: per-worker state over the worker's own keys |
//! | `new_data.rs` | [`NewData`]: the samples of the last `tail + 1` epochs (or all) |
//! | `reservoir.rs` | [`Reservoir`]: a uniform sample of all history with a fixed budget |
//! | `sampler.rs` | [`SetSampler`]: the global step on the assembler: reservoir budget, limit, presampling |
//! | `operator.rs` | [`Select`]: runs a policy on every worker, answers each trigger |
//! | `training_set.rs` | [`AssembleTrainingSets`]: gathers the workers' answers into one [`TrainingSet`] |
//!
//! [`TrainingSet`]: crate::TrainingSet

mod new_data;
mod operator;
mod policy;
mod reservoir;
mod sampler;
mod training_set;

pub use new_data::NewData;
pub use operator::{Select, SelectOptions, Selected, SelectionState};
pub use policy::{CandidateRow, CandidateSpill, SelectionPolicy, from_row, to_rows};
pub use reservoir::{Reservoir, priority};
pub use sampler::{LimitReset, Presample, Presampling, Sampling, SetSampler, fair_share};
pub use training_set::{AssembleTrainingSets, JoinAnswers};
