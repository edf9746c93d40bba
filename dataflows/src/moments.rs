//! Running per-feature statistics of the stream (`[model] normalize = "running"`), exact for
//! any number of workers.
//!
//! - [`Moments`]: per feature, the count, sum and sum of squares of the values seen, in fixed
//!   point (each value rounded on its own to a multiple of 2^-40, its square too) with 192-bit
//!   accumulators. Integer sums do not depend on the order of addition, so the totals at a
//!   trigger are the same whichever worker saw which sample, and the models trained on them
//!   are bitwise the same for 1 or N workers. Values are clamped to ±2^42 (4.4e12); values
//!   below about 1e-12 in magnitude count as 0, squares below about 1e-12 too.
//! - [`RunningMoments::running_moments`] (per worker): every stored sample's features are read
//!   once as its metadata arrives and added to an open sum; at each trigger (once every sample
//!   at or before its boundary has arrived) the samples at or before the boundary move into the
//!   folded sum, which goes out as this worker's share: `(trigger id, Moments)` at the
//!   trigger's time. Boundaries ascend within a lane, so each sample is folded once; the few
//!   samples past a boundary that arrived early are read again to split them off.
//! - [`AttachMoments::attach_moments`] (worker 0): adds the workers' shares into each
//!   trigger's [`TrainingSet::moments`], in trigger order, as soon as every worker has
//!   answered (counted, as the assembler does: a trigger policy may hold its stream's frontier).
//!
//! State: the folded sums (the checkpoint keeps the total at a trigger, restored into worker
//! 0), the open sums and the positions of the samples not folded yet.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::Broadcast;

use crate::sample::{Position, SampleMeta, Time, TrainingSet, TriggerEvent};
use crate::selection::JoinAnswers;

/// Fractional bits of the fixed-point values.
const FRACTION: i32 = 40;

/// Magnitude beyond which a value is clamped (its square times 2^40 stays below 2^126).
const LIMIT: f32 = 4_398_046_511_104.0; // 2^42

/// A signed 192-bit accumulator: `hi * 2^128 + lo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Wide {
    hi: i64,
    lo: u128,
}

impl Wide {
    fn add(&mut self, v: i128) {
        let (lo, carry) = self.lo.overflowing_add(v as u128);
        self.lo = lo;
        self.hi += i64::from(carry) - i64::from(v < 0);
    }

    fn sub(&mut self, v: i128) {
        self.add(-v);
    }

    fn merge(&mut self, other: &Wide) {
        let (lo, carry) = self.lo.overflowing_add(other.lo);
        self.lo = lo;
        self.hi += other.hi + i64::from(carry);
    }

    fn negated(self) -> Wide {
        let (lo, carry) = (!self.lo).overflowing_add(1);
        Wide {
            hi: !self.hi + i64::from(carry),
            lo,
        }
    }

    /// The value over `2^FRACTION`, rounded the same way every time.
    fn to_f64(self) -> f64 {
        let scale = 2f64.powi(FRACTION);
        let fits = (self.hi == 0 && self.lo >> 127 == 0) || (self.hi == -1 && self.lo >> 127 == 1);
        if fits {
            (self.lo as i128) as f64 / scale
        } else if self.hi < 0 {
            -self.negated().to_f64()
        } else {
            (self.hi as f64 * 2f64.powi(128) + self.lo as f64) / scale
        }
    }
}

/// `m * 2^s`, rounded half away from zero, for `m` below 2^48.
fn shifted(m: u128, s: i32) -> i128 {
    if s >= 0 {
        (m << s) as i128
    } else if s > -100 {
        ((m + (1u128 << (-s - 1))) >> -s) as i128
    } else {
        0
    }
}

/// `x` and `x²` in fixed point (multiples of 2^-40), `x` clamped to ±2^42.
fn fixed(x: f32) -> (i128, i128) {
    let bits = x.clamp(-LIMIT, LIMIT).to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32;
    if exponent == 0 {
        return (0, 0); // zero or subnormal: below the resolution
    }
    let mantissa = u128::from((bits & 0x7f_ffff) | 0x80_0000);
    // x = mantissa * 2^e
    let e = exponent - 150;
    let value = shifted(mantissa, e + FRACTION);
    let square = shifted(mantissa * mantissa, 2 * e + FRACTION);
    (if bits >> 31 == 1 { -value } else { value }, square)
}

