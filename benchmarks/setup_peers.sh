#!/usr/bin/env bash
# Recreates the benchmark reference-trainer venv (tf.keras + PyTorch peers for shared/bench/).
# Kept OUT of the project's own dependencies (about 2.4 GB installed).
# The peers are never project dependencies.
# Usage: bash benchmarks/setup_peers.sh [VENV_DIR]   (default ../benchvenv beside the repo; an existing one is removed first)
# Needs Python 3.11 (the local torch CPU wheel is cp311). Versions pinned to what was installed
# (recorded with Python 3.11.7, pip 23.2.1 from the venv).
#
# NOTE: exactly torch==2.13.0. On this machine pip's find-links (/opt/wheels) holds
# torch-2.13.0+cpu, which pip picks for that pin; a plain `pip install torch` would pull a
# CUDA build of several GB instead. Where that local wheel is absent, install torch==2.13.0
# from PyTorch's own CPU wheel index instead (not reachable from this workplace's machines).
set -euo pipefail
VENV="${1:-../benchvenv}"
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install tensorflow-cpu==2.21.0
"$VENV/bin/pip" install torch==2.13.0 numpy==2.4.6
"$VENV/bin/python" - <<'PY'
import numpy, tensorflow as tf, torch
print("tensorflow", tf.__version__, "| torch", torch.__version__, "| numpy", numpy.__version__)
assert torch.__version__.startswith("2.13.0") and not torch.cuda.is_available()
PY
# Smoke test (one JSON line per epoch each):
#   "$VENV/bin/python" shared/bench/reference_torch.py --epochs 2 --rates 0.2
#   "$VENV/bin/python" shared/bench/reference_keras.py --epochs 2 --rates 0.2
