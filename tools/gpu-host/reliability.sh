#!/usr/bin/env bash
# On the GPU host after run.sh has set things up: issue 7's GPU runs. Plan fuzzing (2,048 cases),
# soak of 1,000,000 inferences each on the tiny model and ResNet-50 through the batcher.
#   PROBE_IDS=known|417,425,...  instead of both full fuzz runs: those ids plus PROBE_RANDOM (50)
#                                random others, first without the probe (control: the recorded
#                                crashes should recur), then with --probe (the worker must survive
#                                every one, each a typed error). `known` needs the ResNet-50 plan
#                                (stage.sh resnet, carried to /tmp/resnet). About 1-2 minutes.
#   SKIP_SOAK=1, FUZZ_CASES=N, SOAK_REQUESTS=N  shorten the rest
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH=/tmp/node/bin:$PATH TENSORRT_LIB_DIR=${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}
out=${OUT:-/tmp/out}
mkdir -p "$out"
# the same fixtures as run.sh, with the ResNet-50 plan put together if its parts were carried
source tools/gpu-host/fixtures.sh
if [ -n "${PROBE_IDS:-}" ]; then
  sel=(--ids "$PROBE_IDS" --random "${PROBE_RANDOM:-50}" --cases 2048 --workers 8)
  show="const s=require(process.argv[1]); console.log(JSON.stringify({selection:s.selection,cases:s.cases,crashes:s.crashes,hangs:s.hangs,clean:s.cleanErrors,ran:s.loadedAndRan,untyped:s.untypedErrors,seconds:s.seconds,codes:s.errorCodes,known:s.known&&{absorbed:s.known.absorbed+'/'+s.known.ids.length,outcomes:s.known.outcomes.map(o=>o.id+':'+o.outcome+(o.stage?':'+o.stage:'')+(o.code?':'+o.code:'')+(o.signal?':'+o.signal:''))}}))"
  node tools/reliability/fuzz-plans.mjs "${sel[@]}" --timeout 30 --json "$out/fuzz-ids-plain.json" > "$out/fuzz-ids.log" 2>&1
  echo "fuzz ids (no probe, control) exit $?"; [ -f "$out/fuzz-ids-plain.json" ] && node -e "$show" "$out/fuzz-ids-plain.json"
  node tools/reliability/fuzz-plans.mjs "${sel[@]}" --timeout 90 --probe --json "$out/fuzz-ids-probe.json" >> "$out/fuzz-ids.log" 2>&1
  rc=$?
  echo "fuzz ids --probe exit $rc (0: no crash, no hang, no untyped error in the worker)"; [ -f "$out/fuzz-ids-probe.json" ] && node -e "$show" "$out/fuzz-ids-probe.json"
  [ -n "${SKIP_SOAK:-}" ] && exit $rc
fi
if [ -z "${PROBE_IDS:-}" ]; then
  node tools/reliability/fuzz-plans.mjs --cases ${FUZZ_CASES:-2048} --workers 8 --timeout 60 --json "$out/fuzz-gpu.json" > "$out/fuzz-gpu.log" 2>&1
  echo "fuzz exit $?"; node -e "const s=require('$out/fuzz-gpu.json'); console.log(JSON.stringify({cases:s.cases,crashes:s.crashes,hangs:s.hangs,clean:s.cleanErrors,ran:s.loadedAndRan,untyped:s.untypedErrors,seconds:s.seconds,codes:s.errorCodes}))"
  # the same cases with the isolated probe in front: the worker (the "service") must never crash
  node tools/reliability/fuzz-plans.mjs --cases ${FUZZ_CASES:-2048} --workers 8 --timeout 90 --probe --json "$out/fuzz-gpu-probe.json" > "$out/fuzz-gpu-probe.log" 2>&1
  echo "fuzz --probe exit $?"; node -e "const s=require('$out/fuzz-gpu-probe.json'); console.log(JSON.stringify({cases:s.cases,crashes:s.crashes,hangs:s.hangs,clean:s.cleanErrors,ran:s.loadedAndRan,untyped:s.untypedErrors,seconds:s.seconds,codes:s.errorCodes}))"
fi
[ -n "${SKIP_SOAK:-}" ] && exit 0
for m in tiny resnet50; do
  node --expose-gc tools/reliability/soak.mjs --model $m --requests ${SOAK_REQUESTS:-1000000} --concurrency 64 --json "$out/soak-$m.json" > "$out/soak-$m.log" 2>&1
  echo "soak $m exit $?"; node -e "const s=require('$out/soak-$m.json'); console.log(JSON.stringify({requests:s.requests,seconds:s.seconds.toFixed(1),perSecond:s.perSecond.toFixed(0),errors:s.errors,bad:s.badResults,growth:s.growth,pass:s.pass,first:s.firstError}))"
done