/// Per-feature count, sum and sum of squares of the samples added (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moments {
    /// Samples added.
    pub count: u64,
    sums: Vec<Wide>,
    squares: Vec<Wide>,
}

impl Moments {
    /// Features per sample (0 before the first sample).
    pub fn dim(&self) -> usize {
        self.sums.len()
    }

    /// Adds the samples whose features are `rows`, `dim` per sample.
    ///
    /// # Panics
    /// If `dim` differs from the samples added before.
    pub fn add_rows(&mut self, rows: &[f32], dim: usize) {
        self.apply_rows::<false>(rows, dim);
    }

    /// Takes the samples whose features are `rows` out again (added before).
    pub fn remove_rows(&mut self, rows: &[f32], dim: usize) {
        self.apply_rows::<true>(rows, dim);
    }

    /// Adds each row's values and squares, or takes them out again (`REMOVE`; a constant, so
    /// the per-value loop has no branch).
    fn apply_rows<const REMOVE: bool>(&mut self, rows: &[f32], dim: usize) {
        self.fit(dim);
        if dim == 0 {
            return;
        }
        for row in rows.chunks_exact(dim) {
            for ((x, sum), square) in row.iter().zip(&mut self.sums).zip(&mut self.squares) {
                let (v, v2) = fixed(*x);
                if REMOVE {
                    sum.sub(v);
                    square.sub(v2);
                } else {
                    sum.add(v);
                    square.add(v2);
                }
            }
        }
        let n = (rows.len() / dim) as u64;
        if REMOVE {
            self.count -= n;
        } else {
            self.count += n;
        }
    }

    /// Adds `other`'s samples.
    pub fn merge(&mut self, other: &Moments) {
        if other.count == 0 {
            return;
        }
        self.fit(other.dim());
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a.merge(b);
        }
        for (a, b) in self.squares.iter_mut().zip(&other.squares) {
            a.merge(b);
        }
        self.count += other.count;
    }

    fn fit(&mut self, dim: usize) {
        if self.sums.is_empty() && self.count == 0 {
            self.sums = vec![Wide::default(); dim];
            self.squares = vec![Wide::default(); dim];
        }
        assert_eq!(
            self.sums.len(),
            dim,
            "samples with {dim} features added to statistics of {}",
            self.sums.len()
        );
    }

    /// Per feature, the mean and the (population) standard deviation; empty without samples.
    pub fn mean_std(&self) -> (Vec<f64>, Vec<f64>) {
        if self.count == 0 {
            return (Vec::new(), Vec::new());
        }
        let n = self.count as f64;
        self.sums
            .iter()
            .zip(&self.squares)
            .map(|(s, q)| {
                let mean = s.to_f64() / n;
                let var = (q.to_f64() / n - mean * mean).max(0.0);
                (mean, var.sqrt())
            })
            .unzip()
    }
}

/// Running statistics of a stream's features at each trigger (see the module doc).
pub trait RunningMoments<'scope> {
    /// This worker's share of the statistics of every sample at or before each trigger's
    /// boundary: `(trigger id, Moments)` at the trigger's time, once per trigger. `read`
    /// appends the features of the samples at the given positions (in order) and returns the
    /// number per sample. `restore` (worker 0's, after a resume) are the statistics at the
    /// checkpoint's boundary.
    fn running_moments(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        read: impl FnMut(&[Position], &mut Vec<f32>) -> usize + 'static,
        restore: Option<Moments>,
    ) -> StreamVec<'scope, Time, (u64, Moments)>;
}

/// One worker's statistics: folded (every sample at or before the last boundary) and open.
#[derive(Default)]
struct Running {
    folded: Moments,
    open: Moments,
    /// The open samples' positions.
    pending: Vec<Position>,
}

