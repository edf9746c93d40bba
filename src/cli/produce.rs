//! `sluice produce`: publishes a dataset (a file, or a bundled dataset by name) to a topic.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::UsageError;
use sluice::datasets;

use super::cluster::ClusterArgs;

// The arguments of `sluice produce`.
#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    /// File path, or the name of a bundled dataset (see `datasets list`).
    dataset: String,
    /// Topic (created when missing).
    #[arg(long)]
    topic: String,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Partitions when the topic is created.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Rows per second [default: as fast as possible].
    #[arg(long)]
    rate: Option<f64>,
    /// Message value encoding: `json` (a row per message) or `arrow` (an Arrow IPC stream
    /// of up to --batch-rows rows of one partition per message).
    #[arg(long, default_value = "json")]
    format: String,
    /// Rows per message with --format arrow.
    #[arg(long, default_value_t = 1000)]
    batch_rows: usize,
    /// Column used as message key and for partitioning; `""` for none.
    #[arg(long, default_value = "key")]
    key_column: String,
    /// Event-time column (the message timestamp).
    #[arg(long, default_value = "time")]
    time_column: String,
    /// Unit of the time column: ms or s.
    #[arg(long, default_value = "ms")]
    time_unit: String,
}

/// Checks the flags, reads the rows, publishes them and prints what was sent.
pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    if args.partitions < 1 {
        return Err(UsageError("--partitions: expected an integer > 0".into()).into());
    }
    if args.batch_rows < 1 {
        return Err(UsageError("--batch-rows: expected an integer > 0".into()).into());
    }
    let format = match args.format.as_str() {
        "json" => sluice::config::ValueFormat::Json,
        "arrow" => sluice::config::ValueFormat::Arrow,
        other => {
            return Err(
                UsageError(format!("--format: expected json or arrow, found `{other}`")).into(),
            );
        }
    };
    let time_unit = match args.time_unit.as_str() {
        "ms" => sluice::config::TimeUnit::Ms,
        "s" => sluice::config::TimeUnit::S,
        other => {
            return Err(
                UsageError(format!("--time-unit: expected ms or s, found `{other}`")).into(),
            );
        }
    };
    let dataset = args.dataset;
    let path = PathBuf::from(&dataset);
    let rows = if path.is_file() {
        sluice::produce::read_rows(&path)?
    } else if datasets::DATASETS.iter().any(|d| d.name == dataset) {
        datasets::rows(&dataset, None).map_err(super::dataset_failure)?
    } else {
        return Err(UsageError(format!(
            "`{dataset}` is neither a file nor a bundled dataset"
        ))
        .into());
    };
    let topic = args.topic;
    let opts = sluice::produce::ProduceOptions {
        cluster: args.cluster.cluster()?,
        topic: topic.clone(),
        partitions: args.partitions,
        rate: args.rate,
        format,
        batch_rows: args.batch_rows,
        key_column: (!args.key_column.is_empty()).then_some(args.key_column),
        time_column: args.time_column,
        time_unit,
        progress: std::io::stderr().is_terminal(),
    };
    let r = sluice::produce::produce(rows, &opts)?;
    let rows = if r.rows == r.messages {
        String::new()
    } else {
        format!(" ({} rows)", r.rows)
    };
    println!(
        "produced {} messages{rows} to {topic} ({} partitions) in {:.1} s ({:.0} rows/s)",
        r.messages,
        r.partitions,
        r.elapsed.as_secs_f64(),
        r.rows as f64 / r.elapsed.as_secs_f64().max(1e-9)
    );
    Ok(())
}
