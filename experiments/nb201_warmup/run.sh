#!/usr/bin/env bash
# Reproduces results/: plain REA, REA with a zero-cost warm-up, REA with a zero-cost screen,
# REA warm-started from a cache another campaign filled, and random search, on the NAS-Bench-201
# cifar10-valid table, 12,000 simulated seconds, 100 seeds each.
#
# The proxy (default flops) is charged on the simulated clock at its cost measured here by
# `evonas rank` over 200 random cells (seconds per evaluation), and again at 2.3 s per
# evaluation, what NASWOT (nwot) costs per cell on burn-flex here (experiments/zero_cost_nb201):
# the second row asks whether a proxy as slow as NASWOT would still pay.
# Usage: experiments/nb201_warmup/run.sh [SEEDS] [PROXY] (from the repository root).
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-100}
proxy=${2:-flops}
data=${EVONAS_SHARED_DATA:-../shared/data}
out=experiments/nb201_warmup/results
mkdir -p "$out"
cargo build --release --example nb201_warmup
cargo build --release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '[evaluator]\nkind = "zero-cost"\nproxy = "%s"\n' "$proxy" > "$tmp/proxy.toml"
printf '[evaluator]\nkind = "nb201-table"\npath = "%s/nb201"\ndataset = "cifar10-valid"\n' "$data" > "$tmp/table.toml"
./target/release/evonas rank --candidate "$tmp/proxy.toml" --reference "$tmp/table.toml" --space nb201 \
  --sample 200 --seed 7 --store "$tmp/store" --json --quiet > "$out/proxy_rank.json"
seconds=$(python3 -c "import json; r=json.load(open('$out/proxy_rank.json')); print('%.6f' % r['candidate']['seconds_per_evaluation'])")
echo "measured $proxy cost: $seconds s per evaluation"
./target/release/examples/nb201_warmup "$data/nb201" "$out" "$seeds" "$proxy" "$seconds" 2.3
