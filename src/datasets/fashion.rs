//! A drifting Fashion-MNIST stream in the spirit of Modyn's Yearbook benchmark: the 70,000
//! images of Fashion-MNIST (Debian package `dataset-fashion-mnist`, IDX files) spread over
//! virtual years, one slice per year, with drift that grows year by year:
//!
//! - **rotation**: year `y` of `Y` rotates its images by `max_rotation · y / (Y − 1)` degrees
//!   (nearest neighbour, about the centre);
//! - **brightness**: pixel values scale by `1 − (1 − min_brightness) · y / (Y − 1)`;
//! - **class priors**: class `c` is drawn in year `y` with weight
//!   `1 + prior_shift · sin(2π (y / Y + c / 10))`, so the label mix moves through the years.
//!
//! Images are drawn without replacement from per-class pools (shuffled by the seed); a pool
//! that runs out starts over. Event time: January 1st of `start_year + y`, then samples spread
//! evenly over the year. Pixels are features `x0..x783` in [0, 1], row-major 28×28, as the
//! `cnn` model reads them.

use std::io::Read;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::error::DatasetError;
use super::write::Row;

/// Where the Debian package puts the IDX files.
pub const DEFAULT_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// What installs them.
pub const SETUP: &str =
    "scripts/setup.sh --datasets (which runs `apt-get install dataset-fashion-mnist`)";

/// The four IDX files: (images, labels) of the training and the test split.
const FILES: [(&str, &str); 2] = [
    ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
];

/// Side of an image.
pub const SIDE: usize = 28;

/// Stream parameters.
#[derive(Clone, Debug, Serialize)]
pub struct FashionParams {
    /// Rows to generate.
    pub rows: usize,
    /// RNG seed (pool order).
    pub seed: u64,
    /// Virtual years (slices).
    pub years: usize,
    /// First virtual year.
    pub start_year: i32,
    /// Rotation in the last year, degrees.
    pub max_rotation_deg: f64,
    /// Brightness factor in the last year.
    pub min_brightness: f64,
    /// Amplitude of the class-prior wave.
    pub prior_shift: f64,
}

impl Default for FashionParams {
    fn default() -> Self {
        Self {
            rows: 35_000,
            seed: 1,
            years: 14,
            start_year: 1990,
            max_rotation_deg: 30.0,
            min_brightness: 0.6,
            prior_shift: 0.8,
        }
    }
}

