//! Classic concept-drift generators — SEA, STAGGER, Agrawal and random RBF — behind one drift
//! schedule: the stream is cut into equal segments at known rows, and each segment has a
//! concept. The change between segments is abrupt, gradual (MOA's `ConceptDriftStream`: around
//! a boundary `p` of width `w`, a sample comes from the next concept with probability
//! `1 / (1 + e^(-4 (i - p) / w))`, within `2w` of `p`), or recurring (two concepts alternating
//! abruptly).
//!
//! Features are scaled to about [0, 1] so that Sluice's models take them as they are (the
//! generators' own units are in docs/datasets.md). Event times as in the other bundled
//! streams: exponential gaps rounded down to whole seconds.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::write::Row;

/// How the stream moves from one concept to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// The concept changes at the boundary row.
    Abrupt,
    /// Samples of the next concept become more likely across a window around the boundary.
    Gradual,
    /// Two concepts take turns, changing abruptly.
    Recurring,
}

/// A generator of samples under numbered concepts.
pub trait Concepts {
    /// Features per sample.
    fn features(&self) -> usize;
    /// Number of classes.
    fn classes(&self) -> usize;
    /// Number of concepts.
    fn concepts(&self) -> usize;
    /// A sample (features, label) under `concept`.
    fn sample(&mut self, rng: &mut ChaCha8Rng, concept: usize) -> (Vec<f32>, i64);
}

/// A concept stream's parameters.
#[derive(Clone, Debug)]
pub struct DriftParams {
    /// Rows to generate.
    pub rows: usize,
    /// RNG seed.
    pub seed: u64,
    /// How concepts change.
    pub kind: DriftKind,
    /// Number of segments (one concept each).
    pub segments: usize,
    /// Width of a gradual change, rows.
    pub width: usize,
    /// Probability that a label is replaced by a random class.
    pub noise: f64,
    /// First event time, Unix ms.
    pub start_ms: u64,
    /// Mean gap between samples, ms.
    pub mean_gap_ms: f64,
}

impl Default for DriftParams {
    fn default() -> Self {
        Self {
            rows: 25_000,
            seed: 1,
            kind: DriftKind::Abrupt,
            segments: 4,
            width: 1_000,
            noise: 0.05,
            start_ms: 1_704_067_200_000,
            mean_gap_ms: 1_500.0,
        }
    }
}

/// Where the concepts change: what a drift detector should find.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftSchedule {
    /// How concepts change.
    pub kind: DriftKind,
    /// The concept of each segment.
    pub concepts: Vec<usize>,
    /// Rows (= keys) where each segment after the first starts; a gradual change is centred
    /// there.
    pub boundaries: Vec<usize>,
    /// Width of a gradual change, rows (0 otherwise).
    pub width: usize,
}

impl DriftSchedule {
    /// The schedule of `p` over a generator with `concepts` concepts: concepts in turn
    /// (abrupt, gradual), or the first two alternating (recurring).
    pub fn new(p: &DriftParams, concepts: usize) -> Self {
        let segments = p.segments.max(1);
        Self {
            kind: p.kind,
            concepts: (0..segments)
                .map(|s| match p.kind {
                    DriftKind::Recurring => s % 2.min(concepts),
                    _ => s % concepts,
                })
                .collect(),
            boundaries: (1..segments).map(|s| s * p.rows / segments).collect(),
            width: if p.kind == DriftKind::Gradual {
                p.width
            } else {
                0
            },
        }
    }

