"""Tables of the triggering experiment from its run directories and River's results.

Usage: summarize.py WORK_DIR RIVER.json REVISION SCALE SECONDS
  WORK_DIR/runs/<dataset>/<policy>-s<seed>/summary.json, WORK_DIR/data/<dataset>/*_test.csv
"""

import collections
import csv
import glob
import json
import os
import platform
import statistics
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [here, os.path.dirname(here)]
from configs import DATASETS  # noqa: E402
from summary import aggregate, pm  # noqa: E402


def majority(path):
    with open(path) as f:
        r = csv.DictReader(f)
        labels = collections.Counter(row["label"] for row in r)
    return max(labels.values()) / sum(labels.values())


def main():
    work, river_path, rev, scale, seconds = sys.argv[1:6]
    river = json.load(open(river_path))
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print("# Triggering policies\n")
    print(f"Command: `experiments/triggering/run --scale {scale}`; commit {rev}, "
          f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu}), {platform.system()}; "
          f"{int(seconds) // 60} min {int(seconds) % 60} s in all.\n")
    print("Each row: one trigger policy, mean ± sd over the seeds. *accuracy in service* is the "
          "time-weighted accuracy of the currently active model (the last model trained before "
          "each interval) on the held-out samples of each interval between triggers (`serving` "
          "handler), the Modyn paper's main measure; *ROC-AUC in service, pooled* scores every "
          "held-out sample by the model in service in its slice and draws one curve over them "
          "all (`serving_pooled`; samples before the first model count as a tie), which is how "
          "ROC-AUC streams are compared here; *cost* sums every stage (ingest, trigger "
          "policy, selection, training, model store, evaluation). *online-10* retrains every 10 "
          "samples on those samples alone, one SGD step each at lr 0.01 (River's logistic "
          "regression's optimizer), warm-started from the previous model; the other policies "
          "train with Adam (lr 0.003, batch 64) for the dataset's epochs. Figures: one point "
          "per policy with ± 1 sd bars, drawn by `sluice report`.\n")
    headline = []
    for ds_dir in sorted(glob.glob(os.path.join(work, "runs", "*"))):
        name = os.path.basename(ds_dir)
        rows = collections.defaultdict(list)
        for run in sorted(glob.glob(os.path.join(ds_dir, "*"))):
            policy = os.path.basename(run).rsplit("-s", 1)[0]
            s = json.load(open(os.path.join(run, "summary.json")))
            cost = sum(v for k, v in s["cost"].items() if k.endswith("_s"))
            preq = lambda m: aggregate(s, "prequential", "currently_active", m, "prequential")
            rows[policy].append((s["triggers"], s["training_s"], cost,
                                 aggregate(s, "serving", "currently_active", "accuracy"),
                                 aggregate(s, "serving", "currently_active", "roc_auc"),
                                 aggregate(s, "serving_pooled", "currently_active", "roc_auc",
                                           "prequential"),
                                 preq("accuracy"), preq("roc_auc")))
        seeds = max(len(v) for v in rows.values())
        metric = DATASETS[name]["metric"]
        # ROC-AUC is compared pooled: one curve over the held-out samples, as River's is one
        # curve over the stream (a mean of per-interval curves is another number).
        main_col, preq_col = (3, 6) if metric == "accuracy" else (5, 7)
        label = {"accuracy": "accuracy", "roc_auc": "ROC-AUC"}[metric]
        d = DATASETS[name]
        print(f"## {name} ({seeds} seeds; compared on {label})\n")
        print(f"Model: `{d['model'].splitlines()[0]}`, {d['model'].splitlines()[1]}; "
              f"`normalize = \"{d['normalize']}\"`. *Prequential-equivalent*: the model in "
              f"service scored on the stream itself in {d['slice']} slices, every sample pooled, "
              f"the samples before the first model counted as chance.\n")
        auc = any(r[4] is not None for v in rows.values() for r in v)
        print("| policy | triggers | training s | cost s | accuracy in service |"
              + (" ROC-AUC in service | ROC-AUC in service, pooled |" if auc else "")
              + " prequential-equivalent accuracy |"
              + (" prequential-equivalent ROC-AUC |" if auc else ""))
        print("|---|---|---|---|---|---|" + ("---|---|---|" if auc else ""))
        best, best_preq = None, None
        for policy, v in rows.items():
            line = (f"| {policy} | {pm([r[0] for r in v], 1)} | {pm([r[1] for r in v], 1)} | "
                    f"{pm([r[2] for r in v], 1)} | {pm([r[3] for r in v])} |")
            if auc:
                line += f" {pm([r[4] for r in v])} | {pm([r[5] for r in v])} |"
            line += f" {pm([r[6] for r in v])} |"
            if auc:
                line += f" {pm([r[7] for r in v])} |"
            print(line)
            score = statistics.mean(r[main_col] for r in v)
            if best is None or score > best[1]:
                best = (policy, score)
            score = statistics.mean(r[preq_col] for r in v)
            if best_preq is None or score > best_preq[1]:
                best_preq = (policy, score)
        test = os.path.join(work, "data", name, f"{name}_test.csv")
        note = ""
        if os.path.exists(test):
            note = f" Always predicting the majority class scores accuracy {majority(test):.3f}."
        print(f"\n![cost vs {label}](triggering/{name}-compare-cost-vs-metric.png)"
              f"\n![triggers vs {label}](triggering/{name}-compare-triggers-vs-metric.png)\n")
        r = river.get(name)
        if r:
            print(f"River (0.26.1) on the same stream, prequential (test-then-train on every "
                  f"stream sample; Sluice's *prequential-equivalent* is the like-for-like number, "
                  f"*in service* the analogue on held-out samples). River's ROC-AUC "
                  f"approximates the curve with 10 thresholds; *exact* is the same predictions' "
                  f"ROC-AUC computed as Sluice computes it:{note}\n")
            print("| River model | prequential accuracy | prequential ROC-AUC (River's, 10 "
                  "thresholds) | exact | seconds |")
            print("|---|---|---|---|---|")
            for m in r.values():
                print(f"| {m['model']} | {m['accuracy']:.3f} | "
                      f"{m.get('roc_auc', float('nan')):.3f} | "
                      f"{m.get('roc_auc_exact', float('nan')):.3f} | {m['seconds']:.1f} |")
            # Compared with what River reports (its approximate ROC-AUC, as quoted before).
            top = max(r.values(), key=lambda m: m[metric])
            pooled = ", pooled" if metric == "roc_auc" else ""
            print(f"\nBest Sluice policy in service{pooled} ({best[0]}, {label} {best[1]:.3f}) and "
                  f"prequential-equivalent ({best_preq[0]}, {best_preq[1]:.3f}) / best River "
                  f"learner ({top['model']}, {top[metric]:.3f}"
                  + (f"; exact {top['roc_auc_exact']:.3f}" if metric == "roc_auc" else "")
                  + f"): ratios {best[1] / top[metric]:.3f} and {best_preq[1] / top[metric]:.3f}.\n")
            river_cell = f"{top['model']} {top[metric]:.3f}" + (
                f" (exact {top['roc_auc_exact']:.3f})" if metric == "roc_auc" else "")
            headline.append((name, label + (" (in service: pooled)" if pooled else ""), best,
                             best_preq, (river_cell, top[metric])))
        else:
            print(note.strip() + "\n" if note else "")
            headline.append((name, label, best, best_preq, None))
    print("## Headline\n")
    print("| stream | metric | best policy | in service | best prequential-equivalent | "
          "best River learner (prequential) | ratio in service | ratio prequential |")
    print("|---|---|---|---|---|---|---|---|")
    for name, label, best, preq, top in headline:
        river_cell = top[0] if top else "—"
        ratio = f"{best[1] / top[1]:.3f}" if top else "—"
        ratio_p = f"{preq[1] / top[1]:.3f}" if top else "—"
        print(f"| {name} | {label} | {best[0]} | {best[1]:.3f} | {preq[0]} {preq[1]:.3f} | "
              f"{river_cell} | {ratio} | {ratio_p} |")
    notes = os.path.join(here, "notes.md")
    if os.path.exists(notes):
        print("\n" + open(notes).read().rstrip())

if __name__ == "__main__":
    main()
