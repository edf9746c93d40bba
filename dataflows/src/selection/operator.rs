//! The selection operator: runs a [`SelectionPolicy`] on every worker.
//!
//! - Inputs: `SampleMeta` records, already exchanged by key (each worker sees its own keys), and
//!   [`TriggerEvent`]s, broadcast to every worker (in id order: one sender, FIFO channels).
//! - Outputs ([`Selected`]), each at the trigger's boundary time:
//!   - `answers`: `(trigger id, this worker's candidates)` once per trigger per worker (also
//!     when empty, so the assembler can count answers);
//!   - `retired`: `(trigger id, samples)` no later trigger can select, after each answer that
//!     retires some, so the caller can compact their payloads;
//!   - `states`: with [`SelectOptions::states`], the policy's state right after each answer
//!     (the policy then holds exactly the samples up to the boundary), for checkpoints.
//! - Order: a trigger is answered as soon as the sample input has passed its boundary time: its
//!   samples up to the boundary are added first, in position order. Samples not covered by a
//!   known trigger are added once both inputs have passed their time (no earlier trigger can
//!   still come). So the policy sees the stream in position order on any number of workers, and
//!   a trigger operator that holds back later triggers (waiting for a model) does not hold back
//!   the training set of the trigger it already emitted.
//! - Checkpoints: `restore` builds the policy from the states all workers saved at one trigger.
//! - State: the policy's, plus samples not yet added (sorted lazily by position) and triggers
//!   not yet answered, each with capabilities at its boundary time.

use std::collections::VecDeque;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::Broadcast;

use super::policy::SelectionPolicy;
use crate::downsampling::{ScoreBoard, restore_scores, save_scores};
use crate::sample::{Candidate, Position, Retraction, SampleMeta, Time, TriggerEvent, owner};
use crate::stash::Runs;
use crate::triggers::State;

/// A selection's (or the assembler's) state right after a trigger, for a checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectionState {
    /// The trigger.
    pub trigger: u64,
    /// The state.
    pub state: State,
    /// The positions of the samples held: those a later training set may read (none for the
    /// assembler: the workers' selections hold the samples).
    pub held: Vec<Position>,
}

/// What a selection operator (or the assembler) emits: its answers `D`, the samples each
/// trigger retires, and its states for checkpoints.
pub struct Selected<'scope, D> {
    /// One answer per trigger (per worker for a selection; on worker 0 for the assembler).
    pub answers: StreamVec<'scope, Time, D>,
    /// `(trigger id, samples)` no later trigger can select (see
    /// [`SelectionPolicy::take_retired`]); only non-empty ones.
    pub retired: StreamVec<'scope, Time, (u64, Vec<Position>)>,
    /// One per trigger with [`SelectOptions::states`].
    pub states: StreamVec<'scope, Time, SelectionState>,
}

/// How a selection operator (or the assembler) is set up.
#[derive(Default)]
pub struct SelectOptions {
    /// Whether states for checkpoints go out on [`Selected::states`].
    pub states: bool,
    /// The states every worker saved at the checkpoint this run resumes from.
    pub restore: Option<Vec<State>>,
    /// How many workers own keys: the first `owners` workers, key `k` on
    /// [`owner`]`(k, owners)` (`None`: every worker). The caller exchanges the samples to
    /// match; workers beyond them hold nothing and answer every trigger empty. A cluster
    /// keeps keyed state in the process that trains (see the pipeline's architecture notes).
    pub owners: Option<usize>,
    /// This worker's score board (selections and downsampling over scores): saved with the
    /// policy's state, taken in the same step as the answer, so a state is
    /// `{"policy": …, "scores": …}`, and restored from such states (the rows of keys this
    /// worker owns).
    pub scores: Option<ScoreBoard>,
}

