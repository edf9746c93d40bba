//! How a run is started: [`RunOptions`] from the command line, [`Replay`] (how the source is
//! read).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cluster::Topology;
use super::error::RunError;
use crate::source::{Source, Window};

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Run directory; default `runs/<pipeline>-<UTC time>`.
    pub out: Option<PathBuf>,
    /// Timely worker threads (per process).
    pub workers: usize,
    /// Timely processes (`-n`; see `cluster.rs`).
    pub processes: usize,
    /// This process's index (`-p`): process 0 leads; the others only read their share of the
    /// source.
    pub process: usize,
    /// Addresses of the processes, one `host:port` per line [default: `localhost:2101+i`].
    pub hostfile: Option<PathBuf>,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Event-time window and trigger limit.
    pub replay: Replay,
    /// How often `status.json` and the `status` events are written while the run runs (zero:
    /// only when it ends).
    pub status_every: Duration,
}

/// How a run reads its source (`sluice run --replay-from/--replay-until/--max-triggers`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    /// Event times read.
    #[serde(default)]
    pub window: Window,
    /// Fire at most this many triggers (those before a resume count), then stop reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_triggers: Option<u64>,
    /// A Kafka source is followed (read on at its end) rather than replayed up to the end
    /// offsets it had at start; the run sets it (see `KafkaSourceSpec::follows`).
    #[serde(default)]
    pub follow: bool,
    /// Read at most this many inputs per second (all workers together): a file replayed at
    /// the pace of a live stream (`--replay-rate`). Changes no result, so a resume need not
    /// repeat it.
    #[serde(skip)]
    pub rate: Option<u64>,
}

impl RunOptions {
    pub(super) fn topology(&self) -> Result<Topology, RunError> {
        let threads = self.workers.max(1);
        if self.processes <= 1 && self.process == 0 {
            return Ok(Topology::single(threads));
        }
        Topology::cluster(
            threads,
            self.processes,
            self.process,
            self.hostfile.as_deref(),
        )
    }
}

impl Replay {
    /// `self` with `follow` set for `source`.
    pub(super) fn resolved(self, source: &dyn Source) -> Self {
        Self {
            follow: source.follows(&self.window),
            ..self
        }
    }
}
