"""Does the gap between evonas' and NASLib's score of a cell follow its pooling ops?

NASLib's NB-301 network puts a non-affine batch norm after every pooling op; evonas builds
DARTS' evaluation network, which has none. For each proxy given, this prints the Spearman
correlation, over the 725 cells, between the per-cell gap (evonas minus NASLib for nwot, a
log-determinant; the log of the ratio otherwise) and the cell's number of pooling ops, and the
correlation of the file's accuracy with that number.

    python3 experiments/zero_cost_nb301/pooling_gap.py nwot snip grad_norm
"""
import ast
import json
import math
import os
import sys
from pathlib import Path

from scipy.stats import spearmanr

here = Path(__file__).resolve().parent
data = Path(os.environ.get("EVONAS_SHARED_DATA", here / "../../../shared/data"))
d = json.load(open(data / "naslib_zc/zc_nasbench301.json"))["cifar10"]
cells = list(d)
acc = [d[c]["val_accuracy"] for c in cells]
# Op indices 0 and 1 are max_pool_3x3 and avg_pool_3x3 in NASLib's order (search_spaces/darts.toml).
pools = [sum(1 for cell in ast.literal_eval(c) for _, op in cell if op in (0, 1)) for c in cells]
print(f"accuracy vs pooling ops: {spearmanr(acc, pools).correlation:+.3f}")
for proxy in sys.argv[1:]:
    scores = json.load(open(here / f"results/scores_{proxy}.json"))["scores"]
    ours = [s["candidate"]["fitness"] for s in scores]
    if len(ours) != len(cells):
        sys.exit(f"{proxy}: {len(ours)} scores for {len(cells)} cells (run.sh 725 {proxy} first)")
    theirs = [d[c][proxy]["score"] for c in cells]
    if proxy == "nwot":
        gap = [o - t for o, t in zip(ours, theirs)]
    else:
        gap = [math.log(abs(o) / abs(t)) for o, t in zip(ours, theirs)]
    print(f"{proxy}: gap vs pooling ops {spearmanr(gap, pools).correlation:+.3f}")