/// Runs a selection policy per worker over key-partitioned sample metadata.
pub trait Select<'scope>: Sized {
    /// Answers every trigger with this worker's candidates.
    fn select<P: SelectionPolicy>(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        policy: P,
    ) -> StreamVec<'scope, Time, (u64, Vec<Candidate>)> {
        self.select_with(triggers, policy, SelectOptions::default())
            .answers
    }

    /// As [`select`](Self::select), with `options`, and every output of the operator.
    fn select_with<P: SelectionPolicy>(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        policy: P,
        options: SelectOptions,
    ) -> Selected<'scope, (u64, Vec<Candidate>)>;

    /// As [`select_with`](Self::select_with), with deletions: `retractions` holds, on the
    /// worker that owns its key, each deletion ([`Retraction`]). From the first trigger whose
    /// boundary is at or after it, the samples of that key it covers are in no answer; the
    /// policy's held ones are retired at once (so their payloads go once that trigger is
    /// trained) and never again; the key's score goes.
    fn select_retracting<P: SelectionPolicy>(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        retractions: StreamVec<'scope, Time, Retraction>,
        policy: P,
        options: SelectOptions,
    ) -> Selected<'scope, (u64, Vec<Candidate>)>;
}

/// Deletions a selection applied: per key, what they cover and the held samples they retired.
#[derive(Default)]
struct Retracted {
    keys: std::collections::HashMap<crate::sample::Key, Deleted>,
}

/// A key's deletions, merged: its samples before `upto` (and at it, if `inclusive`) are
/// deleted; `gone` are the times of those the policy held, retired once.
#[derive(Debug)]
struct Deleted {
    upto: Time,
    inclusive: bool,
    gone: Vec<Time>,
}

impl Deleted {
    fn covers(&self, time: Time) -> bool {
        time < self.upto || (self.inclusive && time == self.upto)
    }
}

impl Retracted {
    /// Whether `pos` is deleted.
    fn covers(&self, pos: Position) -> bool {
        self.keys.get(&pos.key).is_some_and(|d| d.covers(pos.time))
    }

    /// Applies `new` deletions: the held samples they delete are appended to `retired`, and
    /// their keys' scores leave `scores`.
    fn apply<P: SelectionPolicy>(
        &mut self,
        new: Vec<Retraction>,
        policy: &mut P,
        retired: &mut Vec<Position>,
        scores: Option<&ScoreBoard>,
    ) {
        if new.is_empty() {
            return;
        }
        for r in &new {
            let d = self.keys.entry(r.at.key).or_insert(Deleted {
                upto: r.at.time,
                inclusive: r.inclusive,
                gone: Vec::new(),
            });
            // Deletions of one key only widen what it covers.
            if (r.at.time, r.inclusive) > (d.upto, d.inclusive) {
                (d.upto, d.inclusive) = (r.at.time, r.inclusive);
            }
            if let Some(board) = scores {
                board.borrow_mut().remove(&r.at.key);
            }
        }
        let mut held = Vec::new();
        policy.held_positions(&mut held);
        for p in held {
            if let Some(d) = self.keys.get_mut(&p.key)
                && d.covers(p.time)
                && !d.gone.contains(&p.time)
            {
                d.gone.push(p.time);
                retired.push(p);
            }
        }
        // Samples are added up to the boundary before the deletions up to it: a deletion whose
        // samples the policy does not hold has nothing left to delete.
        self.keys.retain(|_, d| !d.gone.is_empty());
    }

    /// Drops from `answer` the deleted candidates, and from `retired` (the policy's own) those
    /// retired already; a deletion whose samples the policy all let go has nothing left to do.
    fn filter(&mut self, answer: &mut Vec<Candidate>, retired: &mut Vec<Position>) {
        if self.keys.is_empty() {
            return;
        }
        answer.retain(|c| !self.covers(c.pos));
        retired.retain(|p| {
            let Some(d) = self.keys.get_mut(&p.key) else {
                return true;
            };
            let Some(i) = d.gone.iter().position(|t| *t == p.time) else {
                return true;
            };
            d.gone.swap_remove(i);
            if d.gone.is_empty() {
                self.keys.remove(&p.key);
            }
            false
        });
    }

    /// For a checkpoint: `[[key, upto, inclusive, [retired times]], …]`, sorted by key.
    fn save(&self) -> State {
        let mut rows: Vec<_> = self
            .keys
            .iter()
            .map(|(k, d)| {
                let mut gone = d.gone.clone();
                gone.sort_unstable();
                serde_json::json!([k, d.upto, d.inclusive, gone])
            })
            .collect();
        rows.sort_by_key(|r| r[0].as_u64());
        State::Array(rows)
    }

