"""Loads every model of a Sluice run directory from its TorchScript file (`models/<id>.pt`) with
PyTorch alone (no Sluice code), predicts the held-out CSV, and checks each model's accuracy on
the whole file against the run's recorded evaluation (`evaluations.jsonl`, interval `0-inf`).

    /tmp/torch/bin/python experiments/serving/check_artifacts.py <run-dir> <held-out.csv>

(A full PyTorch: tests/golden/torchscript/make_modules.py says how to install one.) Prints one
line per model and exits 1 if any differs.
"""

import csv
import json
import sys
from pathlib import Path

import torch


def main(run: Path, held_out: Path) -> int:
    config = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
    with held_out.open() as f:
        rows = list(csv.DictReader(f))
    meta = next(iter(sorted((run / "models").glob("*.json"))))
    names = json.loads(meta.read_text())["feature_names"]
    x = torch.tensor([[float(r[n]) for n in names] for r in rows], dtype=torch.float32)
    y = torch.tensor([int(float(r["label"])) for r in rows])
    recorded = [
        e
        for e in map(json.loads, (run / "evaluations.jsonl").read_text().splitlines())
        if e["interval"] == "0-inf" and e["metric"] == "accuracy"
    ]
    bad = 0
    for e in recorded:
        model = torch.jit.load(str(run / "models" / f"{e['model_id']}.pt"))
        with torch.no_grad():
            accuracy = (model(x).argmax(1) == y).sum().item() / len(rows)
        same = accuracy == e["value"]
        bad += not same
        print(f"{e['model_id']}: torch.jit.load {accuracy:.6f}, recorded {e['value']:.6f}"
              f" ({'same' if same else 'DIFFERENT'})")
    print(f"{len(recorded) - bad} of {len(recorded)} models reproduce their evaluation"
          f" (torch {torch.__version__}{', ' + config.get('pipeline', '') if config else ''})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
