//! Downsamplers that choose from a matrix with a row per sample (embeddings or last-layer
//! gradients): k-center greedy and submodular maximisation (facility location, graph cut,
//! log-determinant) with Modyn's greedy optimizers (DeepCore's `k_center_greedy.py`,
//! `submodular_function.py`, `submodular_optimizer.py`). Weights are 1.
//!
//! Similarities are DeepCore's shifted cosine `0.5 + 0.5 cos` (in [0, 1]); a set's similarity
//! matrix is `n²` floats, so the trainer hands at most [`MAX_ROWS`] rows at a time.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::sample::route;

/// Rows one matrix choice takes (its similarity matrix: 256 MiB of f32); larger sets are
/// chosen in parts of at most this many rows, each keeping its share.
pub const MAX_ROWS: usize = 8192;

/// A row-major matrix: `n` rows of `d` values.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    /// The values, `n * d`.
    pub values: &'a [f32],
    /// Values per row.
    pub d: usize,
}

impl<'a> Rows<'a> {
    /// Rows over `values` with `d` per row.
    pub fn new(values: &'a [f32], d: usize) -> Self {
        assert!(d > 0 && values.len().is_multiple_of(d));
        Self { values, d }
    }

    /// Number of rows.
    pub fn n(&self) -> usize {
        self.values.len() / self.d
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.d..(i + 1) * self.d]
    }
}

/// Submodular set functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submodular {
    /// Σᵢ maxₛ sim(i, s): every sample close to a chosen one.
    FacilityLocation,
    /// Σᵢ Σₛ sim(i, s) − Σₛ Σₜ sim(s, t) (λ = 1): representative and diverse.
    GraphCut,
    /// log det of the chosen samples' similarity matrix: diverse.
    LogDeterminant,
}

/// Greedy maximisers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Greedy {
    /// Every gain recomputed at every step.
    Naive,
    /// Gains only fall (submodularity): re-evaluate the best stale bound until it stays best.
    Lazy,
    /// Each step picks the best of a random `ln(1/0.9) · n / k` unchosen samples.
    Stochastic,
    /// Lazy, accepting a re-evaluated gain within 0.9 of its old bound.
    ApproximateLazy,
}

fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// k-center greedy (Sener & Savarese): a random first center, then repeatedly the row farthest
/// (Euclidean) from all chosen ones. Returns `k` row indices in the order chosen.
pub fn k_center_greedy(m: Rows<'_>, k: usize, seed: u64) -> Vec<usize> {
    let n = m.n();
    let k = k.min(n);
    if k == 0 {
        return Vec::new();
    }
    let first = (route(seed) % n as u64) as usize;
    let mut chosen = vec![first];
    let mut nearest: Vec<f32> = (0..n)
        .map(|i| squared_distance(m.row(i), m.row(first)))
        .collect();
    nearest[first] = -1.0;
    while chosen.len() < k {
        let (p, _) = nearest
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .expect("n > 0");
        chosen.push(p);
        nearest[p] = -1.0;
        let c = m.row(p);
        for (i, near) in nearest.iter_mut().enumerate() {
            if *near >= 0.0 {
                *near = near.min(squared_distance(m.row(i), c));
            }
        }
    }
    chosen
}

/// The `n × n` shifted cosine similarities `0.5 + 0.5 cos` of the rows (a zero row: 0.5).
pub fn cosine_similarity(m: Rows<'_>) -> Vec<f32> {
    let n = m.n();
    let norms: Vec<f32> = (0..n)
        .map(|i| m.row(i).iter().map(|v| v * v).sum::<f32>().sqrt())
        .collect();
    let mut s = vec![0.0f32; n * n];
    for i in 0..n {
        for j in i..n {
            let dot: f32 = m.row(i).iter().zip(m.row(j)).map(|(a, b)| a * b).sum();
            let den = norms[i] * norms[j];
            let cos = if den > 0.0 { dot / den } else { 0.0 };
            let v = 0.5 + 0.5 * cos.clamp(-1.0, 1.0);
            s[i * n + j] = v;
            s[j * n + i] = v;
        }
    }
    s
}

