//! The `sluice` command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sluice::UsageError;
use sluice::config::{ConfigErrors, InputSpec};
use sluice::datasets::{self, OutputFormat};
use sluice::pipeline::{self, Replay, RunOptions};
use sluice::source::{FileSource, Window};

/// Continuous training of ML models on streams.
///
/// Exit codes: 0 success, 1 runtime failure, 2 bad usage or config.
#[derive(Parser, Debug)]
#[command(name = "sluice", version, about, long_about = None)]
struct Cli {
    /// Log filter (tracing env-filter syntax), e.g. `info` or `sluice=debug`; also RUST_LOG.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a pipeline: replay its source, fire triggers, train and store a model per trigger.
    Run {
        /// Pipeline config (TOML).
        config: PathBuf,
        /// Run directory for events and models [default: runs/<pipeline>-<UTC time>]. A Kafka
        /// run directory that holds checkpoints resumes after the newest one.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Timely worker threads (per process).
        #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        workers: u16,
        /// Timely processes of the run, each started with its own --process (timely's `-n`).
        /// Process 0 writes the run directory and trains; the others read their share of the
        /// source and send it to process 0. Every process takes the same config and --workers.
        #[arg(short = 'n', long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        processes: u16,
        /// This process's index, from 0 (timely's `-p`).
        #[arg(short, long, default_value_t = 0)]
        process: u16,
        /// Addresses of the processes: line i is process i's `host:port` [default:
        /// localhost:2101, localhost:2102, …].
        #[arg(long)]
        hostfile: Option<PathBuf>,
        /// Read only samples at or after this event time: Unix ms, YYYY-MM-DD or
        /// YYYY-MM-DDTHH:MM[:SS[.mmm]][Z] (UTC). A topic is read from the first message whose
        /// timestamp is at or after it.
        #[arg(long, value_parser = sluice::parse_time, value_name = "TIME")]
        replay_from: Option<u64>,
        /// Read only samples before this event time (same forms); a partition ends at its first
        /// sample at or after it. With a window, a Kafka source is replayed up to the end
        /// offsets it had at start unless its config says `until = "follow"`.
        #[arg(long, value_parser = sluice::parse_time, value_name = "TIME")]
        replay_until: Option<u64>,
        /// Stop after this many triggers (a resumed run counts those before the checkpoint):
        /// their models are trained, then the run ends. With a followed topic, the way to end
        /// an online run.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_triggers: Option<u64>,
        /// Rewrite `<run dir>/status.json` and emit a `status` event per variant on the metrics
        /// stream every this many seconds (0: only when the run ends); `sluice status` reads it.
        #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = seconds)]
        status_every: f64,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// How far a run is (its `status.json`): per variant the watermark, the lag behind the
    /// source, samples, triggers, the model in service, the training queue and the last
    /// evaluation.
    Status {
        /// Run directory of `sluice run`.
        run_dir: PathBuf,
        /// Print `status.json` as it is.
        #[arg(long)]
        json: bool,
    },
    /// Re-run evaluation on a run's stored models, without training: every handler of the
    /// run's `[evaluation]` (or of --config's), `manual` ones included.
    Evaluate {
        /// Run directory of `sluice run`.
        run_dir: PathBuf,
        /// A TOML file whose `[evaluation]` replaces the run's (its paths are relative to it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where events and the summary go [default: <run-dir>/evaluate].
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Plots and an index.html from run directories: metric over time with the composite
    /// models, the evaluation matrix, cost per stage, triggers; for several runs, cost and
    /// triggers vs metric (runs of the same pipeline name are seeds).
    Report {
        /// Run directories.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Output directory [default: the run directory's `report/` for one run, `report/`
        /// otherwise].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Evaluation handler to plot [default: the first with a currently-active aggregate].
        #[arg(long, requires_all = ["dataset", "metric"])]
        handler: Option<String>,
        /// Evaluation dataset to plot (with --handler).
        #[arg(long, requires = "handler")]
        dataset: Option<String>,
        /// Metric to plot (with --handler).
        #[arg(long, requires = "handler")]
        metric: Option<String>,
    },
    /// Check a pipeline config and its input files; print every error.
    Validate {
        /// Pipeline config (TOML).
        config: PathBuf,
    },
    /// Translate a Modyn pipeline (YAML) into a Sluice config (TOML).
    ///
    /// Keys with a Sluice equivalent are translated; every other key is a note (on stderr, and
    /// as comments at the top of the TOML) saying what was done or what to do instead. The
    /// `[source]` and evaluation datasets are placeholder files named after Modyn's dataset ids.
    /// Exit code 2 names the key path and line of a missing or malformed Modyn key.
    ImportModyn {
        /// Modyn pipeline file (YAML).
        pipeline: PathBuf,
        /// Write the TOML to this file [default: stdout].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Publish a dataset (a CSV/Arrow file, or a bundled dataset by name) to a Kafka topic as a
    /// stream, in event-time order per partition: one JSON object per row, or Arrow IPC
    /// messages of many rows.
    Produce {
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
    },
    /// Print a topic's messages (events) as JSON lines.
    Tail {
        /// Topic, e.g. `quickstart.models`.
        topic: String,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Start at the beginning instead of the end.
        #[arg(long)]
        from_beginning: bool,
        /// Keep waiting for new messages (otherwise stop at the end offsets seen at start).
        #[arg(long)]
        follow: bool,
    },
    /// Bundled datasets.
    Datasets {
        #[command(subcommand)]
        command: DatasetsCommand,
    },
    /// Models in a run's model store.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ModelsCommand {
    /// Write a model's full weights as a safetensors file (rebuilt from deltas and
    /// decompressed when `[model_storage]` stored it incrementally).
    Export {
        /// Run directory (holds `models/`).
        run_dir: PathBuf,
        /// Model id, e.g. `quickstart-0007`.
        model_id: String,
        /// Output file [default: `<model_id>.safetensors` in the current directory].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum DatasetsCommand {
    /// List the bundled datasets.
    List,
    /// Generate a dataset as `<name>.<ext>` (stream) and `<name>_test.<ext>` (held-out).
    Prepare {
        /// Dataset name (see `datasets list`).
        name: String,
        /// Output directory.
        #[arg(long, default_value = "data")]
        out: PathBuf,
        /// Rows to generate, stream and held-out together [default: the dataset's].
        #[arg(long)]
        rows: Option<usize>,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Csv)]
        format: OutputFormat,
        /// How a concept stream (sea, stagger, agrawal, rbf) changes concepts.
        #[arg(long, value_enum, default_value_t = datasets::DriftKind::Abrupt)]
        drift: datasets::DriftKind,
        /// Directory of a packaged dataset's raw files [default: where its package installs
        /// them, e.g. /usr/share/datasets/fashion-mnist].
        #[arg(long)]
        source: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cli.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<ConfigErrors>().is_some();
            eprintln!("error: {e:#}");
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run {
            config,
            out,
            workers,
            processes,
            process,
            hostfile,
            replay_from,
            replay_until,
            max_triggers,
            status_every,
            quiet,
        } => {
            let spec = sluice::config::load(&config)?;
            let window = Window::new(replay_from, replay_until).map_err(UsageError)?;
            let opts = RunOptions {
                out,
                workers: workers as usize,
                processes: processes as usize,
                process: process as usize,
                hostfile,
                progress: !quiet && std::io::stderr().is_terminal(),
                replay: Replay {
                    window,
                    max_triggers,
                    follow: false,
                },
                status_every: std::time::Duration::from_secs_f64(status_every),
            };
            if process > 0 {
                let s = pipeline::follow(&spec, &opts)?;
                println!(
                    "{}: process {} of {}: read {} samples ({} dead-lettered) in {:.1} s and sent them to process 0",
                    s.pipeline, s.process, s.processes, s.read, s.dead_letters, s.wall_s
                );
                return Ok(());
            }
            let s = pipeline::run(&spec, &opts)?;
            let acc = in_service(&s.evaluation);
            let processes = if s.processes > 1 {
                format!(" in {} processes", s.processes)
            } else {
                String::new()
            };
            let window = if s.replay.window.is_unbounded() {
                String::new()
            } else {
                format!(" in {}", s.replay.window)
            };
            let limit = s
                .replay
                .max_triggers
                .map(|m| format!(" (at most {m})"))
                .unwrap_or_default();
            for v in &s.variants {
                println!(
                    "  variant {}: {} triggers, {} models, {:.1} s training{}; {}",
                    v.variant.as_deref().unwrap_or_default(),
                    v.triggers,
                    v.models,
                    v.training_s,
                    in_service(&v.evaluation),
                    v.run_dir.display()
                );
            }
            let sweep = if s.variants.is_empty() {
                String::new()
            } else {
                format!(" of {} variants", s.variants.len())
            };
            println!(
                "{}: {} samples{window} ({} dead-lettered), {} triggers{limit}, {} models{sweep} in {:.1} s ({:.1} s training, {} workers{processes}){acc}; run dir {}",
                s.pipeline,
                s.samples,
                s.dead_letters,
                s.triggers,
                s.models,
                s.wall_s,
                s.training_s,
                s.workers,
                s.run_dir.display()
            );
        }
        Command::Status { run_dir, json } => {
            let status = pipeline::status::read(&run_dir)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status).expect("status serialises")
                );
            } else {
                print!(
                    "{}",
                    pipeline::status::render(&status, sluice::sink::unix_ms())
                );
            }
        }
        Command::Evaluate {
            run_dir,
            config,
            out,
            quiet,
        } => {
            let s = pipeline::evaluate(
                &run_dir,
                config.as_deref(),
                out,
                !quiet && std::io::stderr().is_terminal(),
            )?;
            let composite = in_service(&s.evaluation);
            println!(
                "{}: {} models, {} evaluations ({} inferences) in {:.1} s{composite}; events in {}",
                s.pipeline,
                s.models,
                s.evaluation.evaluations,
                s.evaluation.inferences,
                s.evaluation.evaluation_s,
                s.out.display()
            );
        }
        Command::Report {
            runs,
            out,
            handler,
            dataset,
            metric,
        } => {
            let out = out.unwrap_or_else(|| match runs.as_slice() {
                [one] => one.join("report"),
                _ => PathBuf::from("report"),
            });
            let focus = match (handler, dataset, metric) {
                (Some(handler), Some(dataset), Some(metric)) => Some(sluice::report::Focus {
                    handler,
                    dataset,
                    metric,
                }),
                _ => None,
            };
            let r = sluice::report::report(&runs, &out, focus)?;
            println!(
                "report of {} run(s): {} plot files{}; open {}",
                runs.len(),
                r.plots.len(),
                r.focus
                    .map(|(h, d, m)| format!(" ({m} on {d}, handler {h})"))
                    .unwrap_or_default(),
                r.index.display()
            );
        }
        Command::Validate { config } => {
            let spec = sluice::config::load(&config)?;
            let features = match &spec.source.input {
                InputSpec::File { path, format } => {
                    let source =
                        FileSource::open(path, *format, &spec.source.columns, &spec.config_path)
                            .map_err(|e| UsageError(e.to_string()))?;
                    source.feature_names().to_vec()
                }
                InputSpec::Kafka(_) => spec
                    .source
                    .columns
                    .feature_columns
                    .clone()
                    .unwrap_or_default(),
            };
            sluice::pipeline::check_model_input(&spec, features.len())?;
            sluice::pipeline::check_eval_files(&spec, &features)?;
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
        }
        Command::ImportModyn { pipeline, out } => {
            let text = std::fs::read_to_string(&pipeline)
                .map_err(|e| UsageError(format!("{}: cannot read: {e}", pipeline.display())))?;
            let import = sluice::modyn::import_modyn(&text, &pipeline)
                .map_err(|e| UsageError(e.to_string()))?;
            match &out {
                Some(path) => std::fs::write(path, &import.toml)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{}", import.toml),
            }
            for n in &import.notes {
                eprintln!(
                    "note: {}:{}: {}: {}: {}",
                    pipeline.display(),
                    n.line,
                    n.key,
                    n.kind,
                    n.message
                );
            }
            if let Some(path) = out {
                println!(
                    "{} -> {} ({} notes; fill in the placeholders, then `sluice validate {}`)",
                    pipeline.display(),
                    path.display(),
                    import.notes.len(),
                    path.display()
                );
            }
        }
        Command::Produce {
            dataset,
            topic,
            cluster,
            partitions,
            rate,
            format,
            batch_rows,
            key_column,
            time_column,
            time_unit,
        } => {
            if partitions < 1 {
                return Err(UsageError("--partitions: expected an integer > 0".into()).into());
            }
            if batch_rows < 1 {
                return Err(UsageError("--batch-rows: expected an integer > 0".into()).into());
            }
            let format = match format.as_str() {
                "json" => sluice::config::ValueFormat::Json,
                "arrow" => sluice::config::ValueFormat::Arrow,
                other => {
                    return Err(UsageError(format!(
                        "--format: expected json or arrow, found `{other}`"
                    ))
                    .into());
                }
            };
            let time_unit = match time_unit.as_str() {
                "ms" => sluice::config::TimeUnit::Ms,
                "s" => sluice::config::TimeUnit::S,
                other => {
                    return Err(UsageError(format!(
                        "--time-unit: expected ms or s, found `{other}`"
                    ))
                    .into());
                }
            };
            let path = PathBuf::from(&dataset);
            let rows = if path.is_file() {
                sluice::source::kafka::read_rows(&path)?
            } else if datasets::DATASETS.iter().any(|d| d.name == dataset) {
                datasets::rows(&dataset, None)?
            } else {
                return Err(UsageError(format!(
                    "`{dataset}` is neither a file nor a bundled dataset"
                ))
                .into());
            };
            let opts = sluice::source::kafka::ProduceOptions {
                cluster: cluster.cluster()?,
                topic: topic.clone(),
                partitions,
                rate,
                format,
                batch_rows,
                key_column: (!key_column.is_empty()).then_some(key_column),
                time_column,
                time_unit,
                progress: std::io::stderr().is_terminal(),
            };
            let r = sluice::source::kafka::produce(rows, &opts)?;
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
        }
        Command::Tail {
            topic,
            cluster,
            from_beginning,
            follow,
        } => {
            let opts = sluice::sink::kafka::TailOptions {
                cluster: cluster.cluster()?,
                topic,
                from_beginning,
                follow,
            };
            let stdout = std::io::stdout();
            if let Err(e) = sluice::sink::kafka::tail(&opts, &mut stdout.lock()) {
                // A closed pipe (`sluice tail … | head`) is the reader's choice, not a failure.
                let closed = e
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
                if !closed {
                    return Err(e);
                }
            }
        }
        Command::Models {
            command:
                ModelsCommand::Export {
                    run_dir,
                    model_id,
                    out,
                },
        } => {
            let dir = run_dir.join("models");
            if !dir.is_dir() {
                return Err(
                    UsageError(format!("{}: no models/ directory", run_dir.display())).into(),
                );
            }
            let store = sluice::store::ModelStore::create(&dir, Default::default())?;
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{model_id}.safetensors")));
            store.export(&model_id, &out)?;
            println!("{model_id} -> {}", out.display());
        }
        Command::Datasets { command } => match command {
            DatasetsCommand::List => {
                for d in datasets::DATASETS {
                    println!(
                        "{:<12} {:>7} rows  {}",
                        d.name, d.default_rows, d.description
                    );
                }
            }
            DatasetsCommand::Prepare {
                name,
                out,
                rows,
                seed,
                format,
                drift,
                source,
            } => {
                let written =
                    datasets::prepare(&name, &out, rows, seed, format, drift, source.as_deref())?;
                for (path, n) in written {
                    match path.extension().and_then(|e| e.to_str()) {
                        Some("json") => println!("{}: {n} drift points", path.display()),
                        _ => println!("{}: {n} rows", path.display()),
                    }
                }
            }
        },
    }
    Ok(())
}

