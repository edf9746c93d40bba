"""Writes the selection experiment's configs: one per (strategy, budget, seed).

Usage: configs.py DATA_DIR OUT_DIR SEEDS BUDGETS
  DATA_DIR  holds s<seed>/fashion-mnist/fashion-mnist{,_test}.arrow (prepared by `run`)
  OUT_DIR   gets <strategy>-<budget>-s<seed>.toml (budget in per mille: 125, 250, 500)
  SEEDS     e.g. "1,2,3"; BUDGETS e.g. "125,250,500"

The strategies of the Modyn paper's selection experiment (as Modyn names them: presampling for
uniform and class-balanced, remote downsampling for the rest; StB = sample-then-batch,
BtS = batch-then-sample), each training on a `budget` share of every trigger's new data,
plus `full` (all of it) once per seed. Everything else is the same: the drifting Fashion-MNIST
stream, a trigger every 1,400 samples, the same CNN, 3 epochs per trigger.
"""

import os
import sys


def strategies(budget):
    """(name, [selection] body) for a budget in per mille."""
    r = f"ratio = {budget}, ratio_max = 1000"
    down = lambda body: f"downsampling = {{ {body}, {r} }}"  # noqa: E731
    return [
        ("uniform", f'presampling = {{ strategy = "random", {r} }}'),
        ("class-balanced", f'presampling = {{ strategy = "label_balanced", {r} }}'),
        ("rs2-no-replacement", down('strategy = "rs2", sample_then_batch = true')),
        ("rs2-replacement",
         down('strategy = "rs2", sample_then_batch = true, with_replacement = true')),
        ("loss-stb", down('strategy = "loss", sample_then_batch = true')),
        ("loss-bts", down('strategy = "loss", sample_then_batch = false')),
        ("gradnorm-stb", down('strategy = "grad_norm", sample_then_batch = true')),
        ("gradnorm-bts", down('strategy = "grad_norm", sample_then_batch = false')),
        ("margin-stb", down('strategy = "uncertainty", score_metric = "margin", '
                            'sample_then_batch = true')),
        ("least-confidence-stb", down('strategy = "uncertainty", '
                                      'score_metric = "least_confidence", '
                                      'sample_then_batch = true')),
        ("entropy-stb", down('strategy = "uncertainty", score_metric = "entropy", '
                             'sample_then_batch = true')),
    ]


def config(pipeline, selection, seed, data):
    return f'''[pipeline]
name = "{pipeline}"

[source]
path = "{data}/s{seed}/fashion-mnist/fashion-mnist.arrow"
key_column = "key"
time_column = "time"
label_column = "label"

[model]
id = "cnn"
input_shape = [1, 28, 28]
channels = [8, 16]
hidden = 64
num_classes = 10

[training]
batch_size = 64
epochs_per_trigger = 3
seed = {seed}

[training.optimizer]
algorithm = "adam"
lr = 0.003

[trigger]
id = "amount"
every = 1400

[selection]
strategy = "coreset"
seed = {seed}
{selection}

[evaluation]
path = "{data}/s{seed}/fashion-mnist/fashion-mnist_test.arrow"
'''


def main():
    data, out, seeds, budgets = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    for seed in seeds.split(","):
        runs = [("full", "")]
        for b in budgets.split(","):
            runs += [(f"{name}-{b}", body) for name, body in strategies(int(b))]
        for name, body in runs:
            path = os.path.join(out, f"{name}-s{seed}.toml")
            with open(path, "w") as f:
                f.write(config(name, body, seed, data))
            print(path)


if __name__ == "__main__":
    main()
