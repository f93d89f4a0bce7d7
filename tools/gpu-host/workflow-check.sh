#!/usr/bin/env bash
# On the GPU host, after workflow.sh: serves one plan of the workflow model and asks the stock
# tritonclient (test/python/workflow_client.py) against PyTorch's logits.
#   bash tools/gpu-host/workflow-check.sh PLAN TAG     -> $OUT/client-TAG.json, $OUT/serve-TAG.log
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/out}
w=${WORKFLOW_DIR:-/tmp/workflow}  # images.bin, torch_logits.bin, meta.json of export_workflow.py
plan=${1:?usage: workflow-check.sh PLAN TAG}
tag=${2:?usage: workflow-check.sh PLAN TAG}
r=/tmp/workflow-check
rm -rf $r && mkdir -p $r/m/1 && cp "$plan" $r/m/1/model.plan
printf 'name: "m"\nplatform: "tensorrt_plan"\nmax_batch_size: 32\ndynamic_batching { max_queue_delay_microseconds: 500 }\ninstance_group [ { count: 2, kind: KIND_GPU } ]\n' > $r/m/config.pbtxt
node dist/cli/main.js serve --model-repository $r --http-port 18100 --grpc-port 18101 --metrics-port 18102 > "$out/serve-$tag.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  node -e "fetch('http://127.0.0.1:18100/v2/models/m/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" && break
  sleep 0.5
done
"${TRTNODE_TRITONCLIENT_VENV:-/tmp/trtn-tritonclient-venv}/bin/python" test/python/workflow_client.py $w localhost:18100 localhost:18101 m > "$out/client-$tag.json" 2> "$out/client-$tag.err"
echo "$tag: client exit $? $(cat "$out/client-$tag.json")"
kill -TERM $pid 2>/dev/null
wait $pid 2>/dev/null
