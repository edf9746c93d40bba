//! `sluice validate`: checks a pipeline config and its input files.

use std::path::PathBuf;

use super::UsageError;
use sluice::config::InputSpec;
use sluice::source::kafka::admin::{KafkaError, topic_partitions};
use sluice::source::{FileSource, Source};

// The arguments of `sluice validate`.
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Pipeline config (TOML).
    config: PathBuf,
}

/// Loads the config, opens its input and evaluation files (or reaches the source's brokers and
/// topic), and prints what it found.
pub fn run(args: ValidateArgs) -> anyhow::Result<()> {
    let config = args.config;
    let spec = sluice::config::load(&config)?;
    let mut decoded = String::new();
    let features = match &spec.source.input {
        InputSpec::File { path, format } => {
            let source = FileSource::open(path, *format, &spec.source.columns, &spec.config_path)
                .map_err(|e| UsageError(e.to_string()))?;
            decoded = check_head(&source, spec.source.max_dead_letter_ratio)?;
            source.feature_names().to_vec()
        }
        InputSpec::Kafka(k) => {
            // Reach the brokers as `run` would, without creating anything.
            let found = topic_partitions(&k.cluster, &k.topic)?;
            if found.is_none() && !k.create_topic {
                return Err(KafkaError::MissingTopic {
                    brokers: k.cluster.brokers.clone(),
                    topic: k.topic.clone(),
                }
                .into());
            }
            spec.source
                .columns
                .feature_columns
                .clone()
                .unwrap_or_default()
        }
    };
    sluice::pipeline::check_model_input(&spec, features.len()).map_err(super::run_failure)?;
    sluice::pipeline::check_eval_files(&spec, &features).map_err(super::run_failure)?;
    let variants = if spec.variants.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = spec.variants.iter().map(|v| v.name.as_str()).collect();
        format!(", {} variants: {}", names.len(), names.join(", "))
    };
    println!(
        "{}: ok (pipeline `{}`{variants}, {} features: {}){decoded}",
        config.display(),
        spec.name,
        features.len(),
        features.join(", ")
    );
    Ok(())
}

/// Rows of a file source `validate` decodes.
const HEAD_ROWS: usize = 1000;

/// Decodes the first rows of `source` as a run would. `Err` (exit 1, as the run would end)
/// when more than `max_ratio` of them would be dead-lettered, naming the first; else what
/// was decoded, for the `ok` line.
fn check_head(source: &FileSource, max_ratio: f64) -> anyhow::Result<String> {
    let (samples, dead) = source.read_head(HEAD_ROWS)?;
    let rows = samples.len() + dead.len();
    if dead.len() as f64 > max_ratio * rows as f64 {
        let first = &dead[0];
        anyhow::bail!(
            "{} of the first {rows} rows of {} would be dead-lettered, more than \
             source.max_dead_letter_ratio = {max_ratio} allows; the first: {}: {}",
            dead.len(),
            source.name(),
            first.location,
            first.reason
        );
    }
    Ok(match dead.len() {
        0 => format!("; the first {rows} rows decode"),
        n => format!(
            "; of the first {rows} rows, {n} would be dead-lettered, the first: {}: {}",
            dead[0].location, dead[0].reason
        ),
    })
}
