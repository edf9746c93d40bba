//! Trigger policies built from `[trigger]`, and the probe they read payloads through.

use std::sync::Arc;

use sluice_dataflows::Key;
use sluice_dataflows::drift::Vectors;
use sluice_dataflows::triggers::{
    Batched, DataAmount, DataDrift, Probe, TimeTrigger, TriggerPolicy, Warmup,
};

use crate::config::TriggerSpec;
use crate::store::SampleStore;

/// The policy `spec` describes (recursively: warm-up policies).
pub fn build_policy(spec: &TriggerSpec) -> Box<dyn TriggerPolicy> {
    match spec {
        TriggerSpec::Amount { every } => Box::new(DataAmount::new(*every)),
        TriggerSpec::Time {
            every_ms,
            every,
            start_ms,
        } => Box::new(TimeTrigger::new(*every_ms, *start_ms, every)),
        TriggerSpec::Drift { batched, drift } => Box::new(Batched::new(
            DataDrift::new(drift.clone()),
            batched.every,
            batched.warmup.as_ref().map(|(intervals, policy)| Warmup {
                intervals: *intervals,
                policy: build_policy(policy),
            }),
        )),
    }
}

/// Reads payloads from the sample store for the trigger worker.
pub struct StoreProbe {
    samples: Arc<SampleStore>,
    labels: Vec<i64>,
}

impl StoreProbe {
    /// A probe over `samples`.
    pub fn new(samples: Arc<SampleStore>) -> Self {
        Self {
            samples,
            labels: Vec::new(),
        }
    }
}

impl Probe for StoreProbe {
    fn vectors(&mut self, keys: &[Key], model: Option<&str>) -> Result<Vectors, String> {
        if let Some(model) = model {
            return Err(format!(
                "embeddings of model {model}: not available in this build of the probe"
            ));
        }
        let mut x = Vec::new();
        self.labels.clear();
        self.samples
            .gather(keys, &mut x, &mut self.labels)
            .map_err(|e| format!("reading sample features for the trigger: {e}"))?;
        Ok(Vectors::new(self.samples.dim(), x))
    }

    fn predict(&mut self, _keys: &[Key], model: &str) -> Result<Vec<i64>, String> {
        Err(format!(
            "predictions of model {model}: not available in this build of the probe"
        ))
    }
}
