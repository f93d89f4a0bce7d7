#!/usr/bin/env bash
# On the GPU test host: one device call's worth of the routine, its results packed so that they
# fit what a call brings back (8 files): $OUT/<step>.tar.xz with every log and report, plus, for
# `tests` and `bench`, the ResNet-50 plan in 15 MiB parts when it was built here (for a later session).
#   bash tools/gpu-host/session.sh tests      ResNet-50 fixture (if missing), npm run test:gpu,
#                                              the misuse fuzzer's GPU mode when present
#   bash tools/gpu-host/session.sh workflow   tools/gpu-host/workflow.sh (issue 24's workflow)
#   bash tools/gpu-host/session.sh bench      the ResNet-50 fixture (if missing), bench/run-gpu-bench.mjs, one run per section (BENCH_ORDER, BENCH_BUDGET_S,
#                                              CASES, DURATION_MS apply)
# Needs the staged TensorRT with its builder (stage.sh builder) in /tmp/opt/trt and .stage/app
# carried in this call or an earlier one on this host; see docs/gpu-host.md.
set -uo pipefail
cd "$(dirname "$0")/../.."
step=${1:?usage: session.sh tests|workflow|bench}
final=${OUT:-/tmp/out}
work=/tmp/session-$step
rm -rf "$work" && mkdir -p "$work"
export OUT=$work
source tools/gpu-host/env.sh
# The ResNet-50 plan (not in git; the tests and the benchmarks need it): built here with the staged
# builder when no fixtures folder has it, and put beside the repository's small fixtures in /tmp/fixtures.
# SKIP_RESNET50=1 when only the runtime was staged (no builder): its tests then skip, saying so.
ensure_resnet50() {
  [ "${SKIP_RESNET50:-0}" = 1 ] && return 0
  if [ ! -f "$TRTNODE_FIXTURES/engines/resnet50_fp16.plan" ] && [ ! -f /tmp/fixtures/engines/resnet50_fp16.plan ]; then
    mkdir -p "$work/fixtures"
    OUT=$work/fixtures bash tools/gpu-host/build-fixtures.sh --only resnet50 > "$work/build-fixtures.txt" 2>&1 || echo "build-fixtures exit $?" >> "$work/build-fixtures.txt"
    # the repository's small fixtures plus the ResNet-50 plan and references just built
    if [ -f /tmp/fixtures/engines/resnet50_fp16.plan ]; then
      cp -rn fixtures/gpu/. /tmp/fixtures/ 2>/dev/null
      node -e "
        const fs = require('fs');
        const repo = JSON.parse(fs.readFileSync('fixtures/gpu/manifest.json', 'utf8'));
        const built = JSON.parse(fs.readFileSync('/tmp/fixtures/manifest.json', 'utf8'));
        repo.engines = { ...repo.engines, ...built.engines };
        fs.writeFileSync('/tmp/fixtures/manifest.json', JSON.stringify(repo, null, 1));"
      export TRTNODE_FIXTURES=/tmp/fixtures
    fi
  fi
}
rc=0
case "$step" in
  tests)
    ensure_resnet50
    # on stdout as it goes too: a call that times out still shows how far it got
    bash tools/gpu-host/run.sh 2>&1 | tee "$work/run.txt" | sed -u 's/\x1b\[[0-9;]*m//g' | grep -E --line-buffered "^ (✓|×|❯) |Test Files|Tests "
    rc=${PIPESTATUS[0]}
    # the README's and docs' GPU examples, as written, against this checkout's dist/
    node test/docs-examples-gpu.mjs --fixtures "$TRTNODE_FIXTURES" --json "$work/docs-examples-gpu.json" > "$work/docs-examples-gpu.txt" 2>&1 || echo "docs-examples-gpu exit $?" >> "$work/docs-examples-gpu.txt"
    if [ -f tools/reliability/misuse-fuzz-gpu.sh ]; then
      # a shorter run than the script's default (100,000 calls) to fit one call beside the suite
      MISUSE_CALLS=${MISUSE_CALLS:-20000} MISUSE_LIMIT=${MISUSE_LIMIT:-150} timeout 240 bash tools/reliability/misuse-fuzz-gpu.sh plain > "$work/misuse-fuzz-gpu-run.txt" 2>&1 || echo "misuse-fuzz-gpu exit $?" >> "$work/misuse-fuzz-gpu-run.txt"
    fi
    ;;
  workflow)
    bash tools/gpu-host/workflow.sh > "$work/workflow-run.txt" 2>&1
    rc=$?
    ;;
  bench)
    # one run per section, in BENCH_ORDER (default: the batcher first), each with its own JSON and
    # report: a call that runs out of time still brings back the sections that finished.
    # BENCH_BUDGET_S (default 540): a section is not started past it.
    ensure_resnet50
    start=$(date +%s)
    # a section named twice runs twice (a second run of the same build: bench-<section>-2.json)
    declare -A seen=()
    for section in ${BENCH_ORDER:-batcher session matrix}; do
      if [ $(( $(date +%s) - start )) -ge "${BENCH_BUDGET_S:-540}" ]; then echo "bench: $section not started (time budget spent)" >> "$work/bench-summary.txt"; continue; fi
      seen[$section]=$(( ${seen[$section]:-0} + 1 ))
      name=$section; [ "${seen[$section]}" -gt 1 ] && name=$section-${seen[$section]}
      echo "=== section $name" >> "$work/bench-summary.txt"
      SECTIONS=$section node bench/run-gpu-bench.mjs "$work/bench-$name.json" >> "$work/bench-summary.txt" 2> "$work/bench-$name.log"
      r=$?
      [ $r -ne 0 ] && rc=$r && echo "bench $section: exit $r" >> "$work/bench-summary.txt"
    done
    ;;
  *) echo "session.sh: unknown step $step" >&2; exit 2 ;;
esac
mkdir -p "$final"
# the ResNet-50 plan, when built in this call, comes back in parts for a later session (stage.sh resnet)
for p in "$work"/fixtures/resnet50_fp16.plan.part*; do [ -f "$p" ] && mv "$p" "$final/"; done
tar -C "$work" -cJf "$final/$step.tar.xz" --exclude='*.plan' --exclude='*.onnx' --exclude='*.plan.part*' . 2>/dev/null
echo "=== $step: exit $rc"
for f in run.txt docs-examples-gpu.txt workflow.txt bench-summary.txt misuse-fuzz-gpu.txt; do
  [ -f "$work/$f" ] && { echo "--- $f"; sed 's/\x1b\[[0-9;]*m//g' "$work/$f" | tail -40; }
done
exit $rc
