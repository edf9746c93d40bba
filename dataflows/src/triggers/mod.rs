//! Trigger policies and the operator that runs them.
//!
//! | file | responsibility |
//! |---|---|
//! | `policy.rs` | the [`TriggerPolicy`] trait: a pure decision over samples in stream order; [`Probe`] and [`ModelInfo`], what a policy may read |
//! | `amount.rs` | [`DataAmount`]: every N samples |
//! | `time.rs` | [`TimeTrigger`]: every fixed span of event time |
//! | `batched.rs` | [`Batched`]: decide every N samples, with a warm-up policy |
//! | `drift.rs` | [`DataDrift`]: reference vs current window, drift metrics, criteria, votes |
//! | `operator.rs` | [`Trigger`]: runs a policy over the ordered stream, emits [`TriggerEvent`]s |
//!
//! [`TriggerEvent`]: crate::TriggerEvent

mod amount;
mod batched;
mod drift;
mod operator;
mod policy;
mod time;

pub use amount::DataAmount;
pub use batched::{Batched, IntervalPolicy, Warmup};
pub use drift::{DataDrift, DriftConfig};
pub use operator::{ModelFeed, Trigger, TriggerOptions};
pub use policy::{Context, Decision, Fire, ModelInfo, NoProbe, Probe, TriggerPolicy};
pub use time::TimeTrigger;
