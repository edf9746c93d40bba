//! Trigger policies and the operator that runs them.
//!
//! | file | responsibility |
//! |---|---|
//! | `policy.rs` | the [`TriggerPolicy`] trait: a pure decision over samples in stream order; [`Probe`] and [`ModelInfo`], what a policy may read |
//! | `amount.rs` | [`DataAmount`]: every N samples |
//! | `time.rs` | [`TimeTrigger`]: every fixed span of event time |
//! | `batched.rs` | [`Batched`]: decide every N samples, with a warm-up policy |
//! | `drift.rs` | [`DataDrift`]: reference vs current window, drift metrics, criteria, votes |
//! | `performance.rs` | [`Performance`]: the latest model scored on each new interval, criteria on accuracy and avoidable misclassifications |
//! | `cost.rs` | [`Cost`]: regret (incorporation latency, avoidable misclassifications) vs forecast training time |
//! | `ensemble.rs` | [`Ensemble`]: sub-policies (any, recursively) vote; majority, at least N, all, any |
//! | `operator.rs` | [`Trigger`]: runs a policy over the ordered stream, emits [`TriggerEvent`]s |
//! | `counted.rs` | [`TriggerCounted`]: runs a [`CountPolicy`] (amount, time) on per-time tallies instead of every sample's metadata |
//!
//! [`TriggerEvent`]: crate::TriggerEvent

mod amount;
mod batched;
mod cost;
mod counted;
mod drift;
mod ensemble;
mod operator;
mod performance;
mod policy;
mod time;

pub use amount::DataAmount;
pub use batched::{Batched, IntervalPolicy, Outcome, Warmup};
pub use cost::{Cost, CostConfig, Regret};
pub use counted::{Tally, TriggerCounted};
pub use drift::{DataDrift, DriftConfig};
pub use ensemble::{Ensemble, EnsembleStrategy};
pub use operator::{ModelFeed, Trigger, TriggerOptions, TriggerState, TriggerStreams};
pub use performance::{Forecast, Performance, PerformanceConfig, PerformanceCriterion};
pub use policy::{
    Context, CountPolicy, Decision, Details, Fire, ModelInfo, NoProbe, Probe, State, TriggerPolicy,
};
pub use time::TimeTrigger;
