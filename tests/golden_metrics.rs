//! Sluice's evaluation metrics against golden values computed by scikit-learn
//! (tests/golden/metrics.py wrote tests/golden/metrics.json: the inputs and the expected values).

use sluice::eval::{Accumulator, Metric};

#[test]
fn metrics_match_scikit_learn() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/metrics.json"
    ))
    .expect("tests/golden/metrics.json");
    let golden: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for case in golden["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let classes = case["classes"].as_u64().unwrap() as usize;
        let outputs: Vec<f32> = case["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
            })
            .collect();
        let labels: Vec<i64> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        for (metric, want) in case["expected"].as_object().unwrap() {
            let m = Metric::parse(metric).unwrap();
            let want = want.as_f64().unwrap();
            // Decomposable metrics see the data in uneven batches, as evaluation feeds them.
            let mut acc = Accumulator::new(m, classes);
            for (i, part) in labels.chunks(7).enumerate() {
                let rows = &outputs[i * 7 * classes..(i * 7 + part.len()) * classes];
                acc.update(rows, part);
            }
            let got = acc.value().unwrap_or(f64::NAN);
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{name}: {metric} = {got}, scikit-learn says {want}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} values checked");
}
