//! Trigger policies built from `[trigger]`, and the probe they read payloads through.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sluice_dataflows::drift::Vectors;
use sluice_dataflows::stash::TimeStash;
use sluice_dataflows::triggers::{
    Batched, Cost, CountPolicy, DataAmount, DataDrift, Ensemble, Performance, Probe, TimeTrigger,
    TriggerPolicy, Warmup,
};
use sluice_dataflows::{Position, SampleMeta, Time};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Concat, Exchange};

use super::context::RunContext;
use crate::config::{BatchedSpec, TriggerSpec};
use crate::store::SampleStore;
use crate::train::{ModelRunner, parse_device};

/// The policy `spec` describes (recursively: warm-up policies).
pub fn build_policy(spec: &TriggerSpec) -> Box<dyn TriggerPolicy> {
    match spec {
        TriggerSpec::Amount { every } => Box::new(DataAmount::new(*every)),
        TriggerSpec::Time {
            every_ms,
            every,
            start_ms,
        } => Box::new(TimeTrigger::new(*every_ms, *start_ms, every)),
        TriggerSpec::Drift { batched, drift } => Box::new(Batched::new(
            DataDrift::new(drift.clone()),
            batched.every,
            warmup(batched),
        )),
        TriggerSpec::Performance {
            batched,
            performance,
        } => Box::new(Batched::new(
            Performance::new(performance.clone()),
            batched.every,
            warmup(batched),
        )),
        TriggerSpec::Cost { batched, cost } => Box::new(Batched::new(
            Cost::new(cost.clone()),
            batched.every,
            warmup(batched),
        )),
        TriggerSpec::Ensemble {
            subtriggers,
            strategy,
        } => Box::new(Ensemble::new(
            subtriggers
                .iter()
                .map(|(name, spec)| (name.clone(), build_policy(spec)))
                .collect(),
            *strategy,
        )),
    }
}

/// The policy `spec` describes when it decides from per-time counts alone (amount, time):
/// it then runs on the counted operator, which sends worker 0 a tally per worker and time
/// instead of every sample's metadata.
pub fn build_count_policy(spec: &TriggerSpec) -> Option<Box<dyn CountPolicy>> {
    match spec {
        TriggerSpec::Amount { every } => Some(Box::new(DataAmount::new(*every))),
        TriggerSpec::Time {
            every_ms,
            every,
            start_ms,
        } => Some(Box::new(TimeTrigger::new(*every_ms, *start_ms, every))),
        _ => None,
    }
}

fn warmup(batched: &BatchedSpec) -> Option<Warmup> {
    batched.warmup.as_ref().map(|(intervals, policy)| Warmup {
        intervals: *intervals,
        policy: build_policy(policy),
    })
}

/// The features a trigger probe reads in a run of several processes, where keys live on every
/// process: every stored sample's features, sent to worker 0 ([`probe_rows`],
/// [`window_metas`]) and kept in position order until the policy is done with them.
#[derive(Debug, Default)]
pub struct ProbeWindow {
    dim: usize,
    at: VecDeque<Position>,
    labels: VecDeque<i64>,
    x: VecDeque<f32>,
    /// What the policy was last done with: nothing before it is kept or added.
    floor: Option<Position>,
}

