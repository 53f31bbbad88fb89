#!/usr/bin/env bash
# Shared by experiments/zero_cost_nb201 and experiments/zero_cost_nb301: evonas' zero-cost
# proxies on the cells of one of NASLib's published score files, through `evonas rank` (so
# through a cache, OUT/store), and the Spearman rank correlation of each proxy with the file's
# val_accuracy beside the Spearman of NASLib's own scores for the same cells.
#
# Usage: experiments/zero_cost_vs_naslib.sh SPACE SCORES_JSON ARCHS OUT CELLS PROXIES
#   SPACE: evonas space of the cells; SCORES_JSON: NASLib's file (its "cifar10" entries);
#   ARCHS: the first CELLS cells of the file, in file order, in SPACE's notation, one per line;
#   OUT: results folder (scores_PROXY.json, table.md); PROXIES: comma-separated.
# Environment: EVONAS_BIN (default: target/release/evonas, built first), EVONAS_SHARED_DATA,
# BATCH (images in the batch, default 64), BACKEND (the proxies' backend, default burn-flex;
# tch needs EVONAS_BIN built with `scripts/libtorch.sh build --release`).
# Needs python3 with scipy. The batch: BATCH images of CIFAR-10's training set
# (cifar10/kaggle_train_first200.bin in the shared data), the same for every cell.
set -euo pipefail
space=$1 scores=$2 archs=$3 out=$4 cells=$5 proxies=$6
data=${EVONAS_SHARED_DATA:-../shared/data}
data=$(cd "$data" && pwd)
batch=${BATCH:-64}
if [[ -z ${EVONAS_BIN:-} ]]; then
  cargo build --release --quiet
fi
bin=${EVONAS_BIN:-$PWD/target/release/evonas}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for p in ${proxies//,/ }; do
  cat > "$work/$p.toml" <<TOML
[evaluator]
kind = "zero-cost"
proxy = "$p"
data = "cifar10"
path = "$data/cifar10"
train_files = ["kaggle_train_first200.bin"]
batch_size = $batch
${BACKEND:+backend = \"$BACKEND\"}
TOML
  # The reference side is irrelevant here (params: instant); the statistics against the
  # file's accuracies are computed below. Scores go through a store of their own.
  cp "$work/$p.toml" "$work/ref.toml"; sed -i 's/proxy = ".*"/proxy = "params"/' "$work/ref.toml"
  start=$(date +%s.%N)
  "$bin" rank --space "$space" --reference "$work/ref.toml" --candidate "$work/$p.toml" \
    --archs "$archs" --store "$out/store" --json -q > "$out/scores_$p.json"
  end=$(date +%s.%N)
  echo "$p: $(echo "$end - $start" | bc -l) s"
done

python3 - "$scores" "$cells" "$out" "$proxies" > "$out/table.md" <<'PY'
import json, sys
from scipy.stats import spearmanr
d = json.load(open(sys.argv[1]))["cifar10"]
cells = list(d)[: int(sys.argv[2])]
out, proxies = sys.argv[3], sys.argv[4].split(",")
acc = [d[c]["val_accuracy"] for c in cells]
print(f"| proxy | evonas Spearman | NASLib Spearman (same {len(cells)} cells) | evonas s per cell | NASLib s per cell | evonas failures |")
print("|---|---|---|---|---|---|")
for p in proxies:
    r = json.load(open(f"{out}/scores_{p}.json"))
    ours = [s["candidate"]["fitness"] for s in r["scores"]]
    assert len(ours) == len(cells), f"{p}: {len(ours)} scores for {len(cells)} cells"
    pairs = [(a, o) for a, o in zip(acc, ours) if o is not None]
    rho_ours = spearmanr([a for a, _ in pairs], [o for _, o in pairs]).correlation
    # NASLib's file lacks some scores (synflow of one NB-201 CIFAR-10 cell, zen of all): its
    # Spearman is over the cells it has.
    have = [c for c in cells if p in d[c]]
    theirs = [d[c][p]["score"] for c in have]
    rho_theirs = spearmanr([d[c]["val_accuracy"] for c in have], theirs).correlation if have else float("nan")
    t_theirs = sum(d[c][p]["time"] for c in have) / len(have) if have else float("nan")
    t_ours = r["candidate"]["seconds_per_evaluation"]
    fails = r["candidate"]["failures"]
    print(f"| {p} | {rho_ours:.3f} | {rho_theirs:.3f} | {t_ours:.3f} | {t_theirs:.3f} | {fails} |")
PY
cat "$out/table.md"
