"""Golden values for Sluice's evaluation metrics (src/eval/metrics.rs), computed with
scikit-learn. Writes metrics.json beside this file: inputs (model outputs as float32 values,
labels) and the expected metric values; tests/golden_metrics.rs checks Sluice against them.

    python3 -m venv /tmp/skl && /tmp/skl/bin/pip install scikit-learn
    /tmp/skl/bin/python tests/golden/metrics.py

Generated with scikit-learn 1.9.1, numpy 2.x (the versions are recorded in the JSON).
"""

import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn import metrics


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def classification(name, rng, n, classes, skill, absent=()):
    """Logits that favour the true class by `skill`; labels never drawn from `absent`."""
    allowed = [c for c in range(classes) if c not in absent]
    y = rng.choice(allowed, size=n)
    logits = rng.normal(size=(n, classes)).astype(np.float32)
    logits[np.arange(n), y] += np.float32(skill)
    logits = logits.astype(np.float32)
    z = logits.astype(np.float64)
    p = softmax(z)
    pred = z.argmax(axis=1)
    expected = {
        "accuracy": metrics.accuracy_score(y, pred),
        "f1_macro": metrics.f1_score(y, pred, average="macro", zero_division=0),
        "f1_micro": metrics.f1_score(y, pred, average="micro", zero_division=0),
        "f1_weighted": metrics.f1_score(y, pred, average="weighted", zero_division=0),
        "log_loss": metrics.log_loss(y, p, labels=list(range(classes))),
    }
    if classes > 2:
        expected["top2_accuracy"] = metrics.top_k_accuracy_score(
            y, z, k=2, labels=list(range(classes))
        )
    if classes == 2:
        expected["f1_binary"] = metrics.f1_score(y, pred, average="binary", zero_division=0)
        expected["roc_auc"] = metrics.roc_auc_score(y, p[:, 1])
    elif not absent:
        expected["roc_auc"] = metrics.roc_auc_score(y, p, multi_class="ovr", average="macro")
    return {
        "name": name,
        "classes": classes,
        "outputs": [[float(v) for v in row] for row in logits],
        "labels": [int(v) for v in y],
        "expected": expected,
    }


def regression(name, rng, n):
    target = rng.normal(size=n) * 3.0
    out = (target + rng.normal(size=n)).astype(np.float32)
    # Regression targets are integers in Sluice's label column.
    target = np.round(target).astype(np.int64)
    return {
        "name": name,
        "classes": 1,
        "outputs": [[float(v)] for v in out],
        "labels": [int(v) for v in target],
        "expected": {
            "mse": metrics.mean_squared_error(target, out.astype(np.float64)),
            "mae": metrics.mean_absolute_error(target, out.astype(np.float64)),
        },
    }


def main():
    rng = np.random.RandomState(20261126)
    cases = [
        classification("binary", rng, 50, 2, 1.0),
        classification("binary_strong", rng, 40, 2, 3.0),
        classification("multiclass", rng, 90, 4, 1.2),
        # A class never in the labels: macro F1 averages over the classes that occur in the
        # labels or the predictions (scikit-learn's rule).
        classification("multiclass_absent_label", rng, 60, 5, 0.8, absent=(3,)),
        regression("regression", rng, 70),
    ]
    out = {
        "generator": "tests/golden/metrics.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cases": cases,
    }
    path = Path(__file__).with_name("metrics.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({len(cases)} cases)")


main()
