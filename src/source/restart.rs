//! Restart points of a source with offsets (a Kafka topic's partitions): where a run resumed
//! after a checkpoint reads again.
//!
//! A share of such a source remembers, per partition, the first offset of each event time it
//! read ([`RestartIndex`]); at a trigger's boundary it reports [`PartitionMarks`], from which the
//! checkpoint takes the restart offset (new samples) and the offset from which payloads still
//! needed are read again. A resumed run hands the checkpoint's offsets back as a [`Resume`].
//! Pure bookkeeping: no client library here.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use sluice_dataflows::Position;

/// Marks older than the last restart point are kept one per this many offsets: enough to find
/// where payloads must be read again, without growing with every event time.
const COARSE_STRIDE: i64 = 512;

/// Per partition, where a run resumed at an event-time boundary must start reading: the
/// worker's view of what the batches it received covered.
#[derive(Clone, Debug, Default)]
pub struct RestartIndex {
    parts: BTreeMap<i32, PartIndex>,
}

#[derive(Clone, Debug, Default)]
struct PartIndex {
    /// Offset this run started reading at.
    start: i64,
    /// (event time, offset of the first message with that time) before the last restart
    /// point, thinned to one per [`COARSE_STRIDE`] offsets, and from it on, all of them.
    coarse: Vec<(u64, i64)>,
    recent: VecDeque<(u64, i64)>,
    next: i64,
}

/// What a worker reports of one partition for a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionMarks {
    /// The offset new samples after the boundary are read from.
    pub restart: i64,
    /// The offset this run started reading at.
    pub start: i64,
    /// (event time, first offset of that time), in order (thinned before the boundary).
    pub marks: Vec<(u64, i64)>,
}

impl PartitionMarks {
    /// The offset from which the partition must be read again so that every message with an
    /// event time at or after `t` is read: the last mark at or before `t` (marks are first
    /// offsets of their times, and a partition's times do not decrease), else the start; at
    /// most the restart offset. `None` (no payload needed): the restart offset.
    pub fn replay_from(&self, t: Option<u64>) -> i64 {
        let Some(t) = t else { return self.restart };
        let i = self.marks.partition_point(|(mt, _)| *mt <= t);
        let from = if i == 0 {
            self.start
        } else {
            self.marks[i - 1].1
        };
        from.min(self.restart)
    }
}

impl RestartIndex {
    /// An index of partitions `(id, start offset, next offset)`, as a reader opened them.
    pub fn new(parts: impl IntoIterator<Item = (i32, i64, i64)>) -> Self {
        let parts = parts
            .into_iter()
            .map(|(id, start, next)| {
                let part = PartIndex {
                    start,
                    next,
                    ..PartIndex::default()
                };
                (id, part)
            })
            .collect();
        Self { parts }
    }

    /// Takes in a batch's `marks` (partition, event time, first offset of that time) and its
    /// partitions' `next` offsets.
    pub fn apply(&mut self, marks: &[(i32, u64, i64)], next: &[(i32, i64)]) {
        for &(id, t, offset) in marks {
            if let Some(part) = self.parts.get_mut(&id) {
                part.recent.push_back((t, offset));
            }
        }
        for &(id, next) in next {
            if let Some(part) = self.parts.get_mut(&id) {
                part.next = next;
            }
        }
    }

    /// Per partition, the offset from which a run resumed at a boundary at event time `t` must
    /// read (the first message at or after `t`, else the next offset), with the marks; the
    /// marks before `t` are thinned.
    pub fn restart_offsets(&mut self, t: u64) -> Vec<(i32, PartitionMarks)> {
        self.parts
            .iter_mut()
            .map(|(id, part)| {
                while let Some(&(pt, o)) = part.recent.front()
                    && pt < t
                {
                    part.recent.pop_front();
                    if part
                        .coarse
                        .last()
                        .is_none_or(|(_, last)| o >= last + COARSE_STRIDE)
                    {
                        part.coarse.push((pt, o));
                    }
                }
                let restart = part.recent.front().map_or(part.next, |(_, o)| *o);
                let mut marks = part.coarse.clone();
                marks.extend(part.recent.iter().copied());
                let report = PartitionMarks {
                    restart,
                    start: part.start,
                    marks,
                };
                (*id, report)
            })
            .collect()
    }

    /// A checkpoint needs nothing before event time `t` any more: forgets the marks before
    /// the last one at or before `t`, which becomes the start.
    pub fn forget_before(&mut self, t: u64) {
        for part in self.parts.values_mut() {
            let i = part.coarse.partition_point(|(mt, _)| *mt <= t);
            if i > 0 {
                part.start = part.coarse[i - 1].1;
                part.coarse.drain(..i);
            }
        }
    }

