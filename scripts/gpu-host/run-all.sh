#!/usr/bin/env bash
# On the GPU test host, in one call (carry .stage/app and .stage/lean; the runtime, the ResNet-50
# parts and the tritonclient venv staged by the calls before): the GPU suite, the benchmark matrix,
# the server bench (serve-suite.sh --no-tests) and bench/batcher-phases.mjs. A call brings back at
# most 8 files and the host may not be held for another call, so everything goes into one archive,
# $OUT/results.tar.xz (run/ and serve/), and a short summary is printed last.
set -uo pipefail
cd "$(dirname "$0")/../.."
final=${OUT:-/tmp/out}
work=/tmp/run-all
rm -rf "$work" && mkdir -p "$work/run" "$work/serve" "$final"
OUT=$work/run bash scripts/gpu-host/run.sh --bench > "$work/run/run.log" 2>&1
rc=$?
OUT=$work/serve bash scripts/gpu-host/serve-suite.sh --no-tests > "$work/serve/serve-stdout.log" 2>&1
OUT=$work/run source scripts/gpu-host/env.sh > /dev/null 2>&1
timeout 200 node bench/batcher-phases.mjs --duration-ms 1500 > "$work/run/batcher-phases.txt" 2>&1
tar -C "$work" -cJf "$final/results.tar.xz" run serve
echo "=== run-all summary ==="
sed -n '/^case /,/^$/p' "$work/run/run.log" | head -70
grep -E "Test Files|Tests |FAIL|test:gpu exit" "$work/run/run.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -8
sed -n '/serve-suite summary/,$p' "$work/serve/serve-stdout.log" | tail -14
head -14 "$work/run/batcher-phases.txt"
exit $rc
