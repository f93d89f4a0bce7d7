#!/usr/bin/env bash
# On the GPU host after run.sh has set things up: issue 7's GPU runs. Plan fuzzing (2,048 cases),
# soak of 1,000,000 inferences each on the tiny model and ResNet-50 through the batcher.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH=/tmp/node/bin:$PATH TENSORRT_LIB_DIR=${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}
out=${OUT:-/tmp/out}
node scripts/reliability/fuzz-plans.mjs --cases ${FUZZ_CASES:-2048} --workers 8 --timeout 60 --json "$out/fuzz-gpu.json" > "$out/fuzz-gpu.log" 2>&1
echo "fuzz exit $?"; node -e "const s=require('$out/fuzz-gpu.json'); console.log(JSON.stringify({cases:s.cases,crashes:s.crashes,hangs:s.hangs,clean:s.cleanErrors,ran:s.loadedAndRan,untyped:s.untypedErrors,seconds:s.seconds,codes:s.errorCodes}))"
# the same cases with the isolated probe in front: the worker (the "service") must never crash
node scripts/reliability/fuzz-plans.mjs --cases ${FUZZ_CASES:-2048} --workers 8 --timeout 90 --probe --json "$out/fuzz-gpu-probe.json" > "$out/fuzz-gpu-probe.log" 2>&1
echo "fuzz --probe exit $?"; node -e "const s=require('$out/fuzz-gpu-probe.json'); console.log(JSON.stringify({cases:s.cases,crashes:s.crashes,hangs:s.hangs,clean:s.cleanErrors,ran:s.loadedAndRan,untyped:s.untypedErrors,seconds:s.seconds,codes:s.errorCodes}))"
[ -n "${SKIP_SOAK:-}" ] && exit 0
for m in tiny resnet50; do
  node --expose-gc scripts/reliability/soak.mjs --model $m --requests ${SOAK_REQUESTS:-1000000} --concurrency 64 --json "$out/soak-$m.json" > "$out/soak-$m.log" 2>&1
  echo "soak $m exit $?"; node -e "const s=require('$out/soak-$m.json'); console.log(JSON.stringify({requests:s.requests,seconds:s.seconds.toFixed(1),perSecond:s.perSecond.toFixed(0),errors:s.errors,bad:s.badResults,growth:s.growth,pass:s.pass,first:s.firstError}))"
done