impl ProbeWindow {
    /// An empty window of `dim` features per sample.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            ..Self::default()
        }
    }

    /// Adds samples given in position order. Those after every one held are appended; those
    /// before (payloads a resume reads again reach worker 0 in several batches, stamped at
    /// the source's time when sent, so a later batch can hold older samples than an earlier
    /// one) are merged into their places. Nothing before the floor and no copy of a held
    /// sample is added.
    pub fn add<'a>(&mut self, rows: impl IntoIterator<Item = (Position, i64, &'a [f32])>) {
        let floor = self.floor;
        let mut rows = rows
            .into_iter()
            .filter(|(p, ..)| floor.is_none_or(|f| f <= *p))
            .peekable();
        while let Some((p, label, features)) = rows.next_if(|(p, ..)| self.follows(*p)) {
            self.push(p, label, features);
        }
        let Some((first, ..)) = rows.peek() else {
            return;
        };
        // Merge the rest with the held samples from the first one's place on.
        let from = self.at.partition_point(|p| p < first);
        let at = self.at.split_off(from);
        let labels = self.labels.split_off(from);
        let mut x = self.x.split_off(from * self.dim);
        let (x, dim) = (x.make_contiguous(), self.dim);
        let mut held = at.into_iter().zip(labels).enumerate().peekable();
        loop {
            let next_held = held.peek().map(|(_, (p, _))| *p);
            match (next_held, rows.peek().map(|(p, ..)| *p)) {
                (Some(h), Some(r)) if r <= h => {
                    let (p, label, features) = rows.next().expect("peeked");
                    if r < h && self.follows(p) {
                        self.push(p, label, features);
                    }
                }
                (Some(_), _) => {
                    let (i, (p, label)) = held.next().expect("peeked");
                    self.push(p, label, &x[i * dim..(i + 1) * dim]);
                }
                (None, Some(_)) => {
                    let (p, label, features) = rows.next().expect("peeked");
                    if self.follows(p) {
                        self.push(p, label, features);
                    }
                }
                (None, None) => break,
            }
        }
    }

    fn follows(&self, position: Position) -> bool {
        self.at.back().is_none_or(|b| *b < position)
    }

    fn push(&mut self, position: Position, label: i64, features: &[f32]) {
        self.at.push_back(position);
        self.labels.push_back(label);
        self.x.extend(features);
    }

    /// Appends the features and labels of the samples at `at` to `x` and `labels`.
    pub fn gather_at(
        &self,
        at: &[Position],
        x: &mut Vec<f32>,
        labels: &mut Vec<i64>,
    ) -> Result<(), String> {
        for p in at {
            let i = self.at.binary_search(p).map_err(|_| {
                format!(
                    "sample (time {}, key {}) is not among the {} the trigger's window holds",
                    p.time,
                    p.key,
                    self.at.len()
                )
            })?;
            x.extend(self.x.range(i * self.dim..(i + 1) * self.dim));
            labels.push(self.labels[i]);
        }
        Ok(())
    }

    /// The policy is done with every sample before `position`.
    pub fn retain_from(&mut self, position: Position) {
        let n = self.at.partition_point(|p| *p < position);
        self.at.drain(..n);
        self.labels.drain(..n);
        self.x.drain(..n * self.dim);
        self.floor = Some(self.floor.map_or(position, |f| f.max(position)));
    }
}

/// Where a probe reads features: the process's sample store (one process: it holds every key)
/// or the lane's window on worker 0 (several processes).
pub enum Payloads {
    /// The run's sample store.
    Store(Arc<SampleStore>),
    /// Worker 0's copy of every sample's features until the policy is done with them.
    Window(Rc<RefCell<ProbeWindow>>),
}

/// Reads payloads from the sample store or the probe window, and runs stored models on them,
/// for the trigger worker (see `train::probe` for the request path).
pub struct StoreProbe {
    payloads: Payloads,
    dim: usize,
    lane: usize,
    runner: ModelRunner,
    x: Vec<f32>,
    labels: Vec<i64>,
}

impl StoreProbe {
    /// A probe over `payloads` and lane `l`'s model store.
    pub fn new(shared: &RunContext, l: usize, payloads: Payloads) -> Self {
        let lane = &shared.lanes[l];
        let device = parse_device(&lane.spec.training.device)
            .expect("the device was checked before the run started");
        Self {
            payloads,
            dim: shared.samples.dim(),
            lane: l,
            runner: ModelRunner::new(
                lane.spec.model.clone(),
                shared.samples.dim(),
                device,
                lane.models
                    .clone()
                    .expect("the trigger policy runs in the leader, which has the model store"),
                lane.run_dir.join("models"),
            ),
            x: Vec::new(),
            labels: Vec::new(),
        }
    }

    fn gather(&mut self, at: &[Position]) -> Result<(), String> {
        self.x.clear();
        self.labels.clear();
        match &self.payloads {
            Payloads::Store(samples) => samples
                .gather_at(at, &mut self.x, &mut self.labels)
                .map_err(|e| e.to_string()),
            Payloads::Window(window) => {
                window.borrow().gather_at(at, &mut self.x, &mut self.labels)
            }
        }
        .map_err(|e| format!("reading sample features for the trigger: {e}"))
    }
}

impl Probe for StoreProbe {
    fn vectors(&mut self, at: &[Position], model: Option<&str>) -> Result<Vectors, String> {
        self.gather(at)?;
        match model {
            None => Ok(Vectors::new(self.dim, std::mem::take(&mut self.x))),
            Some(id) => {
                let (dim, data) = self.runner.embed(id, &self.x)?;
                Ok(Vectors::new(dim, data))
            }
        }
    }

    fn predict(&mut self, at: &[Position], model: &str) -> Result<Vec<i64>, String> {
        self.gather(at)?;
        self.runner.predict(model, &self.x)
    }

    fn retain_from(&mut self, position: Position) {
        match &self.payloads {
            Payloads::Store(samples) => samples.retain_from(self.lane, position),
            Payloads::Window(window) => window.borrow_mut().retain_from(position),
        }
    }
}