/// CRAIG's similarities (`n × n`): within a label, `max distance − distance + 0.001` with the
/// label's largest Euclidean distance between rows; across labels 0 (DeepCore's
/// `-dist - min(-dist) + 1e-3`, per label).
pub fn craig_similarity(m: Rows<'_>, labels: &[i64]) -> Vec<f32> {
    let n = m.n();
    assert_eq!(labels.len(), n);
    let mut dist = vec![0.0f32; n * n];
    let mut max_of: std::collections::HashMap<i64, f32> = std::collections::HashMap::new();
    for i in 0..n {
        for j in i + 1..n {
            if labels[i] != labels[j] {
                continue;
            }
            let d = squared_distance(m.row(i), m.row(j)).sqrt();
            dist[i * n + j] = d;
            dist[j * n + i] = d;
            let e = max_of.entry(labels[i]).or_insert(0.0);
            *e = e.max(d);
        }
    }
    let mut sim = vec![0.0f32; n * n];
    for i in 0..n {
        let top = max_of.get(&labels[i]).copied().unwrap_or(0.0);
        for j in 0..n {
            if labels[i] == labels[j] {
                sim[i * n + j] = top - dist[i * n + j] + 1e-3;
            }
        }
    }
    sim
}

/// CRAIG's weights of `chosen`: 1 + the number of the `n` samples (the chosen ones included)
/// most similar to each (ties to the first chosen), as DeepCore's `calc_weights`.
pub fn craig_weights(sim: &[f32], n: usize, chosen: &[usize]) -> Vec<f32> {
    let mut w = vec![1.0f32; chosen.len()];
    if chosen.is_empty() {
        return w;
    }
    for j in 0..n {
        let mut best = 0;
        for (c, &s) in chosen.iter().enumerate() {
            if sim[s * n + j] > sim[chosen[best] * n + j] {
                best = c;
            }
        }
        w[best] += 1.0;
    }
    w
}

/// Rows one GradMatch choice takes: orthogonal matching pursuit is cubic in the samples it
/// keeps.
pub const GRAD_MATCH_ROWS: usize = 2048;

