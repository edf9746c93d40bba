//! `drift`: fire when the current window's data drifts away from the reference window's
//! (Modyn's `DataDriftTrigger`), decided every `evaluation_interval_data_points` samples by
//! [`Batched`](super::Batched).
//!
//! Each decision samples up to `sample_size` keys of each window (seeded, deterministic), reads
//! their vectors through the [`Probe`](super::Probe) (raw features, or the embeddings of the
//! model of the latest trigger), measures every configured metric, lets each metric's criterion
//! vote and aggregates the votes. A fire moves the current window into the reference.
//!
//! Reuse: the reference's vectors and statistics are computed once per reference (they change
//! only on a trigger, or with the model for embeddings), so a decision costs the current
//! window's vectors and the cross terms.
//!
//! Warm-up (dynamic criteria): the reference window of each warm-up interval (the current one,
//! before the first trigger) is kept; at the last warm-up interval the metrics are measured
//! between each of them and the current window to seed the criteria's history, as Modyn does.
//!
//! Checkpoints hold the windows, the detector's reference vectors (raw features or embeddings,
//! as read then: the statistics derived from them are recomputed identically), each criterion's
//! history, the model, whether the reference is stale, the warm-up references, and how many
//! random draws were made (each draw's generator is seeded by its number).

use serde::{Deserialize, Serialize};

use super::batched::{IntervalPolicy, Outcome};
use super::policy::{Context, Details, ModelInfo, State, from_state, to_state};
use crate::drift::{
    Aggregation, Criterion, Decider, Detector, MetricSpec, Summary, Vectors, WindowContents,
    WindowSpec, Windows,
};
use crate::sample::{Position, SampleMeta, route};

/// A drift trigger's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftConfig {
    /// Window bounds.
    pub windows: WindowSpec,
    /// Keys sampled per window per decision (`None`: all).
    pub sample_size: Option<usize>,
    /// Compare model embeddings instead of raw features.
    pub embeddings: bool,
    /// Metrics, each with its criterion.
    pub metrics: Vec<MetricSpec>,
    /// How the metrics' votes combine.
    pub aggregation: Aggregation,
    /// Seed of the window sampling and permutation tests.
    pub seed: u64,
}

/// The drift policy (wrap it in [`Batched`](super::Batched)).
pub struct DataDrift {
    config: DriftConfig,
    windows: Windows,
    detector: Detector,
    deciders: Vec<Decider>,
    model: Option<String>,
    /// The detector's reference is stale (the window or the model changed).
    stale: bool,
    warmup_references: Vec<Vec<SampleMeta>>,
    draws: u64,
}

/// What a checkpoint holds of a [`DataDrift`] policy.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DriftState {
    windows: WindowContents,
    /// The detector's reference (`None`: none measured yet).
    reference: Option<SavedVectors>,
    /// Each metric's criterion history, in configuration order.
    histories: Vec<Vec<f64>>,
    model: Option<String>,
    stale: bool,
    warmup_references: Vec<Vec<SampleMeta>>,
    draws: u64,
}

/// [`Vectors`] with their f32 values widened to f64, which JSON text round-trips exactly.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedVectors {
    dim: usize,
    data: Vec<f64>,
}

impl SavedVectors {
    fn new(v: &Vectors) -> Self {
        Self {
            dim: v.dim,
            data: v.data.iter().map(|&x| f64::from(x)).collect(),
        }
    }

    fn vectors(self) -> Result<Vectors, String> {
        if self.dim == 0 || !self.data.len().is_multiple_of(self.dim) {
            return Err(format!(
                "DataDrift: checkpoint's reference has {} values, not rows of {}",
                self.data.len(),
                self.dim
            ));
        }
        let data: Vec<f32> = self.data.iter().map(|&x| x as f32).collect();
        if let Some(x) = self.data.iter().find(|&&x| f64::from(x as f32) != x) {
            return Err(format!(
                "DataDrift: checkpoint's reference holds {x}, not an f32 value"
            ));
        }
        Ok(Vectors::new(self.dim, data))
    }
}

