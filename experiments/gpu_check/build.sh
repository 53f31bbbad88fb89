#!/usr/bin/env bash
# Builds the GPU check's binaries here, for a GPU machine without a Rust toolchain or internet:
# `evonas` and the `train_speed` example with the libtorch backend, against the PyTorch version
# that machine has (default 2.11.0, seen under /opt/torch/.venv with Python 3.12), with that
# machine's libtorch folder first on their run path. They land in experiments/gpu_check/bin
# (not committed); carry that folder and run experiments/gpu_check/run.sh there.
#
#   experiments/gpu_check/build.sh                      # for PyTorch 2.11.0 at /opt/torch/.venv
#   TORCH=2.9.0 TORCH_LIB=/path/to/torch/lib experiments/gpu_check/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
TORCH="${TORCH:-2.11.0}"
TORCH_LIB="${TORCH_LIB:-/opt/torch/.venv/lib/python3.12/site-packages/torch/lib}"
export EVONAS_TORCH_VERSION="$TORCH"
export EVONAS_LIBTORCH_RPATH="$TORCH_LIB"
# Its own target folder: these binaries look for another libtorch than the local build's.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/gpu_check}"
scripts/libtorch.sh build --release --locked --bin evonas --example train_speed
mkdir -p experiments/gpu_check/bin
cp "$CARGO_TARGET_DIR/release/evonas" "$CARGO_TARGET_DIR/release/examples/train_speed" experiments/gpu_check/bin/
strip experiments/gpu_check/bin/* 2>/dev/null || true
ls -la experiments/gpu_check/bin
echo "built against PyTorch $TORCH; run path first: $TORCH_LIB" >&2
