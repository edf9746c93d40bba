//! Helpers for integration tests: run the real `sluice` binary, read run directories.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run sluice")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `sluice datasets prepare <name> --out <dir> <extra…>`, which must succeed; returns its
/// stdout (a line per file written).
pub fn prepare_dataset(name: &str, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["datasets", "prepare", name, "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = sluice(&args);
    assert!(
        o.status.success(),
        "prepare {name} {extra:?} failed: {}",
        stderr(&o)
    );
    stdout(&o)
}

/// Generates the hyperplane dataset with `rows` rows into `dir` (as the CLI does).
pub fn prepare(dir: &Path, rows: usize, format: &str) {
    prepare_dataset(
        "hyperplane",
        dir,
        &["--rows", &rows.to_string(), "--format", format],
    );
}

/// A pipeline config over `<dir>/hyperplane.<ext>` with an amount trigger every `every`.
pub fn config(ext: &str, every: u64) -> String {
    format!(
        r#"
[pipeline]
name = "it"

[source]
path = "hyperplane.{ext}"
key_column = "key"
time_column = "time"
label_column = "label"

[model]
id = "mlp"
hidden = [16]
num_classes = 2

[training]
batch_size = 32
epochs_per_trigger = 3
seed = 7

[training.optimizer]
algorithm = "adam"
lr = 0.01

[trigger]
id = "amount"
every = {every}

[evaluation]
path = "hyperplane_test.{ext}"
"#
    )
}

pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Asserts that `sluice validate` rejects `cfg` (exit 2) with an error at config key `key`.
pub fn assert_invalid_at(cfg: &Path, key: &str) {
    let o = sluice(&["validate", cfg.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{}: {err}", cfg.display());
    assert!(
        err.contains(&format!("{key}:")),
        "{}: expected {key} in {err}",
        cfg.display()
    );
}

pub fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: bad line {l}: {e}", path.display()))
        })
        .collect()
}

/// `summary.json` of the run directory `run`.
pub fn summary(run: &Path) -> serde_json::Value {
    let path = run.join("summary.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The values of the `metrics` events named `name` in the run directory `run`, in order.
pub fn metric_values(run: &Path, name: &str) -> Vec<f64> {
    jsonl(&run.join("metrics.jsonl"))
        .into_iter()
        .filter(|m| m["name"] == name)
        .map(|m| m["value"].as_f64().unwrap())
        .collect()
}

/// The broker of the Kafka integration tests (`SLUICE_KAFKA`, set by .ci/run). Outside CI the
/// tests skip loudly when it is unset; in CI (`CI` set) they fail.
pub fn kafka_brokers(test: &str) -> Option<String> {
    match std::env::var("SLUICE_KAFKA") {
        Ok(b) if !b.is_empty() => Some(b),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{test}: SLUICE_KAFKA is unset in CI; .ci/run starts the broker and sets it")
        }
        _ => {
            eprintln!(
                "\n*** SKIPPED {test}: no Kafka broker (run kafka/start.sh and set SLUICE_KAFKA=127.0.0.1:9092) ***\n"
            );
            None
        }
    }
}

/// The SASL_SSL listener kafka/start.sh opens beside `brokers` (`SLUICE_KAFKA_SASL`, else the
/// port after the controller's) and the CA file of its certificate (`SLUICE_KAFKA_CA`, else
/// `$SLUICE_KAFKA_DATA/tls/ca.pem`, else kafka/data/tls/ca.pem).
pub fn sasl_listener(brokers: &str) -> (String, PathBuf) {
    let address = std::env::var("SLUICE_KAFKA_SASL").unwrap_or_else(|_| {
        let (host, port) = brokers.rsplit_once(':').expect("host:port");
        format!("{host}:{}", port.parse::<u16>().expect("port") + 2)
    });
    let ca = std::env::var_os("SLUICE_KAFKA_CA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("SLUICE_KAFKA_DATA")
                .map_or_else(
                    || Path::new(env!("CARGO_MANIFEST_DIR")).join("kafka/data"),
                    PathBuf::from,
                )
                .join("tls/ca.pem")
        });
    assert!(
        ca.is_file(),
        "{}: no CA file (kafka/start.sh writes it; set SLUICE_KAFKA_CA)",
        ca.display()
    );
    (address, ca)
}

/// A topic name no other test run uses.
pub fn unique_topic(stem: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("it-{stem}-{}-{nanos}", std::process::id())
}

