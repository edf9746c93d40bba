#!/usr/bin/env bash
# The Python baselines' venv, experiments/baselines/.venv: PyTorch (the full PyPI torch==2.11.0,
# ~3.5 GB with its CUDA wheels; the repository's own .venv holds only what libtorch needs and
# cannot `import torch`), confluent-kafka and river. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, confluent_kafka, river" 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "torch==2.11.0" "confluent-kafka==2.12.2" "river==0.26.1"
"$venv/bin/python" -c "import torch, confluent_kafka, river; print('baselines venv: torch', torch.__version__, 'confluent-kafka', confluent_kafka.version(), 'river', river.__version__)"
