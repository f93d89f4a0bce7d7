#!/usr/bin/env bash
# On the GPU test host (issue 4): what the DMA of a batch's 32 pieces costs when issued
# differently, A/B in one VM. The addon's switches (native/src/context.cc, stager.cc):
#   TRTNODE_STAGER=0            stageInput issues each copy on the JS thread (before the staging thread)
#   TRTNODE_STAGE_GROUP=k       staged pieces issued k at a time (or after TRTNODE_STAGE_WAIT_US), batched
#   TRTNODE_BATCH_COPIES=1      a copy list (runParts' pinned pieces) in one cudaMemcpyBatchAsync
# First the batcher's GPU tests under the switches (results must not change), then
# bench/stage-input-cost.mjs with another context computing (LOAD=1) and bench/batcher-timeline.mjs,
# each setting in turn, the first two settings again at the end. Output: $OUT/copy-ab/.
#   [SETTINGS="A|B|..."] bash scripts/gpu-host/copy-ab.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/gpu-host/env.sh
dir=$out/copy-ab
mkdir -p "$dir"
IFS='|' read -r -a settings <<< "${SETTINGS-|TRTNODE_STAGER=0|TRTNODE_STAGE_GROUP=4|TRTNODE_STAGER=0 TRTNODE_STAGE_GROUP=4||TRTNODE_STAGER=0}"
for s in "TRTNODE_STAGER=0" "TRTNODE_STAGER=0 TRTNODE_STAGE_GROUP=4 TRTNODE_BATCH_COPIES=1" "TRTNODE_STAGE_GROUP=4"; do
  echo "=== batcher GPU tests with $s" | tee -a "$dir/tests.txt"
  env $s node node_modules/vitest/vitest.mjs run --config vitest.gpu.config.ts test/gpu/batcher-trt.test.ts 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | grep -E "Tests |FAIL|×" | tee -a "$dir/tests.txt"
done
i=0
for s in "${settings[@]}"; do
  i=$((i + 1))
  tag=${s:-default}
  echo "=== [$i] stage-input-cost LOAD=1 ${tag}"
  env $s LOAD=1 COMPLETION=poll node bench/stage-input-cost.mjs --rounds 60 2>&1 | tee -a "$dir/stage-input-cost.txt"
done
i=0
for s in "${settings[@]}"; do
  i=$((i + 1))
  tag=${s:-default}
  echo "=== [$i] batcher-timeline ${tag}" | tee -a "$dir/batcher-timeline.txt"
  env $s VARIANTS=on-poll,off-poll node bench/batcher-timeline.mjs 2>&1 | tee -a "$dir/batcher-timeline.txt"
done
echo "=== summary"
grep -E "^(===|with|staged|parts|pageable|one-piece)" "$dir/stage-input-cost.txt" | cut -c1-150
grep -E "^(===|graph)" "$dir/batcher-timeline.txt"