    /// The concept row `i` is drawn from (`u` uniform in [0, 1) decides inside a gradual
    /// change).
    pub fn concept_at(&self, i: usize, u: f64) -> usize {
        let mut segment = self.boundaries.iter().filter(|&&b| i >= b).count();
        if self.width > 0 {
            // Before a boundary the next concept may already show; after it the previous may
            // still.
            let w = self.width as f64;
            let next = self.boundaries.get(segment).copied();
            let prev = segment.checked_sub(1).map(|s| self.boundaries[s]);
            let near = match (prev, next) {
                (Some(p), Some(n)) => {
                    if i - p < n - i {
                        p
                    } else {
                        n
                    }
                }
                (Some(p), None) => p,
                (None, Some(n)) => n,
                (None, None) => i,
            };
            let d = i as f64 - near as f64;
            let after = 1.0 / (1.0 + (-4.0 * d / w).exp());
            let at = self.boundaries.iter().position(|&b| b == near);
            // Beyond twice the width the mix is below 0.04%: the concepts are pure there.
            if let Some(b) = at
                && d.abs() <= 2.0 * w
            {
                segment = if u < after { b + 1 } else { b };
            }
        }
        self.concepts[segment.min(self.concepts.len() - 1)]
    }
}

/// Rows of a concept stream.
pub struct DriftStream<C: Concepts> {
    concepts: C,
    p: DriftParams,
    schedule: DriftSchedule,
    rng: ChaCha8Rng,
    i: usize,
    time: u64,
}

impl<C: Concepts> DriftStream<C> {
    /// The stream of `concepts` under `p`'s schedule.
    pub fn new(concepts: C, p: DriftParams) -> Self {
        let schedule = DriftSchedule::new(&p, concepts.concepts());
        Self {
            rng: ChaCha8Rng::seed_from_u64(p.seed ^ 0x5eed_c0de),
            concepts,
            time: p.start_ms,
            schedule,
            p,
            i: 0,
        }
    }

    /// The drift schedule.
    pub fn schedule(&self) -> &DriftSchedule {
        &self.schedule
    }
}

impl<C: Concepts> Iterator for DriftStream<C> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.i >= self.p.rows {
            return None;
        }
        let u: f64 = self.rng.random();
        let concept = self.schedule.concept_at(self.i, u);
        let (features, mut label) = self.concepts.sample(&mut self.rng, concept);
        if self.rng.random::<f64>() < self.p.noise {
            label = self.rng.random_range(0..self.concepts.classes() as i64);
        }
        let row = Row {
            key: self.i as u64,
            time: self.time,
            label,
            features,
        };
        self.i += 1;
        self.time += super::whole_second_gap_ms(&mut self.rng, self.p.mean_gap_ms);
        Some(row)
    }
}

/// SEA concepts (Street and Kim, KDD 2001): three features uniform in [0, 10) (scaled by 1/10),
/// label 1 iff `x0 + x1 ≤ θ`, with θ = 8, 9, 7, 9.5 for concepts 0..3; `x2` is irrelevant.
pub struct Sea;

impl Concepts for Sea {
    fn features(&self) -> usize {
        3
    }
    fn classes(&self) -> usize {
        2
    }
    fn concepts(&self) -> usize {
        4
    }
    fn sample(&mut self, rng: &mut ChaCha8Rng, concept: usize) -> (Vec<f32>, i64) {
        const THETA: [f64; 4] = [8.0, 9.0, 7.0, 9.5];
        let x: Vec<f64> = (0..3).map(|_| rng.random::<f64>() * 10.0).collect();
        let label = (x[0] + x[1] <= THETA[concept % 4]) as i64;
        (x.iter().map(|v| (v / 10.0) as f32).collect(), label)
    }
}

/// STAGGER concepts (Schlimmer and Granger, 1986): size, colour, shape, each one of three values
/// (0, 0.5, 1 for small/medium/large, red/green/blue, square/circular/triangular). Concept 0:
/// small ∧ red; 1: green ∨ circular; 2: medium ∨ large. Classes are balanced by drawing until
/// the label alternates (as MOA's `balanceClasses`).
#[derive(Default)]
pub struct Stagger {
    next_positive: bool,
}

