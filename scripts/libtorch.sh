#!/usr/bin/env bash
# Builds and runs evonas with the libtorch backend (cargo feature `tch`), on a fresh machine.
#
#   scripts/libtorch.sh build --release             # cargo build --release --features tch
#   scripts/libtorch.sh test --release --test tch   # any cargo command, with the feature
#   scripts/libtorch.sh env                         # print the exports, for your own commands
#   scripts/libtorch.sh install                     # only install libtorch
#   scripts/libtorch.sh python                      # print the Python that has this PyTorch
#
# libtorch comes from PyTorch's wheel on PyPI (torch==2.9.0, the version tch 0.22 is made
# for), installed once into a virtual environment in a cache folder outside the checkout
# (EVONAS_LIBTORCH_CACHE, default ~/.cache/evonas), reused by every clone and CI run: about
# 4.5 GB with its CUDA libraries (the PyPI wheel is the CUDA build; the same binary then runs on
# CPU-only machines and on NVIDIA GPUs), a minute or two to download and unpack. The binary
# records libtorch's folder as its run path, so it runs without exporting anything.
#
# EVONAS_TORCH_VERSION=2.11.0 builds against another PyTorch release (its own venv in the
# cache; tch's version check bypassed): experiments/gpu_check/build.sh uses it to match a GPU
# machine's PyTorch.
#
# To use a libtorch you downloaded instead (e.g. a CPU-only zip from pytorch.org), set
# LIBTORCH=/path/to/libtorch (and LIBTORCH_BYPASS_VERSION_CHECK=1 if it is not 2.9.0).
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION="${EVONAS_TORCH_VERSION:-2.9.0}"
if [ "$TORCH_VERSION" != 2.9.0 ]; then
  export LIBTORCH_BYPASS_VERSION_CHECK=1
fi
CACHE="${EVONAS_LIBTORCH_CACHE:-$HOME/.cache/evonas}"
VENV="$CACHE/torch-$TORCH_VERSION"

install() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    return
  fi
  local python="${PYTHON:-python3}"
  if ! command -v "$python" >/dev/null 2>&1; then
    echo "error: $python not found; libtorch is installed from PyPI with Python 3 and pip (or set LIBTORCH to a libtorch folder)" >&2
    exit 1
  fi
  echo "== installing libtorch $TORCH_VERSION (PyPI wheel torch==$TORCH_VERSION, ~4.5 GB) into $VENV" >&2
  mkdir -p "$CACHE"
  rm -rf "$VENV.partial"
  "$python" -m venv "$VENV.partial"
  "$VENV.partial/bin/pip" install --quiet --disable-pip-version-check "torch==$TORCH_VERSION"
  # Moved into place only when complete: an interrupted install is redone, never half-used.
  rm -rf "$VENV"
  mv "$VENV.partial" "$VENV"
  # A venv moved after creation keeps working for `python -c`, which is all torch-sys runs.
}

exports() {
  if [ -n "${LIBTORCH:-}" ]; then
    echo "export LIBTORCH=$LIBTORCH"
  else
    echo "export LIBTORCH_USE_PYTORCH=1 VIRTUAL_ENV=$VENV PATH=$VENV/bin:\$PATH"
  fi
}

cmd="${1:-build}"
[ $# -gt 0 ] && shift
if [ -z "${LIBTORCH:-}" ]; then
  install
  export LIBTORCH_USE_PYTORCH=1 VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH"
fi
case "$cmd" in
  install) echo "libtorch ready: $VENV" >&2 ;;
  env) exports ;;
  python) echo "$VENV/bin/python" ;;
  *) exec cargo "$cmd" --features tch "$@" ;;
esac
