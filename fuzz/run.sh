#!/usr/bin/env bash
# make fuzz: runs each fuzz target for FUZZ_SECONDS on the nightly toolchain, then prints the
# executions and the crashes of each. A crash fails the run; its input is in
# fuzz/artifacts/<target>/, to be turned into a regression test.
set -uo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
status=0
for target in decode pipeline; do
  mkdir -p "corpus/$target" "artifacts/$target"
  log="../target/fuzz-$target.log"
  before=$(ls "artifacts/$target" | wc -l)
  cargo +nightly fuzz run --fuzz-dir . "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -print_final_stats=1 > "$log" 2>&1
  code=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(( $(ls "artifacts/$target" | wc -l) - before ))
  echo "fuzz $target: ${runs:-0} executions in ${seconds} s, ${crashes} crashes (exit ${code}; log $log)"
  if [ "$code" -ne 0 ] || [ "$crashes" -ne 0 ]; then status=1; grep -E 'ERROR|panicked|SUMMARY' "$log" | head -5; fi
done
exit $status
