#!/usr/bin/env bash
# Reproduces the numbers in this folder's README: class counts of NB-201 and NB-101, the merges
# the functional hash makes beyond isomorphism, and the collision check on 1,000,000 random
# NASNet and FBNet networks. About 6 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --examples
out=experiments/hash_nb201/results
mkdir -p "$out"
./target/release/evonas enumerate --space nb201 --json | tee "$out/census_nb201.json"
./target/release/evonas enumerate --space nb101 --json | tee "$out/census_nb101.json"
./target/release/examples/merges nb201 8 | tee "$out/merges_nb201.txt"
./target/release/examples/merges nb101 8 | tee "$out/merges_nb101.txt"
./target/release/examples/collisions nasnet 1000000 | tee "$out/collisions_nasnet.json"
./target/release/examples/collisions fbnet 1000000 | tee "$out/collisions_fbnet.json"
# NAS-Bench-201's own canonical form (6,466 classes) is compared cell by cell in
# tests/hash.rs::nb201_classes_refine_and_coarsen_nas_bench_201_form_only_where_justified.
