#!/usr/bin/env bash
# Zero-cost proxies computed by evonas on the NAS-Bench-301 (DARTS space) cells of NASLib's
# published score file (../shared/data/naslib_zc/zc_nasbench301.json, CIFAR-10 entries), and
# their Spearman rank correlation with the file's validation accuracy, beside the Spearman of
# NASLib's own scores for the same cells.
#
# Usage: experiments/zero_cost_nb301/run.sh [CELLS] [PROXIES]   (from the repository root)
#   CELLS: how many of the 725 cells, in file order (default 725)
#   PROXIES: comma-separated (default nwot,snip,grad_norm,l2_norm,params,flops)
# Needs python3 with scipy. Results: experiments/zero_cost_nb301/results/{scores_PROXY.json,table.md}.
# The cells are decoded in the built-in `darts` space (C = 32, 8 cells, as NAS-Bench-301 and
# NASLib build them), which reads the file's keys (NASLib's compact encoding) as they are.
set -euo pipefail
cd "$(dirname "$0")/../.."
cells=${1:-725}
proxies=${2:-nwot,snip,grad_norm,l2_norm,params,flops}
data=${EVONAS_SHARED_DATA:-../shared/data}
scores=$data/naslib_zc/zc_nasbench301.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$scores" "$cells" > "$work/archs.txt" <<'PY'
import json, sys
for key in list(json.load(open(sys.argv[1]))["cifar10"])[: int(sys.argv[2])]:
    print(key)
PY
experiments/zero_cost_vs_naslib.sh darts "$scores" "$work/archs.txt" \
  experiments/zero_cost_nb301/results "$cells" "$proxies"
