//! One pipeline run as several timely processes (`sluice run -n N -p I [--hostfile F]`).
//!
//! Process 0, the *leader*, is the run as a single process knows it: the run directory, the
//! trigger policy, the trainer, the evaluator, events and checkpoints. Every process reads and
//! decodes its share of the source (a file's rows, a topic's partitions) and keeps the keyed
//! state (sample payloads, selection, scores) of the keys routed to its workers, unless a
//! trigger policy reads features (then the leader's workers own every key; see
//! `RunContext::owners`); training sets reach the trainer through `ship.rs`.
//! The other processes, *followers*, report what only they know to the leader's worker 0
//! through a dataflow stream of [`Report`]s: dead letters, their partitions' restart offsets
//! at each trigger (checkpoints), their workers' selection states, progress, what their stores
//! did, stage costs and failures. The leader tells them, on a broadcast stream, from which
//! event time no checkpoint needs their offset marks any more.
//!
//! The processes connect to each other themselves ([`connect`]), polling every 10 ms, and
//! hand the sockets to timely: timely's own set-up polls for connections once a second, a
//! second lost at the start of most runs.
//!
//! Before the pipeline's dataflow is built, every worker greets every other ([`handshake`]):
//! the processes must run the same configuration, and followers learn the checkpoint the
//! leader resumes from (they restart their partitions from its offsets).

use std::net::{TcpListener, TcpStream};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sluice_dataflows::Position;
use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Inspect, Probe};

use super::checkpoint::Checkpoint;
use super::error::RunError;
use crate::source::DeadLetter;
use crate::source::PartitionMarks;

/// The processes of a run and this one's place among them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// Timely processes (`-n`).
    pub processes: usize,
    /// This process's index (`-p`); process 0 leads.
    pub process: usize,
    /// Worker threads per process (`--workers`; the same in every process).
    pub threads: usize,
    /// `host:port` of every process, by index (a `--hostfile`, else `localhost:2101+i`, as
    /// timely's own `-h`).
    pub addresses: Vec<String>,
}

impl Topology {
    /// A single process with `threads` workers.
    pub fn single(threads: usize) -> Self {
        Self {
            processes: 1,
            process: 0,
            threads,
            addresses: Vec::new(),
        }
    }

    /// Process `process` of `processes`, with the addresses of `hostfile` (one `host:port` per
    /// line; blank lines and `#` comments are skipped).
    pub fn cluster(
        threads: usize,
        processes: usize,
        process: usize,
        hostfile: Option<&Path>,
    ) -> Result<Self, RunError> {
        if process >= processes {
            return Err(RunError::Usage(format!(
                "--process {process} is not below --processes {processes} (processes count from 0)"
            )));
        }
        let addresses = match hostfile {
            Some(path) => read_hostfile(path, processes)?,
            None => (0..processes)
                .map(|i| format!("localhost:{}", 2101 + i))
                .collect(),
        };
        Ok(Self {
            processes,
            process,
            threads,
            addresses,
        })
    }

    /// All workers of all processes.
    pub fn peers(&self) -> usize {
        self.processes * self.threads
    }

    /// Whether this process leads (process 0).
    pub fn leads(&self) -> bool {
        self.process == 0
    }

    /// Starts this process's timely workers, each running `func`: connected to the other
    /// processes first (see [`connect`]).
    pub fn execute<F>(&self, func: F) -> Result<timely_communication::WorkerGuards<()>, String>
    where
        F: Fn(&mut timely::worker::Worker) + Send + Sync + 'static,
    {
        if self.processes == 1 {
            return timely::execute(timely::Config::process(self.threads), func);
        }
        let sockets = connect(&self.addresses, self.process)
            .map_err(|e| format!("connecting to the other processes: {e}"))?;
        let hooks = timely_communication::Hooks::default();
        let local = timely_communication::allocator::ProcessBuilder::new_typed_vector(
            self.threads,
            hooks.refill.clone(),
            hooks.spill.clone(),
        );
        let (builders, guard) =
            timely_communication::allocator::zero_copy::initialize::initialize_networking_from_sockets(
                local,
                sockets,
                self.process,
                self.threads,
                hooks,
            )
            .map_err(|e| format!("starting timely's network threads: {e}"))?;
        timely::execute::execute_from(
            builders
                .into_iter()
                .map(timely_communication::AllocatorBuilder::Tcp)
                .collect(),
            Box::new(guard),
            timely::WorkerConfig::default(),
            func,
        )
    }
}

