"""Summarises experiments/fashion_mnist/results/extended into Markdown tables (stdout)."""
import json
import statistics
import sys
from pathlib import Path

results = Path(sys.argv[1])
methods = ("rea", "random", "hyperband", "screened", "flops")
rows, summary = [], {}
for path in sorted(results.glob("fmx-*.status.json")):
    name = path.name[: -len(".status.json")]
    _, method, seed = name.split("-")
    status = json.loads(path.read_text())
    retrained = json.loads((results / f"{name}.json").read_text())
    test = retrained[0]["result"].get("test_accuracy", float("nan")) if retrained else float("nan")
    best = status.get("best") or {}
    rows.append((method, int(seed), status["proposals"], status["evaluations"],
                 status.get("screen_evaluations", 0), best.get("fitness", float("nan")), test,
                 best.get("genotype", "")))
    summary.setdefault(method, []).append(test)

print("| method | seed | proposals | full trainings | screen / lower-rung evaluations | best search fitness (valid %) | retrained test % | best cell |")
print("|---|---|---|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: (methods.index(r[0]), r[1])):
    cell = r[7].replace("|", "\\|")
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]:.2f} | {r[6]:.2f} | `{cell}` |")
print()
print("| method | mean retrained test % | sd over seeds | seeds |")
print("|---|---|---|---|")
for m in methods:
    v = summary.get(m, [])
    if not v:
        continue
    sd = statistics.stdev(v) if len(v) > 1 else float("nan")
    print(f"| {m} | {statistics.mean(v):.2f} | {sd:.2f} | {len(v)} |")