    /// Per partition, the offsets read so far: (id, first, next).
    pub fn covered(&self) -> Vec<(i32, i64, i64)> {
        self.parts
            .iter()
            .map(|(id, p)| (*id, p.start, p.next))
            .collect()
    }
}

/// Which samples at or before a checkpoint's boundary a resumed run still needs the payloads
/// of (held by selection, or in the trigger policy's windows).
pub type Needs = Arc<dyn Fn(Position) -> bool + Send + Sync>;

/// Where a resumed run starts: per-partition offsets, and the boundary at or before which
/// samples were already processed.
#[derive(Clone)]
pub struct Resume {
    /// Offset from which each partition's new samples are read (partitions not listed start
    /// at the beginning): messages before it were processed before the checkpoint, so their
    /// dead letters are not sent again.
    pub offsets: BTreeMap<i32, i64>,
    /// Offset from which each partition is read again for payloads (at most `offsets`).
    pub replay_from: BTreeMap<i32, i64>,
    /// Samples at or before this position are not sent to the dataflow again.
    pub boundary: Position,
    /// Of those, the ones whose payloads go to [`Batch::restored`](super::Batch::restored).
    pub needs: Needs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_offsets_point_at_the_first_message_of_the_boundary_time() {
        let part = |start| PartIndex {
            start,
            next: start,
            ..PartIndex::default()
        };
        let mut index = RestartIndex {
            parts: [(0, part(100)), (1, part(7))].into(),
        };
        // Partition 0: times 10 (offsets 100..), 20 (from 103), 30 (from 105); next 107.
        index.apply(
            &[(0, 10, 100), (0, 20, 103), (1, 10, 7)],
            &[(0, 105), (1, 9)],
        );
        index.apply(&[(0, 30, 105)], &[(0, 107)]);
        let restarts = |index: &mut RestartIndex, t| -> Vec<(i32, i64)> {
            let r = index.restart_offsets(t);
            r.into_iter().map(|(p, m)| (p, m.restart)).collect()
        };
        // A boundary at 20: partition 0 restarts at the first message of time 20; partition 1
        // saw nothing at or after 20, so it restarts after what it read.
        assert_eq!(restarts(&mut index, 20), [(0, 103), (1, 9)]);
        // Later boundaries move on.
        assert_eq!(restarts(&mut index, 25), [(0, 105), (1, 9)]);
        assert_eq!(restarts(&mut index, 40), [(0, 107), (1, 9)]);
    }

    #[test]
    fn payloads_are_read_again_from_the_last_mark_at_or_before_the_horizon() {
        let mut index = RestartIndex {
            parts: [(
                0,
                PartIndex {
                    start: 50,
                    next: 50,
                    ..PartIndex::default()
                },
            )]
            .into(),
        };
        // One new time every 100 offsets: 1,000 marks, thinned to one per 512 offsets once
        // they are before a boundary.
        let marks: Vec<(i32, u64, i64)> = (0..1_000)
            .map(|i| (0, 10 + i, 50 + 100 * i as i64))
            .collect();
        index.apply(&marks, &[(0, 100_050)]);
        let at = |index: &mut RestartIndex, boundary| index.restart_offsets(boundary).remove(0).1;
        let m = at(&mut index, 900);
        assert_eq!(m.restart, 50 + 100 * 890);
        // The 890 marks before the boundary thinned to one per 512 offsets (every 6th), the 110
        // from it on kept.
        let before = m.marks.iter().filter(|(t, _)| *t < 900).count();
        assert_eq!(before, 149);
        assert_eq!(m.marks.len() - before, 110);
        // Every message at or after the horizon's time is at or after the replay offset, and
        // not too far before it (one thinned stride).
        for horizon in [10u64, 11, 300, 655, 899, 950] {
            let from = m.replay_from(Some(horizon));
            let first = 50 + 100 * (horizon.min(900) - 10) as i64;
            assert!(from <= first, "horizon {horizon}: {from} > {first}");
            assert!(
                first - from <= 600,
                "horizon {horizon}: {from} far before {first}"
            );
        }
        assert_eq!(m.replay_from(Some(5)), 50, "before every mark: the start");
        assert_eq!(m.replay_from(None), m.restart);
        // Forgetting before a horizon moves the start there, no further.
        index.forget_before(500);
        let m = at(&mut index, 950);
        assert!(m.replay_from(Some(500)) <= 50 + 100 * 490);
        assert!(m.replay_from(Some(100)) >= m.replay_from(Some(500)) - 600);
    }
}
