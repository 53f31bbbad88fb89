#!/usr/bin/env bash
# Extended Fashion-MNIST comparison at equal wall time: regularized evolution, random search,
# Hyperband, and regularized evolution with a NASWOT or a FLOPs screen (configs in extended/),
# 3 seeds, 240 wall seconds of search each; the best architecture of every campaign is then
# retrained longer on more images and scored on the 10,000 held-out test images.
#
#   apt-get install dataset-fashion-mnist   # files in /usr/share/datasets/fashion-mnist
#   bash experiments/fashion_mnist/run_extended.sh   # about 75 minutes on 2 cores
#   OUT=experiments/fashion_mnist/results/extended-flops METHODS="random flops" \
#     bash experiments/fashion_mnist/run_extended.sh
#
# Campaigns of one seed run back to back, method after method, so background load on the
# machine hits every method alike. Environment: METHODS and SEEDS (which campaigns), OUT (the
# results folder, default results/extended/: status and retraining JSON per campaign,
# table.md), WORK (the stores), EVONAS (a prebuilt binary; otherwise a release build).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"
work="${WORK:-$here/work-extended}"
out="${OUT:-$here/results/extended}"
mkdir -p "$out" "$work"
seeds="${SEEDS:-0 1 2}"
methods="${METHODS:-rea random hyperband screened flops}"
for seed in $seeds; do
  for method in $methods; do
    name="fmx-$method-$seed"
    store="$work/$name"
    rm -rf "$store"
    "$evonas" search --config "$here/extended/$method.toml" --name "$name" --seed "$seed" \
      --store "$store" --quiet
    "$evonas" status "$name" --store "$store" --json > "$out/$name.status.json"
    # A campaign that finished no training within its budget has nothing to retrain.
    "$evonas" retrain "$name" --store "$store" --top 1 --epochs 2 --train-size 10000 \
      --json --quiet > "$out/$name.json" || echo "[]" > "$out/$name.json"
  done
done
python3 "$here/table_extended.py" "$out" > "$out/table.md"
cat "$out/table.md"
