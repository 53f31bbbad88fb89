#!/usr/bin/env bash
# Merges a fuzzing run's queue into the committed corpus of TARGET: the queue minimised by
# `cargo afl cmin` to the inputs that keep its coverage, at most the 200 smallest of them (so the
# corpus stays small), beside the hand-made seeds (the inputs the reader accepts; mutants mostly
# are not). Files are named by content (AFL's names hold `:`, which some file systems refuse).
# Usage: fuzz/corpus.sh TARGET   (after fuzz/run.sh TARGET)
set -eu
cd "$(dirname "$0")"
target=${1:?usage: fuzz/corpus.sh TARGET}
out="out/$target"
rm -rf "$out/min"
cargo afl cmin -i "$out/default/queue" -o "$out/min" -- "target/release/$target" >/dev/null 2>&1 || true
# (cmin has been seen to trace nothing for a target; AFL's queue holds only inputs that found
# new coverage, so it is the fallback.)
from="$out/min"
if [ -z "$(ls -A "$from" 2>/dev/null)" ]; then
  echo "$target: cmin produced nothing; taking AFL's queue as it is" >&2
  from="$out/default/queue"
fi
find "corpus/$target" -type f -regex '.*/[0-9a-f]\{16\}' -delete
find "$from" -maxdepth 1 -type f -printf '%s %f\n' | sort -n | cut -d' ' -f2- > "$out/min.list"
grep -v 'orig:' "$out/min.list" | head -n 200 > "$out/keep.list" || true
while read -r f; do
  cp "$from/$f" "corpus/$target/$(sha1sum "$from/$f" | cut -c1-16)"
done < "$out/keep.list"
echo "$target: corpus now $(ls "corpus/$target" | wc -l) files ($(du -sh "corpus/$target" | cut -f1))"
