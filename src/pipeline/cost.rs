//! Cost accounting of the dataflow's stages (Modyn's stage timings): wall time each worker
//! spends in ingest (reading, decoding, storing samples, moving them between workers), the
//! trigger policy, and selection (candidate pools, scores, training-set assembly, the hand-off
//! to the trainer). Training, model store and evaluation times come from their own threads.
//!
//! Operator times come from timely's own scheduling log: each worker registers a logger that
//! maps its operators to stages by name and adds every start-to-stop span to the stage's
//! counter. The log is flushed after every worker step, so the counters trail the work by at
//! most one step. Reading and decoding outside operators (the file share, the Kafka reader
//! thread) is added with [`StageClock::add`]. Counters are summed over workers: with several
//! workers a stage's time can exceed wall time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};

/// A dataflow stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Reading, decoding, storing and exchanging samples.
    Ingest = 0,
    /// The trigger operator.
    TriggerPolicy = 1,
    /// Selection and score operators, training-set assembly and the trainer hand-off.
    Selection = 2,
}

impl Stage {
    /// Every stage, in counter order.
    pub const ALL: [Stage; 3] = [Stage::Ingest, Stage::TriggerPolicy, Stage::Selection];

    /// The per-trigger metric name (`ingest_ms`, ...).
    pub fn metric(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest_ms",
            Stage::TriggerPolicy => "trigger_policy_ms",
            Stage::Selection => "selection_ms",
        }
    }

    /// The stage of the operator named `name` (see `pipeline::dataflow`); a sink counts with
    /// the operator whose outputs it takes (dead letters and failures with ingest).
    pub fn of_operator(name: &str) -> Stage {
        if name.starts_with("Trigger:")
            || name.starts_with("Sink: Trigger events")
            || name.starts_with("Sink: Decisions")
        {
            Stage::TriggerPolicy
        } else if name.starts_with("Selection:")
            || name.starts_with("Ship:")
            || name.starts_with("Scores:")
            || name.starts_with("Sink: Trainer")
            || name.starts_with("Sink: Retirement")
            || name.starts_with("Sink: Checkpoint pieces")
        {
            Stage::Selection
        } else {
            Stage::Ingest
        }
    }
}

/// Time per stage, summed over workers.
#[derive(Debug, Default)]
pub struct StageClock {
    ns: [AtomicU64; 3],
    /// Of ingest, reading and decoding the source outside the operators (this process's).
    read_ns: AtomicU64,
}

/// Where a series of per-trigger shares ([`StageClock::split_ms`]) last split the totals: one
/// per lane (a sweep's variants share the dataflow, each splits it at its own triggers).
pub type Split = Mutex<[u64; 3]>;

