"""River's online learners on a prepared Sluice stream: prequential (test-then-train)
accuracy, the standard measure of online learning, as the baseline of the triggering
experiment.

Usage: river_prequential.py STREAM.csv RESULTS.json [--models lr,ht,arf]
  STREAM.csv   a `sluice datasets prepare` CSV (columns key, time, label, x0, ...)
  RESULTS.json updated in place: results[<stream name>][<model>] =
               {accuracy, roc_auc (binary labels only), samples, seconds}

Models (river 0.26.1): logistic regression (after a running standard scaler), Hoeffding tree,
adaptive random forest (10 trees, ADWIN drift detection per tree; River's default).
"""

import csv
import json
import os
import sys
import time

from river import compose, forest, linear_model, metrics, preprocessing, tree

MODELS = {
    "lr": ("logistic regression", lambda: compose.Pipeline(
        preprocessing.StandardScaler(), linear_model.LogisticRegression())),
    "ht": ("Hoeffding tree", lambda: tree.HoeffdingTreeClassifier()),
    "arf": ("adaptive random forest", lambda: forest.ARFClassifier(n_models=10, seed=1)),
}


def rows(path):
    with open(path) as f:
        r = csv.reader(f)
        header = next(r)
        feats = [i for i, h in enumerate(header) if h.startswith("x")]
        label = header.index("label")
        for line, rec in enumerate(r, start=2):
            if len(rec) != len(header):
                sys.exit(f"{path}:{line}: {len(rec)} fields, expected {len(header)}")
            yield {header[i]: float(rec[i]) for i in feats}, int(rec[label])


def exact_auc(scored):
    """ROC-AUC of (score, label) pairs, ties counted half (Mann-Whitney U, as scikit-learn and
    Sluice compute it). River's `ROCAUC` approximates it with 10 thresholds."""
    scored = sorted(scored)
    rank_sum, i = 0.0, 0
    while i < len(scored):
        j = i
        while j + 1 < len(scored) and scored[j + 1][0] == scored[i][0]:
            j += 1
        rank = (i + j) / 2 + 1
        rank_sum += rank * sum(1 for k in range(i, j + 1) if scored[k][1] == 1)
        i = j + 1
    pos = sum(1 for _, y in scored if y == 1)
    neg = len(scored) - pos
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg) if pos and neg else float("nan")


def main():
    path, out = sys.argv[1:3]
    chosen = sys.argv[4].split(",") if len(sys.argv) > 4 and sys.argv[3] == "--models" else list(MODELS)
    name = os.path.basename(path).rsplit(".", 1)[0]
    data = list(rows(path))
    results = json.load(open(out)) if os.path.exists(out) else {}
    for key in chosen:
        title, make = MODELS[key]
        model, acc, auc = make(), metrics.Accuracy(), metrics.ROCAUC()
        scored = []  # (probability of class 1, label): the exact ROC-AUC
        binary = {y for _, y in data} <= {0, 1}
        t = time.perf_counter()
        for x, y in data:
            if binary:
                # One probability call gives both the score and the predicted class.
                p = model.predict_proba_one(x)
                if p:
                    auc.update(y, p)
                    acc.update(y, max(p, key=p.get))
                    scored.append((p.get(1, 0.0), y))
            else:
                y_pred = model.predict_one(x)
                if y_pred is not None:
                    acc.update(y, y_pred)
            model.learn_one(x, y)
        seconds = time.perf_counter() - t
        r = {"model": title, "accuracy": acc.get(), "samples": len(data), "seconds": seconds}
        if binary:
            r["roc_auc"] = auc.get()
            r["roc_auc_exact"] = exact_auc(scored)
        results.setdefault(name, {})[key] = r
        print(f"river {title} on {name}: prequential accuracy {acc.get():.3f}"
              + (f", ROC-AUC {auc.get():.3f} (exact {r['roc_auc_exact']:.3f})" if binary else "")
              + f" ({len(data)} samples, {seconds:.1f} s)", file=sys.stderr)
    json.dump(results, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