    /// Restores the deletions of `state` (a [`save`](Self::save), or the older
    /// `[key, time, retired time or null]`) whose key `owns` says is this worker's.
    fn restore(&mut self, state: &State, owns: &dyn Fn(crate::sample::Key) -> bool) {
        for r in state.as_array().into_iter().flatten() {
            let (Some(key), Some(upto)) = (r[0].as_u64(), r[1].as_u64()) else {
                continue;
            };
            if !owns(key) {
                continue;
            }
            let (inclusive, gone) = match r[2].as_bool() {
                Some(inclusive) => {
                    let times = r[3].as_array().into_iter().flatten();
                    (inclusive, times.filter_map(State::as_u64).collect())
                }
                None => (true, r[2].as_u64().into_iter().collect()),
            };
            self.keys.insert(
                key,
                Deleted {
                    upto,
                    inclusive,
                    gone,
                },
            );
        }
    }
}

pub(super) type Out<D> = OutputBuilder<Time, CapacityContainerBuilder<Vec<D>>>;

/// The three outputs of a selection operator or the assembler.
pub(super) struct Outputs<D: Clone + 'static> {
    pub answers: Out<D>,
    pub retired: Out<(u64, Vec<Position>)>,
    pub states: Out<SelectionState>,
}

impl<D: Clone + 'static> Outputs<D> {
    /// Adds the three outputs to `builder`.
    pub fn new<'scope>(builder: &mut OperatorBuilder<'scope, Time>) -> (Self, Selected<'scope, D>) {
        let (a, answers) = builder.new_output();
        let (r, retired) = builder.new_output();
        let (s, states) = builder.new_output();
        let outputs = Self {
            answers: OutputBuilder::from(a),
            retired: OutputBuilder::from(r),
            states: OutputBuilder::from(s),
        };
        let selected = Selected {
            answers,
            retired,
            states,
        };
        (outputs, selected)
    }

    /// Sends one trigger's answer, retired samples (if any) and state (if any), each through
    /// its output's capability in `caps`.
    pub fn send(
        &mut self,
        caps: &[Capability<Time>; 3],
        trigger: u64,
        answer: D,
        retired: Vec<Position>,
        state: Option<(State, Vec<Position>)>,
    ) {
        self.answers.activate().session(&caps[0]).give(answer);
        if !retired.is_empty() {
            self.retired
                .activate()
                .session(&caps[1])
                .give((trigger, retired));
        }
        if let Some((state, held)) = state {
            let s = SelectionState {
                trigger,
                state,
                held,
            };
            self.states.activate().session(&caps[2]).give(s);
        }
    }
}

/// Samples waiting to be added, in position order.
struct Pending(Runs<SampleMeta, Position>);

impl Default for Pending {
    fn default() -> Self {
        Self(Runs::new(SampleMeta::position))
    }
}

impl Pending {
    fn extend(&mut self, data: impl IntoIterator<Item = SampleMeta>) {
        self.0.add(data.into_iter().collect());
    }

    /// Removes and returns, in position order, the samples `upto` accepts (a prefix).
    fn take_while(&mut self, upto: impl Fn(&SampleMeta) -> bool) -> Vec<SampleMeta> {
        self.0.take_while(upto)
    }
}