impl Concepts for Stagger {
    fn features(&self) -> usize {
        3
    }
    fn classes(&self) -> usize {
        2
    }
    fn concepts(&self) -> usize {
        3
    }
    fn sample(&mut self, rng: &mut ChaCha8Rng, concept: usize) -> (Vec<f32>, i64) {
        let want = self.next_positive;
        self.next_positive = !want;
        loop {
            let [size, color, shape]: [u32; 3] = std::array::from_fn(|_| rng.random_range(0..3));
            let positive = match concept % 3 {
                0 => size == 0 && color == 0,
                1 => color == 1 || shape == 1,
                _ => size >= 1,
            };
            if positive == want {
                let f = [size, color, shape].map(|v| v as f32 / 2.0).to_vec();
                return (f, positive as i64);
            }
        }
    }
}

/// Agrawal et al.'s loan data (IEEE TKDE 1993; MOA's `AgrawalGenerator`): salary, commission,
/// age, education level, car, zip code, house value, years owned, loan, and its ten
/// classification functions as concepts; label 1 is the paper's "group A". Balanced classes
/// as for STAGGER. Features scaled by their ranges (salary / 150k, commission / 75k,
/// age / 80, elevel / 4, car / 20, zipcode / 8, hvalue / 1.35M, hyears / 30, loan / 500k).
#[derive(Default)]
pub struct Agrawal {
    next_positive: bool,
}

/// Agrawal et al.'s function `f` (0..9): true for group A.
pub fn agrawal_group_a(f: usize, x: &[f64; 9]) -> bool {
    let [
        salary,
        commission,
        age,
        elevel,
        _car,
        _zipcode,
        hvalue,
        hyears,
        loan,
    ] = *x;
    let within = |v: f64, lo: f64, hi: f64| lo <= v && v <= hi;
    let by_age = |young: bool, middle: bool, old: bool| {
        if age < 40.0 {
            young
        } else if age < 60.0 {
            middle
        } else {
            old
        }
    };
    let total = salary + commission;
    match f {
        0 => !(40.0..60.0).contains(&age),
        1 => by_age(
            within(salary, 50e3, 100e3),
            within(salary, 75e3, 125e3),
            within(salary, 25e3, 75e3),
        ),
        2 => by_age(elevel <= 1.0, (1.0..=3.0).contains(&elevel), elevel >= 2.0),
        3 => by_age(
            if elevel <= 1.0 {
                within(salary, 25e3, 75e3)
            } else {
                within(salary, 50e3, 100e3)
            },
            if (1.0..=3.0).contains(&elevel) {
                within(salary, 50e3, 100e3)
            } else {
                within(salary, 75e3, 125e3)
            },
            if elevel >= 2.0 {
                within(salary, 50e3, 100e3)
            } else {
                within(salary, 25e3, 75e3)
            },
        ),
        // The paper's function 4 tests the loan in every branch (implementations that test
        // the salary against 200k-500k make those branches always false).
        4 => by_age(
            if within(salary, 50e3, 100e3) {
                within(loan, 100e3, 300e3)
            } else {
                within(loan, 200e3, 400e3)
            },
            if within(salary, 75e3, 125e3) {
                within(loan, 200e3, 400e3)
            } else {
                within(loan, 300e3, 500e3)
            },
            if within(salary, 25e3, 75e3) {
                within(loan, 300e3, 500e3)
            } else {
                within(loan, 100e3, 300e3)
            },
        ),
        5 => by_age(
            within(total, 50e3, 100e3),
            within(total, 75e3, 125e3),
            within(total, 25e3, 75e3),
        ),
        6 => 2.0 * total / 3.0 - loan / 5.0 - 20e3 > 0.0,
        7 => 2.0 * total / 3.0 - 5e3 * elevel - 20e3 > 0.0,
        8 => 2.0 * total / 3.0 - 5e3 * elevel - loan / 5.0 - 10e3 > 0.0,
        _ => {
            let equity = if hyears >= 20.0 {
                hvalue * (hyears - 20.0) / 10.0
            } else {
                0.0
            };
            2.0 * total / 3.0 - 5e3 * elevel + equity / 5.0 - 10e3 > 0.0
        }
    }
}