/// `config(ext, every)` turned into a Kafka source on `topic`, with events to `prefix.*`.
pub fn kafka_config(brokers: &str, topic: &str, prefix: &str, every: u64) -> String {
    config("csv", every)
        .replace(
            "path = \"hyperplane.csv\"\n",
            &format!(
                "kind = \"kafka\"\nbrokers = \"{brokers}\"\ntopic = \"{topic}\"\ncreate_topic = false\nuntil = \"end\"\n\
                 feature_columns = [\"x0\", \"x1\", \"x2\", \"x3\", \"x4\", \"x5\", \"x6\", \"x7\"]\n"
            ),
        )
        + &format!("\n[output]\nbrokers = \"{brokers}\"\ntopic_prefix = \"{prefix}\"\n")
}

/// `sluice run <cfg> --out <out> -w <workers>`, which must succeed; returns its output.
pub fn run_ok(cfg: &Path, out: &Path, workers: &str) -> Output {
    run_ok_with(cfg, out, &["-w", workers])
}

/// `sluice run <cfg> --out <out> <extra…>`, which must succeed; returns its output.
pub fn run_ok_with(cfg: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = sluice(&args);
    assert!(o.status.success(), "run {}: {}", cfg.display(), stderr(&o));
    o
}

/// `sluice produce <file> --topic <topic> --partitions <p> --brokers <brokers>`, which must
/// succeed; returns its stdout.
pub fn produce_ok(brokers: &str, file: &Path, topic: &str, partitions: &str) -> String {
    produce_ok_with(brokers, file, topic, partitions, &[])
}

/// [`produce_ok`] with more arguments (`--format arrow`, ...).
pub fn produce_ok_with(
    brokers: &str,
    file: &Path,
    topic: &str,
    partitions: &str,
    extra: &[&str],
) -> String {
    let o = sluice(&produce_args(brokers, file, topic, partitions, extra));
    assert!(o.status.success(), "produce: {}", stderr(&o));
    stdout(&o)
}

/// The arguments of `sluice produce <file> --topic <topic> --partitions <p> --brokers <brokers>
/// <extra…>`.
pub fn produce_args<'a>(
    brokers: &'a str,
    file: &'a Path,
    topic: &'a str,
    partitions: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "produce",
        file.to_str().unwrap(),
        "--topic",
        topic,
        "--partitions",
        partitions,
        "--brokers",
        brokers,
    ];
    args.extend_from_slice(extra);
    args
}

/// A broker of its own (kafka/start.sh on free ports, in a temporary data dir), for tests that
/// stop and restart it; stopped and wiped on drop.
pub struct PrivateBroker {
    /// `127.0.0.1:<port>`.
    pub address: String,
    port: u16,
    data: tempfile::TempDir,
}

impl PrivateBroker {
    /// Starts it on a free port whose two successors (the controller and SASL_SSL ports) are
    /// free too. The ports lie below Linux's ephemeral range (32768 and up): while the broker
    /// is down, a client's outgoing connection could otherwise take one of them as its local
    /// port, and the restart would fail with "Address already in use".
    pub fn start() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            ^ std::process::id().rotate_left(16);
        let port = (0..200u32)
            .find_map(|i| {
                let p = 20_000 + (seed.wrapping_add(i.wrapping_mul(7919)) % 12_000) as u16;
                let _held = [p, p + 1, p + 2]
                    .map(|q| std::net::TcpListener::bind(("127.0.0.1", q)).ok())
                    .into_iter()
                    .collect::<Option<Vec<_>>>()?;
                Some(p)
            })
            .expect("three free consecutive ports");
        let b = Self {
            address: format!("127.0.0.1:{port}"),
            port,
            data: tempfile::tempdir().unwrap(),
        };
        b.up();
        b
    }

    fn script(&self, name: &str) -> Output {
        std::process::Command::new("bash")
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("kafka")
                    .join(name),
            )
            .env("SLUICE_KAFKA_PORT", self.port.to_string())
            .env("SLUICE_KAFKA_DATA", self.data.path())
            .output()
            .unwrap()
    }

    /// Starts (or restarts, keeping its data) and waits until it serves.
    pub fn up(&self) {
        let o = self.script("start.sh");
        assert!(o.status.success(), "start.sh: {}{}", stdout(&o), stderr(&o));
    }

    /// Stops it (SIGTERM, like an operator or a crash of the host).
    pub fn down(&self) {
        let o = self.script("stop.sh");
        assert!(o.status.success(), "stop.sh: {}", stderr(&o));
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.script("stop.sh");
    }
}

