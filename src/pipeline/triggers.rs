//! Trigger policies built from `[trigger]`, and the probe they read payloads through.

use std::sync::Arc;

use sluice_dataflows::Position;
use sluice_dataflows::drift::Vectors;
use sluice_dataflows::triggers::{
    Batched, Cost, CountPolicy, DataAmount, DataDrift, Ensemble, Performance, Probe, TimeTrigger,
    TriggerPolicy, Warmup,
};

use super::context::RunContext;
use crate::config::{BatchedSpec, TriggerSpec};
use crate::store::SampleStore;
use crate::train::{ModelRunner, parse_device};

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
            warmup(batched),
        )),
        TriggerSpec::Performance {
            batched,
            performance,
        } => Box::new(Batched::new(
            Performance::new(performance.clone()),
            batched.every,
            warmup(batched),
        )),
        TriggerSpec::Cost { batched, cost } => Box::new(Batched::new(
            Cost::new(cost.clone()),
            batched.every,
            warmup(batched),
        )),
        TriggerSpec::Ensemble {
            subtriggers,
            strategy,
        } => Box::new(Ensemble::new(
            subtriggers
                .iter()
                .map(|(name, spec)| (name.clone(), build_policy(spec)))
                .collect(),
            *strategy,
        )),
    }
}

/// The policy `spec` describes when it decides from per-time counts alone (amount, time):
/// it then runs on the counted operator, which sends worker 0 a tally per worker and time
/// instead of every sample's metadata.
pub fn build_count_policy(spec: &TriggerSpec) -> Option<Box<dyn CountPolicy>> {
    match spec {
        TriggerSpec::Amount { every } => Some(Box::new(DataAmount::new(*every))),
        TriggerSpec::Time {
            every_ms,
            every,
            start_ms,
        } => Some(Box::new(TimeTrigger::new(*every_ms, *start_ms, every))),
        _ => None,
    }
}

fn warmup(batched: &BatchedSpec) -> Option<Warmup> {
    batched.warmup.as_ref().map(|(intervals, policy)| Warmup {
        intervals: *intervals,
        policy: build_policy(policy),
    })
}

/// Reads payloads from the sample store, and runs stored models on them, for the trigger
/// worker (see `train::probe` for the request path).
pub struct StoreProbe {
    samples: Arc<SampleStore>,
    lane: usize,
    runner: ModelRunner,
    x: Vec<f32>,
    labels: Vec<i64>,
}

impl StoreProbe {
    /// A probe over the run's sample store and lane `l`'s model store.
    pub fn new(shared: &RunContext, l: usize) -> Self {
        let lane = &shared.lanes[l];
        let device = parse_device(&lane.spec.training.device)
            .expect("the device was checked before the run started");
        Self {
            samples: shared.samples.clone(),
            lane: l,
            runner: ModelRunner::new(
                lane.spec.model.clone(),
                shared.samples.dim(),
                device,
                lane.models
                    .clone()
                    .expect("the trigger policy runs in the leader, which has the model store"),
                lane.run_dir.join("models"),
            ),
            x: Vec::new(),
            labels: Vec::new(),
        }
    }

    fn gather(&mut self, at: &[Position]) -> Result<(), String> {
        self.x.clear();
        self.labels.clear();
        self.samples
            .gather_at(at, &mut self.x, &mut self.labels)
            .map_err(|e| format!("reading sample features for the trigger: {e}"))
    }
}

impl Probe for StoreProbe {
    fn vectors(&mut self, at: &[Position], model: Option<&str>) -> Result<Vectors, String> {
        self.gather(at)?;
        match model {
            None => Ok(Vectors::new(
                self.samples.dim(),
                std::mem::take(&mut self.x),
            )),
            Some(id) => {
                let (dim, data) = self.runner.embed(id, &self.x)?;
                Ok(Vectors::new(dim, data))
            }
        }
    }

    fn predict(&mut self, at: &[Position], model: &str) -> Result<Vec<i64>, String> {
        self.gather(at)?;
        self.runner.predict(model, &self.x)
    }

    fn retain_from(&mut self, position: Position) {
        self.samples.retain_from(self.lane, position);
    }
}