impl StageClock {
    /// Adds `d` to `stage`.
    pub fn add(&self, stage: Stage, d: Duration) {
        self.ns[stage as usize].fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Adds `d` of reading and decoding the source (outside the operators) to ingest.
    pub fn add_read(&self, d: Duration) {
        self.add(Stage::Ingest, d);
        self.read_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Reading and decoding the source, s (part of ingest; see [`Self::add_read`]).
    pub fn read_s(&self) -> f64 {
        self.read_ns.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// Totals per stage, ns.
    pub fn totals_ns(&self) -> [u64; 3] {
        Stage::ALL.map(|s| self.ns[s as usize].load(Ordering::Relaxed))
    }

    /// Adds `ns` per stage (another process's time).
    pub fn add_ns(&self, ns: [u64; 3]) {
        for (total, ns) in self.ns.iter().zip(ns) {
            total.fetch_add(ns, Ordering::Relaxed);
        }
    }

    /// Totals per stage, ms.
    pub fn totals_ms(&self) -> [f64; 3] {
        Stage::ALL.map(|s| self.ns[s as usize].load(Ordering::Relaxed) as f64 / 1e6)
    }

    /// Time per stage since `split`'s previous split, ms (a trigger's share).
    pub fn split_ms(&self, split: &Split) -> [f64; 3] {
        let now = Stage::ALL.map(|s| self.ns[s as usize].load(Ordering::Relaxed));
        let mut last = split.lock().expect("split poisoned");
        let out = std::array::from_fn(|i| now[i].saturating_sub(last[i]) as f64 / 1e6);
        *last = now;
        out
    }

    /// Registers the scheduling logger on `worker` (before its dataflow is built, so that the
    /// operators' creation is logged).
    pub fn register(self: &std::sync::Arc<Self>, worker: &mut timely::worker::Worker) {
        let clock = self.clone();
        // Per operator id: its stage and when its current activation started.
        let mut operators: Vec<Option<Stage>> = Vec::new();
        let mut started: Vec<Option<Duration>> = Vec::new();
        let Some(mut registry) = worker.log_register() else {
            return;
        };
        registry.insert::<TimelyEventBuilder, _>("timely", move |_time, data| {
            let Some(data) = data else { return };
            for (at, event) in data.iter() {
                match event {
                    TimelyEvent::Operates(o) => {
                        if operators.len() <= o.id {
                            operators.resize(o.id + 1, None);
                            started.resize(o.id + 1, None);
                        }
                        operators[o.id] = Some(Stage::of_operator(&o.name));
                    }
                    TimelyEvent::Schedule(s) => {
                        let Some(Some(stage)) = operators.get(s.id).copied() else {
                            continue;
                        };
                        match s.start_stop {
                            StartStop::Start => started[s.id] = Some(*at),
                            StartStop::Stop => {
                                if let Some(from) = started[s.id].take() {
                                    clock.add(stage, at.saturating_sub(from));
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_map_to_stages_and_splits_take_what_accrued() {
        assert_eq!(Stage::of_operator("Trigger: drift"), Stage::TriggerPolicy);
        assert_eq!(Stage::of_operator("Selection: new_data"), Stage::Selection);
        assert_eq!(
            Stage::of_operator("Selection: AssembleTrainingSets"),
            Stage::Selection
        );
        assert_eq!(Stage::of_operator("Scores: Latest"), Stage::Selection);
        assert_eq!(Stage::of_operator("Ship: Deliver"), Stage::Selection);
        assert_eq!(Stage::of_operator("Store: Samples"), Stage::Ingest);
        assert_eq!(Stage::of_operator("Exchange"), Stage::Ingest);
        assert_eq!(Stage::of_operator("Sink: Decisions"), Stage::TriggerPolicy);
        assert_eq!(Stage::of_operator("Sink: Retirement"), Stage::Selection);
        assert_eq!(Stage::of_operator("Sink: Dead letters"), Stage::Ingest);
        let c = StageClock::default();
        let (split, other) = (Split::default(), Split::default());
        c.add_read(Duration::from_millis(2));
        c.add(Stage::Ingest, Duration::from_millis(1));
        assert_eq!(c.read_s(), 0.002);
        c.add(Stage::Selection, Duration::from_millis(2));
        assert_eq!(c.split_ms(&split), [3.0, 0.0, 2.0]);
        c.add(Stage::Ingest, Duration::from_millis(1));
        assert_eq!(c.split_ms(&split), [1.0, 0.0, 0.0]);
        // Another lane's splits take from the same totals.
        assert_eq!(c.split_ms(&other), [4.0, 0.0, 2.0]);
        assert_eq!(c.totals_ms(), [4.0, 0.0, 2.0]);
    }

    #[test]
    fn the_scheduling_log_charges_operators_to_their_stages() {
        use timely::dataflow::operators::Probe;
        use timely::dataflow::operators::generic::Operator;
        use timely::dataflow::operators::vec::Input;
        let clock = std::sync::Arc::new(StageClock::default());
        let c = clock.clone();
        timely::execute(timely::Config::thread(), move |worker| {
            c.register(worker);
            let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
                let (input, stream) = scope.new_input::<u64>();
                let stream = stream.unary(
                    timely::dataflow::channels::pact::Pipeline,
                    "Trigger: busy",
                    |_, _| {
                        |input, output| {
                            input.for_each(|cap, data| {
                                std::thread::sleep(Duration::from_millis(20));
                                output.session(&cap).give_container(data);
                            });
                        }
                    },
                );
                (input, stream.probe().0)
            });
            input.send(1);
            input.advance_to(1);
            while probe.less_than(&1) {
                worker.step();
            }
        })
        .unwrap();
        let [_, trigger, selection] = clock.totals_ms();
        assert!(trigger >= 20.0, "{trigger}");
        assert_eq!(selection, 0.0);
    }
}