/// The run summary's aggregate of `handler`'s `composite` (`currently_active`,
/// `currently_trained`) for `metric`.
pub fn aggregate<'a>(
    summary: &'a serde_json::Value,
    handler: &str,
    composite: &str,
    metric: &str,
) -> &'a serde_json::Value {
    summary["evaluation"]["aggregates"]
        .as_array()
        .expect("aggregates")
        .iter()
        .find(|a| a["handler"] == handler && a["composite"] == composite && a["metric"] == metric)
        .unwrap_or_else(|| panic!("no {composite} {metric} aggregate of {handler}"))
}

/// Whether an optional test input (a packaged dataset, a browser) is there. Outside CI a
/// missing one skips the test loudly; in CI (`CI` set), where `.ci/run` installs it with
/// `setup`, it fails.
pub fn present_or_skip(what: &str, present: bool, setup: &str) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} missing in CI; .ci/run installs it ({setup})"
    );
    eprintln!("\n*** SKIPPED {what}: not installed ({setup}) ***\n");
    false
}

/// Headless Chromium (the report and dashboard tests): `SLUICE_CHROMIUM`, else `chromium` on
/// PATH.
pub fn chromium() -> Option<String> {
    let bin = std::env::var("SLUICE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let works = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    present_or_skip(
        "the headless-Chromium check",
        works,
        "scripts/setup.sh --chromium",
    )
    .then_some(bin)
}

/// A headless Chromium `bin` with a fresh `profile` directory, letting the page run for up to
/// `budget_ms` of virtual time; the caller adds what to do (`--dump-dom`, `--screenshot`)
/// and the URL.
pub fn headless(bin: &str, profile: &Path, budget_ms: u64) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        &format!("--virtual-time-budget={budget_ms}"),
        &format!("--user-data-dir={}", profile.display()),
    ]);
    c
}