/// A stored sample's features on their way to worker 0's probe window; `restored`: read
/// again after a resume for the policy's state (it is before the checkpoint's boundary, so
/// the policy does not see it again).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeRow {
    /// The sample.
    pub meta: SampleMeta,
    /// Its features.
    pub features: Vec<f32>,
    /// Read again after a resume.
    pub restored: bool,
    /// The time it is stashed at on worker 0: its own, or for a restored sample the time it
    /// was sent at (later than its own: it is before the checkpoint's boundary).
    pub at: Time,
}

/// `Probe: Rows` (each worker): the features of the samples `metas` names, read from this
/// worker's share of the sample store as they are stored, with the `restored` ones, to worker 0.
pub fn probe_rows<'scope>(
    metas: StreamVec<'scope, Time, SampleMeta>,
    restored: StreamVec<'scope, Time, ProbeRow>,
    samples: Arc<SampleStore>,
) -> StreamVec<'scope, Time, ProbeRow> {
    let mut positions = Vec::new();
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    let rows = metas.unary(Pipeline, "Probe: Rows", move |_, _| {
        move |input, output| {
            input.for_each_stamp(|cap, data| {
                let mut session = output.session(&cap);
                for batch in data {
                    positions.clear();
                    positions.extend(batch.iter().map(SampleMeta::position));
                    x.clear();
                    labels.clear();
                    // Just stored, and retired only once a trigger past them was trained.
                    samples
                        .gather_at(&positions, &mut x, &mut labels)
                        .expect("a sample just stored is in the store");
                    let dim = samples.dim();
                    session.give_iterator(batch.drain(..).enumerate().map(|(i, meta)| ProbeRow {
                        meta,
                        features: x[i * dim..(i + 1) * dim].to_vec(),
                        restored: false,
                        at: meta.time,
                    }));
                }
            });
        }
    });
    rows.concat(restored).exchange(|_| 0)
}

