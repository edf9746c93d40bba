#!/usr/bin/env bash
# The Python baselines' venv, experiments/baselines/.venv (the repository's own .venv holds only
# what libtorch needs and cannot `import torch`):
#   experiments/baselines/setup.sh          river 0.26.1, confluent-kafka and the full PyPI
#                                           torch==2.11.0 (~3.5 GB with its CUDA wheels)
#   experiments/baselines/setup.sh river    river only (the triggering experiment's baseline)
# Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ "${1:-all}" = river ]; then
  modules="river"; packages=("river==0.26.1")
else
  modules="torch, confluent_kafka, river"
  packages=("torch==2.11.0" "confluent-kafka==2.12.2" "river==0.26.1")
fi
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import $modules" 2>/dev/null; then
  exit 0
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
"$venv/bin/python" -c "import $modules; print('baselines venv ready: $modules')"
