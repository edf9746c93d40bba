//! `Scores: Latest`: the latest score the trainer reported for each sample.
//!
//! - Input: [`SampleScore`] records (the trainer's per-sample loss for samples it trained on),
//!   batched by the trainer; the operator exchanges them by [`route`]`(key)`, so each worker
//!   keeps the scores of the keys whose samples (and selection state) it owns.
//! - State: a [`KeyMap`] from key to [`Score`] (8 bytes of value), shared with the selection
//!   and downsampling policies of the same worker through [`ScoreBoard`]; the pipeline removes
//!   the scores of samples selection retires. A newer report
//!   replaces an older one: by trigger, then arrival order.
//! - Time: feedback travels on the samples' event-time domain, stamped with the ingestion
//!   watermark when it reaches the dataflow, so it never holds back training sets; a policy
//!   sees the scores that arrived before its trigger closed.
//! - Checkpoints: [`save_scores`] and [`restore_scores`] (the selection operator saves a
//!   worker's board with its policy's state when given the board).
//! - Cost: O(1) per update, one exchange of 24 bytes.

use std::cell::RefCell;
use std::rc::Rc;

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use crate::sample::{Key, KeyMap, SampleScore, Time, route};
use crate::triggers::State;

/// What is known of a sample's score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// The latest reported loss.
    pub loss: f32,
    /// The trigger whose training reported it (the model's age, in triggers; 32 bits keep an
    /// entry at 8 bytes of value).
    pub trigger: u32,
}

/// The scores a worker keeps, readable by its policies.
pub type ScoreBoard = Rc<RefCell<KeyMap<Score>>>;

/// A board's scores for a checkpoint: `[[key, loss, trigger], …]`, sorted by key.
pub fn save_scores(board: &ScoreBoard) -> State {
    let mut rows: Vec<(Key, f32, u32)> = board
        .borrow()
        .iter()
        .map(|(k, s)| (*k, s.loss, s.trigger))
        .collect();
    rows.sort_unstable_by_key(|r| r.0);
    serde_json::to_value(rows).expect("scores serialise")
}

/// Adds the scores of a checkpoint's `saved` rows that `owns` says are this worker's.
pub fn restore_scores(board: &ScoreBoard, saved: &State, owns: impl Fn(Key) -> bool) {
    let rows: Vec<(Key, f32, u32)> = serde_json::from_value(saved.clone()).unwrap_or_default();
    let mut board = board.borrow_mut();
    for (key, loss, trigger) in rows.into_iter().filter(|r| owns(r.0)) {
        board.insert(key, Score { loss, trigger });
    }
}

/// Applies one report to a board: a newer report replaces an older one (by trigger, then
/// arrival order).
pub fn record(board: &mut KeyMap<Score>, s: &SampleScore) {
    let trigger = u32::try_from(s.trigger).unwrap_or(u32::MAX);
    let score = Score {
        loss: s.loss,
        trigger,
    };
    board
        .entry(s.key)
        .and_modify(|old| {
            if trigger >= old.trigger {
                *old = score;
            }
        })
        .or_insert(score);
}

/// Keeps the latest score per key.
pub trait KeepScores: Sized {
    /// Consumes the feedback stream; returns this worker's board.
    fn keep_scores(self) -> ScoreBoard {
        self.keep_scores_on(None)
    }

    /// As [`keep_scores`](Self::keep_scores), with the keys owned by the first `owners`
    /// workers only (see `SelectOptions::owners`; `None`: every worker).
    fn keep_scores_on(self, owners: Option<usize>) -> ScoreBoard;
}

impl KeepScores for StreamVec<'_, Time, SampleScore> {
    fn keep_scores_on(self, owners: Option<usize>) -> ScoreBoard {
        let board: ScoreBoard = Rc::default();
        let state = board.clone();
        let owners = owners.unwrap_or(self.scope().peers()) as u64;
        self.sink(
            // Timely sends a hash `h` to worker `h % peers`: below `owners`, always.
            Exchange::new(move |s: &SampleScore| route(s.key) % owners),
            "Scores: Latest",
            move |(input, _frontier)| {
                input.for_each(|_cap, data| {
                    let mut board = state.borrow_mut();
                    for s in data.drain(..) {
                        record(&mut board, &s);
                    }
                });
            },
        );
        board
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use timely::dataflow::operators::vec::Input;

    #[test]
    fn latest_score_per_key_lands_on_the_owning_worker() {
        // Keys on every worker, or on the first of three only (a cluster's first process).
        for (workers, owners) in [(1, None), (3, None), (3, Some(1))] {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let out = seen.clone();
            timely::execute(timely::Config::process(workers), move |worker| {
                let (mut input, board) = worker.dataflow::<Time, _, _>(|scope| {
                    let (input, stream) = scope.new_input::<SampleScore>();
                    (input, stream.keep_scores_on(owners))
                });
                if worker.index() == 0 {
                    for (key, trigger, loss) in [(1, 0, 0.5), (2, 0, 0.25), (1, 1, 0.125)] {
                        input.send(SampleScore { key, trigger, loss });
                    }
                    // An older trigger's report does not replace a newer one.
                    input.send(SampleScore {
                        key: 1,
                        trigger: 0,
                        loss: 9.0,
                    });
                }
                drop(input);
                while worker.step() {}
                let peers = owners.unwrap_or(worker.peers()) as u64;
                for (k, s) in board.borrow().iter() {
                    assert_eq!(
                        route(*k) % peers,
                        worker.index() as u64,
                        "key {k} misplaced"
                    );
                    out.lock().unwrap().push((*k, *s));
                }
            })
            .unwrap();
            let mut got = seen.lock().unwrap().clone();
            got.sort_by_key(|(k, _)| *k);
            assert_eq!(
                got,
                [
                    (
                        1,
                        Score {
                            loss: 0.125,
                            trigger: 1
                        }
                    ),
                    (
                        2,
                        Score {
                            loss: 0.25,
                            trigger: 0
                        }
                    )
                ],
                "workers={workers}"
            );
        }
    }
}
