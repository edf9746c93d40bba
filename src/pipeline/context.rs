//! What the workers of one process of a run share: the config, the sample store, the source,
//! the lanes, and one owner per concern (counters, failure, follower outbox, checkpoint book,
//! stage clock). Operators and sinks take the owner they need; the methods here route what a
//! follower learns to the leader, and what the leader learns to its owner.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use sluice_dataflows::selection::SelectionState;

use super::book::{CheckpointBook, Resumed};
use super::checkpoint::OperatorState;
use super::cluster::{Report, Topology};
use super::cost::StageClock;
use super::lane::Lane;
use super::options::Replay;
use super::outbox::{Failure, Outbox};
use super::progress::{Counters, PartitionCount};
use super::sinks::{DeadLetters, EventWriter, Pieces};
use crate::config::PipelineSpec;
use crate::sink::EventSink;
use crate::source::{DeadLetter, PartitionMarks, Source};
use crate::store::SampleStore;

/// The run as one process's workers see it.
pub struct RunContext {
    /// The config (a sweep's base).
    pub spec: PipelineSpec,
    /// Payloads by key.
    pub samples: Arc<SampleStore>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The opened source.
    pub source: Arc<dyn Source>,
    /// The run's own events: dead letters (the leader's; without a sweep, the lane's).
    pub events: Option<Arc<EventSink>>,
    /// The lanes: a sweep's variants, else one.
    pub lanes: Vec<Lane>,
    /// Wall time per dataflow stage.
    pub clock: Arc<StageClock>,
    /// Inputs read, samples stored, dead letters, watermarks.
    pub counters: Arc<Counters>,
    /// The first failure.
    pub failure: Arc<Failure>,
    /// A follower's reports to the leader.
    pub outbox: Arc<Outbox>,
    /// Checkpoint pieces and writing (the leader's).
    pub book: Option<Arc<CheckpointBook>>,
    /// The checkpoint this run resumes from (a follower learns it in the handshake).
    resumed: OnceLock<Resumed>,
    /// Hash of the configuration text (checkpoints, the processes' handshake).
    pub config_hash: String,
    /// The processes of the run.
    pub topology: Topology,
    /// How the source is read.
    pub replay: Replay,
}

/// What a [`RunContext`] is made of.
pub struct ContextSetup {
    /// See [`RunContext::spec`].
    pub spec: PipelineSpec,
    /// See [`RunContext::samples`].
    pub samples: Arc<SampleStore>,
    /// See [`RunContext::run_dir`].
    pub run_dir: PathBuf,
    /// See [`RunContext::source`].
    pub source: Arc<dyn Source>,
    /// See [`RunContext::lanes`].
    pub lanes: Vec<Lane>,
    /// See [`RunContext::topology`].
    pub topology: Topology,
    /// See [`RunContext::replay`].
    pub replay: Replay,
}

impl RunContext {
    /// A process's context; the leader then adds its events and checkpoint book.
    pub fn new(setup: ContextSetup) -> Self {
        let outbox = Arc::new(Outbox::new(!setup.topology.leads()));
        Self {
            config_hash: super::checkpoint::fnv64(setup.spec.config_text.as_bytes()),
            counters: Arc::new(Counters::new(setup.topology.threads)),
            failure: Arc::new(Failure::new(outbox.clone(), setup.topology.process)),
            outbox,
            spec: setup.spec,
            samples: setup.samples,
            run_dir: setup.run_dir,
            source: setup.source,
            events: None,
            lanes: setup.lanes,
            clock: Arc::default(),
            book: None,
            resumed: OnceLock::new(),
            topology: setup.topology,
            replay: setup.replay,
        }
    }

    /// Sets the resume point (once: the leader before starting, a follower's first worker
    /// after the handshake).
    pub fn resume_from(&self, resumed: impl FnOnce() -> Resumed) -> &Resumed {
        self.resumed.get_or_init(resumed)
    }

    /// The resume point, once known.
    pub fn resumed(&self) -> &Resumed {
        self.resumed
            .get()
            .expect("the resume point is known before the dataflow is built")
    }

    /// The leader's resume point, if set yet (a follower's first worker learns it later).
    pub fn resumed_if_known(&self) -> Option<&Resumed> {
        self.resumed.get()
    }

    /// Number of the first trigger this run emits (after a checkpoint: its trigger + 1).
    pub fn first_trigger_id(&self) -> u64 {
        self.resumed()
            .checkpoint
            .as_ref()
            .map_or(0, |cp| cp.trigger_id + 1)
    }

    /// The operator state of the checkpoint this run resumes from.
    pub fn restore(&self) -> Option<&OperatorState> {
        self.resumed().checkpoint.as_ref().map(|cp| &cp.state)
    }

