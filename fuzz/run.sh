#!/usr/bin/env bash
# Fuzzes one target for N minutes with AFL++ (through afl.rs, on the stable toolchain), then
# merges the inputs that found new coverage into the committed corpus (corpus.sh).
# Usage: fuzz/run.sh TARGET [MINUTES]   (targets: ls fuzz/src/bin; default 10 minutes)
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET [MINUTES]}
minutes=${2:-10}
[ -f "src/bin/$target.rs" ] || { echo "no target $target (see fuzz/src/bin/)" >&2; exit 2; }
command -v cargo-afl >/dev/null || cargo install cargo-afl --locked
cargo afl build --release --bin "$target"
out="out/$target"
mkdir -p "$out"
# No core-dump helper or CPU governor checks on shared machines; no UI in logs.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export AFL_SKIP_CRASHES=1 AFL_AUTORESUME=1
# Several targets may run at once on a small machine: share the cores.
export AFL_NO_AFFINITY=1
cargo afl fuzz -i "corpus/$target" -o "$out" -V "$((minutes * 60))" "target/release/$target" \
  > "$out/fuzz.log" 2>&1 || true
stats="$out/default/fuzzer_stats"
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg)' "$stats"
crashes=$(find "$out/default/crashes" -type f ! -name README.txt 2>/dev/null | wc -l)
hangs=$(find "$out/default/hangs" -type f 2>/dev/null | wc -l)
./corpus.sh "$target"
echo "$target: $crashes crashes, $hangs hangs"
[ "$crashes" -eq 0 ] && [ "$hangs" -eq 0 ]