/// How often [`connect`] tries again.
const CONNECT_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// A socket to every other process of `addresses`, by index (`None` at `me`): as timely's own
/// set-up makes them (this process listens at its address for the processes after it, and
/// connects to those before it, sending its index), but polling every 10 ms instead of every
/// second. Waits as long as it takes, saying so every 10 s.
pub fn connect(addresses: &[String], me: usize) -> std::io::Result<Vec<Option<TcpStream>>> {
    use std::io::{Read, Write};
    let listener = TcpListener::bind(&addresses[me])?;
    listener.set_nonblocking(true)?;
    let mut sockets: Vec<Option<TcpStream>> = (0..addresses.len()).map(|_| None).collect();
    let started = std::time::Instant::now();
    let mut said = 0;
    loop {
        for (i, address) in addresses.iter().enumerate().take(me) {
            if sockets[i].is_none()
                && let Ok(mut s) = TcpStream::connect(address)
            {
                s.set_nodelay(true)?;
                s.write_all(&(me as u64).to_be_bytes())?;
                sockets[i] = Some(s);
            }
        }
        loop {
            match listener.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false)?;
                    s.set_nodelay(true)?;
                    let mut index = [0u8; 8];
                    s.read_exact(&mut index)?;
                    let i = u64::from_be_bytes(index) as usize;
                    if i <= me || i >= addresses.len() || sockets[i].is_some() {
                        return Err(std::io::Error::other(format!(
                            "a connection from {:?} claims to be process {i}",
                            s.peer_addr()
                        )));
                    }
                    sockets[i] = Some(s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        let missing: Vec<usize> = (0..addresses.len())
            .filter(|&i| i != me && sockets[i].is_none())
            .collect();
        if missing.is_empty() {
            return Ok(sockets);
        }
        let waited = started.elapsed().as_secs() / 10;
        if waited > said {
            said = waited;
            tracing::warn!(
                ?missing,
                "waiting for the other processes of the run to connect"
            );
        }
        std::thread::sleep(CONNECT_POLL);
    }
}

/// The first `processes` addresses of a hostfile, each checked to be `host:port`.
fn read_hostfile(path: &Path, processes: usize) -> Result<Vec<String>, RunError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RunError::Usage(format!("--hostfile {}: {e}", path.display())))?;
    let mut addresses = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let port = line
            .rsplit_once(':')
            .map(|(host, port)| (host, port.parse::<u16>()));
        if !matches!(port, Some((host, Ok(_))) if !host.is_empty()) {
            return Err(RunError::Usage(format!(
                "{}:{}: `{line}` is not host:port",
                path.display(),
                i + 1
            )));
        }
        addresses.push(line.to_string());
    }
    if addresses.len() < processes {
        return Err(RunError::Usage(format!(
            "{}: {} addresses for --processes {processes}",
            path.display(),
            addresses.len()
        )));
    }
    addresses.truncate(processes);
    Ok(addresses)
}

/// The message of the lost connection, once this process lost another process of its run.
static LOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Watches for a lost connection to another process of the run. Timely's network threads
/// panic then, and its workers would wait forever for the lost workers' progress: timely has
/// no recovery of lost processes. The hook records the loss instead of printing the panic;
/// [`step`] then fails every worker, and the process ends with exit code 1 as after a crash.
/// Restarted with the same `--out`, the leader resumes from its last checkpoint.
pub fn watch_for_lost_processes() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if message.starts_with("timely communication error") {
                if LOST.set(message.to_string()).is_ok() {
                    tracing::error!("{message}");
                }
                return;
            }
            // Timely's last steps and joining its panicked network threads panic again:
            // expected by now.
            if LOST.get().is_some()
                && (message.contains("thread panic") || message.contains("poisoned"))
            {
                return;
            }
            previous(info);
        }));
    });
}

/// Whether this process lost another process of its run.
pub fn lost() -> bool {
    LOST.get().is_some()
}

/// Why the processes of a run cannot go on together.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A process of the run is gone.
    #[error(
        "lost the connection to another process of the run ({0}); restart every process \
         (process 0 with the same --out) to resume from the last checkpoint"
    )]
    Lost(String),
    /// The handshake saw no process 0.
    #[error("no greeting from process 0")]
    NoLeader,
    /// A process was started with another configuration.
    #[error(
        "process {process} runs another configuration than process 0 (config hash {got} vs \
         {leader}): start every process with the same config file"
    )]
    OtherConfig {
        /// The process.
        process: usize,
        /// Its config hash.
        got: String,
        /// Process 0's.
        leader: String,
    },
    /// The checkpoint process 0 resumes from did not reach a follower intact.
    #[error("the leader's checkpoint does not parse: {0}")]
    Checkpoint(serde_json::Error),
}

/// Steps `worker` (parking for at most `park`), unless this process has lost another process
/// of its run: then every worker fails with this error.
pub fn step(
    worker: &mut timely::worker::Worker,
    park: Option<std::time::Duration>,
) -> Result<(), ClusterError> {
    if let Some(message) = LOST.get() {
        return Err(ClusterError::Lost(message.clone()));
    }
    match park {
        None => {
            worker.step();
        }
        Some(_) => {
            worker.step_or_park(park);
        }
    }
    Ok(())
}

