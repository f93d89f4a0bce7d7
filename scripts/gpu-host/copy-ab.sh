#!/usr/bin/env bash
# On the GPU test host (issue 4): what the DMA of a batch's 32 pieces costs when issued
# differently, A/B in one VM. The addon's switches (native/src/context.cc):
#   TRTNODE_STAGING_STREAMS=n   stageInput's copies round-robin over n streams of their own
#   TRTNODE_BATCH_COPIES=1      a copy list (runParts' pinned pieces) in one cudaMemcpyBatchAsync
#   TRTNODE_STAGE_GROUP=k       stageInput's pieces issued k at a time, batched
# First the batcher's GPU tests under the switches (results must not change), then
# bench/stage-input-cost.mjs with another context computing (LOAD=1) and bench/batcher-timeline.mjs,
# each setting in turn, the plain setting first and last. Output: $OUT/copy-ab/.
#   bash scripts/gpu-host/copy-ab.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/gpu-host/env.sh
dir=$out/copy-ab
mkdir -p "$dir"
settings=("" "TRTNODE_BATCH_COPIES=1" "TRTNODE_STAGE_GROUP=4" "TRTNODE_STAGE_GROUP=32" "TRTNODE_STAGING_STREAMS=2" "")
for s in "TRTNODE_BATCH_COPIES=1 TRTNODE_STAGE_GROUP=4" "TRTNODE_STAGING_STREAMS=3"; do
  echo "=== batcher GPU tests with $s"
  env $s node node_modules/vitest/vitest.mjs run --config vitest.gpu.config.ts test/gpu/batcher-trt.test.ts 2>&1 | tail -6 | tee -a "$dir/tests.txt"
done
i=0
for s in "${settings[@]}"; do
  i=$((i + 1))
  tag=${s:-plain}
  echo "=== [$i] stage-input-cost LOAD=1 ${tag}"
  env $s LOAD=1 COMPLETION=poll node bench/stage-input-cost.mjs --rounds 100 2>&1 | tee -a "$dir/stage-input-cost.txt"
done
i=0
for s in "${settings[@]}"; do
  i=$((i + 1))
  tag=${s:-plain}
  echo "=== [$i] batcher-timeline ${tag}" | tee -a "$dir/batcher-timeline.txt"
  env $s VARIANTS=on-poll,off-poll node bench/batcher-timeline.mjs 2>&1 | tee -a "$dir/batcher-timeline.txt"
done
echo "=== summary"
grep -E "^(===|with|staged|parts|pageable|one-piece)" "$dir/stage-input-cost.txt" | cut -c1-150
grep -E "^(===|graph)" "$dir/batcher-timeline.txt"
