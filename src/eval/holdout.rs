//! An evaluation dataset in memory, sorted by event time, sliced by event-time intervals.

use std::ops::Range;

use crate::source::Sample;

/// Held-out samples, sorted by (time, key), features row-major.
#[derive(Clone, Debug, Default)]
pub struct Holdout {
    dim: usize,
    times: Vec<u64>,
    features: Vec<f32>,
    labels: Vec<i64>,
}

impl Holdout {
    /// Builds from decoded samples (any order).
    pub fn new(dim: usize, mut samples: Vec<Sample>) -> Self {
        samples.sort_by_key(|s| (s.time, s.key));
        let mut h = Self {
            dim,
            times: Vec::with_capacity(samples.len()),
            features: Vec::with_capacity(samples.len() * dim),
            labels: Vec::with_capacity(samples.len()),
        };
        for s in samples {
            h.times.push(s.time);
            h.features.extend_from_slice(&s.features);
            h.labels.push(s.label);
        }
        h
    }

    /// Features per sample.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Indices of the samples with event time in `[start, end)` (`end = None`: unbounded).
    pub fn range(&self, start: u64, end: Option<u64>) -> Range<usize> {
        let a = self.times.partition_point(|&t| t < start);
        let b = end.map_or(self.times.len(), |e| self.times.partition_point(|&t| t < e));
        a..b.max(a)
    }

    /// Features of samples `r`, row-major.
    pub fn features(&self, r: Range<usize>) -> &[f32] {
        &self.features[r.start * self.dim..r.end * self.dim]
    }

    /// Labels of samples `r`.
    pub fn labels(&self, r: Range<usize>) -> &[i64] {
        &self.labels[r]
    }

    /// Event time span `[first, last]` of the whole set.
    pub fn span(&self) -> Option<(u64, u64)> {
        Some((*self.times.first()?, *self.times.last()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_half_open_event_time_intervals() {
        let samples = [30u64, 10, 20, 20, 40]
            .iter()
            .enumerate()
            .map(|(k, &t)| Sample {
                key: k as u64,
                time: t,
                label: k as i64,
                features: vec![t as f32],
                origin: Default::default(),
            })
            .collect();
        let h = Holdout::new(1, samples);
        assert_eq!(h.range(20, Some(31)), 1..4);
        assert_eq!(h.range(20, Some(30)), 1..3);
        assert_eq!(h.features(h.range(20, Some(21))), &[20.0, 20.0]);
        assert_eq!(h.labels(h.range(0, Some(11))), &[1]);
        assert_eq!(h.range(15, None), 1..5);
        assert!(h.range(41, Some(50)).is_empty());
        assert!(h.range(31, Some(25)).is_empty());
        assert_eq!(h.span(), Some((10, 40)));
    }
}