impl<'scope> Select<'scope> for StreamVec<'scope, Time, SampleMeta> {
    fn select_with<P: SelectionPolicy>(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        policy: P,
        options: SelectOptions,
    ) -> Selected<'scope, (u64, Vec<Candidate>)> {
        let none = timely::dataflow::operators::generic::operator::empty(self.scope());
        self.select_retracting(triggers, none, policy, options)
    }

    fn select_retracting<P: SelectionPolicy>(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        retractions: StreamVec<'scope, Time, Retraction>,
        mut policy: P,
        options: SelectOptions,
    ) -> Selected<'scope, (u64, Vec<Candidate>)> {
        let name = format!("Selection: {}", policy.name());
        let scope = self.scope();
        let (index, peers) = (scope.index(), scope.peers());
        let SelectOptions {
            states: save,
            restore,
            owners,
            scores,
        } = options;
        let owners = owners.unwrap_or(peers);
        let mut retracted = Retracted::default();
        let restore = match (restore, &scores) {
            (Some(states), Some(board)) => {
                for s in &states {
                    restore_scores(board, &s["scores"], |k| owner(k, owners) == index);
                    retracted.restore(&s["retracted"], &|k| owner(k, owners) == index);
                }
                Some(states.iter().map(|s| s["policy"].clone()).collect())
            }
            (restore, _) => restore,
        };
        if let Some(states) = restore {
            // The run checked the checkpoint (version, checksum, configuration) before building
            // the dataflow: a state that does not fit is a bug.
            policy
                .restore(&states, &|key| owner(key, owners) == index)
                .unwrap_or_else(|e| panic!("restoring the selection from the checkpoint: {e}"));
        }
        let mut builder = OperatorBuilder::new(name, scope);
        let mut samples = builder.new_input(self, Pipeline);
        let mut triggers = builder.new_input(triggers.broadcast(), Pipeline);
        let mut deletions = builder.new_input(retractions, Pipeline);
        let (mut outputs, selected) = Outputs::new(&mut builder);
        builder.build(move |caps| {
            drop(caps);
            let mut pending = Pending::default();
            let mut deleted: Vec<Retraction> = Vec::new();
            let mut queue: VecDeque<(TriggerEvent, [Capability<Time>; 3])> = VecDeque::new();
            move |frontiers| {
                let (f1, f2, f3) = (&frontiers[0], &frontiers[1], &frontiers[2]);
                samples.for_each(|_cap, data| pending.extend(data.drain(..)));
                deletions.for_each(|_cap, data| deleted.append(data));
                triggers.for_each_stamp(|cap, data| {
                    for t in data.flat_map(|d| d.drain(..)) {
                        let at = |port| cap.delayed(&t.boundary.time, port);
                        let caps = [at(0), at(1), at(2)];
                        queue.push_back((t, caps));
                    }
                });
                // Answer the triggers whose samples are all here.
                while let Some((t, _)) = queue.front()
                    && !f1.less_equal(&t.boundary.time)
                    && !f3.less_equal(&t.boundary.time)
                {
                    let (t, caps) = queue.pop_front().expect("front exists");
                    for s in pending.take_while(|s| s.position() <= t.boundary) {
                        policy.add(s);
                    }
                    let (now, later) = deleted.drain(..).partition(|d| d.at <= t.boundary);
                    deleted = later;
                    let mut gone = Vec::new();
                    retracted.apply(now, &mut policy, &mut gone, scores.as_ref());
                    let mut selected = Vec::new();
                    policy.select(&t, &mut selected);
                    let mut retired = Vec::new();
                    policy.take_retired(&mut retired);
                    retracted.filter(&mut selected, &mut retired);
                    retired.append(&mut gone);
                    let state = save.then(|| {
                        let mut held = Vec::new();
                        policy.held_positions(&mut held);
                        held.retain(|p| !retracted.covers(*p));
                        let state = match &scores {
                            Some(board) => serde_json::json!({
                                "policy": policy.save(),
                                "scores": save_scores(board),
                                "retracted": retracted.save(),
                            }),
                            None => policy.save(),
                        };
                        (state, held)
                    });
                    outputs.send(&caps, t.id, (t.id, selected), retired, state);
                }
                // Samples no trigger can still precede.
                let complete = |s: &SampleMeta| !f1.less_equal(&s.time) && !f2.less_equal(&s.time);
                for s in pending.take_while(complete) {
                    policy.add(s);
                }
            }
        });
        selected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selection::NewData;

    fn meta(time: u64, key: u64) -> SampleMeta {
        SampleMeta {
            time,
            key,
            label: 0,
        }
    }

    fn pos(time: u64, key: u64) -> Position {
        Position { time, key }
    }

    /// A deletion retires its held sample once, filters it from every answer, leaves a later
    /// sample of its key alone, and survives a checkpoint on the worker that owns its key.
    #[test]
    fn deletions_retire_once_filter_answers_and_restore_by_owner() {
        let mut policy = NewData::tail(None);
        for (t, k) in [(1, 10), (2, 11), (3, 12)] {
            policy.add(meta(t, k));
        }
        let mut r = Retracted::default();
        let mut gone = Vec::new();
        // Key 11 deleted after its sample; key 99 never seen; key 12 deleted before its sample.
        r.apply(
            [pos(5, 11), pos(5, 99), pos(2, 12)]
                .map(Retraction::tombstone)
                .to_vec(),
            &mut policy,
            &mut gone,
            None,
        );
        assert_eq!(gone, [pos(2, 11)]);
        assert!(r.covers(pos(2, 11)) && !r.covers(pos(3, 12)) && !r.covers(pos(6, 11)));
        let mut answer: Vec<Candidate> = [pos(1, 10), pos(2, 11), pos(3, 12)]
            .into_iter()
            .map(|p| Candidate {
                pos: p,
                label: 0,
                seen_in: 0,
            })
            .collect();
        // The policy letting the sample go later retires nothing a second time.
        let mut retired = vec![pos(2, 11), pos(1, 10)];
        let saved = r.save();
        r.filter(&mut answer, &mut retired);
        let kept: Vec<Position> = answer.iter().map(|c| c.pos).collect();
        assert_eq!(kept, [pos(1, 10), pos(3, 12)]);
        assert_eq!(retired, [pos(1, 10)]);
        assert!(r.keys.is_empty());
        let mut restored = Retracted::default();
        restored.restore(&saved, &|k| k == 11);
        assert!(restored.covers(pos(2, 11)));
        let mut other = Retracted::default();
        other.restore(&saved, &|k| k != 11);
        assert!(other.keys.is_empty());
    }

    /// A replacement deletes its key's older versions and keeps the new one; a later
    /// tombstone covers both; each held version is retired once; a checkpoint of the older
    /// format still restores.
    #[test]
    fn replacements_delete_older_versions_and_tombstones_every_covered_one() {
        let mut policy = NewData::tail(None);
        for (t, k) in [(1, 10), (4, 10), (6, 10), (2, 11)] {
            policy.add(meta(t, k));
        }
        let mut r = Retracted::default();
        let mut gone = Vec::new();
        // Key 10's version at 6 replaced the ones at 1 and 4.
        r.apply(
            vec![Retraction::before(pos(6, 10))],
            &mut policy,
            &mut gone,
            None,
        );
        assert_eq!(gone, [pos(1, 10), pos(4, 10)]);
        assert!(r.covers(pos(4, 10)) && !r.covers(pos(6, 10)) && !r.covers(pos(2, 11)));
        // A tombstone at 6 covers the new version too, and retires only it.
        gone.clear();
        r.apply(
            vec![Retraction::tombstone(pos(6, 10))],
            &mut policy,
            &mut gone,
            None,
        );
        assert_eq!(gone, [pos(6, 10)]);
        assert!(r.covers(pos(6, 10)));
        // An earlier replacement does not narrow what is covered.
        r.apply(
            vec![Retraction::before(pos(3, 10))],
            &mut policy,
            &mut gone,
            None,
        );
        assert!(r.covers(pos(6, 10)) && gone.len() == 1);
        let saved = r.save();
        assert_eq!(saved, serde_json::json!([[10, 6, true, [1, 4, 6]]]));
        let mut restored = Retracted::default();
        restored.restore(&saved, &|_| true);
        assert!(restored.covers(pos(6, 10)) && !restored.covers(pos(7, 10)));
        // The policy letting a version go leaves the others' retirements pending.
        let mut retired = vec![pos(4, 10), pos(2, 11)];
        r.filter(&mut Vec::new(), &mut retired);
        assert_eq!(retired, [pos(2, 11)]);
        assert_eq!(r.keys[&10].gone.len(), 2);
        // The older format: [key, time, retired time or null].
        let mut old = Retracted::default();
        old.restore(&serde_json::json!([[11, 5, 2], [12, 7, null]]), &|_| true);
        assert!(old.covers(pos(5, 11)) && !old.covers(pos(6, 11)));
        assert_eq!(
            (old.keys[&11].gone.clone(), old.keys[&12].gone.len()),
            (vec![2], 0)
        );
    }
}
