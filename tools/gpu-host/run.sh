#!/usr/bin/env bash
# On the GPU test host: unpacks node, node_modules and the built addon (.stage/app), points the
# addon at the staged TensorRT, runs `npm run test:gpu` and, with --bench, the GPU benchmarks;
# logs and results go to $OUT, and a short summary is printed last.
#   bash tools/gpu-host/run.sh [--bench] [--tests PATTERN]
set -uo pipefail
cd "$(dirname "$0")/../.."
bench=0
pattern=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bench) bench=1 ;;
    --bench-twice) bench=2 ;;
    --tests) pattern=$2; shift ;;
    --no-tests) pattern=NONE ;;
  esac
  shift
done
# node, node_modules, the addon, TensorRT and fixture paths (shared with serve-suite.sh)
source tools/gpu-host/env.sh
export TRTNODE_RESULTS_DIR=$out
export TRTNODE_JUNIT=$out/gpu-junit.xml
{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader
  echo "node $(node --version); TENSORRT_LIB_DIR=$TENSORRT_LIB_DIR; fixtures $TRTNODE_FIXTURES"
} | tee "$out/environment.txt"
rc=0
if [ "$pattern" != NONE ]; then
  # A test that hangs fails after TEST_TIMEOUT_MS (default 150 s) instead of holding the whole
  # device call (the config's 300 s): on 2026-12-07 one hang spent a session's device time.
  node node_modules/vitest/vitest.mjs run --config vitest.gpu.config.ts --testTimeout="${TEST_TIMEOUT_MS:-150000}" $pattern 2>&1 | tee "$out/test-gpu.log"
  rc=${PIPESTATUS[0]}
fi
if [ $bench -ge 1 ]; then
  node bench/run-gpu-bench.mjs "$out/bench.json" 2>&1 | tee "$out/bench.log"
  node bench/report.mjs "$out/bench.json" "$out" 2>&1 | tail -5
fi
if [ $bench -ge 2 ]; then
  # the same matrix again: the spread between the two runs is the noise
  node bench/run-gpu-bench.mjs "$out/bench-repeat.json" 2>&1 | tee "$out/bench-repeat.log"
fi
echo "=== summary ==="
cat "$out/environment.txt"
[ -f "$out/test-gpu.log" ] && grep -E "Test Files|Tests |FAIL|✗|×" "$out/test-gpu.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -15
echo "test:gpu exit $rc"
exit $rc
