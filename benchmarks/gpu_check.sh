#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): on a machine with an NVIDIA GPU, install elad
# with the `gpu` extra (vLLM, which brings a CUDA build of torch) and the `gemma` extra
# (the fallback student) into the Python at $PYTHON (default python3; use a venv), then
# run the check. Arguments go to gpu_check.py (--model DIR, --candidates N, --out FILE).
#
#   bash benchmarks/gpu_check.sh --out gpu_check.json
#   SKIP_INSTALL=1 bash benchmarks/gpu_check.sh      # the extras are installed already
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! nvidia-smi -L; then
    echo "gpu_check: no NVIDIA GPU found (nvidia-smi failed); on a CPU try:" \
         "$PYTHON benchmarks/gpu_check.py --cpu-dry-run" >&2
    exit 2
fi
if [ -z "${SKIP_INSTALL:-}" ]; then
    # no constraints.txt: it pins the CPU build of torch
    if ! "$PYTHON" -m pip install -e '.[gpu,gemma]'; then
        echo "gpu_check: pip install -e '.[gpu,gemma]' failed (no network to the package" \
             "registry?); install vllm yourself and rerun with SKIP_INSTALL=1" >&2
        exit 2
    fi
fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"
