#!/usr/bin/env bash
# On the GPU host: serves one plan of the workflow model (as wide_resnet101_2: 2 instances, dynamic
# batching) and asks the stock tritonclient (test/python/workflow_client.py, HTTP and gRPC) against
# PyTorch's logits. workflow.sh's last step; alone, it checks another plan of the same model.
#   bash tools/gpu-host/workflow-check.sh PLAN TAG     -> $OUT/client-TAG.json, $OUT/serve-TAG.log
# Prints one line ("TAG: tritonclient exit N {...}", or why the client did not run); exits with
# the client's status (1 when the server never got ready or there is no tritonclient venv).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/out}
w=${WORKFLOW_DIR:-/tmp/workflow}  # images.bin, torch_logits.bin, meta.json of export_workflow.py
venv=${TRTNODE_TRITONCLIENT_VENV:-/tmp/trtn-tritonclient-venv}
plan=${1:?usage: workflow-check.sh PLAN TAG}
tag=${2:?usage: workflow-check.sh PLAN TAG}
model=wide_resnet101_2
r=/tmp/workflow-check
mkdir -p "$out"
rm -f "$out/client-$tag.json"  # a failed check leaves none (workflow.sh copies it)
rm -rf $r && mkdir -p $r/$model/1 && cp "$plan" $r/$model/1/model.plan
cat > $r/$model/config.pbtxt <<PBTXT
name: "$model"
platform: "tensorrt_plan"
max_batch_size: 32
dynamic_batching { max_queue_delay_microseconds: 500 }
instance_group [ { count: 2, kind: KIND_GPU } ]
PBTXT
node dist/cli/main.js serve --model-repository $r --http-port 18000 --grpc-port 18001 --metrics-port 18002 > "$out/serve-$tag.log" 2>&1 &
pid=$!
ready=0
for _ in $(seq 1 120); do
  if node -e "fetch('http://127.0.0.1:18000/v2/models/$model/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then ready=1; break; fi
  kill -0 $pid 2>/dev/null || break  # the server gave up (a model that does not load)
  sleep 0.5
done
crc=1
if [ $ready = 1 ] && [ -x "$venv/bin/python" ]; then
  "$venv/bin/python" test/python/workflow_client.py "$w" localhost:18000 localhost:18001 $model > "$out/client-$tag.json" 2> "$out/client-$tag.err"
  crc=$?
  echo "$tag: tritonclient exit $crc $(cat "$out/client-$tag.json")"
else
  echo "$tag: served: $ready; venv: $( [ -x "$venv/bin/python" ] && echo yes || echo "missing ($venv)")"
  tail -5 "$out/serve-$tag.log"
fi
kill -TERM $pid 2>/dev/null
wait $pid 2>/dev/null
exit $crc
