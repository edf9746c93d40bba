//! The UCI optical-recognition 8×8 digits (1,797 images, 10 classes; the copy embedded in the
//! crate `smartcore` 0.4, feature `datasets`) as a tiny drifting image stream for fast tests.
//!
//! The images are drawn in an order shuffled by the seed, with replacement once `rows` exceeds
//! 1,797 (a new shuffle per pass). Pixels (0–16) are scaled to [0, 1], row-major, as the `cnn`
//! model reads them with `input_shape = [1, 8, 8]`. Drift: abrupt, at half the stream every
//! image is mirrored left to right (a covariate shift a model trained on the first half does
//! not survive for asymmetric digits). Event time: from 2024-01-01, one sample per second.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::error::DatasetError;
use super::write::Row;

/// Side of an image.
pub const SIDE: usize = 8;

/// 2024-01-01T00:00:00Z in Unix ms.
const START_MS: u64 = 1_704_067_200_000;

/// `rows` samples and the row at which the images flip.
pub fn stream(rows: usize, seed: u64) -> Result<(Vec<Row>, usize), DatasetError> {
    let d = smartcore::dataset::digits::load_dataset();
    let pixels = SIDE * SIDE;
    if d.num_features != pixels || d.data.len() != d.num_samples * pixels {
        return Err(DatasetError::Data(format!(
            "smartcore's digits: {} features for {} samples, expected 8x8 images",
            d.num_features, d.num_samples
        )));
    }
    let flip_at = rows / 2;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(rows);
    for k in 0..rows {
        if order.is_empty() {
            order = (0..d.num_samples).collect();
            order.shuffle(&mut rng);
        }
        let i = order.pop().expect("refilled above");
        let image = &d.data[i * pixels..(i + 1) * pixels];
        let features = (0..pixels)
            .map(|p| {
                let (r, c) = (p / SIDE, p % SIDE);
                let c = if k >= flip_at { SIDE - 1 - c } else { c };
                image[r * SIDE + c] / 16.0
            })
            .collect();
        out.push(Row {
            key: k as u64,
            time: START_MS + k as u64 * 1000,
            label: d.target[i] as i64,
            features,
        });
    }
    Ok((out, flip_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_half_is_mirrored() {
        let (rows, flip) = stream(4000, 3).unwrap();
        assert_eq!((rows.len(), flip), (4000, 2000));
        // Every image is drawn once per pass of 1,797.
        let mut first: Vec<&[f32]> = rows[..1797].iter().map(|r| &r.features[..]).collect();
        first.sort_by(|a, b| a.partial_cmp(b).unwrap());
        first.dedup();
        assert!(first.len() > 1790, "{}", first.len());
        assert!(rows.iter().all(|r| (0..10).contains(&r.label)));
        assert!(
            rows.iter()
                .flat_map(|r| &r.features)
                .all(|x| (0.0..=1.0).contains(x))
        );
        // A mirrored row is some unmirrored row read right to left.
        let mirror =
            |f: &[f32]| -> Vec<f32> { (0..64).map(|p| f[(p / 8) * 8 + 7 - p % 8]).collect() };
        let before: Vec<Vec<f32>> = rows[..flip].iter().map(|r| r.features.clone()).collect();
        let found = rows[flip..flip + 50]
            .iter()
            .filter(|r| before.contains(&mirror(&r.features)))
            .count();
        assert!(found > 40, "{found}");
        assert_eq!(rows[1].time - rows[0].time, 1000);
    }
}
