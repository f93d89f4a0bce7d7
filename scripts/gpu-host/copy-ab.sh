#!/usr/bin/env bash
# On the GPU test host (issue 4): the batcher's throughput against the static loop when
# stageInput's pieces are issued k at a time (TRTNODE_STAGE_GROUP=k, one cudaMemcpyBatchAsync per
# k; the addon's default is 4), A/B in one VM. First the batcher's GPU tests under other group
# sizes (results must not change), then bench/batcher-timeline.mjs for each setting in turn
# (SETTINGS, '|'-separated; `default` is the addon's default), and with STAGE_COST=1
# bench/stage-input-cost.mjs with another context computing (LOAD=1) for each too.
# Output: $OUT/copy-ab/.
#   [SETTINGS="A|B|..."] [STAGE_COST=1] bash scripts/gpu-host/copy-ab.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/gpu-host/env.sh
dir=$out/copy-ab
mkdir -p "$dir"
# (`default`, not an empty field: read drops a trailing empty one)
IFS='|' read -r -a settings <<< "${SETTINGS:-TRTNODE_STAGE_GROUP=1|TRTNODE_STAGE_GROUP=2|default|TRTNODE_STAGE_GROUP=8|TRTNODE_STAGE_GROUP=1|default}"
for i in "${!settings[@]}"; do [ "${settings[$i]}" = default ] && settings[$i]=""; done
for s in "TRTNODE_STAGE_GROUP=1" "TRTNODE_STAGE_GROUP=3"; do
  echo "=== batcher GPU tests with $s" | tee -a "$dir/tests.txt"
  env $s node node_modules/vitest/vitest.mjs run --config vitest.gpu.config.ts test/gpu/batcher-trt.test.ts 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | grep -E "Tests |FAIL|×" | tee -a "$dir/tests.txt"
done
if [ "${STAGE_COST:-0}" = 1 ]; then
  i=0
  for s in "${settings[@]}"; do
    i=$((i + 1))
    echo "=== [$i] stage-input-cost LOAD=1 ${s:-default}" | tee -a "$dir/stage-input-cost.txt"
    env $s LOAD=1 COMPLETION=poll node bench/stage-input-cost.mjs --rounds 60 >> "$dir/stage-input-cost.txt" 2>&1
  done
fi
i=0
for s in "${settings[@]}"; do
  i=$((i + 1))
  echo "=== [$i] batcher-timeline ${s:-default}" | tee -a "$dir/batcher-timeline.txt"
  env $s VARIANTS=on-poll,off-poll node bench/batcher-timeline.mjs >> "$dir/batcher-timeline.txt" 2>&1
done
echo "=== summary"
[ -f "$dir/stage-input-cost.txt" ] && grep -E "^(===|with|staged|parts|pageable|one-piece)" "$dir/stage-input-cost.txt" | cut -c1-150
grep -E "^(===|graph)" "$dir/batcher-timeline.txt"
