#!/bin/bash
# CUDA checks (issue 4) on a GPU machine that has PyTorch's CUDA libtorch but no Rust toolchain.
#
# On a machine with the CPU setup (scripts/setup.sh), build the two binaries with the CUDA
# backend linked (build.rs lets them link without the CUDA libraries present), copy them into
# a folder beside the checkout and take both to the GPU machine:
#   cargo build --release --features cuda --bin sluice
#   cargo bench --no-run --features cuda --bench train_throughput   # prints the executable
#   mkdir -p .dev && cp target/release/sluice <train_throughput executable> .dev/ && strip .dev/*
# There, from the repository root:
#   bash experiments/cuda-check.sh .dev [cuda:0]
# It trains the quickstart on CPU and CUDA (fp32; amp with per-sample feedback), a drift trigger
# on model embeddings on CUDA, a NaN-loss stream on CUDA (fp32 and amp: no model published for
# the broken trigger), evaluation on the device (`sluice evaluate`, `sluice report`), then the
# training throughput benchmark with --amp.
set -u
bin=$(realpath "${1:?usage: cuda-check.sh <dir with sluice and train_throughput> [device]}")
device=${2:-cuda:0}
cd "$(dirname "$0")/.."
repo=$PWD
export LD_LIBRARY_PATH=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib
S=$bin/sluice
work=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if ldd "$S" | grep "not found"; then echo "missing libraries"; exit 1; fi
quiet() { grep -v "Warning: " ; }

# Configs derived from the quickstart and the drift trigger test.
sed -e "s#\.\./data/#$repo/data/#" -e "s/device = \"cpu\"/device = \"$device\"/" \
  configs/quickstart.toml > "$work/q-cuda.toml"
sed -e "s/^device = .*/device = \"$device\"\namp = true\nper_sample_feedback = true\nrecord_loss_every = 20/" \
  "$work/q-cuda.toml" > "$work/q-amp.toml"
"$S" validate "$work/q-cuda.toml" || exit 1
for c in configs/quickstart.toml "$work/q-cuda.toml" "$work/q-amp.toml"; do
  echo "== $(basename "$c")"
  "$S" run "$c" --out "$work/run-$(basename "$c" .toml)" -q 2>&1 | quiet | tail -2
done
grep -h "amp_skipped\|training_failed" "$work"/run-*/metrics.jsonl

# Evaluation on the device (the evaluator thread uses training.device): the CUDA run's
# composite aggregate against the CPU run's, `sluice evaluate` from the CUDA run's model store
# (same values), and a report over both runs.
echo "== evaluation on $device"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
agg = lambda r: {(a["handler"], a["composite"]): a["time_weighted_avg"]
                 for a in json.load(open(f"{w}/{r}/summary.json"))["evaluation"]["aggregates"]}
cpu, cuda = agg("run-quickstart"), agg("run-q-cuda")
for k in sorted(cuda):
    print(f"  {k[0]:>16} {k[1]:>17}: cpu {cpu[k]:.4f} cuda {cuda[k]:.4f}")
PY
"$S" evaluate "$work/run-q-cuda" -q 2>&1 | quiet | tail -1
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
ev = lambda p: {e["id"]: e["value"] for e in map(json.loads, open(p))}
a, b = ev(f"{w}/run-q-cuda/evaluations.jsonl"), ev(f"{w}/run-q-cuda/evaluate/evaluations.jsonl")
print(f"  sluice evaluate on {len(b)} events: {'same values' if a == b else 'DIFFERENT values'}")
PY
"$S" report "$work/run-quickstart" "$work/run-q-cuda" --out "$work/report" 2>&1 | quiet | tail -1

cd "$work"
"$S" datasets prepare blobs --out . --format csv >/dev/null
cat > drift.toml <<T
[pipeline]
name = "drift"
[source]
path = "blobs.csv"
key_column = "key"
time_column = "time"
label_column = "label"
[model]
id = "mlp"
hidden = [16]
num_classes = 4
[training]
device = "$device"
batch_size = 64
epochs_per_trigger = 1
seed = 7
[training.optimizer]
algorithm = "adam"
lr = 0.005
[trigger]
id = "drift"
evaluation_interval_data_points = 500
sample_size = 500
features = "embeddings"
windows = { id = "amount", amount_ref = 500, amount_cur = 500 }
[trigger.metrics.mmd]
id = "mmd"
criterion = { id = "threshold", threshold = 0.01 }
T
echo "== drift on embeddings"
"$S" run drift.toml --out run-drift -q 2>&1 | quiet | tail -2

# Trigger 1's samples overflow f32: its loss is NaN; no model 1, model 2 continues from 0.
"$S" datasets prepare hyperplane --out . --rows 750 --format csv >/dev/null
python3 - <<'PY'
lines = open("hyperplane.csv").read().splitlines()
for i in range(201, 401):
    f = lines[i].split(","); f[3:] = ["3e38"] * len(f[3:]); lines[i] = ",".join(f)
open("hyperplane.csv", "w").write("\n".join(lines) + "\n")
PY
for amp in false true; do
  sed -e "s/blobs.csv/hyperplane.csv/; s/num_classes = 4/num_classes = 2/" \
      -e "/^\[trigger/,\$d" -e "s/^seed = 7/seed = 7\namp = $amp/" drift.toml > nan.toml
  printf '[trigger]\nid = "amount"\nevery = 200\n' >> nan.toml
  echo "== NaN loss, amp = $amp"
  "$S" run nan.toml --out "run-nan-$amp" -q 2>&1 | quiet | tail -2
  python3 -c "import json; print('models of triggers', [json.loads(l)['trigger_id'] for l in open('run-nan-$amp/models.jsonl')])"
done
cd "$repo"
rm -rf "$work"

if [ -x "$bin/train_throughput" ]; then
  echo "== training throughput"
  timeout 480 "$bin"/train_throughput --device "$device" --amp 2>&1 | quiet
else
  echo "== training throughput: skipped (no train_throughput executable in $bin)"
fi