impl DataDrift {
    /// A drift policy; `config.metrics` must not be empty (validated by the config).
    pub fn new(config: DriftConfig) -> Self {
        assert!(
            !config.metrics.is_empty(),
            "drift needs at least one metric"
        );
        Self {
            windows: Windows::new(config.windows.clone()),
            deciders: config
                .metrics
                .iter()
                .map(|m| Decider::new(m.criterion.clone()))
                .collect(),
            config,
            detector: Detector::new(),
            model: None,
            stale: true,
            warmup_references: Vec::new(),
            draws: 0,
        }
    }

    /// Samples held by the windows (memory stays bounded by the configuration).
    pub fn held(&self) -> usize {
        self.windows.held() + self.warmup_references.iter().map(Vec::len).sum::<usize>()
    }

    /// A generator for the `draws`-th random draw of this policy.
    fn rng(&mut self) -> impl FnMut() -> u64 + use<> {
        self.draws += 1;
        let mut state = route(self.config.seed ^ route(self.draws));
        move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            route(state)
        }
    }

    /// Up to `sample_size` samples of `window`, drawn without replacement.
    fn sample(&mut self, window: impl Iterator<Item = SampleMeta>) -> Vec<Position> {
        let mut keys: Vec<Position> = window.map(|s| s.position()).collect();
        if let Some(k) = self.config.sample_size
            && k < keys.len()
        {
            let mut rng = self.rng();
            for i in 0..k {
                let j = i + (rng() % (keys.len() - i) as u64) as usize;
                keys.swap(i, j);
            }
            keys.truncate(k);
        }
        keys
    }

    fn vectors(&mut self, keys: &[Position], ctx: &mut Context<'_>) -> Result<Vectors, String> {
        let model = if self.config.embeddings {
            Some(
                self.model
                    .as_deref()
                    .ok_or("drift on embeddings: no model trained yet")?,
            )
        } else {
            None
        };
        ctx.probe.vectors(keys, model)
    }

    /// Measures every metric between `reference` (unless the detector's is still valid) and
    /// `current`; feeds the distances to the criteria. Returns the votes and the numbers.
    fn detect(
        &mut self,
        reference: Option<Vec<SampleMeta>>,
        current: Vec<SampleMeta>,
        ctx: &mut Context<'_>,
    ) -> Result<(usize, Details, Vec<String>), String> {
        if let Some(reference) = reference {
            let keys = self.sample(reference.into_iter());
            let v = self.vectors(&keys, ctx)?;
            self.detector.set_reference(v);
        }
        let keys = self.sample(current.into_iter());
        let cur = Summary::new(self.vectors(&keys, ctx)?);
        let mut details = vec![("current_samples".to_string(), cur.rows() as f64)];
        let mut votes = 0;
        let mut words = Vec::new();
        for (i, m) in self.config.metrics.clone().iter().enumerate() {
            let alpha = match m.criterion {
                Criterion::PValue(a) => a,
                _ => 0.05,
            };
            let mut rng = self.rng();
            let r = self.detector.measure(&m.kind, alpha, &cur, &mut rng);
            let v = self.deciders[i].decide(r.distance, r.test_drift);
            details.push((format!("{}.distance", m.name), r.distance));
            if let Some(t) = v.threshold {
                details.push((format!("{}.threshold", m.name), t));
            }
            if let Some(p) = r.p_value {
                details.push((format!("{}.p_value", m.name), p));
            }
            details.push((format!("{}.drift", m.name), f64::from(u8::from(v.drift))));
            if v.drift {
                votes += 1;
                words.push(match v.threshold {
                    Some(t) => format!("{} {:.4} >= {:.4}", m.name, r.distance, t),
                    None if matches!(m.criterion, Criterion::PValue(_)) => {
                        format!("{} {:.4} (test rejects at {alpha})", m.name, r.distance)
                    }
                    None => format!("{} {:.4} (first)", m.name, r.distance),
                });
            }
        }
        Ok((votes, details, words))
    }

    fn reference_if_stale(&mut self) -> Option<Vec<SampleMeta>> {
        let stale = std::mem::replace(&mut self.stale, false);
        stale.then(|| self.windows.reference.iter().copied().collect())
    }
}

impl IntervalPolicy for DataDrift {
    fn name(&self) -> &str {
        "DataDrift"
    }

