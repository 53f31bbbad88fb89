"""Summarises experiments/fashion_mnist/results into a Markdown table (stdout)."""
import json
import statistics
import sys
from pathlib import Path

results = Path(sys.argv[1])
rows = []
summary = {}
for strategy in ("rea", "random"):
    for seed in (0, 1, 2):
        name = f"fm-{strategy}-{seed}"
        status = json.loads((results / f"{name}.status.json").read_text())
        retrained = json.loads((results / f"{name}.json").read_text())
        counters = status
        tests = [r["result"].get("test_accuracy") for r in retrained]
        tests = [t for t in tests if t is not None]
        best_test = max(tests) if tests else float("nan")
        top1 = retrained[0]
        rows.append((strategy, seed, counters["proposals"], counters["evaluations"],
                     counters["cache_hits"], status["best"]["fitness"],
                     top1["result"].get("test_accuracy", float("nan")), best_test,
                     top1["genotype"]))
        summary.setdefault(strategy, []).append((status["best"]["fitness"], best_test))

print("| strategy | seed | proposals | trainings | cache hits | best search fitness (valid %, proxy) | top-1 retrained test % | best of top-3 retrained test % | top-1 cell |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    cell = r[8].replace("|", "\\|")  # pipes would end the Markdown table cell
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]:.2f} | {r[6]:.2f} | {r[7]:.2f} | `{cell}` |")
print()
print("| strategy | mean best search fitness | mean best-of-top-3 test % |")
print("|---|---|---|")
for s, v in summary.items():
    f = statistics.mean(x[0] for x in v)
    t = statistics.mean(x[1] for x in v)
    print(f"| {s} | {f:.2f} | {t:.2f} |")