/// `Probe: Window` (worker 0): appends every complete time's rows to `window` in position
/// order, then passes the new samples' metadata on to the trigger, which therefore reads
/// only what the window already holds.
pub fn window_metas<'scope>(
    rows: StreamVec<'scope, Time, ProbeRow>,
    window: Rc<RefCell<ProbeWindow>>,
) -> StreamVec<'scope, Time, SampleMeta> {
    let mut stash = TimeStash::new(|r: &ProbeRow| r.at);
    rows.unary_frontier(Pipeline, "Probe: Window", move |_, _| {
        move |(input, frontier), output| {
            input.for_each_stamp(|cap, data| {
                stash.stash(&cap, 0, data.flat_map(|d| d.drain(..)));
            });
            let mut done = stash.drain_complete(&[frontier]);
            let Some(cap) = done.cap.take() else {
                return;
            };
            done.records.sort_by_key(|r| r.meta.position());
            let mut window = window.borrow_mut();
            window.add(
                done.records
                    .iter()
                    .map(|r| (r.meta.position(), r.meta.label, r.features.as_slice())),
            );
            // Each meta carries its own time; the trigger stashes by it.
            output.session(&cap).give_iterator(
                done.records
                    .into_iter()
                    .filter(|r| !r.restored)
                    .map(|r| r.meta),
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(time: Time, key: u64) -> Position {
        Position { time, key }
    }

    fn gather(w: &ProbeWindow, at: &[Position]) -> Result<(Vec<f32>, Vec<i64>), String> {
        let (mut x, mut labels) = (Vec::new(), Vec::new());
        w.gather_at(at, &mut x, &mut labels).map(|()| (x, labels))
    }

    fn rows(samples: &[(Time, u64)]) -> Vec<(Position, i64, Vec<f32>)> {
        samples
            .iter()
            .map(|&(t, k)| (pos(t, k), k as i64, vec![t as f32, k as f32]))
            .collect()
    }

    fn add(w: &mut ProbeWindow, rows: &[(Position, i64, Vec<f32>)]) {
        w.add(rows.iter().map(|(p, l, x)| (*p, *l, x.as_slice())));
    }

    #[test]
    fn the_probe_window_keeps_samples_in_position_order_until_the_policy_is_done() {
        let mut w = ProbeWindow::new(2);
        add(&mut w, &rows(&[(1, 5), (1, 7), (2, 1), (4, 0)]));
        // A copy of a held sample keeps the held one.
        add(&mut w, &[(pos(2, 1), 9, vec![9.0, 9.0])]);
        assert_eq!(
            gather(&w, &[pos(2, 1), pos(1, 5)]).unwrap(),
            (vec![2.0, 1.0, 1.0, 5.0], vec![1, 5])
        );
        let err = gather(&w, &[pos(1, 6)]).unwrap_err();
        assert!(err.contains("time 1, key 6") && err.contains("4 the trigger's window holds"));
        // Done with everything before (2, 0): the first two go, and nothing before it comes
        // back.
        w.retain_from(pos(2, 0));
        assert!(gather(&w, &[pos(1, 7)]).is_err());
        w.retain_from(pos(1, 0));
        add(&mut w, &rows(&[(1, 9)]));
        assert!(gather(&w, &[pos(1, 9)]).is_err());
        assert_eq!(
            gather(&w, &[pos(2, 1), pos(4, 0)]).unwrap(),
            (vec![2.0, 1.0, 4.0, 0.0], vec![1, 0])
        );
    }

    /// Payloads read again after a resume reach the window in batches that need not follow
    /// each other (each stamped when its source sent it): a later batch's samples go to their
    /// places among the held ones, not lost.
    #[test]
    fn samples_older_than_the_held_ones_are_merged_into_their_places() {
        let mut w = ProbeWindow::new(2);
        add(&mut w, &rows(&[(3, 1), (5, 2), (8, 0)]));
        // Sorted among themselves: before, between and after the held ones, with a copy.
        add(&mut w, &rows(&[(1, 4), (3, 0), (5, 2), (6, 6), (9, 1)]));
        add(&mut w, &rows(&[(2, 2), (7, 7)]));
        let all = [
            (1, 4),
            (2, 2),
            (3, 0),
            (3, 1),
            (5, 2),
            (6, 6),
            (7, 7),
            (8, 0),
            (9, 1),
        ];
        let at: Vec<Position> = all.iter().map(|&(t, k)| pos(t, k)).collect();
        let (x, labels) = gather(&w, &at).unwrap();
        let expected: Vec<f32> = all
            .iter()
            .flat_map(|&(t, k)| [t as f32, k as f32])
            .collect();
        assert_eq!(x, expected);
        assert_eq!(labels, [4, 2, 0, 1, 2, 6, 7, 0, 1]);
        assert!(w.at.iter().zip(w.at.iter().skip(1)).all(|(a, b)| a < b));
        assert_eq!(w.x.len(), 2 * all.len());
        // Behind the floor nothing is merged.
        w.retain_from(pos(5, 0));
        add(&mut w, &rows(&[(4, 9), (5, 1)]));
        assert!(gather(&w, &[pos(4, 9)]).is_err());
        assert_eq!(gather(&w, &[pos(5, 1)]).unwrap().1, [1]);
        assert_eq!(w.at.len(), 6);
    }

    /// `Probe: Window` in a dataflow, fed as a resume feeds it when a source sends the
    /// payloads it reads again in two polls: the first batch stamped before the watermark
    /// moved to the checkpoint's boundary (at its samples' own times), the second after it
    /// (at the boundary, with older samples than the first's). Every restored sample is
    /// readable and only the new ones go on to the trigger.
    #[test]
    fn restored_rows_of_a_later_poll_are_readable_with_the_earlier_ones() {
        use timely::dataflow::InputHandle;
        use timely::dataflow::operators::{Capture, Input, Probe as _};

        let row = |t: Time, key: u64, restored: bool, at: Time| ProbeRow {
            meta: SampleMeta {
                time: t,
                key,
                label: key as i64,
            },
            features: vec![t as f32, key as f32],
            restored,
            at,
        };
        let all = [(3, 3), (5, 1), (6, 4), (8, 2), (10, 5), (12, 6)];
        let at: Vec<Position> = all.iter().map(|&(t, k)| pos(t, k)).collect();
        let (read, passed) = timely::execute_directly(move |worker| {
            let inside = Rc::new(RefCell::new(ProbeWindow::new(2)));
            let mut input = InputHandle::new();
            let (probe, metas) = worker.dataflow::<Time, _, _>(|scope| {
                let (probe, metas) =
                    window_metas(scope.input_from(&mut input), inside.clone()).probe();
                (probe, metas.capture())
            });
            let boundary = 10;
            input.send_batch(&mut vec![row(5, 1, true, 5), row(8, 2, true, 8)]);
            input.advance_to(boundary);
            worker.step_while(|| probe.less_than(&boundary));
            assert_eq!(inside.borrow().at.len(), 2, "the first poll is in");
            input.send_batch(&mut vec![
                row(3, 3, true, boundary),
                row(6, 4, true, boundary),
                row(10, 5, false, 10),
                row(12, 6, false, 12),
            ]);
            input.advance_to(20);
            worker.step_while(|| probe.less_than(&20));
            (gather(&inside.borrow(), &at), metas)
        });
        let (x, labels) = read.unwrap();
        assert_eq!(labels, [3, 1, 4, 2, 5, 6]);
        assert_eq!(x[..4], [3.0, 3.0, 5.0, 1.0]);
        let passed: Vec<u64> = timely::dataflow::operators::capture::Extract::extract(passed)
            .into_iter()
            .flat_map(|(_, metas)| metas.into_iter().map(|m| m.key))
            .collect();
        assert_eq!(passed, [5, 6]);
    }
}
