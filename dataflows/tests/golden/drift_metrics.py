#!/usr/bin/env python3
"""Reference values for Sluice's drift metrics (dataflows/src/drift/stats.rs).

Independent implementations: scipy.stats for KS, Cramér-von Mises and Wasserstein; numpy
transcriptions of alibi-detect's MMD (sigma_median + unbiased MMD^2) and of Evidently's
Hellinger distance and embedding mean distance. Writes drift_metrics.json next to this file.

    python3 -m venv /tmp/sci && /tmp/sci/bin/pip install numpy scipy
    /tmp/sci/bin/python dataflows/tests/golden/drift_metrics.py
"""
import json
import pathlib

import numpy as np
from scipy import stats


def sigma_median(x):
    # alibi_detect.utils.pytorch.kernels.sigma_median with y = x
    dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    n = x.shape[0]
    n_median = n + (dist.size - n) // 2 - 1
    return float(np.sqrt(0.5 * np.sort(dist.flatten())[n_median]))


def mmd2_unbiased(x, y, sigma):
    # alibi_detect.utils.pytorch.distance.mmd2_from_kernel_matrix on a GaussianRBF kernel
    def k(a, b):
        d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-d / (2 * sigma**2))

    n, m = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * kxy.mean()
    )


def hellinger(ref, cur):
    # evidently.calculations.stattests.hellinger_distance._hellinger_distance (numerical)
    bins = np.histogram_bin_edges(list(ref) + list(cur), bins="sturges")
    p = np.histogram(ref, bins)[0] / len(ref)
    q = np.histogram(cur, bins)[0] / len(cur)
    return float(np.sqrt(((np.sqrt(p) - np.sqrt(q)) ** 2).sum()) / np.sqrt(2))


def wasserstein_norm(ref, cur):
    # evidently.calculations.stattests.wasserstein_distance_norm
    return float(stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001))


def case(name, ref, cur):
    ref = ref.astype(np.float32).astype(np.float64)
    cur = cur.astype(np.float32).astype(np.float64)
    d = ref.shape[1]
    sigma = sigma_median(ref)
    ks = [stats.ks_2samp(ref[:, j], cur[:, j], method="asymp") for j in range(d)]
    return {
        "name": name,
        "dim": d,
        "reference": ref.flatten().tolist(),
        "current": cur.flatten().tolist(),
        "sigma": sigma,
        "mmd2": mmd2_unbiased(ref, cur, sigma),
        "ks": [float(r.statistic) for r in ks],
        "ks_p": [float(r.pvalue) for r in ks],
        "cvm": [float(stats.cramervonmises_2samp(ref[:, j], cur[:, j]).statistic) for j in range(d)],
        "wasserstein_norm": [wasserstein_norm(ref[:, j], cur[:, j]) for j in range(d)],
        "hellinger": [hellinger(ref[:, j], cur[:, j]) for j in range(d)],
        "euclidean": float(np.linalg.norm(ref.mean(0) - cur.mean(0))),
    }


rng = np.random.default_rng(20261125)
cases = [
    case("gaussian_shift", rng.normal(0, 1, (80, 3)), rng.normal(0.5, 1.2, (60, 3))),
    case("same_distribution", rng.normal(0, 1, (50, 4)), rng.normal(0, 1, (70, 4))),
    case("integer_ties", rng.integers(0, 5, (64, 2)).astype(float), rng.integers(1, 6, (40, 2)).astype(float)),
    case("scaled", rng.uniform(0, 10, (90, 2)), rng.uniform(2, 30, (30, 2))),
]
out = pathlib.Path(__file__).with_suffix(".json")
out.write_text(json.dumps({"generator": "numpy/scipy, see drift_metrics.py", "cases": cases}))
print(f"wrote {out}: {len(cases)} cases")