impl Running {
    fn arrive(
        &mut self,
        metas: &[SampleMeta],
        read: &mut impl FnMut(&[Position], &mut Vec<f32>) -> usize,
        rows: &mut Vec<f32>,
    ) {
        let at: Vec<Position> = metas.iter().map(SampleMeta::position).collect();
        rows.clear();
        let dim = read(&at, rows);
        self.open.add_rows(rows, dim);
        self.pending.extend(at);
    }

    /// Folds the open samples at or before `boundary`; returns the folded statistics.
    fn fold(
        &mut self,
        boundary: Position,
        read: &mut impl FnMut(&[Position], &mut Vec<f32>) -> usize,
        rows: &mut Vec<f32>,
    ) -> Moments {
        let (before, after): (Vec<Position>, Vec<Position>) =
            self.pending.iter().partition(|p| **p <= boundary);
        if after.is_empty() {
            self.folded.merge(&self.open);
            self.open = Moments::default();
        } else if !before.is_empty() {
            // Read the smaller side again.
            rows.clear();
            if before.len() <= after.len() {
                let dim = read(&before, rows);
                let mut part = Moments::default();
                part.add_rows(rows, dim);
                self.open.remove_rows(rows, dim);
                self.folded.merge(&part);
            } else {
                let dim = read(&after, rows);
                let mut rest = Moments::default();
                rest.add_rows(rows, dim);
                let mut part = std::mem::replace(&mut self.open, rest);
                part.remove_rows(rows, dim);
                self.folded.merge(&part);
            }
        }
        self.pending = after;
        self.folded.clone()
    }
}

impl<'scope> RunningMoments<'scope> for StreamVec<'scope, Time, SampleMeta> {
    fn running_moments(
        self,
        triggers: StreamVec<'scope, Time, TriggerEvent>,
        mut read: impl FnMut(&[Position], &mut Vec<f32>) -> usize + 'static,
        restore: Option<Moments>,
    ) -> StreamVec<'scope, Time, (u64, Moments)> {
        let mut running = Running {
            folded: restore.unwrap_or_default(),
            ..Running::default()
        };
        let mut builder =
            OperatorBuilder::new("Normalize: Running moments".to_string(), self.scope());
        let mut metas = builder.new_input(self, Pipeline);
        let mut trigs = builder.new_input(triggers.broadcast(), Pipeline);
        let (output, shares) = builder.new_output();
        let mut output: OutputBuilder<Time, CapacityContainerBuilder<Vec<(u64, Moments)>>> =
            OutputBuilder::from(output);
        builder.build(move |caps| {
            drop(caps);
            let mut queue: VecDeque<(TriggerEvent, Capability<Time>)> = VecDeque::new();
            let mut rows = Vec::new();
            move |frontiers| {
                let mut output = output.activate();
                metas.for_each(|_cap, data| running.arrive(data, &mut read, &mut rows));
                trigs.for_each_stamp(|cap, data| {
                    for t in data.flat_map(|d| d.drain(..)) {
                        let at = cap.delayed(&t.boundary.time, 0);
                        queue.push_back((t, at));
                    }
                });
                // Triggers in order, once every sample at or before the boundary is here.
                while let Some((t, _)) = queue.front()
                    && !frontiers[0].less_equal(&t.boundary.time)
                {
                    let (t, cap) = queue.pop_front().expect("front exists");
                    let share = running.fold(t.boundary, &mut read, &mut rows);
                    output.session(&cap).give((t.id, share));
                }
            }
        });
        shares
    }
}

/// Gives each training set the statistics of its trigger (see the module doc).
pub trait AttachMoments<'scope> {
    /// `self`'s training sets (worker 0) with the sum of every worker's share in `shares`.
    fn attach_moments(
        self,
        shares: StreamVec<'scope, Time, (u64, Moments)>,
    ) -> StreamVec<'scope, Time, TrainingSet>;
}

