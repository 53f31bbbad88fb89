#!/usr/bin/env bash
# The work queue's cost and scaling on loopback (issue: Redis Streams workers).
#
# 1. Overhead per job: one campaign of N instant mock evaluations (cache off, random search),
#    run in process and then on one worker through a local redis-server; the difference per
#    job is what the queue costs (publish, claim, answer, ack, read, delete).
# 2. Scaling: a mock evaluator that sleeps 200 ms per job (a stand-in for training), 25 jobs
#    per worker, 1, 2 and 4 workers, in round mode (round_size = workers) and async mode
#    (in_flight = workers): throughput, speed-up over one worker, and the share of the
#    workers' time spent evaluating (their summed busy seconds / (workers x wall seconds)).
# Each measurement is repeated REPEATS times (default 3) in this one run; the table gives the
# median and the range. Results: experiments/queue_scaling/results/{runs.jsonl,table.md}.
# Usage: experiments/queue_scaling/run.sh [REPEATS]   (from the repository root; needs
# redis-server on PATH: apt-get install redis-server)
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats=${1:-3}
cargo build --release --quiet
bin=$PWD/target/release/evonas
out=experiments/queue_scaling/results
mkdir -p "$out"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" > "$work/redis.log" 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.1; done
queue="redis://127.0.0.1:$port/0"
now() { date +%s.%N; }

# config NAME SLEEP_MS EVALUATIONS PARALLEL_LINES
config() {
  cat > "$work/$1.toml" <<TOML
name = "$1"
space = "nb201"
seed = 1
[strategy]
kind = "random"
[budget]
evaluations = $3
[evaluator]
kind = "mock"
sleep_ms = $2
[cache]
policy = "off"
[parallel]
$4
TOML
  echo "$work/$1.toml"
}

: > "$out/runs.jsonl"
# Starts W workers (summaries in $work/NAME-i.json), runs the coordinator, waits for the
# workers to exit, and prints one JSON line.
measure() { # kind mode workers sleep_ms evaluations parallel_lines name
  local kind=$1 mode=$2 w=$3 sleep_ms=$4 n=$5 lines=$6 name=$7
  local cfg; cfg=$(config "$name" "$sleep_ms" "$n" "$lines")
  local pids=()
  for i in $(seq "$w"); do
    "$bin" worker --queue "$queue" --name "$name-$i" --idle-exit 1 --json > "$work/$name-$i.json" 2> /dev/null &
    pids+=($!)
  done
  sleep 0.3  # workers connected and waiting
  local t0 t1; t0=$(now)
  "$bin" search --config "$cfg" --store "$work/store-$name" --queue "$queue" -q > /dev/null 2>&1
  t1=$(now)
  wait "${pids[@]}"
  local busy; busy=$(cat "$work/$name"-*.json | jq -s 'map(.busy_seconds) | add')
  local evaluated; evaluated=$(cat "$work/$name"-*.json | jq -s 'map(.evaluated) | add')
  jq -cn --arg kind "$kind" --arg mode "$mode" --argjson w "$w" --argjson n "$n" \
    --argjson wall "$(echo "$t1 - $t0" | bc -l)" --argjson busy "$busy" --argjson evaluated "$evaluated" \
    '{kind: $kind, mode: $mode, workers: $w, jobs: $n, evaluated: $evaluated, wall: $wall, busy: $busy,
      throughput: ($n / $wall), busy_share: ($busy / ($w * $wall)), per_job_ms: (1000 * $wall / $n)}' | tee -a "$out/runs.jsonl"
}

n_overhead=1000
for r in $(seq "$repeats"); do
  # Overhead: the same campaign in process and through the queue (one worker).
  cfg=$(config "local-$r" 0 "$n_overhead" "round_size = 1")
  t0=$(now)
  "$bin" search --config "$cfg" --store "$work/store-local-$r" -q > /dev/null 2>&1
  t1=$(now)
  jq -cn --argjson n "$n_overhead" --argjson wall "$(echo "$t1 - $t0" | bc -l)" \
    '{kind: "overhead", mode: "in-process", workers: 0, jobs: $n, wall: $wall, per_job_ms: (1000 * $wall / $n)}' | tee -a "$out/runs.jsonl"
  measure overhead rounds 1 0 "$n_overhead" "round_size = 1" "queue1-$r"
  # Scaling.
  for w in 1 2 4; do
    measure scaling rounds "$w" 200 $((25 * w)) "round_size = $w" "rounds-$w-$r"
    measure scaling async "$w" 200 $((25 * w)) "mode = \"async\"
in_flight = $w" "async-$w-$r"
  done
done

python3 - "$out/runs.jsonl" > "$out/table.md" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def fmt(xs, f="{:.2f}"):
    return f"{f.format(statistics.median(xs))} ({f.format(min(xs))}-{f.format(max(xs))})"
print("| overhead (instant jobs, round_size 1) | ms per job |")
print("|---|---|")
local = [r["per_job_ms"] for r in runs if r["kind"] == "overhead" and r["mode"] == "in-process"]
queue = [r["per_job_ms"] for r in runs if r["kind"] == "overhead" and r["mode"] == "rounds"]
print(f"| in process | {fmt(local)} |")
print(f"| one worker through Redis | {fmt(queue)} |")
print(f"| queue's cost per job (difference of medians) | {statistics.median(queue) - statistics.median(local):.2f} |")
print()
print("| mode | workers | jobs/s | speed-up vs 1 worker | workers' time evaluating |")
print("|---|---|---|---|---|")
for mode in ["rounds", "async"]:
    base = statistics.median(r["throughput"] for r in runs if r["kind"] == "scaling" and r["mode"] == mode and r["workers"] == 1)
    for w in [1, 2, 4]:
        rs = [r for r in runs if r["kind"] == "scaling" and r["mode"] == mode and r["workers"] == w]
        print(f"| {mode} | {w} | {fmt([r['throughput'] for r in rs])} | {fmt([r['throughput'] / base for r in rs])}x | {fmt([100 * r['busy_share'] for r in rs], '{:.0f}')}% |")
PY
cat "$out/table.md"
