#!/usr/bin/env bash
# On the GPU host (after run.sh set things up once): A/B of the completion event choice,
# alternating, twice, on the same machine. Prints JS−C++ mean latency per run.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH=/tmp/node/bin:$PATH TENSORRT_LIB_DIR=${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}
out=${OUT:-/tmp/out}
for i in 1 2; do
  for mode in timing separate; do
    for model in tiny classifier_fp32; do
      if [ $mode = separate ]; then export TRTNODE_SEPARATE_COMPLETION_EVENT=1; else unset TRTNODE_SEPARATE_COMPLETION_EVENT; fi
      extra=""; [ $model = classifier_fp32 ] && extra="--batch 8"
      node dist/cli/main.js bench fixtures/gpu/engines/$model.plan $extra --duration 2 --warmup 0.5 --json "$out/ab-$model-$mode-$i.json" >/dev/null 2>&1
      node -e "const r=require('$out/ab-$model-$mode-$i.json').results; console.log('$i $mode $model', 'C++', r.cpp.latency.mean.toFixed(1), 'JS', r.js.latency.mean.toFixed(1), 'JS-C++', (r.js.latency.mean-r.cpp.latency.mean).toFixed(1), 'median diff', (r.js.latency.median-r.cpp.latency.median).toFixed(1))"
    done
  done
done