/// Every message of `topic` from the beginning (`sluice tail`), parsed.
pub fn tail(brokers: &str, topic: &str) -> Vec<serde_json::Value> {
    let o = sluice(&["tail", topic, "--brokers", brokers, "--from-beginning"]);
    assert!(o.status.success(), "tail {topic}: {}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// An event without what differs between equal runs (wall times, paths, the pipeline name, a
/// sweep's variant tag, and where the samples were read: offsets and lines depend on how the
/// source lays out the same rows).
pub fn strip(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    for k in [
        "wall_time_ms",
        "pipeline",
        "variant",
        "training_ms",
        "samples_per_s",
        "artifact",
        "model_id",
        "sources",
    ] {
        o.remove(k);
    }
    v
}

/// Sends raw `(partition, payload)` messages to `topic` (no key), in order, and waits until
/// they are delivered.
pub fn send_raw<P: AsRef<[u8]>>(
    brokers: &str,
    topic: &str,
    messages: impl IntoIterator<Item = (i32, P)>,
) {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("queue.buffering.max.messages", "100000")
        .create()
        .unwrap();
    for (partition, payload) in messages {
        producer
            .send(
                BaseRecord::<(), [u8]>::to(topic)
                    .payload(payload.as_ref())
                    .partition(partition),
            )
            .unwrap();
    }
    producer.flush(std::time::Duration::from_secs(60)).unwrap();
}

/// The `<stream>.jsonl` events of the run directory `dir`, [`strip`]ped.
pub fn stripped(dir: &Path, stream: &str) -> Vec<serde_json::Value> {
    jsonl(&dir.join(format!("{stream}.jsonl")))
        .iter()
        .map(strip)
        .collect()
}

/// The run in `out` has `reference`'s triggers and models (JSONL, all but [`strip`]ped
/// fields), in order.
pub fn assert_same_triggers_and_models(out: &Path, reference: &Path) {
    for stream in ["triggers", "models"] {
        assert_eq!(
            stripped(out, stream),
            stripped(reference, stream),
            "{stream} of {}",
            out.display()
        );
    }
}

/// The run in `out` has the first `k` triggers and models of `reference`, and its first `k`
/// models' weights, bitwise.
pub fn assert_first_of(out: &Path, reference: &Path, k: usize) {
    for stream in ["triggers", "models"] {
        assert_eq!(
            stripped(out, stream),
            stripped(reference, stream)[..k],
            "{stream} of {}",
            out.display()
        );
    }
    assert_same_weights(out, reference, k, "the first models");
}

/// `sluice run` as one timely process of `threads` workers per config of `cfgs` on this
/// machine (`-n`, `-p`, a hostfile of free local ports), each with `--out <out>`; returns
/// each process's output, by index.
/// A process still running after 2 minutes fails the test (a hang would block CI).
pub fn run_cluster(cfgs: &[&Path], out: &Path, threads: &str) -> Vec<Output> {
    run_cluster_with(cfgs, out, threads, &[])
}

/// [`run_cluster`] with more arguments for every process (`--max-triggers 4`, ...).
pub fn run_cluster_with(cfgs: &[&Path], out: &Path, threads: &str, extra: &[&str]) -> Vec<Output> {
    let mut children = spawn_cluster_with(cfgs, out, threads, extra);
    let started = std::time::Instant::now();
    while children.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        if started.elapsed() > std::time::Duration::from_secs(120) {
            for c in &mut children {
                let _ = c.kill();
            }
            let logs: Vec<String> = children
                .into_iter()
                .map(|c| {
                    let o = c.wait_with_output().unwrap();
                    format!("{}\n{}", stdout(&o), stderr(&o))
                })
                .collect();
            panic!(
                "{}: a process still runs after 2 minutes; their output:\n{}",
                out.display(),
                logs.join("\n---\n")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// [`run_cluster`]'s processes, started (output piped).
pub fn spawn_cluster(cfgs: &[&Path], out: &Path, threads: &str) -> Vec<std::process::Child> {
    spawn_cluster_with(cfgs, out, threads, &[])
}

/// [`spawn_cluster`] with more arguments for every process.
pub fn spawn_cluster_with(
    cfgs: &[&Path],
    out: &Path,
    threads: &str,
    extra: &[&str],
) -> Vec<std::process::Child> {
    let processes = cfgs.len();
    // Free ports: bound to port 0, then released for timely to bind.
    let listeners: Vec<std::net::TcpListener> = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let hosts: String = listeners
        .iter()
        .map(|l| format!("{}\n", l.local_addr().unwrap()))
        .collect();
    drop(listeners);
    let hostfile = out.with_extension("hosts");
    std::fs::write(&hostfile, hosts).unwrap();
    let n = processes.to_string();
    (0..processes)
        .map(|p| {
            let cfg = cfgs[p];
            let p = p.to_string();
            let mut args = vec![
                "run",
                cfg.to_str().unwrap(),
                "-w",
                threads,
                "-n",
                &n,
                "-p",
                &p,
                "--hostfile",
                hostfile.to_str().unwrap(),
            ];
            // Followers write nothing there but spilled payloads (`spill/process-<i>`).
            args.extend(["--out", out.to_str().unwrap()]);
            args.extend_from_slice(extra);
            Command::new(env!("CARGO_BIN_EXE_sluice"))
                .args(&args)
                .env_remove("RUST_LOG")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run sluice")
        })
        .collect()
}

/// Models `it-0000` … of `out` and `reference` are bitwise identical (`models` of them).
pub fn assert_same_weights(out: &Path, reference: &Path, models: usize, what: &str) {
    for i in 0..models {
        let name = format!("models/it-{i:04}.safetensors");
        assert!(
            std::fs::read(out.join(&name)).unwrap()
                == std::fs::read(reference.join(&name)).unwrap(),
            "{name} differs ({what})"
        );
    }
}

/// Starts `sluice run <cfg> --out <out> <extra…>` in the background, its output piped (read it
/// with `wait_with_output`).
pub fn spawn_run(cfg: &Path, out: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sluice run")
}

/// Waits (at most 60 s) until `path` exists, while every one of `processes` still runs.
pub fn wait_for_file(path: &Path, processes: &mut [std::process::Child]) {
    let started = std::time::Instant::now();
    while !path.exists() {
        for (p, c) in processes.iter_mut().enumerate() {
            assert!(
                c.try_wait().unwrap().is_none(),
                "process {p} ended before {} was written",
                path.display()
            );
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no {} after 60 s",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The classes the TorchScript file at `pt` predicts for `xs` (tch alone, no Sluice code: as
/// `torch.jit.load` would serve it).
pub fn served_predictions(pt: &Path, xs: &tch::Tensor) -> Vec<i64> {
    let module = tch::CModule::load(pt).unwrap_or_else(|e| panic!("{}: {e}", pt.display()));
    Vec::try_from(module.forward_ts(&[xs]).unwrap().argmax(1, false)).unwrap()
}