/// `; <metric> of the model in service …` for the summary line: the first currently-active
/// aggregate, or nothing.
fn in_service(e: &sluice::eval::EvalReport) -> String {
    e.aggregates
        .iter()
        .find(|a| a.composite == "currently_active")
        .map(|a| {
            format!(
                "; {} of the model in service {:.3} (time-weighted over {} intervals of `{}` on {})",
                a.metric, a.time_weighted_avg, a.intervals, a.handler, a.dataset
            )
        })
        .unwrap_or_default()
}

/// Where `produce` and `tail` connect.
#[derive(clap::Args, Debug)]
struct ClusterArgs {
    /// Bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// A Kafka security setting, KEY=VALUE (`security.protocol`, `sasl.*`, `ssl.*`);
    /// repeatable.
    #[arg(long = "kafka", value_name = "KEY=VALUE")]
    kafka: Vec<String>,
    /// A Kafka security setting whose value is environment variable NAME (secrets such as
    /// `sasl.password` must come this way); repeatable.
    #[arg(long = "kafka-env", value_name = "KEY=NAME")]
    kafka_env: Vec<String>,
}

impl ClusterArgs {
    /// The brokers with their settings; a bad setting is a usage error (exit 2).
    fn cluster(self) -> Result<sluice::config::KafkaCluster, UsageError> {
        Ok(sluice::config::KafkaCluster {
            properties: sluice::config::KafkaProperties::from_flags(&self.kafka, &self.kafka_env)
                .map_err(UsageError)?,
            brokers: self.brokers,
        })
    }
}

/// A number of seconds ≥ 0.
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s >= 0.0 && s.is_finite() => Ok(s),
        _ => Err(format!("`{text}` is not a number of seconds ≥ 0")),
    }
}
