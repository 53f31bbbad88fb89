#!/usr/bin/env bash
# The long version of the kill test (tests/campaign.rs has the short one): a NAS-Bench-201 REA
# campaign is run once uninterrupted, then again while being SIGKILLed at random moments
# KILLS times (default 100), resuming after each kill. The two final `status --json` must agree
# on counts, best and history digest, and every cached result must hold exactly one evaluation.
# Usage: experiments/kill_resume/run.sh [KILLS]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
kills_wanted=${1:-100}
cargo build --release --quiet
bin=./target/release/evonas
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
table=${EVONAS_SHARED_DATA:-../shared/data}/nb201
cat > "$work/kill.toml" <<TOML
name = "kill"
space = "nb201"
seed = 11
[strategy]
kind = "regularized-evolution"
population = 20
sample = 5
dedup_patience = 20
[budget]
simulated_seconds = 400000
[evaluator]
kind = "nb201-table"
path = "$(cd "$table" && pwd)"
[cache]
policy = "once"
TOML
$bin search --config "$work/kill.toml" --store "$work/reference" -q > /dev/null
kills=0
attempts=0
while :; do
  attempts=$((attempts + 1))
  $bin search --config "$work/kill.toml" --store "$work/killed" -q > /dev/null 2>&1 &
  pid=$!
  if [ "$kills" -lt "$kills_wanted" ]; then
    sleep "0.0$((RANDOM % 9 + 1))"
    if kill -9 "$pid" 2> /dev/null; then kills=$((kills + 1)); fi
  fi
  wait "$pid" 2> /dev/null || true
  state=$($bin status kill --store "$work/killed" --json 2> /dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2> /dev/null || echo none)
  [ "$state" = finished ] && break
done
$bin status kill --store "$work/reference" --json > "$work/a.json"
$bin status kill --store "$work/killed" --json > "$work/b.json"
$bin cache export --store "$work/killed" > "$work/cache.jsonl"
python3 - "$work/a.json" "$work/b.json" "$work/cache.jsonl" "$kills" "$attempts" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
keys = ["state", "proposals", "evaluations", "cache_hits", "failures", "best", "history_digest", "simulated_seconds"]
same = all(a[k] == b[k] for k in keys)
records = [json.loads(l)["record"] for l in open(sys.argv[3]) if l.strip()]
once = all(r["evaluations"] == 1 for r in records) and len(records) == b["evaluations"]
print(json.dumps({"kills": int(sys.argv[4]), "sessions": int(sys.argv[5]), "proposals": b["proposals"],
                  "evaluations": b["evaluations"], "identical_to_uninterrupted": same,
                  "no_evaluation_repeated": once, "history_digest": b["history_digest"]}))
sys.exit(0 if same and once else 1)
PY
