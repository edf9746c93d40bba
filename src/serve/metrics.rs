//! `/metrics`: the served runs in Prometheus text format. Each scrape puts the run
//! directories as read now (`live::Cache`) into a new registry (an exporter's const metrics:
//! the counters are the run's own, monotone as long as the run writes them). Metric names:
//! docs/metrics.md.

use std::collections::BTreeMap;

use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};

use super::live::{RunView, VariantView};

const RUN: &[&str] = &["run"];
const PARTITION: &[&str] = &["run", "partition"];
const VARIANT: &[&str] = &["run", "variant"];

/// The families of one scrape.
struct Families {
    up: GaugeVec,
    running: GaugeVec,
    status_age: GaugeVec,
    checkpoint_age: GaugeVec,
    read: IntCounterVec,
    dead: IntCounterVec,
    ingested: IntCounterVec,
    lag: GaugeVec,
    watermark: GaugeVec,
    event_lag: GaugeVec,
    triggers: IntCounterVec,
    models: IntCounterVec,
    training: prometheus::CounterVec,
    queue: GaugeVec,
    model_age: GaugeVec,
    evaluation: GaugeVec,
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<GaugeVec> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Families {
    fn new(r: &Registry) -> prometheus::Result<Self> {
        let training = prometheus::CounterVec::new(
            Opts::new(
                "sluice_training_seconds_total",
                "Wall time spent training the models stored so far",
            ),
            VARIANT,
        )?;
        r.register(Box::new(training.clone()))?;
        Ok(Self {
            up: gauge(
                r,
                "sluice_up",
                "1 if the run's status.json could be read",
                RUN,
            )?,
            running: gauge(
                r,
                "sluice_running",
                "1 while the run's status says running",
                RUN,
            )?,
            status_age: gauge(
                r,
                "sluice_status_age_seconds",
                "Seconds since status.json was written",
                RUN,
            )?,
            checkpoint_age: gauge(
                r,
                "sluice_checkpoint_age_seconds",
                "Seconds since the newest checkpoint was written",
                RUN,
            )?,
            read: counter(
                r,
                "sluice_samples_read_total",
                "Inputs read from a source partition: samples, deletions, undecodable inputs",
                PARTITION,
            )?,
            dead: counter(
                r,
                "sluice_dead_letters_total",
                "Dead letters of inputs from a source partition",
                PARTITION,
            )?,
            ingested: counter(
                r,
                "sluice_samples_ingested_total",
                "Samples decoded and stored",
                VARIANT,
            )?,
            lag: gauge(
                r,
                "sluice_consumer_lag_messages",
                "Messages up to a source partition's end offset not read yet (a file: rows)",
                PARTITION,
            )?,
            watermark: gauge(
                r,
                "sluice_watermark_seconds",
                "Ingestion watermark: event time (Unix s) before which every sample was read",
                VARIANT,
            )?,
            event_lag: gauge(
                r,
                "sluice_event_time_lag_seconds",
                "Wall time minus the watermark",
                VARIANT,
            )?,
            triggers: counter(
                r,
                "sluice_triggers_total",
                "Triggers fired, by the policy that fired",
                &["run", "variant", "reason"],
            )?,
            models: counter(
                r,
                "sluice_models_total",
                "Models trained and stored",
                VARIANT,
            )?,
            training,
            queue: gauge(
                r,
                "sluice_training_queue",
                "Training sets queued for, or in, training",
                VARIANT,
            )?,
            model_age: gauge(
                r,
                "sluice_model_age_seconds",
                "Seconds since the model in service was stored",
                VARIANT,
            )?,
            evaluation: gauge(
                r,
                "sluice_model_evaluation",
                "The newest evaluation of the model in service",
                &["run", "variant", "handler", "dataset", "metric"],
            )?,
        })
    }
}

/// The policy that fired, from a trigger's reason (`"amount: 2500 samples"` → `amount`).
fn policy(reason: &str) -> &str {
    reason.split(':').next().unwrap_or(reason).trim()
}

/// `runs` in Prometheus text format, at wall time `now_ms`.
pub fn render(runs: &[RunView], now_ms: u64) -> prometheus::Result<String> {
    let registry = Registry::new();
    let f = Families::new(&registry)?;
    let secs = |ms: u64| now_ms.saturating_sub(ms) as f64 / 1000.0;
    for run in runs {
        let r = run.name.as_str();
        f.up.with_label_values(&[r])
            .set(f64::from(u8::from(run.status.is_ok())));
        f.running
            .with_label_values(&[r])
            .set(f64::from(u8::from(run.running())));
        if let Some(t) = run.checkpoint_ms {
            f.checkpoint_age.with_label_values(&[r]).set(secs(t));
        }
        if let Ok(s) = &run.status {
            f.status_age.with_label_values(&[r]).set(secs(s.updated_ms));
            for p in &s.partitions {
                let labels = [r, &p.partition.to_string()];
                f.read.with_label_values(&labels).inc_by(p.read);
                f.dead.with_label_values(&labels).inc_by(p.dead_letters);
                if let Some(lag) = p.lag {
                    f.lag.with_label_values(&labels).set(lag as f64);
                }
            }
        }
        for v in &run.variants {
            variant(&f, r, v, now_ms);
        }
    }
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out)?;
    Ok(String::from_utf8(out).expect("the text format is UTF-8"))
}

/// A variant's families.
fn variant(f: &Families, run: &str, v: &VariantView, now_ms: u64) {
    let labels = [run, v.label()];
    // A run whose status cannot be read has no variants to speak of (`sluice_up` is 0).
    let Some(l) = &v.lane else {
        return;
    };
    f.ingested.with_label_values(&labels).inc_by(l.samples);
    f.queue.with_label_values(&labels).set(l.queue as f64);
    if let Some(w) = l.watermark {
        f.watermark
            .with_label_values(&labels)
            .set(w as f64 / 1000.0);
    }
    if let Some(ms) = l.lag_ms {
        f.event_lag
            .with_label_values(&labels)
            .set(ms as f64 / 1000.0);
    }
    if let Ok(data) = &v.data {
        let mut fired: BTreeMap<&str, u64> = BTreeMap::new();
        for t in &data.triggers {
            *fired.entry(policy(&t.reason)).or_default() += 1;
        }
        for (reason, n) in fired {
            f.triggers
                .with_label_values(&[run, v.label(), reason])
                .inc_by(n);
        }
    }
    f.models
        .with_label_values(&labels)
        .inc_by(v.models.len() as u64);
    let training_ms: f64 = v
        .models
        .iter()
        .filter_map(|m| m["training_ms"].as_f64())
        .sum();
    f.training
        .with_label_values(&labels)
        .inc_by(training_ms / 1000.0);
    let Some(model) = v.model_in_service() else {
        return;
    };
    if let Some(t) = model["wall_time_ms"].as_u64() {
        f.model_age
            .with_label_values(&labels)
            .set(now_ms.saturating_sub(t) as f64 / 1000.0);
    }
    // The newest evaluation of the model in service, per series.
    let (Some(trigger), Ok(data)) = (model["trigger_id"].as_u64(), &v.data) else {
        return;
    };
    let mut newest = BTreeMap::new();
    for e in data
        .evals
        .iter()
        .filter(|e| e.trigger == trigger && e.value.is_finite())
    {
        newest.insert((&e.handler, &e.dataset, &e.metric), e.value);
    }
    for ((handler, dataset, metric), value) in newest {
        f.evaluation
            .with_label_values(&[run, v.label(), handler, dataset, metric])
            .set(value);
    }
}
