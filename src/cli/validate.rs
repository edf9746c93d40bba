//! `sluice validate`: checks a pipeline config and its input files.

use std::path::PathBuf;

use super::UsageError;
use sluice::config::InputSpec;
use sluice::source::FileSource;
use sluice::source::kafka::admin::{KafkaError, topic_partitions};

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
    let features = match &spec.source.input {
        InputSpec::File { path, format } => {
            let source = FileSource::open(path, *format, &spec.source.columns, &spec.config_path)
                .map_err(|e| UsageError(e.to_string()))?;
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
        "{}: ok (pipeline `{}`{variants}, {} features: {})",
        config.display(),
        spec.name,
        features.len(),
        features.join(", ")
    );
    Ok(())
}