    fn oldest_needed(&self) -> Option<Position> {
        // Warm-up references are copies of windows, in stream order too.
        let warmup = self
            .warmup_references
            .iter()
            .filter_map(|w| w.first().map(SampleMeta::position));
        self.windows.oldest().into_iter().chain(warmup).min()
    }

    fn warmup(
        &mut self,
        interval: &[SampleMeta],
        calibrate: bool,
        ctx: &mut Context<'_>,
    ) -> Result<Details, String> {
        self.windows.inform_data(interval);
        let needs_calibration = self.config.metrics.iter().any(|m| m.criterion.is_dynamic());
        if needs_calibration {
            let first = self.windows.reference.is_empty();
            let w = if first {
                &self.windows.current
            } else {
                &self.windows.reference
            };
            self.warmup_references.push(w.iter().copied().collect());
        }
        let mut details = Vec::new();
        if calibrate && needs_calibration {
            let current: Vec<SampleMeta> = self.windows.current.iter().copied().collect();
            for reference in std::mem::take(&mut self.warmup_references) {
                if reference.len() < 2 || current.len() < 2 {
                    continue;
                }
                // Each warm-up reference against the current window seeds the criteria.
                let (_, d, _) = self.detect(Some(reference), current.clone(), ctx)?;
                details = d;
            }
            self.stale = true;
        }
        if !calibrate {
            // Windows reset as if drift was detected while the warm-up decides (a fire also
            // resets them, through `on_trigger`).
            self.on_trigger();
        }
        Ok(details)
    }

    fn decide(
        &mut self,
        interval: &[SampleMeta],
        ctx: &mut Context<'_>,
    ) -> Result<Outcome, String> {
        self.windows.inform_data(interval);
        let (n_ref, n_cur) = (self.windows.reference.len(), self.windows.current.len());
        if n_ref < 2 || n_cur < 2 {
            let details = vec![
                ("reference_window".into(), n_ref as f64),
                ("current_window".into(), n_cur as f64),
            ];
            return Ok((false, String::new(), details));
        }
        let reference = self.reference_if_stale();
        let current: Vec<SampleMeta> = self.windows.current.iter().copied().collect();
        let (votes, mut details, words) = self.detect(reference, current, ctx)?;
        details.push(("reference_window".into(), n_ref as f64));
        details.push(("current_window".into(), n_cur as f64));
        details.push(("votes".into(), votes as f64));
        let drift = self
            .config
            .aggregation
            .decide(votes, self.config.metrics.len());
        Ok((drift, words.join(", "), details))
    }

    fn needs_models(&self) -> bool {
        self.config.embeddings
    }

    fn inform_model(&mut self, model: &ModelInfo) {
        // Raw features do not depend on the model (and its report comes at no fixed point).
        if self.config.embeddings && model.model.is_some() && model.model != self.model {
            self.model = model.model.clone();
            self.stale = true;
        }
    }

    /// The current window (and reservoir) moves into the reference, as Modyn does when a new
    /// model arrives.
    fn on_trigger(&mut self) {
        self.windows.inform_trigger();
        self.stale = true;
    }

    fn save(&self) -> State {
        to_state(&DriftState {
            windows: self.windows.contents(),
            reference: self.detector.reference().map(SavedVectors::new),
            histories: self.deciders.iter().map(Decider::history).collect(),
            model: self.model.clone(),
            stale: self.stale,
            warmup_references: self.warmup_references.clone(),
            draws: self.draws,
        })
    }

