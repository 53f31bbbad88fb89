#!/usr/bin/env bash
# The GPU check: evonas' libtorch backend against PyTorch eager on one NVIDIA machine that has
# PyTorch but no internet and no Rust toolchain. The binaries come from build.sh (run on a build
# machine, against the same PyTorch version) in experiments/gpu_check/bin. Fits in 8 minutes on
# an H200-class GPU; prints:
#   1. the reference NB-201 network's img/s on the device, evonas-tch vs PyTorch eager in the
#      same run (fp32, bf16, bf16 + channels-last);
#   2. the largest difference between the first 5 training losses on the CPU and the device;
#   3. one full 12-epoch NB-201 training (C=16, N=5) on 50,000 CIFAR-10-shaped synthetic images
#      (bf16, data on the device), with its wall time.
#
#   experiments/gpu_check/run.sh            # the check
#   experiments/gpu_check/run.sh --smoke    # tiny sizes: CI runs this on the CPU (device "auto"
#                                           # falls back to the CPU and says so)
# BIN (default experiments/gpu_check/bin) and PYTHON (default /opt/torch/.venv/bin/python, else
# python3) say where the binaries and PyTorch are.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${BIN:-experiments/gpu_check/bin}"
PYTHON="${PYTHON:-/opt/torch/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
for b in evonas train_speed; do
  if [ ! -x "$BIN/$b" ]; then
    echo "error: $BIN/$b is missing; build it with experiments/gpu_check/build.sh" >&2
    exit 1
  fi
done
export PYTHONWARNINGS=ignore
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"

echo "== machine"
date -u
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: no NVIDIA driver here"
"$PYTHON" -c "import torch; print('PyTorch', torch.__version__, '| CUDA available:', torch.cuda.is_available(), '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')" || echo "PyTorch not importable with $PYTHON"
nproc

if "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  DEVICE=cuda
else
  DEVICE=cpu
  echo "no CUDA GPU visible: measuring on the CPU instead"
fi

if [ "$SMOKE" = 1 ]; then
  STEPS=3 ROUNDS=1 BATCH=16
else
  STEPS=50 ROUNDS=3 BATCH=256
fi

echo "== 1. reference network img/s (batch $BATCH), evonas-tch vs PyTorch eager, same run"
for args in "--precision fp32" "--precision bf16" "--precision bf16 --channels-last"; do
  # shellcheck disable=SC2086
  "$BIN/train_speed" --device "$DEVICE" --backends tch,pytorch --python "$PYTHON" \
    --steps "$STEPS" --rounds "$ROUNDS" --batch "$BATCH" --threads "$(nproc)" $args
done

echo "== 2. first 5 losses, CPU vs $DEVICE (tch, same weights and batch)"
"$BIN/train_speed" --device "$DEVICE" --losses 5 --threads "$(nproc)"

echo "== 3. one 12-epoch NB-201 training, C=16 N=5, 50,000 images"
REF='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
if [ "$SMOKE" = 1 ]; then
  IMAGES=1200 VALID=200 EPOCHS=1 C=4 N=1 TB=64
else
  IMAGES=55000 VALID=5000 EPOCHS=12 C=16 N=5 TB=256
fi
cat > "$OUT/nb201.toml" <<TOML
name = "gpu-check"
space = "nb201"
[strategy]
kind = "random"
[budget]
evaluations = 1
[evaluator]
kind = "train"
backend = "tch"
device = "auto"
precision = "bf16"
channels_last = true
data = "synthetic"
synthetic_images = $IMAGES
valid_size = $VALID
epochs = $EPOCHS
batch_size = $TB
eval_batch_size = 1024
learning_rate = 0.1
threads = $(nproc)
max_memory_mb = 65536
TOML
start=$(date +%s.%N)
"$BIN/evonas" train --space nb201 --arch <(echo "$REF") --config "$OUT/nb201.toml" \
  --channels "$C" --cells "$N" > "$OUT/train.json"
end=$(date +%s.%N)
"$PYTHON" - "$OUT/train.json" "$start" "$end" <<'PY' || python3 - "$OUT/train.json" "$start" "$end" <<'PY2'
import json, sys
r = json.load(open(sys.argv[1]))["record"]
print(f"validation accuracy {r['valid_accuracy']:.2f}%, {r['steps']} steps, "
      f"{r['images_per_second']:.0f} img/s training, run {r['wall_seconds']:.1f} s, "
      f"command {float(sys.argv[3]) - float(sys.argv[2]):.1f} s (data generation included)")
PY
import json, sys
r = json.load(open(sys.argv[1]))["record"]
print(f"validation accuracy {r['valid_accuracy']:.2f}%, run {r['wall_seconds']:.1f} s")
PY2