impl<'scope> AttachMoments<'scope> for StreamVec<'scope, Time, TrainingSet> {
    fn attach_moments(
        self,
        shares: StreamVec<'scope, Time, (u64, Moments)>,
    ) -> StreamVec<'scope, Time, TrainingSet> {
        let peers = self.scope().peers();
        self.join_answers(
            shares,
            "Normalize: Attach moments",
            peers,
            |total: &mut Moments, share| total.merge(&share),
            |mut set, total| {
                set.moments = Some(total);
                set
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(rows: &[Vec<f32>]) -> (Vec<f64>, Vec<f64>) {
        let n = rows.len() as f64;
        let dim = rows[0].len();
        (0..dim)
            .map(|j| {
                let mean = rows.iter().map(|r| r[j] as f64).sum::<f64>() / n;
                let var = rows
                    .iter()
                    .map(|r| (r[j] as f64 - mean).powi(2))
                    .sum::<f64>()
                    / n;
                (mean, var.sqrt())
            })
            .unzip()
    }

    fn rows(n: usize, seed: u64) -> Vec<Vec<f32>> {
        // A small LCG: values from 1e-3 to 1e6, both signs.
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                vec![
                    (next() * 2.0 - 1.0) as f32,
                    (1000.0 + next() * 10.0) as f32,
                    (next() * 1e6) as f32,
                    (next() * 1e-3) as f32,
                    -5.0,
                ]
            })
            .collect()
    }

    #[test]
    fn mean_and_std_match_a_float_reference() {
        let data = rows(5000, 7);
        let mut m = Moments::default();
        for r in &data {
            m.add_rows(r, r.len());
        }
        let (mean, std) = m.mean_std();
        let (rm, rs) = reference(&data);
        for j in 0..rm.len() {
            let tol = 1e-9 * rm[j].abs().max(1.0);
            assert!(
                (mean[j] - rm[j]).abs() <= tol,
                "mean {j}: {} vs {}",
                mean[j],
                rm[j]
            );
            let tol = 1e-6 * rs[j].max(1e-6);
            assert!(
                (std[j] - rs[j]).abs() <= tol,
                "std {j}: {} vs {}",
                std[j],
                rs[j]
            );
        }
        assert_eq!(std[4], 0.0, "a constant feature has no spread");
        assert_eq!(m.count, 5000);
    }

    #[test]
    fn sums_do_not_depend_on_order_or_grouping() {
        let data = rows(3000, 11);
        let flat: Vec<f32> = data.concat();
        let mut whole = Moments::default();
        whole.add_rows(&flat, 5);
        // Three shards in another order, merged in yet another.
        let mut shards = [Moments::default(), Moments::default(), Moments::default()];
        for (i, r) in data.iter().enumerate().rev() {
            shards[(i * 7) % 3].add_rows(r, 5);
        }
        let mut merged = Moments::default();
        for s in shards.iter().rev() {
            merged.merge(s);
        }
        assert_eq!(merged, whole);
        assert_eq!(merged.mean_std(), whole.mean_std());
        // Removing what was added leaves the rest exactly.
        let mut part = whole.clone();
        part.remove_rows(&flat[5 * 1000..], 5);
        let mut first = Moments::default();
        first.add_rows(&flat[..5 * 1000], 5);
        assert_eq!(part, first);
    }

    #[test]
    fn negative_sums_and_carries_are_exact() {
        let mut w = Wide::default();
        for _ in 0..1000 {
            w.add(i128::MAX / 4);
        }
        for _ in 0..1000 {
            w.sub(i128::MAX / 4);
        }
        assert_eq!(w, Wide::default());
        w.sub(1 << 40);
        assert_eq!(w.to_f64(), -1.0);
        let (v, v2) = fixed(-1.5);
        assert_eq!((v, v2), (-(3 << 39), 9 << 38));
        // Clamped, not overflowed.
        let (v, v2) = fixed(f32::MAX);
        assert_eq!(v, 1 << 82);
        assert_eq!(v2, 1 << 124);
        assert_eq!(fixed(1e-20), (0, 0));
    }

    #[test]
    fn a_serialized_state_reads_back() {
        let mut m = Moments::default();
        m.add_rows(&[1.0, -2.0, 3.5, 1e6], 2);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Moments>(&json).unwrap(), m);
    }
}
