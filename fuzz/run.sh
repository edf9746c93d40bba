#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and says what it found.
#
#   fuzz/run.sh [SECONDS per target, default 60] [--merge]
#
# Needs the nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz`). Targets are built without a sanitizer (`-s none`): Sluice forbids
# unsafe code, and libtorch does not load under AddressSanitizer. Each target starts from the
# committed inputs (fuzz/seeds/<target>: hand-written valid inputs; fuzz/corpus/<target>: a
# minimal set covering every edge reached so far; fuzz/regressions/<target>: inputs that once
# crashed) and writes new inputs to fuzz/corpus-run/<target> (ignored by git). --merge then
# rewrites fuzz/corpus/<target> as the smallest set of inputs covering every edge (libFuzzer's
# -merge=1 with -use_counters=0), so the committed corpus stays small.
# A crash is saved in fuzz/artifacts/<target>/ and fails the script: fix it, then copy the
# input into fuzz/regressions/<target>/ so tests/fuzz_corpus.rs replays it in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
MERGE=0
[ "${2:-}" = "--merge" ] || [ "${1:-}" = "--merge" ] && MERGE=1
[[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || SECONDS_PER_TARGET=60
TARGETS=(json_message arrow_message csv_file arrow_file config)
# The rpath build.rs gives Sluice's own binaries does not reach the fuzz crate's.
export LD_LIBRARY_PATH="$PWD/.venv/libtorch/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

cargo +nightly fuzz build -s none
failed=()
summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus-run/$t" "fuzz/artifacts/$t" "fuzz/corpus/$t"
  dirs=("fuzz/corpus-run/$t" "fuzz/corpus/$t" "fuzz/seeds/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  log="fuzz/corpus-run/$t.log"
  echo "[fuzz] $t for ${SECONDS_PER_TARGET} s"
  if cargo +nightly fuzz run -s none "$t" "${dirs[@]}" -- \
      -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -rss_limit_mb=4096 \
      -print_final_stats=1 > "$log" 2>&1; then
    status=ok
  elif grep -q 'Test unit written' "$log"; then
    status=CRASH
    failed+=("$t")
  else
    echo "[fuzz] $t did not run:" >&2
    tail -n 15 "$log" >&2
    exit 1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | grep -o '[0-9]*' || echo '?')
  line="$t: $status, $execs runs, coverage $cov edges, $(ls "fuzz/corpus-run/$t" | wc -l) new inputs"
  echo "[fuzz] $line"
  summary+=("$line")
  if [ "$status" = CRASH ]; then
    { grep -E 'ERROR: libFuzzer|Test unit written' "$log" || true; } | tail -n 3 | sed 's/^/[fuzz]   /'
  fi
  if [ "$MERGE" = 1 ]; then
    merged="fuzz/corpus-run/$t.merged"
    rm -rf "$merged" && mkdir -p "$merged"
    if cargo +nightly fuzz run -s none "$t" "$merged" "fuzz/corpus/$t" "fuzz/corpus-run/$t" -- \
        -merge=1 -use_counters=0 -max_len=65536 > "fuzz/corpus-run/$t.merge.log" 2>&1; then
      rm -rf "fuzz/corpus/$t" && mv "$merged" "fuzz/corpus/$t"
    else
      echo "[fuzz]   merge failed: fuzz/corpus-run/$t.merge.log" >&2
    fi
    echo "[fuzz]   committed corpus: $(ls "fuzz/corpus/$t" | wc -l) inputs, $(du -sh "fuzz/corpus/$t" | cut -f1)"
  fi
done
printf '[fuzz] %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "[fuzz] crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "[fuzz] ${#TARGETS[@]} targets, ${SECONDS_PER_TARGET} s each: no crash"
