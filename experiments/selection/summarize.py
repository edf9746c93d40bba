"""Tables of the selection experiment from its run directories.

Usage: summarize.py RUNS_DIR REVISION SCALE SECONDS
  RUNS_DIR/<strategy>-<budget>-s<seed>/summary.json and RUNS_DIR/full-s<seed>/summary.json
"""

import collections
import glob
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from summary import aggregate, pm  # noqa: E402


def accuracy(summary, composite):
    a = aggregate(summary, "serving", composite, "accuracy")
    if a is None:
        raise KeyError(f"serving/{composite}/accuracy")
    return a


def main():
    runs, rev, scale, seconds = sys.argv[1:5]
    rows = collections.defaultdict(list)
    for run in sorted(glob.glob(os.path.join(runs, "*"))):
        name = os.path.basename(run).rsplit("-s", 1)[0]
        strategy, _, budget = name.rpartition("-")
        if name == "full":
            strategy, budget = "full", "1000"
        s = json.load(open(os.path.join(run, "summary.json")))
        rows[(int(budget), strategy)].append((
            accuracy(s, "currently_active"),
            accuracy(s, "currently_trained"),
            s["training_s"],
        ))
    print("# Selection policies\n")
    print(f"Command: `experiments/selection/run --scale {scale}`; commit {rev}, "
          f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores; "
          f"{int(seconds) // 60} min {int(seconds) % 60} s in all.\n")
    print("Drifting Fashion-MNIST (14 virtual years), a trigger every 1,400 samples, a small CNN, "
          "3 epochs per trigger, each policy training on its budget of every trigger's new "
          "data. *in service*: time-weighted accuracy of the currently active model on the "
          "held-out samples of each interval between triggers; *trained*: the model trained on "
          "that interval (how well the selected samples fit the data they came from); "
          "*training s*: the trainer's time, scoring passes included. Mean ± sd over seeds.\n")
    full = rows.get((1000, "full"))
    for budget in sorted({b for b, _ in rows if b != 1000}):
        print(f"## Budget {budget / 10:g}%\n")
        print("| strategy | accuracy in service | accuracy trained | training s | "
              "training time / full |")
        print("|---|---|---|---|---|")
        entries = ([("full (100%)", full)] if full else []) + sorted(
            (s, v) for (b, s), v in rows.items() if b == budget)
        full_t = statistics.mean(r[2] for r in full) if full else None
        for strategy, v in entries:
            t = statistics.mean(r[2] for r in v)
            ratio = f"{t / full_t:.2f}" if full_t else "—"
            print(f"| {strategy} | {pm([r[0] for r in v])} | {pm([r[1] for r in v])} | "
                  f"{pm([r[2] for r in v], 1)} | {ratio} |")
        print(f"\n![accuracy vs cost, budget {budget / 10:g}%]"
              f"(selection/budget-{budget}-cost-vs-accuracy.png)\n")


if __name__ == "__main__":
    main()
