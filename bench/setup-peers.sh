#!/bin/sh
# bench/setup-peers.sh: the Python environment of the Hugging Face peers (bench/peers/hf_*.py,
# bench/crosscheck_hf.py): a virtual environment in bench/.venv-peers (git-ignored) with pinned
# torch, transformers, peft, safetensors, numpy and sentencepiece from PyPI. For benchmarks and
# cross-checks on demand only: lst never depends on it and CI's test run never installs it.
#
#   bench/setup-peers.sh            create or complete the environment; prints what is installed
#   VENV=/elsewhere bench/setup-peers.sh
#
# Idempotent: an environment that already has the pinned versions is left as it is.
# PyPI's Linux x86_64 torch is the CUDA build (there is no CPU-only torch on PyPI), so pip also
# brings the NVIDIA runtime wheels it links against; they load without a GPU and the peers run on
# the CPU. Measured 2026-12-03 on the 2-core development machine: 2.8 GB of wheels (torch 515 MB,
# cuDNN 496, cuBLAS 387, triton 273, ...) downloaded in about 45 s, 6.5 GB installed, about
# 3 minutes for the venv on a fresh machine, and about 2 more for Debian's python3-torch.
set -eu
cd "$(dirname "$0")/.."
VENV=${VENV:-bench/.venv-peers}
PY=${PYTHON:-/usr/bin/python3}
# The pins: the versions the figures in bench/README.md were measured with (transformers 5.25
# needs kernels >= 0.19.1, which has no release for Debian 12's Python 3.11).
PINS="torch==2.15.0 transformers==5.24.0 peft==0.21.2 accelerate==1.16.0 safetensors==0.8.0 numpy==2.4.6 sentencepiece==0.2.3"

# Debian's side: python3-venv for the environment, and the spec peer's torch 1.13 + numpy
# (bench/peers/bench_torch.py and crosscheck.py run on /usr/bin/python3).
missing=""
"$PY" -c 'import ensurepip' 2>/dev/null || missing="python3-venv"
/usr/bin/python3 -c 'import torch, numpy' 2>/dev/null || missing="$missing python3-torch python3-numpy"
if [ -n "$missing" ]; then
    echo "setup-peers: installing$missing (Debian)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"

have_all() {
    for p in $PINS; do
        "$VENV/bin/pip" show "${p%%==*}" 2>/dev/null | grep -qx "Version: ${p#*==}" || return 1
    done
}
if have_all; then
    echo "setup-peers: $VENV already has the pinned versions"
else
    start=$(date +%s)
    # No user cache dir needed; pip's own cache makes a re-run after a failure cheap.
    "$VENV/bin/pip" install --disable-pip-version-check -q $PINS
    echo "setup-peers: installed in $(( $(date +%s) - start )) s ($(du -sh "$VENV" | cut -f1) on disk)"
fi
# Nothing may reach a model hub at run time: the peers build every model from lst's checkpoints.
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import torch
names = ["torch", "transformers", "peft", "accelerate", "safetensors", "numpy", "sentencepiece", "tokenizers",
         "huggingface-hub"]
print("setup-peers: " + ", ".join(f"{n} {md.version(n)}" for n in names))
print(f"setup-peers: torch threads {torch.get_num_threads()}, CUDA available: {torch.cuda.is_available()} (CPU is used)")
PY
echo "setup-peers: PYTHON=$VENV/bin/python"