impl Concepts for Agrawal {
    fn features(&self) -> usize {
        9
    }
    fn classes(&self) -> usize {
        2
    }
    fn concepts(&self) -> usize {
        10
    }
    fn sample(&mut self, rng: &mut ChaCha8Rng, concept: usize) -> (Vec<f32>, i64) {
        const SCALE: [f64; 9] = [150e3, 75e3, 80.0, 4.0, 20.0, 8.0, 1.35e6, 30.0, 500e3];
        let want = self.next_positive;
        self.next_positive = !want;
        loop {
            let salary = 20e3 + 130e3 * rng.random::<f64>();
            let commission = if salary >= 75e3 {
                0.0
            } else {
                10e3 + 65e3 * rng.random::<f64>()
            };
            let age = rng.random_range(20..=80) as f64;
            let elevel = rng.random_range(0..=4) as f64;
            let car = rng.random_range(1..=20) as f64;
            let zipcode = rng.random_range(0..=8) as f64;
            let hvalue = (9.0 - zipcode) * 100e3 * (0.5 + rng.random::<f64>());
            let hyears = rng.random_range(1..=30) as f64;
            let loan = 500e3 * rng.random::<f64>();
            let x = [
                salary, commission, age, elevel, car, zipcode, hvalue, hyears, loan,
            ];
            let positive = agrawal_group_a(concept % 10, &x);
            if positive == want {
                let f = x.iter().zip(SCALE).map(|(v, s)| (v / s) as f32).collect();
                return (f, positive as i64);
            }
        }
    }
}

/// Random RBF (MOA's `RandomRBFGenerator`): `centroids` Gaussian kernels in [0, 1]^d, each
/// with a class, a weight and a spread; a sample picks a kernel by weight and lies at a
/// Gaussian distance in a uniform direction from its centre. Concepts are independent draws
/// of the kernels; with [`DriftKind::Gradual`] the kernels of the current concept also move
/// (`speed` per sample, bouncing off the cube's faces: MOA's `RandomRBFGeneratorDrift`).
pub struct Rbf {
    dim: usize,
    classes: usize,
    speed: f64,
    /// Per concept: kernels (centre, class, weight, spread, direction).
    kernels: Vec<Vec<Kernel>>,
}

