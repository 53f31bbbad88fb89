#!/usr/bin/env bash
# Fashion-MNIST search: regularized evolution with the cache vs random search without one,
# same evaluation budget, 3 seeds each; then the top 3 of every campaign are retrained longer
# on more images and scored on the held-out test set (10,000 images, never seen by the search).
#
#   sudo apt-get install dataset-fashion-mnist     # files in /usr/share/datasets/fashion-mnist
#   bash experiments/fashion_mnist/run.sh          # about 30 minutes on 2 cores
#
# Every campaign has its own store (the cache is not shared between seeds, so the seeds stay
# independent). Results: results/<campaign>.json (retraining) and results/table.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"
work="${WORK:-$here/work}"
mkdir -p "$here/results" "$work"
retrain_epochs="${RETRAIN_EPOCHS:-2}"
retrain_images="${RETRAIN_IMAGES:-10000}"
for seed in 0 1 2; do
  for strategy in rea random; do
    name="fm-$strategy-$seed"
    store="$work/$name"
    "$evonas" search --config "$here/$strategy.toml" --name "$name" --seed "$seed" --store "$store" --quiet
    "$evonas" status "$name" --store "$store" --json > "$here/results/$name.status.json"
    "$evonas" retrain "$name" --store "$store" --top 3 --epochs "$retrain_epochs" \
      --train-size "$retrain_images" --json --quiet > "$here/results/$name.json"
  done
done
python3 "$here/table.py" "$here/results" > "$here/results/table.md"
cat "$here/results/table.md"