/// Reads a gzipped IDX file: its dimensions and bytes. Truncated or malformed files are
/// errors naming the file (and the item where the data ends).
fn read_idx(path: &Path, want_dims: usize) -> Result<(Vec<usize>, Vec<u8>), DatasetError> {
    let file = std::fs::File::open(path).map_err(|e| {
        DatasetError::Usage(format!(
            "{}: {e}; install Fashion-MNIST with {SETUP}, or give --source DIR",
            path.display()
        ))
    })?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            DatasetError::Data(format!("{}: not a readable gzip file: {e}", path.display()))
        })?;
    let bad = |why: String| DatasetError::Data(format!("{}: {why}", path.display()));
    if bytes.len() < 4 + 4 * want_dims || bytes[..3] != [0, 0, 8] || bytes[3] as usize != want_dims
    {
        return Err(bad(format!(
            "not an IDX file of unsigned bytes with {want_dims} dimension(s)"
        )));
    }
    let dims: Vec<usize> = (0..want_dims)
        .map(|d| {
            u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let data = bytes.split_off(4 + 4 * want_dims);
    let item: usize = dims[1..].iter().product();
    let want = dims[0] * item;
    if data.len() < want {
        return Err(bad(format!(
            "truncated: {} items announced, data ends in item {} of {}",
            dims[0],
            data.len() / item.max(1),
            dims[0]
        )));
    }
    Ok((dims, data))
}

/// Fashion-MNIST's images (row-major bytes, 784 each) and labels, training split first.
pub fn load(dir: &Path) -> Result<(Vec<u8>, Vec<u8>), DatasetError> {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for (img, lab) in FILES {
        let (dims, data) = read_idx(&dir.join(img), 3)?;
        if dims[1..] != [SIDE, SIDE] {
            return Err(DatasetError::Data(format!(
                "{}: images of {:?} pixels, expected 28×28",
                dir.join(img).display(),
                &dims[1..]
            )));
        }
        let (ldims, ldata) = read_idx(&dir.join(lab), 1)?;
        if ldims[0] != dims[0] {
            return Err(DatasetError::Data(format!(
                "{}: {} labels for {} images",
                dir.join(lab).display(),
                ldims[0],
                dims[0]
            )));
        }
        if let Some(i) = ldata[..ldims[0]].iter().position(|&l| l > 9) {
            return Err(DatasetError::Data(format!(
                "{}: label {} of item {i} is not a class 0..9",
                dir.join(lab).display(),
                ldata[i]
            )));
        }
        images.extend_from_slice(&data[..dims[0] * SIDE * SIDE]);
        labels.extend_from_slice(&ldata[..ldims[0]]);
    }
    Ok((images, labels))
}

/// `image` rotated by `deg` degrees about its centre (nearest neighbour; outside is black) and
/// scaled by `brightness`, as features in [0, 1].
pub fn transform(image: &[u8], deg: f64, brightness: f64) -> Vec<f32> {
    let (s, c) = deg.to_radians().sin_cos();
    let mid = (SIDE as f64 - 1.0) / 2.0;
    let mut out = vec![0f32; SIDE * SIDE];
    for y in 0..SIDE {
        for x in 0..SIDE {
            // The source pixel that lands on (x, y).
            let (dx, dy) = (x as f64 - mid, y as f64 - mid);
            let sx = (c * dx + s * dy + mid).round();
            let sy = (-s * dx + c * dy + mid).round();
            if (0.0..SIDE as f64).contains(&sx) && (0.0..SIDE as f64).contains(&sy) {
                let v = image[sy as usize * SIDE + sx as usize] as f64 / 255.0;
                out[y * SIDE + x] = (v * brightness) as f32;
            }
        }
    }
    out
}

/// Where the drift of the stream is: per virtual year, its first row, rotation, brightness and
/// class weights (written as `fashion-mnist_drift.json`).
#[derive(Clone, Debug, Serialize)]
pub struct YearDrift {
    /// The virtual year.
    pub year: i32,
    /// Its first row (= key).
    pub first_row: usize,
    /// Rotation, degrees.
    pub rotation_deg: f64,
    /// Brightness factor.
    pub brightness: f64,
    /// Class weights (normalised).
    pub class_weights: Vec<f64>,
}

/// The stream over the IDX files in `dir`: rows and the drift per year.
pub fn stream(dir: &Path, p: &FashionParams) -> Result<(Vec<Row>, Vec<YearDrift>), DatasetError> {
    let (images, labels) = load(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let mut pools: Vec<Vec<usize>> = vec![Vec::new(); 10];
    for (i, &l) in labels.iter().enumerate() {
        pools[l as usize].push(i);
    }
    for pool in &mut pools {
        pool.shuffle(&mut rng);
    }
    let mut next = [0usize; 10];
    let years = p.years.max(1);
    let last = (years - 1).max(1) as f64;
    let mut rows = Vec::with_capacity(p.rows);
    let mut drift = Vec::new();
    for y in 0..years {
        let first = y * p.rows / years;
        let end = (y + 1) * p.rows / years;
        let rotation = p.max_rotation_deg * y as f64 / last;
        let brightness = 1.0 - (1.0 - p.min_brightness) * y as f64 / last;
        let weights: Vec<f64> = (0..10)
            .map(|c| {
                1.0 + p.prior_shift
                    * (std::f64::consts::TAU * (y as f64 / years as f64 + c as f64 / 10.0)).sin()
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let year = p.start_year + y as i32;
        let year_start = civil_to_unix_ms(year, 1, 1);
        let year_len = civil_to_unix_ms(year + 1, 1, 1) - year_start;
        for i in first..end {
            let mut pick = rng.random::<f64>() * total;
            let class = weights
                .iter()
                .position(|w| {
                    pick -= w;
                    pick <= 0.0
                })
                .unwrap_or(9);
            let pool = &pools[class];
            let idx = pool[next[class] % pool.len()];
            next[class] += 1;
            let offset = (i - first) as u64 * year_len / (end - first).max(1) as u64;
            rows.push(Row {
                key: i as u64,
                time: year_start + offset / 1000 * 1000,
                label: class as i64,
                features: transform(
                    &images[idx * SIDE * SIDE..(idx + 1) * SIDE * SIDE],
                    rotation,
                    brightness,
                ),
            });
        }
        drift.push(YearDrift {
            year,
            first_row: first,
            rotation_deg: rotation,
            brightness,
            class_weights: weights.iter().map(|w| w / total).collect(),
        });
    }
    Ok((rows, drift))
}

/// Unix milliseconds of a UTC date (proleptic Gregorian), for dates from 1970.
fn civil_to_unix_ms(y: i32, m: u32, d: u32) -> u64 {
    (crate::calendar::days_from_civil(y, m, d) * 86_400_000) as u64
}

/// The directory `--source` names, or the package's.
pub fn source_dir(source: Option<&Path>) -> PathBuf {
    source.map_or_else(|| PathBuf::from(DEFAULT_DIR), Path::to_path_buf)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Writes a tiny Fashion-MNIST look-alike (`n` images per split, class `i % 10`, image `i`
    /// has pixel value `i` at its centre) into `dir`.
    pub(crate) fn write_fake(dir: &Path, n: usize) {
        for (img, lab) in FILES {
            let mut images = vec![0, 0, 8, 3];
            for d in [n, SIDE, SIDE] {
                images.extend_from_slice(&(d as u32).to_be_bytes());
            }
            let mut labels = vec![0, 0, 8, 1];
            labels.extend_from_slice(&(n as u32).to_be_bytes());
            for i in 0..n {
                let mut px = vec![0u8; SIDE * SIDE];
                px[14 * SIDE + 14] = (i % 256) as u8;
                px[0] = 255;
                images.extend_from_slice(&px);
                labels.push((i % 10) as u8);
            }
            for (name, bytes) in [(img, images), (lab, labels)] {
                let f = std::fs::File::create(dir.join(name)).unwrap();
                let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
                gz.write_all(&bytes).unwrap();
                gz.finish().unwrap();
            }
        }
    }

    #[test]
    fn rotation_moves_pixels_about_the_centre_and_brightness_scales_them() {
        let mut img = vec![0u8; SIDE * SIDE];
        img[0] = 255; // top left corner
        img[13 * SIDE + 27] = 255; // right edge, middle row
        let same = transform(&img, 0.0, 1.0);
        assert_eq!(same[0], 1.0);
        let quarter = transform(&img, 90.0, 0.5);
        // A quarter turn takes the right edge's middle to the bottom (or top) middle.
        let moved: Vec<usize> = (0..SIDE * SIDE).filter(|&i| quarter[i] > 0.0).collect();
        assert_eq!(moved.len(), 2, "{moved:?}");
        assert!(moved.iter().all(|&i| quarter[i] == 0.5));
        assert!(!moved.contains(&(13 * SIDE + 27)));
        assert_eq!(civil_to_unix_ms(2024, 1, 1), 1_704_067_200_000);
    }

    #[test]
    fn the_stream_drifts_year_by_year_from_the_idx_files() {
        let dir = tempfile::tempdir().unwrap();
        write_fake(dir.path(), 200);
        let p = FashionParams {
            rows: 1_400,
            years: 14,
            ..FashionParams::default()
        };
        let (rows, drift) = stream(dir.path(), &p).unwrap();
        assert_eq!(rows.len(), 1_400);
        assert_eq!(drift.len(), 14);
        assert_eq!(drift[13].rotation_deg, 30.0);
        assert!((drift[13].brightness - 0.6).abs() < 1e-12);
        assert_eq!(drift[1].first_row, 100);
        // Year 0 at 1990-01-01, year 13 in 2003; times never go back.
        assert_eq!(rows[0].time, civil_to_unix_ms(1990, 1, 1));
        assert!(rows[1_399].time >= civil_to_unix_ms(2003, 1, 1));
        assert!(rows.windows(2).all(|w| w[0].time <= w[1].time));
        // The corner pixel (255 in every fake image) is full in year 0 and rotated away later.
        assert!(rows[..100].iter().all(|r| r.features[0] == 1.0));
        assert!(rows[1_300..].iter().all(|r| r.features[0] == 0.0));
        // Class priors move: the most frequent class of year 0 is not that of year 7.
        let top = |r: &[Row]| {
            let mut n = [0; 10];
            r.iter().for_each(|x| n[x.label as usize] += 1);
            (0..10).max_by_key(|&c| n[c]).unwrap()
        };
        assert_ne!(top(&rows[..100]), top(&rows[700..800]));
    }

    #[test]
    fn missing_and_truncated_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(&dir.path().join("nowhere")).unwrap_err().to_string();
        assert!(
            e.contains("train-images-idx3-ubyte.gz") && e.contains("setup.sh --datasets"),
            "{e}"
        );
        write_fake(dir.path(), 20);
        // Cut the training images after 5.5 images.
        let path = dir.path().join("train-images-idx3-ubyte.gz");
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
            .read_to_end(&mut bytes)
            .unwrap();
        bytes.truncate(16 + SIDE * SIDE * 11 / 2);
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(&bytes).unwrap();
        gz.finish().unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("train-images-idx3-ubyte.gz") && e.contains("data ends in item 5 of 20"),
            "{e}"
        );
    }
}
