#!/usr/bin/env bash
# Zero-cost proxies computed by evonas on the NAS-Bench-201 cells of NASLib's published score
# file (../shared/data/naslib_zc/zc_nasbench201.json, CIFAR-10 entries), and their Spearman
# rank correlation with the file's validation accuracy, beside the Spearman of NASLib's own
# scores for the same cells.
#
# Usage: experiments/zero_cost_nb201/run.sh [CELLS] [PROXIES]   (from the repository root)
#   CELLS: how many of the 725 cells, in file order (default 725)
#   PROXIES: comma-separated (default nwot,snip,grad_norm,l2_norm,params,flops)
#   BATCH (environment): images in the batch (default 64)
# Needs python3 with scipy. The batch: BATCH images of CIFAR-10's training set
# (../shared/data/cifar10/kaggle_train_first200.bin), the same for every cell.
# Results: experiments/zero_cost_nb201/results/{scores_PROXY.json,table.md}.
set -euo pipefail
cd "$(dirname "$0")/../.."
cells=${1:-725}
proxies=${2:-nwot,snip,grad_norm,l2_norm,params,flops}
batch=${BATCH:-64}
data=${EVONAS_SHARED_DATA:-../shared/data}
data=$(cd "$data" && pwd)
cargo build --release --quiet
bin=$PWD/target/release/evonas
out=experiments/zero_cost_nb201/results
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The cells as NB-201 arch strings. NASLib's tuple: op indices on edges (1,2), (1,3), (1,4),
# (2,3), (2,4), (3,4) (1-based nodes), 0 skip, 1 none, 2 conv 3x3, 3 conv 1x1, 4 avg pool.
python3 - "$data/naslib_zc/zc_nasbench201.json" "$cells" "$work/archs.txt" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["cifar10"]
ops = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]
with open(sys.argv[3], "w") as f:
    for key in list(d)[: int(sys.argv[2])]:
        e = [ops[i] for i in eval(key)]
        f.write(f"|{e[0]}~0|+|{e[1]}~0|{e[3]}~1|+|{e[2]}~0|{e[4]}~1|{e[5]}~2|\n")
PY

for p in ${proxies//,/ }; do
  cat > "$work/$p.toml" <<TOML
[evaluator]
kind = "zero-cost"
proxy = "$p"
data = "cifar10"
path = "$data/cifar10"
train_files = ["kaggle_train_first200.bin"]
batch_size = $batch
TOML
  # The reference side is irrelevant here (params: instant); the statistics against the
  # file's accuracies are computed below. Scores go through a store of their own.
  cp "$work/$p.toml" "$work/ref.toml"; sed -i 's/proxy = ".*"/proxy = "params"/' "$work/ref.toml"
  start=$(date +%s.%N)
  "$bin" rank --reference "$work/ref.toml" --candidate "$work/$p.toml" --archs "$work/archs.txt" \
    --store "$out/store" --json -q > "$out/scores_$p.json"
  end=$(date +%s.%N)
  echo "$p: $(echo "$end - $start" | bc -l) s"
done

python3 - "$data/naslib_zc/zc_nasbench201.json" "$cells" "$out" "$proxies" > "$out/table.md" <<'PY'
import json, sys
from scipy.stats import spearmanr
d = json.load(open(sys.argv[1]))["cifar10"]
cells = list(d)[: int(sys.argv[2])]
out, proxies = sys.argv[3], sys.argv[4].split(",")
acc = [d[c]["val_accuracy"] for c in cells]
print(f"| proxy | evonas Spearman | NASLib Spearman (same {len(cells)} cells) | evonas s per cell | NASLib s per cell | evonas failures |")
# NASLib's file lacks some scores (synflow of one CIFAR-10 cell, zen of all): its Spearman
# is over the cells it has.
print("|---|---|---|---|---|---|")
for p in proxies:
    r = json.load(open(f"{out}/scores_{p}.json"))
    ours = [s["candidate"]["fitness"] for s in r["scores"]]
    pairs = [(a, o) for a, o in zip(acc, ours) if o is not None]
    rho_ours = spearmanr([a for a, _ in pairs], [o for _, o in pairs]).correlation
    have = [c for c in cells if p in d[c]]
    theirs = [d[c][p]["score"] for c in have]
    rho_theirs = spearmanr([d[c]["val_accuracy"] for c in have], theirs).correlation if have else float("nan")
    t_theirs = sum(d[c][p]["time"] for c in have) / len(have) if have else float("nan")
    t_ours = r["candidate"]["seconds_per_evaluation"]
    fails = r["candidate"]["failures"]
    print(f"| {p} | {rho_ours:.3f} | {rho_theirs:.3f} | {t_ours:.3f} | {t_theirs:.3f} | {fails} |")
PY
cat "$out/table.md"
