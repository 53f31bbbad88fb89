#!/usr/bin/env bash
# Zero-cost proxies computed by evonas on the NAS-Bench-201 cells of NASLib's published score
# file (../shared/data/naslib_zc/zc_nasbench201.json, CIFAR-10 entries), and their Spearman
# rank correlation with the file's validation accuracy, beside the Spearman of NASLib's own
# scores for the same cells.
#
# Usage: experiments/zero_cost_nb201/run.sh [CELLS] [PROXIES]   (from the repository root)
#   CELLS: how many of the 725 cells, in file order (default 725)
#   PROXIES: comma-separated (default nwot,snip,grad_norm,l2_norm,params,flops)
#   BATCH (environment): images in the batch (default 64; NASLib's file used 32 for jacov)
# Needs python3 with scipy. The batch: BATCH images of CIFAR-10's training set
# (../shared/data/cifar10/kaggle_train_first200.bin), the same for every cell.
# Results: experiments/zero_cost_nb201/results/{scores_PROXY.json,table.md}.
# The proxy runs and the table: experiments/zero_cost_vs_naslib.sh (shared with zero_cost_nb301).
set -euo pipefail
cd "$(dirname "$0")/../.."
cells=${1:-725}
proxies=${2:-nwot,snip,grad_norm,l2_norm,params,flops}
data=${EVONAS_SHARED_DATA:-../shared/data}
scores=$data/naslib_zc/zc_nasbench201.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The cells as NB-201 arch strings. NASLib's tuple: op indices on edges (1,2), (1,3), (1,4),
# (2,3), (2,4), (3,4) (1-based nodes), 0 skip, 1 none, 2 conv 3x3, 3 conv 1x1, 4 avg pool.
python3 - "$scores" "$cells" "$work/archs.txt" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["cifar10"]
ops = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]
with open(sys.argv[3], "w") as f:
    for key in list(d)[: int(sys.argv[2])]:
        e = [ops[i] for i in eval(key)]
        f.write(f"|{e[0]}~0|+|{e[1]}~0|{e[3]}~1|+|{e[2]}~0|{e[4]}~1|{e[5]}~2|\n")
PY
experiments/zero_cost_vs_naslib.sh nb201 "$scores" "$work/archs.txt" \
  experiments/zero_cost_nb201/results "$cells" "$proxies"