    /// How many workers own keys: the first `owners()` (key `k` on `owner(k, owners())`).
    /// Every worker of every process, so each process keeps the payloads, pools and scores of
    /// its own keys, and training sets ship the other processes' samples to the trainer
    /// (`ship.rs`). A trigger policy that reads features reads them from worker 0's copy
    /// ([`probe_window`](Self::probe_window)).
    pub fn owners(&self) -> usize {
        self.topology.peers()
    }

    /// Whether lane `l`'s trigger probe reads a window of every sample's features sent to
    /// worker 0 (`ProbeWindow`): its policy reads features and keys live in other processes
    /// too. In one process it reads the sample store, which holds every key.
    pub fn probe_window(&self, l: usize) -> bool {
        self.sharded() && self.lanes[l].spec.trigger.reads_payloads()
    }

    /// Whether keys live in other processes than the leader (see [`owners`](Self::owners)).
    pub fn sharded(&self) -> bool {
        self.owners() > self.topology.threads
    }

    /// Whether the operators report their state for checkpoints (restartable sources,
    /// without a sweep).
    pub fn checkpoints(&self) -> bool {
        self.source.restartable() && self.lanes.len() == 1
    }

    /// Event time before which no checkpoint needs restart marks (`u64::MAX`: none yet).
    pub fn forget_before(&self) -> u64 {
        self.book.as_ref().map_or(u64::MAX, |b| b.forget_before())
    }

    /// Records a runtime failure (see [`Failure::fail`]); the trigger operators stop waiting
    /// for models.
    pub fn fail(&self, message: String) {
        self.failure.fail(message);
        for lane in &self.lanes {
            lane.model_feed.close();
        }
    }

    /// Applies a follower's report (the leader's worker 0).
    pub fn apply(&self, report: Report) {
        match report {
            Report::DeadLetter(d) => self.dead_letter(d),
            Report::Offsets {
                trigger,
                partitions,
            } => self.report_offsets(trigger, partitions),
            Report::Selection {
                trigger,
                worker,
                state,
                held,
            } => match serde_json::from_str(&state) {
                Ok(state) => self.pieces().selection_state(
                    worker,
                    SelectionState {
                        trigger,
                        state,
                        held,
                    },
                ),
                Err(e) => self.fail(format!("worker {worker}'s selection state: {e}")),
            },
            Report::Progress {
                read,
                total,
                stored,
                partitions,
            } => {
                use std::sync::atomic::Ordering::Relaxed;
                self.counters.read.fetch_add(read, Relaxed);
                self.counters.total.fetch_add(total, Relaxed);
                self.counters.add_stored(stored);
                self.counters.add_partitions(
                    partitions
                        .into_iter()
                        .map(|(p, read)| (p, PartitionCount { read, dead: 0 })),
                );
            }
            Report::Cost(ns) => self.clock.add_ns(ns),
            Report::Covered(c) => self.counters.cover(c),
            Report::Failed { process, message } => {
                self.fail(format!("process {process}: {message}"))
            }
        }
    }

    /// Lane `l`'s event writer.
    pub fn writer(&self, l: usize) -> EventWriter {
        EventWriter::new(self.lanes[l].events.clone(), self.failure.clone())
    }

    /// Where dead letters go (see [`DeadLetters`]).
    pub fn dead_letters(&self) -> DeadLetters {
        DeadLetters {
            counters: self.counters.clone(),
            outbox: self.outbox.clone(),
            events: EventWriter::new(self.events.clone(), self.failure.clone()),
        }
    }

    /// A dead letter: counted, and emitted (a follower's goes to the leader).
    pub fn dead_letter(&self, d: DeadLetter) {
        self.dead_letters().send(d);
    }

    /// Where checkpoint pieces go (see [`Pieces`]).
    pub fn pieces(&self) -> Pieces {
        Pieces {
            book: self.book.clone(),
            outbox: self.outbox.clone(),
        }
    }

    /// What a worker read, at its end.
    pub fn cover(&self, c: super::progress::Covered) {
        if self.outbox.follows() {
            return self.outbox.forward(Report::Covered(c));
        }
        self.counters.cover(c);
    }

    /// A worker's restart offsets and marks for its partitions at trigger `id`'s boundary.
    pub fn report_offsets(&self, id: u64, partitions: Vec<(i32, PartitionMarks)>) {
        if self.outbox.follows() {
            return self.outbox.forward(Report::Offsets {
                trigger: id,
                partitions,
            });
        }
        self.leader_book().offsets(id, partitions);
    }

    /// A follower's reports since the last call (see [`Outbox::take`]).
    pub fn take_reports(&self, last: bool) -> Vec<Report> {
        self.outbox.take(&self.counters, &self.clock, last)
    }

    fn leader_book(&self) -> &CheckpointBook {
        self.book
            .as_ref()
            .expect("checkpoint pieces reach the leader, which has the book")
    }
}
