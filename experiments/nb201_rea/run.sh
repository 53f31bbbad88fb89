#!/usr/bin/env bash
# Reproduces results/: REA (P=10 S=3; P=100 S=25) and random search, cache off and on, 100 seeds
# each, on the NAS-Bench-201 cifar10-valid table, budgets 12,000 and 200,000 simulated seconds.
# About 25 minutes on 2 cores. Usage: experiments/nb201_rea/run.sh [SEEDS] (from the repo root).
set -euo pipefail
cd "$(dirname "$0")/../.."
table=${EVONAS_SHARED_DATA:-../shared/data}/nb201
cargo build --release --example nb201_rea
./target/release/examples/nb201_rea "$table" experiments/nb201_rea/results "${1:-100}"
