//! Drift metrics against reference values from numpy/scipy (`tests/golden/drift_metrics.py`,
//! which documents how to regenerate `drift_metrics.json`).

use serde_json::Value;
use sluice_dataflows::drift::stats::{self, MmdReference, Vectors};

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn close(what: &str, case: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol * (1.0 + want.abs()),
        "{case}: {what}: got {got}, reference {want}"
    );
}

#[test]
fn drift_metrics_match_the_reference_implementations() {
    let text = include_str!("golden/drift_metrics.json");
    let golden: Value = serde_json::from_str(text).expect("golden JSON");
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() >= 4);
    for c in cases {
        let name = c["name"].as_str().expect("name");
        let dim = c["dim"].as_u64().expect("dim") as usize;
        let as_vectors =
            |k: &str| Vectors::new(dim, floats(&c[k]).into_iter().map(|x| x as f32).collect());
        let (x, y) = (as_vectors("reference"), as_vectors("current"));
        let r = MmdReference::new(&x);
        close("sigma", name, r.sigma, c["sigma"].as_f64().unwrap(), 1e-9);
        let (mmd, p) = stats::mmd2(&x, &r, &y, 0, &mut || 0);
        close("mmd2", name, mmd, c["mmd2"].as_f64().unwrap(), 1e-9);
        assert_eq!(p, None);
        for j in 0..dim {
            let (a, b) = (x.sorted_column(j), y.sorted_column(j));
            let (d, p) = stats::ks(&a, &b);
            close("ks", name, d, floats(&c["ks"])[j], 1e-12);
            // The limiting distribution approximates scipy's exact-n `kstwo` closely.
            close("ks p-value", name, p, floats(&c["ks_p"])[j], 0.02);
            close("cvm", name, stats::cvm(&a, &b), floats(&c["cvm"])[j], 1e-9);
            close(
                "wasserstein_norm",
                name,
                stats::wasserstein_norm(&a, &b),
                floats(&c["wasserstein_norm"])[j],
                1e-9,
            );
            close(
                "hellinger",
                name,
                stats::hellinger(&a, &b),
                floats(&c["hellinger"])[j],
                1e-9,
            );
        }
        let e = stats::euclidean_of_means(&x.mean(), &y.mean());
        close("euclidean", name, e, c["euclidean"].as_f64().unwrap(), 1e-9);
    }
}