struct Kernel {
    centre: Vec<f64>,
    class: i64,
    weight: f64,
    spread: f64,
    direction: Vec<f64>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn unit(rng: &mut ChaCha8Rng, dim: usize) -> Vec<f64> {
    let v: Vec<f64> = (0..dim).map(|_| normal(rng)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    v.into_iter().map(|x| x / norm).collect()
}

impl Rbf {
    /// `concepts` independent kernel sets of `centroids` kernels in `dim` dimensions over
    /// `classes` classes, drawn from `seed`; kernels move `speed` per sample when moving.
    pub fn new(
        dim: usize,
        classes: usize,
        centroids: usize,
        concepts: usize,
        speed: f64,
        seed: u64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0072_6266);
        let kernels = (0..concepts)
            .map(|_| {
                (0..centroids)
                    .map(|k| Kernel {
                        centre: (0..dim).map(|_| rng.random::<f64>()).collect(),
                        // Every class has kernels.
                        class: (k % classes) as i64,
                        weight: rng.random::<f64>(),
                        spread: rng.random::<f64>() * 0.1,
                        direction: unit(&mut rng, dim),
                    })
                    .collect()
            })
            .collect();
        Self {
            dim,
            classes,
            speed,
            kernels,
        }
    }
}

impl Concepts for Rbf {
    fn features(&self) -> usize {
        self.dim
    }
    fn classes(&self) -> usize {
        self.classes
    }
    fn concepts(&self) -> usize {
        self.kernels.len()
    }
    fn sample(&mut self, rng: &mut ChaCha8Rng, concept: usize) -> (Vec<f32>, i64) {
        let n = self.kernels.len();
        let kernels = &mut self.kernels[concept % n];
        if self.speed > 0.0 {
            for k in kernels.iter_mut() {
                for (c, d) in k.centre.iter_mut().zip(k.direction.iter_mut()) {
                    *c += *d * self.speed;
                    if !(0.0..=1.0).contains(c) {
                        *c = c.clamp(0.0, 1.0);
                        *d = -*d;
                    }
                }
            }
        }
        let total: f64 = kernels.iter().map(|k| k.weight).sum();
        let mut pick = rng.random::<f64>() * total;
        let k = kernels
            .iter()
            .find(|k| {
                pick -= k.weight;
                pick <= 0.0
            })
            .unwrap_or(&kernels[kernels.len() - 1]);
        let dir = unit(rng, self.dim);
        let r = normal(rng) * k.spread;
        let f = k
            .centre
            .iter()
            .zip(dir)
            .map(|(c, d)| (c + d * r) as f32)
            .collect();
        (f, k.class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accuracy_of(rows: &[Row], rule: impl Fn(&[f32]) -> i64) -> f64 {
        rows.iter().filter(|r| rule(&r.features) == r.label).count() as f64 / rows.len() as f64
    }

    #[test]
    fn abrupt_schedules_change_at_their_boundaries_and_recurring_ones_alternate() {
        let p = DriftParams {
            rows: 1000,
            segments: 4,
            ..DriftParams::default()
        };
        let s = DriftSchedule::new(&p, 4);
        assert_eq!(s.boundaries, [250, 500, 750]);
        assert_eq!(s.concepts, [0, 1, 2, 3]);
        assert_eq!((s.concept_at(249, 0.9), s.concept_at(250, 0.1)), (0, 1));
        let r = DriftSchedule::new(
            &DriftParams {
                kind: DriftKind::Recurring,
                ..p.clone()
            },
            4,
        );
        assert_eq!(r.concepts, [0, 1, 0, 1]);
        // Fewer concepts than segments: they repeat.
        assert_eq!(DriftSchedule::new(&p, 3).concepts, [0, 1, 2, 0]);
    }

    #[test]
    fn gradual_changes_mix_concepts_across_the_window() {
        let p = DriftParams {
            rows: 10_000,
            segments: 2,
            kind: DriftKind::Gradual,
            width: 1_000,
            ..DriftParams::default()
        };
        let s = DriftSchedule::new(&p, 2);
        let share_new = |i: usize| {
            (0..1000)
                .filter(|k| s.concept_at(i, *k as f64 / 1000.0) == 1)
                .count() as f64
                / 1000.0
        };
        assert_eq!(share_new(1_000), 0.0);
        assert!((share_new(5_000) - 0.5).abs() < 0.01);
        assert!(share_new(4_750) > 0.2 && share_new(4_750) < 0.5);
        assert!(share_new(5_250) > 0.5 && share_new(5_250) < 0.8);
        assert_eq!(share_new(9_000), 1.0);
    }

    #[test]
    fn sea_labels_follow_each_segments_threshold() {
        let p = DriftParams {
            rows: 8_000,
            noise: 0.0,
            ..DriftParams::default()
        };
        let rows: Vec<Row> = DriftStream::new(Sea, p).collect();
        for (segment, theta) in [8.0f32, 9.0, 7.0, 9.5].iter().enumerate() {
            let part = &rows[segment * 2000..(segment + 1) * 2000];
            let rule = |f: &[f32]| ((f[0] + f[1]) * 10.0 <= *theta) as i64;
            assert!(accuracy_of(part, rule) > 0.995, "segment {segment}");
            // The previous concept's rule is measurably worse after an abrupt change.
            if segment > 0 {
                let old = [8.0f32, 9.0, 7.0, 9.5][segment - 1];
                let stale = |f: &[f32]| ((f[0] + f[1]) * 10.0 <= old) as i64;
                assert!(accuracy_of(part, stale) < 0.97, "segment {segment}");
            }
        }
    }

    #[test]
    fn stagger_and_agrawal_are_balanced_and_follow_their_concepts() {
        let p = DriftParams {
            rows: 6_000,
            segments: 3,
            noise: 0.0,
            ..DriftParams::default()
        };
        let rows: Vec<Row> = DriftStream::new(Stagger::default(), p.clone()).collect();
        let positives = rows.iter().filter(|r| r.label == 1).count();
        assert_eq!(positives, 3_000);
        let small_red = |f: &[f32]| (f[0] == 0.0 && f[1] == 0.0) as i64;
        assert_eq!(accuracy_of(&rows[..2000], small_red), 1.0);
        assert!(accuracy_of(&rows[2000..4000], small_red) < 0.8);

        let rows: Vec<Row> = DriftStream::new(Agrawal::default(), p).collect();
        assert_eq!(rows.iter().filter(|r| r.label == 1).count(), 3_000);
        // Function 0: group A iff age < 40 or age ≥ 60 (age scaled by 1/80).
        let f0 = |f: &[f32]| {
            let age = (f[2] * 80.0).round();
            !(40.0..60.0).contains(&age) as i64
        };
        assert_eq!(accuracy_of(&rows[..2000], f0), 1.0);
        for r in &rows {
            assert!(r.features.iter().all(|v| (0.0..=1.0).contains(v)), "{r:?}");
        }
    }

    #[test]
    fn agrawal_functions_match_the_paper_on_hand_made_applicants() {
        // salary, commission, age, elevel, car, zipcode, hvalue, hyears, loan
        let young_rich = [90e3, 0.0, 30.0, 1.0, 5.0, 2.0, 500e3, 25.0, 150e3];
        let middle_poor = [30e3, 20e3, 50.0, 4.0, 5.0, 2.0, 500e3, 5.0, 450e3];
        assert!(agrawal_group_a(0, &young_rich));
        assert!(!agrawal_group_a(0, &middle_poor));
        assert!(agrawal_group_a(1, &young_rich));
        assert!(!agrawal_group_a(1, &middle_poor));
        assert!(agrawal_group_a(2, &young_rich));
        assert!(!agrawal_group_a(2, &middle_poor));
        // 4: young, salary in 50k-100k, so the loan must be in 100k-300k.
        assert!(agrawal_group_a(4, &young_rich));
        // middle-aged, salary outside 75k-125k: loan in 300k-500k.
        assert!(agrawal_group_a(4, &middle_poor));
        // 6: 2/3 of 90k - 150k/5 - 20k = 10k > 0.
        assert!(agrawal_group_a(6, &young_rich));
        assert!(!agrawal_group_a(6, &middle_poor));
        // 9: equity (25 - 20) / 10 * 500k = 250k adds 50k.
        assert!(agrawal_group_a(9, &young_rich));
    }

    #[test]
    fn rbf_kernels_separate_classes_and_moving_kernels_drift() {
        let still = Rbf::new(5, 3, 30, 2, 0.0, 1);
        let p = DriftParams {
            rows: 4_000,
            segments: 2,
            noise: 0.0,
            ..DriftParams::default()
        };
        let rows: Vec<Row> = DriftStream::new(still, p.clone()).collect();
        assert!(rows.iter().all(|r| r.features.len() == 5 && r.label < 3));
        for c in 0..3 {
            assert!(rows.iter().any(|r| r.label == c), "class {c}");
        }
        // Moving kernels: the mean of the first 500 samples differs from the last 500's.
        let moving = Rbf::new(5, 3, 30, 1, 1e-3, 1);
        let rows: Vec<Row> = DriftStream::new(moving, DriftParams { segments: 1, ..p }).collect();
        let mean = |r: &[Row]| {
            (0..5)
                .map(|d| r.iter().map(|x| x.features[d] as f64).sum::<f64>() / r.len() as f64)
                .collect::<Vec<_>>()
        };
        let (a, b) = (mean(&rows[..500]), mean(&rows[3_500..]));
        let shift: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(shift > 0.05, "{shift}");
    }
}