/// What a follower process tells the leader (its worker 0 applies them to the run).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Report {
    /// An input the follower could not decode.
    DeadLetter(DeadLetter),
    /// A follower worker's partitions at trigger `trigger`'s boundary (checkpoints).
    Offsets {
        /// The trigger.
        trigger: u64,
        /// Restart offset and marks per partition.
        partitions: Vec<(i32, PartitionMarks)>,
    },
    /// A follower worker's selection state after trigger `trigger` (checkpoints).
    Selection {
        /// The trigger.
        trigger: u64,
        /// Global worker index.
        worker: usize,
        /// The state, as JSON (timely's wire format cannot carry a `serde_json::Value`).
        state: String,
        /// The positions it holds.
        held: Vec<Position>,
    },
    /// Samples read, and samples found in the source, since the last report; and what the
    /// follower's store did with the samples of its keys (see `Counters::stored`).
    Progress {
        /// Read.
        read: u64,
        /// Found (the progress bar's length).
        total: u64,
        /// Stored, duplicates dropped, deletions, replacements.
        stored: [u64; 4],
        /// Inputs read per source partition (its dead letters reach the leader one by one).
        partitions: Vec<(i32, u64)>,
    },
    /// Dataflow time per stage since the last report, ns.
    Cost([u64; 3]),
    /// What a follower worker read, at its end (see `run::Covered`).
    Covered(super::progress::Covered),
    /// The follower failed; the leader's run fails with this message.
    Failed {
        /// Which process.
        process: usize,
        /// Its error.
        message: String,
    },
}

/// One worker's greeting.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Hello {
    process: usize,
    config_hash: String,
    /// The checkpoint the run resumes from, as JSON (worker 0 only).
    checkpoint: Option<String>,
}

/// Every worker greets every other; the leader's worker 0 sends `checkpoint`, the one the run
/// resumes from (the caller passes it only when there are followers to tell). Returns it on
/// the followers' workers (`Ok(None)` on the leader's, and where the run starts from the
/// beginning). Every worker sees the same greetings, so all fail alike when a process runs
/// another configuration, before any builds the pipeline's dataflow.
pub fn handshake(
    worker: &mut timely::worker::Worker,
    process: usize,
    config_hash: &str,
    checkpoint: Option<&Checkpoint>,
) -> Result<Option<Checkpoint>, ClusterError> {
    let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = got.clone();
    let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
        let (input, hellos) = scope.new_input::<Hello>();
        let (probe, _) = hellos
            .broadcast()
            .inspect(move |h: &Hello| sink.borrow_mut().push(h.clone()))
            .probe();
        (input, probe)
    });
    input.send(Hello {
        process,
        config_hash: config_hash.to_string(),
        checkpoint: checkpoint.map(|cp| serde_json::to_string(cp).expect("checkpoints serialise")),
    });
    drop(input);
    while !probe.done() {
        step(worker, Some(std::time::Duration::from_millis(10)))?;
    }
    let hellos = got.take();
    let leader = hellos
        .iter()
        .find(|h| h.process == 0)
        .ok_or(ClusterError::NoLeader)?;
    if let Some(other) = hellos.iter().find(|h| h.config_hash != leader.config_hash) {
        return Err(ClusterError::OtherConfig {
            process: other.process,
            got: other.config_hash.clone(),
            leader: leader.config_hash.clone(),
        });
    }
    match hellos.iter().find_map(|h| h.checkpoint.as_deref()) {
        Some(json) if process != 0 => serde_json::from_str(json)
            .map(Some)
            .map_err(ClusterError::Checkpoint),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostfiles_name_their_bad_line_and_must_cover_every_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "# cluster\nnode-a:2101\n\n10.0.0.2:2101 # b\n").unwrap();
        let t = Topology::cluster(2, 2, 1, Some(&path)).unwrap();
        assert_eq!(t.addresses, ["node-a:2101", "10.0.0.2:2101"]);
        assert_eq!((t.peers(), t.leads()), (4, false));
        let e = Topology::cluster(1, 3, 0, Some(&path))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 addresses for --processes 3"), "{e}");
        std::fs::write(&path, "node-a:2101\nnode-b\n").unwrap();
        let e = Topology::cluster(1, 2, 0, Some(&path))
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("hosts:2: `node-b` is not host:port"), "{e}");
        let e = Topology::cluster(1, 2, 2, None).unwrap_err().to_string();
        assert!(e.contains("--process 2 is not below --processes 2"), "{e}");
        let t = Topology::cluster(3, 2, 0, None).unwrap();
        assert_eq!(t.addresses, ["localhost:2101", "localhost:2102"]);
    }
}