    fn restore(&mut self, state: State) -> Result<(), String> {
        let state: DriftState = from_state(self.name(), state)?;
        if state.histories.len() != self.deciders.len() {
            return Err(format!(
                "DataDrift: checkpoint has {} criteria, the configuration {}",
                state.histories.len(),
                self.deciders.len()
            ));
        }
        for ((d, h), m) in self
            .deciders
            .iter_mut()
            .zip(state.histories)
            .zip(&self.config.metrics)
        {
            d.set_history(h)
                .map_err(|e| format!("DataDrift: metric {}: {e}", m.name))?;
        }
        self.detector = Detector::new();
        if let Some(v) = state.reference {
            self.detector.set_reference(v.vectors()?);
        }
        self.windows.set_contents(state.windows);
        self.model = state.model;
        self.stale = state.stale;
        self.warmup_references = state.warmup_references;
        self.draws = state.draws;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;
    use crate::drift::{Criterion, MetricKind};
    use crate::triggers::policy::{
        Probe, TriggerPolicy, assert_refuses_wrong_states, assert_resumes_at_every_fire,
        fire_in_batches_with, no_model,
    };
    use crate::triggers::{Batched, DataAmount, Warmup};
    use proptest::prelude::*;

    /// One feature: the key's segment of 10,000.
    struct Segments;

    impl Probe for Segments {
        fn vectors(&mut self, at: &[Position], _: Option<&str>) -> Result<Vectors, String> {
            let keys: Vec<Key> = at.iter().map(|p| p.key).collect();
            Ok(Vectors::new(
                2,
                keys.iter()
                    .flat_map(|k| [(k / 10_000) as f32, (k % 7) as f32 * 0.01])
                    .collect(),
            ))
        }
        fn predict(&mut self, _: &[Position], _: &str) -> Result<Vec<i64>, String> {
            unreachable!()
        }
    }

    fn policy(windows: WindowSpec) -> Batched<DataDrift> {
        Batched::new(
            DataDrift::new(DriftConfig {
                windows,
                sample_size: Some(64),
                embeddings: false,
                metrics: vec![MetricSpec {
                    name: "e".into(),
                    kind: MetricKind::Euclidean,
                    criterion: Criterion::Threshold(0.5),
                }],
                aggregation: Aggregation::MajorityVote,
                seed: 1,
            }),
            250,
            None,
        )
    }

    #[test]
    fn windows_stay_bounded_on_a_long_stream_and_each_segment_change_fires() {
        let stream: Vec<SampleMeta> = (0..400_000u64)
            .map(|k| SampleMeta {
                time: k / 2,
                key: k,
                label: 0,
            })
            .collect();
        for windows in [
            WindowSpec::Amount {
                reference: 1_000,
                current: 500,
                allow_overlap: false,
            },
            WindowSpec::Time {
                reference: 600,
                current: 300,
                allow_overlap: true,
            },
        ] {
            let mut p = policy(windows.clone());
            let mut peak = 0;
            let mut fires = Vec::new();
            for chunk in stream.chunks(10_000) {
                let start = chunk[0].key as usize;
                let got = fire_in_batches_with(&mut p, &mut Segments, chunk, &[]);
                fires.extend(got.iter().map(|c| start + c));
                peak = peak.max(p.policy().held());
            }
            // Amount: at most reference + max(reference, current) samples; time: the spans'
            // samples (2 per ms), whatever the stream's length.
            let bound = match windows {
                WindowSpec::Amount {
                    reference, current, ..
                } => reference + reference.max(current),
                // Reference, current and not-yet-moved spans at 2 samples per ms.
                WindowSpec::Time {
                    reference, current, ..
                } => 2 * (2 * reference + current) as usize + 8,
            };
            assert!(peak <= bound, "{windows:?}: {peak} samples held");
            // The first interval; each of the 39 changes within two decisions (a sliding current
            // window may need the second), and a few more while the reference still mixes both
            // segments; nothing else.
            assert_eq!(fires[0], 250);
            for c in (1..40).map(|i| i * 10_000) {
                let found = fires.iter().any(|f| (c + 1..=c + 500).contains(f));
                assert!(found, "{windows:?}: change at {c}: {fires:?}");
            }
            let settling =
                |f: &usize| *f == 250 || (!f.is_multiple_of(10_000) && f % 10_000 <= 1_250);
            assert!(
                fires.iter().all(settling),
                "{windows:?}: false alarms in {fires:?}"
            );
        }
    }
    /// Two features of a key: its segment of `segment` keys and noise; a model `m<k>`'s
    /// embeddings scale them by k + 1 (each model sees the data differently).
    struct Shifting {
        segment: u64,
    }

    impl Probe for Shifting {
        fn vectors(&mut self, at: &[Position], model: Option<&str>) -> Result<Vectors, String> {
            let keys: Vec<Key> = at.iter().map(|p| p.key).collect();
            let scale = model.map_or(1.0, |m| m[1..].parse::<f32>().expect("m<k>") + 1.0);
            Ok(Vectors::new(
                2,
                keys.iter()
                    .flat_map(|k| {
                        let noise = (route(*k) % 1000) as f32 / 1000.0;
                        [scale * (k / self.segment) as f32, scale * noise]
                    })
                    .collect(),
            ))
        }
        fn predict(&mut self, _: &[Position], _: &str) -> Result<Vec<i64>, String> {
            unreachable!()
        }
    }

    fn model_named(trigger: u64, samples: u64) -> ModelInfo {
        ModelInfo {
            model: Some(format!("m{trigger}")),
            ..no_model(trigger, samples)
        }
    }

    fn metric(name: &str, kind: MetricKind, criterion: Criterion) -> MetricSpec {
        MetricSpec {
            name: name.into(),
            kind,
            criterion,
        }
    }

    /// Metric sets: static thresholds; dynamic criteria (seeded in warm-up); tests with
    /// p-values (random permutations).
    fn metrics(set: usize) -> Vec<MetricSpec> {
        match set {
            0 => vec![
                metric("e", MetricKind::Euclidean, Criterion::Threshold(0.5)),
                metric("w", MetricKind::Wasserstein, Criterion::Threshold(1.0)),
                metric("h", MetricKind::Hellinger, Criterion::Threshold(0.3)),
            ],
            1 => vec![
                metric(
                    "q",
                    MetricKind::Cvm,
                    Criterion::DynamicQuantile {
                        window: 4,
                        quantile: 0.3,
                    },
                ),
                metric(
                    "r",
                    MetricKind::Euclidean,
                    Criterion::DynamicRollingAverage {
                        window: 3,
                        deviation: 0.5,
                        absolute: false,
                    },
                ),
                metric(
                    "m",
                    MetricKind::Mmd { permutations: 0 },
                    Criterion::DynamicRollingAverage {
                        window: 5,
                        deviation: 0.05,
                        absolute: true,
                    },
                ),
            ],
            _ => vec![
                metric(
                    "mmd",
                    MetricKind::Mmd { permutations: 20 },
                    Criterion::PValue(0.05),
                ),
                metric("ks", MetricKind::Ks { fdr: true }, Criterion::PValue(0.05)),
            ],
        }
    }

    fn drift(
        set: usize,
        windows: WindowSpec,
        embeddings: bool,
        warmup: usize,
        every: usize,
    ) -> Batched<DataDrift> {
        let config = DriftConfig {
            windows,
            sample_size: Some(12),
            embeddings,
            metrics: metrics(set),
            aggregation: Aggregation::AtLeast(1),
            seed: 7,
        };
        let warmup = (warmup > 0).then(|| Warmup {
            intervals: warmup,
            policy: Box::new(DataAmount::new(3 * every as u64)) as Box<dyn TriggerPolicy>,
        });
        Batched::new(DataDrift::new(config), every, warmup)
    }

    fn window_specs() -> impl Strategy<Value = WindowSpec> {
        prop_oneof![
            (4usize..40, 2usize..30, any::<bool>()).prop_map(
                |(reference, current, allow_overlap)| {
                    WindowSpec::Amount {
                        reference,
                        current,
                        allow_overlap,
                    }
                }
            ),
            (5u64..40, 3u64..30, any::<bool>()).prop_map(|(reference, current, allow_overlap)| {
                WindowSpec::Time {
                    reference,
                    current,
                    allow_overlap,
                }
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn resumes_from_a_checkpoint_at_every_fire(
            set in 0usize..3,
            windows in window_specs(),
            embeddings in any::<bool>(),
            warmup in 0usize..4,
            every in 4usize..12,
            n in 60u64..240,
            segment in 20u64..80,
            cuts in proptest::collection::vec(0usize..240, 0..6),
            resume_cuts in proptest::collection::vec(0usize..240, 0..6),
        ) {
            let s: Vec<SampleMeta> = (0..n)
                .map(|k| SampleMeta { time: k / 2, key: k, label: 0 })
                .collect();
            // A one-interval warm-up calibrates on the first interval, before any model: there
            // are no embeddings to measure yet (an error), so embeddings get two.
            let warmup = if embeddings && warmup == 1 { 2 } else { warmup };
            let new = || drift(set, windows.clone(), embeddings, warmup, every);
            let report: &dyn Fn(u64, u64) -> ModelInfo =
                if embeddings { &model_named } else { &no_model };
            let saves = assert_resumes_at_every_fire(
                new,
                &mut Shifting { segment },
                &s,
                &cuts,
                &resume_cuts,
                report,
            );
            prop_assert!(saves >= 1, "the first interval fires");
        }
    }

    #[test]
    fn resumes_after_calibration_with_references_and_histories() {
        // A warm-up of 3 intervals calibrates the dynamic criteria; the segment changes every
        // 60 keys: later fires hold histories, reference vectors and a model's embeddings.
        let s: Vec<SampleMeta> = (0..400)
            .map(|k| SampleMeta {
                time: k / 2,
                key: k,
                label: 0,
            })
            .collect();
        for embeddings in [false, true] {
            let windows = WindowSpec::Amount {
                reference: 30,
                current: 20,
                allow_overlap: false,
            };
            let new = || drift(1, windows.clone(), embeddings, 3, 10);
            let report: &dyn Fn(u64, u64) -> ModelInfo =
                if embeddings { &model_named } else { &no_model };
            let mut probe = Shifting { segment: 60 };
            let saves =
                assert_resumes_at_every_fire(new, &mut probe, &s, &[7, 95], &[13, 44], report);
            assert!(saves >= 4, "{saves} save points");
            // The states checked hold what matters.
            if embeddings {
                continue;
            }
            let mut p = new();
            fire_in_batches_with(&mut p, &mut probe, &s[..200], &[]);
            let state = p.save();
            assert!(
                state["policy"]["reference"]["data"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            );
            assert!(
                state["policy"]["histories"][0]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            );
            assert!(state["policy"]["draws"].as_u64().is_some_and(|d| d > 0));
        }
    }

    #[test]
    fn refuses_states_that_do_not_fit() {
        let windows = WindowSpec::Amount {
            reference: 30,
            current: 20,
            allow_overlap: false,
        };
        let s: Vec<SampleMeta> = (0..200)
            .map(|k| SampleMeta {
                time: k / 2,
                key: k,
                label: 0,
            })
            .collect();
        let mut p = drift(1, windows.clone(), false, 3, 10);
        fire_in_batches_with(&mut p, &mut Shifting { segment: 60 }, &s, &[]);
        assert_refuses_wrong_states(p);
        let mut p = drift(1, windows.clone(), false, 3, 10);
        fire_in_batches_with(&mut p, &mut Shifting { segment: 60 }, &s, &[]);
        let state = p.save();
        // Another metric set: other criteria.
        let got = drift(0, windows.clone(), false, 3, 10).restore(state.clone());
        assert!(got.unwrap_err().starts_with("DataDrift: metric e:"));
        let mut wrong = state.clone();
        wrong["policy"]["histories"] = serde_json::json!([[]]);
        let got = drift(1, windows.clone(), false, 3, 10).restore(wrong);
        assert!(got.unwrap_err().contains("1 criteria, the configuration 3"));
        let mut wrong = state.clone();
        wrong["policy"]["reference"] = serde_json::json!({"dim": 2, "data": [1.0, 2.0, 3.0]});
        let got = drift(1, windows.clone(), false, 3, 10).restore(wrong);
        assert!(got.unwrap_err().contains("not rows of 2"));
        let mut wrong = state;
        wrong["policy"]["reference"] = serde_json::json!({"dim": 1, "data": [0.1]});
        let got = drift(1, windows, false, 3, 10).restore(wrong);
        assert!(got.unwrap_err().contains("not an f32"));
    }
    proptest! {
        #[test]
        fn reference_vectors_round_trip_exactly(bits in proptest::collection::vec(any::<u32>(), 1..64)) {
            // Any finite f32, subnormals and extremes included, through JSON text and back.
            let data: Vec<f32> = bits
                .into_iter()
                .map(f32::from_bits)
                .filter(|x| x.is_finite())
                .collect();
            prop_assume!(!data.is_empty());
            let text = serde_json::to_string(&SavedVectors::new(&Vectors::new(1, data.clone())))
                .unwrap();
            let back = serde_json::from_str::<SavedVectors>(&text).unwrap().vectors().unwrap();
            let same = back.data.iter().zip(&data).all(|(a, b)| a.to_bits() == b.to_bits());
            prop_assert!(same && back.data.len() == data.len());
        }
    }
}
