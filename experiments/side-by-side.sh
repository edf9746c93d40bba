#!/usr/bin/env bash
# Side-by-side performance of two commits on this machine, runs interleaved so that drift of
# the machine (other load, thermal, page cache) hits both alike: the quickstart pipeline,
# `trigger_selection` (dataflows) and `kafka_ingest` (needs a broker at $SLUICE_KAFKA).
#
#   experiments/side-by-side.sh BASE_COMMIT [ROUNDS]
#
# BASE_COMMIT is checked out in a worktree under $TMPDIR and built with its own target
# directory; the current tree is the other side. Prints one line per measurement and a
# median per side; paste the output into experiments/results/.
set -euo pipefail

base_commit=${1:?usage: experiments/side-by-side.sh BASE_COMMIT [ROUNDS]}
rounds=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=${TMPDIR:-/tmp}
base=${SIDE_BY_SIDE_BASE:-$tmp/sluice-base-$base_commit}
base_target=${SIDE_BY_SIDE_BASE_TARGET:-$tmp/sluice-base-target}
export LIBTORCH=${LIBTORCH:-$here/.venv/libtorch}

if [ ! -d "$base" ]; then
    git -C "$here" worktree add --detach "$base" "$base_commit" >&2
fi
echo "building $base_commit and $(git -C "$here" rev-parse --short HEAD) (release)" >&2
(cd "$base" && CARGO_TARGET_DIR=$base_target cargo build --release --bin sluice >&2 &&
    CARGO_TARGET_DIR=$base_target cargo bench --no-run -p sluice-dataflows \
        --bench trigger_selection >&2 &&
    CARGO_TARGET_DIR=$base_target cargo bench --no-run --bench kafka_ingest >&2)
(cd "$here" && cargo build --release --bin sluice >&2 &&
    cargo bench --no-run -p sluice-dataflows --bench trigger_selection >&2 &&
    cargo bench --no-run --bench kafka_ingest >&2)

# The wall time of the quickstart run, in ms.
quickstart() {
    local dir=$1 target=$2 out
    out=$(mktemp -d)
    local start end
    start=$(date +%s%N)
    (cd "$dir" && "$target/release/sluice" run configs/quickstart.toml --out "$out/run" \
        >/dev/null 2>&1)
    end=$(date +%s%N)
    rm -rf "$out"
    echo $(((end - start) / 1000000))
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "== quickstart: wall ms per run, interleaved ($((rounds * 3)) runs per side)"
: >"$tmp/sbs-qs-base"
: >"$tmp/sbs-qs-head"
for _ in $(seq $((rounds * 3))); do
    quickstart "$base" "$base_target" >>"$tmp/sbs-qs-base"
    quickstart "$here" "$here/target" >>"$tmp/sbs-qs-head"
done
echo "base $base_commit: $(tr '\n' ' ' <"$tmp/sbs-qs-base")-> median $(median <"$tmp/sbs-qs-base") ms"
echo "head:          $(tr '\n' ' ' <"$tmp/sbs-qs-head")-> median $(median <"$tmp/sbs-qs-head") ms"

for round in $(seq "$rounds"); do
    echo "== trigger_selection, round $round"
    echo "-- base $base_commit"
    (cd "$base" && CARGO_TARGET_DIR=$base_target cargo bench -q -p sluice-dataflows \
        --bench trigger_selection 2>/dev/null)
    echo "-- head"
    (cd "$here" && cargo bench -q -p sluice-dataflows --bench trigger_selection 2>/dev/null)
done

if [ -n "${SLUICE_KAFKA:-}" ]; then
    for round in $(seq "$rounds"); do
        echo "== kafka_ingest, round $round"
        echo "-- base $base_commit"
        (cd "$base" && CARGO_TARGET_DIR=$base_target cargo bench -q --bench kafka_ingest \
            2>/dev/null)
        echo "-- head"
        (cd "$here" && cargo bench -q --bench kafka_ingest 2>/dev/null)
    done
else
    echo "== kafka_ingest skipped: set SLUICE_KAFKA to a broker"
fi
