//! Trigger policies and the operator that runs them.
//!
//! | file | responsibility |
//! |---|---|
//! | `policy.rs` | the [`TriggerPolicy`] trait: a pure decision over samples in stream order |
//! | `amount.rs` | [`DataAmount`]: every N samples |
//! | `time.rs` | [`TimeTrigger`]: every fixed span of event time |
//! | `operator.rs` | [`Trigger`]: runs a policy over the ordered stream, emits [`TriggerEvent`]s |
//!
//! [`TriggerEvent`]: crate::TriggerEvent

mod amount;
mod operator;
mod policy;
mod time;

pub use amount::DataAmount;
pub use operator::Trigger;
pub use policy::{Fire, TriggerPolicy};
pub use time::TimeTrigger;