/// GradMatch (Killamsetty et al.): orthogonal matching pursuit picks up to `k` rows whose
/// weighted sum matches the mean row (the full gradient), with ridge `lambda`, then
/// non-negative least squares gives the weights (DeepCore's `orthogonal_matching_pursuit_np`).
/// Returns (row, weight) for the rows with a positive weight, in the order picked: possibly
/// fewer than `k`.
pub fn grad_match(m: Rows<'_>, k: usize, lambda: f64) -> Vec<(usize, f32)> {
    let (n, d) = (m.n(), m.d);
    let k = k.min(n);
    if k == 0 {
        return Vec::new();
    }
    let row = |i: usize| m.row(i).iter().map(|&v| v as f64);
    let mut b = vec![0.0f64; d];
    for i in 0..n {
        for (bj, v) in b.iter_mut().zip(row(i)) {
            *bj += v / n as f64;
        }
    }
    let dot = |i: usize, v: &[f64]| row(i).zip(v).map(|(a, b)| a * b).sum::<f64>();
    let mut resid = b.clone();
    let mut picked: Vec<usize> = Vec::with_capacity(k);
    let mut taken = vec![false; n];
    // Cholesky factor (row-major, lower) of G = A_S A_Sᵀ + λI, grown a row per pick; c = A_S b.
    let mut chol: Vec<Vec<f64>> = Vec::with_capacity(k);
    let mut c: Vec<f64> = Vec::with_capacity(k);
    let mut x: Vec<f64> = Vec::new();
    for _ in 0..k {
        let (p, proj) = (0..n)
            .filter(|&j| !taken[j])
            .map(|j| (j, dot(j, &resid)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .expect("k <= n");
        taken[p] = true;
        let g: Vec<f64> = picked
            .iter()
            .map(|&s| row(s).zip(row(p)).map(|(a, b)| a * b).sum())
            .collect();
        let gpp: f64 = row(p).map(|v| v * v).sum::<f64>() + lambda;
        let l = forward(&chol, &g);
        let diag = (gpp - l.iter().map(|v| v * v).sum::<f64>())
            .max(1e-12)
            .sqrt();
        let mut new = l;
        new.push(diag);
        chol.push(new);
        c.push(dot(p, &b));
        picked.push(p);
        x = if picked.len() == 1 {
            let norm: f64 = row(p).map(|v| v * v).sum();
            vec![proj / norm.max(1e-12)]
        } else {
            backward(&chol, &forward(&chol, &c))
        };
        resid.clone_from(&b);
        for (&s, &w) in picked.iter().zip(&x) {
            for (r, v) in resid.iter_mut().zip(row(s)) {
                *r -= w * v;
            }
        }
    }
    let weights = if k == 1 {
        vec![1.0]
    } else {
        // G from its factor, then min ‖G x − c‖ over x ≥ 0.
        let kk = picked.len();
        let gm: Vec<f64> = (0..kk * kk)
            .map(|ij| {
                let (i, j) = (ij / kk, ij % kk);
                (0..=i.min(j)).map(|t| chol[i][t] * chol[j][t]).sum()
            })
            .collect();
        nnls(&gm, &c, x.iter().map(|v| v.max(0.0)).collect())
    };
    picked
        .into_iter()
        .zip(weights)
        .filter(|(_, w)| *w > 0.0)
        .map(|(i, w)| (i, w as f32))
        .collect()
}

/// Solves L y = v for lower-triangular `l` (rows of growing length).
fn forward(l: &[Vec<f64>], v: &[f64]) -> Vec<f64> {
    let mut y = Vec::with_capacity(v.len());
    for (i, row) in l.iter().enumerate().take(v.len()) {
        let s: f64 = row[..i].iter().zip(&y).map(|(a, b)| a * b).sum();
        y.push((v[i] - s) / row[i]);
    }
    y
}

/// Solves Lᵀ x = y for lower-triangular `l`.
fn backward(l: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let k = y.len();
    let mut x = vec![0.0; k];
    for i in (0..k).rev() {
        let s: f64 = (i + 1..k).map(|j| l[j][i] * x[j]).sum();
        x[i] = (y[i] - s) / l[i][i];
    }
    x
}

/// Non-negative least squares min ‖G x − c‖₂, x ≥ 0 (`g` is `k × k` row-major), by
/// coordinate descent on the normal equations from `start`, to a relative change of 1e-10 or
/// 1000 sweeps.
fn nnls(g: &[f64], c: &[f64], start: Vec<f64>) -> Vec<f64> {
    let k = c.len();
    // Q = GᵀG, p = Gᵀc.
    let mut q = vec![0.0f64; k * k];
    for i in 0..k {
        for j in i..k {
            let v: f64 = (0..k).map(|t| g[t * k + i] * g[t * k + j]).sum();
            q[i * k + j] = v;
            q[j * k + i] = v;
        }
    }
    let p: Vec<f64> = (0..k)
        .map(|i| (0..k).map(|t| g[t * k + i] * c[t]).sum())
        .collect();
    let mut x = start;
    for _ in 0..1000 {
        let mut change = 0.0f64;
        let mut size = 0.0f64;
        for i in 0..k {
            let qi = &q[i * k..(i + 1) * k];
            let grad: f64 = qi.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>() - p[i];
            let new = (x[i] - grad / qi[i].max(1e-300)).max(0.0);
            change = change.max((new - x[i]).abs());
            size = size.max(new.abs());
            x[i] = new;
        }
        if change <= 1e-10 * size.max(1e-300) {
            break;
        }
    }
    x
}

/// The state of one submodular function while samples are chosen.
struct State<'a> {
    f: Submodular,
    sim: &'a [f32],
    n: usize,
    chosen: Vec<usize>,
    /// Facility location: each row's best similarity to a chosen one.
    best: Vec<f32>,
    /// Graph cut: column sums of the similarities.
    col_sum: Vec<f32>,
    /// Graph cut: Σ over chosen s of sim(s, j).
    to_chosen: Vec<f32>,
    /// Log-determinant (fast greedy MAP, Chen et al. 2018): each row's Cholesky coefficients
    /// against the chosen ones and its remaining variance.
    coef: Vec<Vec<f32>>,
    residual: Vec<f32>,
}

impl<'a> State<'a> {
    fn new(f: Submodular, sim: &'a [f32], n: usize) -> Self {
        let col_sum = if f == Submodular::GraphCut {
            // Symmetric: column sums are row sums.
            sim.chunks(n).map(|row| row.iter().sum()).collect()
        } else {
            Vec::new()
        };
        Self {
            f,
            sim,
            n,
            chosen: Vec::new(),
            best: vec![0.0; n],
            col_sum,
            to_chosen: vec![0.0; n],
            coef: vec![Vec::new(); n],
            residual: (0..n).map(|i| sim[i * n + i]).collect(),
        }
    }

    /// The gain of adding `j`.
    fn gain(&self, j: usize) -> f32 {
        let n = self.n;
        match self.f {
            // The matrix is symmetric: row j (contiguous) is column j.
            Submodular::FacilityLocation => self.sim[j * n..(j + 1) * n]
                .iter()
                .zip(&self.best)
                .map(|(s, b)| (s - b).max(0.0))
                .sum(),
            Submodular::GraphCut => self.col_sum[j] - 2.0 * self.to_chosen[j],
            // log det grows by log(residual): ranking by the residual is the same.
            Submodular::LogDeterminant => self.residual[j],
        }
    }

    fn add(&mut self, p: usize) {
        let n = self.n;
        match self.f {
            Submodular::FacilityLocation => {
                for (b, s) in self.best.iter_mut().zip(&self.sim[p * n..(p + 1) * n]) {
                    *b = b.max(*s);
                }
            }
            Submodular::GraphCut => {
                for j in 0..n {
                    self.to_chosen[j] += self.sim[p * n + j];
                }
            }
            Submodular::LogDeterminant => {
                let dp = self.residual[p].max(1e-12).sqrt();
                let cp = self.coef[p].clone();
                for j in 0..n {
                    if self.residual[j] < 0.0 {
                        continue;
                    }
                    let dot: f32 = cp.iter().zip(&self.coef[j]).map(|(a, b)| a * b).sum();
                    let e = (self.sim[p * n + j] - dot) / dp;
                    self.coef[j].push(e);
                    self.residual[j] -= e * e;
                }
            }
        }
        self.chosen.push(p);
        if self.f == Submodular::LogDeterminant {
            // Chosen rows never come back; mark them.
            self.residual[p] = -1.0;
        }
    }
}

#[derive(PartialEq)]
struct Bound(f32, usize);

impl Eq for Bound {}

impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bound {
    fn cmp(&self, other: &Self) -> Ordering {
        // Max-heap on the gain; ties to the lower index.
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

/// Chooses `k` of the `n` samples whose similarity matrix is `sim` (`n × n`), maximising `f`
/// with `greedy`. Returns row indices in the order chosen.
pub fn maximise(
    f: Submodular,
    greedy: Greedy,
    sim: &[f32],
    n: usize,
    k: usize,
    seed: u64,
) -> Vec<usize> {
    assert_eq!(sim.len(), n * n);
    let k = k.min(n);
    let mut s = State::new(f, sim, n);
    let mut taken = vec![false; n];
    let best_of = |s: &State, cands: &mut dyn Iterator<Item = usize>| {
        cands
            .map(|j| (s.gain(j), j))
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, j)| j)
    };
    match greedy {
        Greedy::Naive => {
            while s.chosen.len() < k {
                let p = best_of(&s, &mut (0..n).filter(|&j| !taken[j])).expect("k <= n");
                taken[p] = true;
                s.add(p);
            }
        }
        Greedy::Stochastic => {
            let size = ((-(0.9f64.ln()) * n as f64 / k.max(1) as f64).round() as usize).max(1);
            while s.chosen.len() < k {
                let step = s.chosen.len() as u64;
                let salt = route(seed ^ route(step));
                let mut free: Vec<(u64, usize)> = (0..n)
                    .filter(|&j| !taken[j])
                    .map(|j| (route(salt ^ route(j as u64 + 1)), j))
                    .collect();
                if size < free.len() {
                    free.select_nth_unstable(size);
                    free.truncate(size);
                }
                let free: Vec<usize> = free.into_iter().map(|(_, j)| j).collect();
                let p = best_of(&s, &mut free.into_iter()).expect("k <= n");
                taken[p] = true;
                s.add(p);
            }
        }
        Greedy::Lazy | Greedy::ApproximateLazy => {
            let beta = if greedy == Greedy::Lazy { 1.0 } else { 0.9 };
            let mut heap: BinaryHeap<Bound> = (0..n).map(|j| Bound(s.gain(j), j)).collect();
            while s.chosen.len() < k {
                let Bound(bound, j) = heap.pop().expect("k <= n");
                let gain = s.gain(j);
                let next = heap.peek().map_or(f32::NEG_INFINITY, |b| b.0);
                // Approximate: within (1 − β)·|bound| of the old bound (gains may be negative:
                // graph cut); exact: still the best of all bounds.
                let accept = if beta < 1.0 {
                    gain >= bound - (1.0 - beta) * bound.abs()
                } else {
                    gain >= next
                };
                if accept {
                    taken[j] = true;
                    s.add(j);
                } else {
                    heap.push(Bound(gain, j));
                }
            }
        }
    }
    s.chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three tight clusters in 2-D: 4 points near (10, 0), 4 near (0, 10), 4 near (-10, -10).
    fn clusters() -> Vec<f32> {
        let centers = [(10.0, 0.0), (0.0, 10.0), (-10.0, -10.0)];
        let mut v = Vec::new();
        for (cx, cy) in centers {
            for k in 0..4 {
                v.extend([cx + 0.1 * k as f32, cy - 0.05 * k as f32]);
            }
        }
        v
    }

    fn cluster_of(i: usize) -> usize {
        i / 4
    }

    #[test]
    fn k_center_greedy_spreads_over_the_clusters() {
        let v = clusters();
        for seed in 0..5 {
            let c = k_center_greedy(Rows::new(&v, 2), 3, seed);
            let mut clusters: Vec<usize> = c.iter().map(|&i| cluster_of(i)).collect();
            clusters.sort_unstable();
            assert_eq!(clusters, [0, 1, 2], "seed {seed}: {c:?}");
        }
    }

    #[test]
    fn submodular_functions_choose_one_per_cluster_and_lazy_agrees_with_naive() {
        let v = clusters();
        let m = Rows::new(&v, 2);
        let sim = cosine_similarity(m);
        assert!(
            (sim[0] - 1.0).abs() < 1e-6,
            "a row is fully similar to itself"
        );
        for f in [
            Submodular::FacilityLocation,
            Submodular::GraphCut,
            Submodular::LogDeterminant,
        ] {
            let naive = maximise(f, Greedy::Naive, &sim, 12, 3, 0);
            let mut clusters: Vec<usize> = naive.iter().map(|&i| cluster_of(i)).collect();
            clusters.sort_unstable();
            if f != Submodular::GraphCut {
                assert_eq!(clusters, [0, 1, 2], "{f:?}: {naive:?}");
            }
            assert_eq!(
                maximise(f, Greedy::Lazy, &sim, 12, 3, 0),
                naive,
                "{f:?} lazy"
            );
            for g in [Greedy::Stochastic, Greedy::ApproximateLazy] {
                let c = maximise(f, g, &sim, 12, 3, 1);
                let mut d = c.clone();
                d.sort_unstable();
                d.dedup();
                assert_eq!(d.len(), 3, "{f:?} {g:?}: distinct");
            }
            // Choosing every sample drives graph-cut gains negative: every greedy still ends.
            for g in [
                Greedy::Naive,
                Greedy::Lazy,
                Greedy::Stochastic,
                Greedy::ApproximateLazy,
            ] {
                let mut all = maximise(f, g, &sim, 12, 12, 2);
                all.sort_unstable();
                assert_eq!(all, (0..12).collect::<Vec<_>>(), "{f:?} {g:?}");
            }
        }
    }

    #[test]
    fn craig_picks_a_center_per_label_and_weighs_it_by_its_cluster() {
        // Label 0: a cluster of 5 around (0, 0) and one far point; label 1: 3 points.
        let v = [
            0.0, 0.0, 0.1, 0.0, 0.0, 0.1, -0.1, 0.0, 0.0, -0.1, 5.0, 5.0, 9.0, 9.0, 9.1, 9.0, 9.0,
            9.1,
        ];
        let labels = [0, 0, 0, 0, 0, 0, 1, 1, 1];
        let m = Rows::new(&v, 2);
        let sim = craig_similarity(m, &labels);
        assert_eq!(sim[6], 0.0, "different labels are not similar");
        // Label 0's largest distance: (−0.1, 0) to (5, 5).
        let (top, d05) = ((51.01f32).sqrt(), (50.0f32).sqrt());
        assert!((sim[5] - (top - d05 + 1e-3)).abs() < 1e-5, "{}", sim[5]);
        assert!(
            (sim[3 * 9 + 5] - 1e-3).abs() < 1e-5,
            "the farthest pair: 0.001"
        );
        // Label 0 spans far more distance than label 1, so its samples dominate the gains:
        // the cluster's center first, then the outlier.
        let chosen = maximise(Submodular::FacilityLocation, Greedy::Lazy, &sim, 9, 2, 0);
        assert!(chosen[0] < 5 && chosen[1] == 5, "{chosen:?}");
        let w = craig_weights(&sim, 9, &chosen);
        // Each sample counts once for its most similar chosen one (label 1's samples are
        // similar to neither, 0 = 0: the first): 1 + 5 + 3 and 1 + 1.
        assert_eq!(w, [9.0, 2.0]);
        // Label 1 alone (as with balance): one center weighing its 3 samples + 1.
        let one = craig_similarity(Rows::new(&v[12..], 2), &labels[6..]);
        let c = maximise(Submodular::FacilityLocation, Greedy::Naive, &one, 3, 1, 0);
        assert_eq!(craig_weights(&one, 3, &c), [4.0]);
    }

    #[test]
    fn grad_match_reconstructs_the_mean_from_few_rows() {
        // Rows: e1 ×3, e2 ×1, and two small noise rows; the mean is (0.5, 0.25, 0.0…).
        let v = [
            1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.01, 0.0, 0.02, 0.0, 0.01,
            -0.02,
        ];
        let m = Rows::new(&v, 3);
        let chosen = grad_match(m, 2, 0.0);
        assert_eq!(chosen.len(), 2, "{chosen:?}");
        // One e1 row weighted 0.5 and the e2 row weighted 0.25 rebuild the mean.
        let mut sum = [0.0f32; 3];
        for &(i, w) in &chosen {
            for j in 0..3 {
                sum[j] += w * v[i * 3 + j];
            }
        }
        let mean = [3.02 / 6.0, 1.01 / 6.0, 0.0];
        for j in 0..3 {
            assert!((sum[j] - mean[j]).abs() < 0.01, "{sum:?} vs {mean:?}");
        }
        assert!(
            chosen.iter().any(|&(i, _)| i == 3),
            "the e2 row: {chosen:?}"
        );
        // Weights are never negative, and a budget of one gives weight 1.
        assert!(chosen.iter().all(|c| c.1 > 0.0));
        assert_eq!(grad_match(m, 1, 1.0).len(), 1);
        assert_eq!(grad_match(m, 1, 1.0)[0].1, 1.0);
    }

    #[test]
    fn nnls_matches_the_unconstrained_solution_when_it_is_positive_and_clips_otherwise() {
        // G = [[2, 0], [0, 1]], c = [2, 3]: x = [1, 3].
        let x = nnls(&[2.0, 0.0, 0.0, 1.0], &[2.0, 3.0], vec![0.0, 0.0]);
        assert!(
            (x[0] - 1.0).abs() < 1e-8 && (x[1] - 3.0).abs() < 1e-8,
            "{x:?}"
        );
        // c = [−2, 3]: the first would be −1; clipped to 0.
        let x = nnls(&[2.0, 0.0, 0.0, 1.0], &[-2.0, 3.0], vec![0.0, 0.0]);
        assert!(x[0] == 0.0 && (x[1] - 3.0).abs() < 1e-8, "{x:?}");
    }

    #[test]
    fn facility_location_gains_match_their_definition() {
        // 3 samples; f(S) = Σᵢ maxₛ sim(i, s).
        let sim = [1.0, 0.8, 0.1, 0.8, 1.0, 0.2, 0.1, 0.2, 1.0];
        let f = |set: &[usize]| -> f32 {
            (0..3)
                .map(|i| set.iter().map(|&s| sim[i * 3 + s]).fold(0.0, f32::max))
                .sum()
        };
        let mut s = State::new(Submodular::FacilityLocation, &sim, 3);
        for j in 0..3 {
            assert!((s.gain(j) - f(&[j])).abs() < 1e-6);
        }
        s.add(0);
        for j in 1..3 {
            assert!((s.gain(j) - (f(&[0, j]) - f(&[0]))).abs() < 1e-6);
        }
        // Log-determinant: the residual after choosing 0 is 1 − sim² (the Schur complement).
        let mut l = State::new(Submodular::LogDeterminant, &sim, 3);
        l.add(0);
        assert!((l.gain(1) - (1.0 - 0.64)).abs() < 1e-6);
        assert!((l.gain(2) - (1.0 - 0.01)).abs() < 1e-6);
    }
}
