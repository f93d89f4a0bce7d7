#!/usr/bin/env bash
# On the GPU test host: issue 24's whole workflow, in Node. PyTorch model -> ONNX (dynamic batch)
# -> `tensorrt-node build` with trtexec's flags (and trtexec itself with the same flags, timed,
# when TRTEXEC is set) -> both plans measured with `trtexec --loadEngine` (A B B A) -> `tensorrt-node
# serve` -> NVIDIA's stock Python tritonclient (HTTP and gRPC) infers and gets PyTorch's argmax.
# The node-built plan is left in $TRTNODE_FIXTURES/engines/wide_resnet101_2_fp16.plan for the
# bench matrix (bench/run-gpu-bench.mjs).
#   bash tools/gpu-host/workflow.sh
# Needs: the full TensorRT 10.6 with its builder in $TENSORRT_LIB_DIR (stage.sh builder), .stage/app,
# a tritonclient venv ($TRTNODE_TRITONCLIENT_VENV, made by serve-suite.sh --venv-only), python3 with
# torch/torchvision. Optional TRTEXEC. Writes $OUT/workflow.txt and $OUT/workflow.json.
# Resumable over device calls: each step leaves its result in /tmp/workflow and a later run skips
# the steps already done (the export, each build with its time, the --loadEngine runs);
# WORKFLOW_UNTIL=build stops after the two builds (they may not fit one call with the rest).
# WORKFLOW_FRESH=1 starts over.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/gpu-host/env.sh
export LD_LIBRARY_PATH="$TENSORRT_LIB_DIR:${LD_LIBRARY_PATH:-}"
w=/tmp/workflow
[ "${WORKFLOW_FRESH:-0}" = 1 ] && rm -rf "$w"
mkdir -p "$w"
summary=$out/workflow.txt
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
say "date: $(date -u +%FT%TZ); $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader); trtexec: ${TRTEXEC:-not set}"
FLAGS="--minShapes=input:1x3x224x224 --optShapes=input:16x3x224x224 --maxShapes=input:32x3x224x224 --fp16"

# 1. ONNX and PyTorch's own answers
if [ ! -f "$w/meta.json" ]; then
  python3 tools/fixtures/export_workflow.py "$w" > "$w/export.log" 2>&1 || { say "export failed: $(tail -3 "$w/export.log")"; rm -f "$w/meta.json"; exit 1; }
fi
say "export: $(tail -1 "$w/export.log" | cut -c1-300)"

# 2. the plan, built by tensorrt-node and by trtexec with the same flags
# timed_build NAME COMMAND...: runs the build once, keeping its time in $w/build-NAME.s (a later
# run of this script takes it from there); sets rc and build_s.
timed_build() {
  local name=$1
  shift
  rc=0
  if [ ! -f "$w/build-$name.s" ]; then
    local t0
    t0=$(now)
    "$@" > "$w/build-$name.log" 2>&1
    rc=$?
    [ $rc -eq 0 ] && secs "$t0" "$(now)" > "$w/build-$name.s"
  fi
  build_s=$(cat "$w/build-$name.s" 2>/dev/null || echo 0)
}
# shellcheck disable=SC2086
timed_build node node dist/cli/main.js build --onnx="$w/wide_resnet101_2.onnx" $FLAGS --saveEngine="$w/node.plan"
nrc=$rc
node_s=$build_s
say "tensorrt-node build: exit $nrc, ${node_s} s, $(stat -c %s "$w/node.plan" 2>/dev/null || echo 0) bytes"
[ $nrc -eq 0 ] || { say "$(tail -5 "$w/build-node.log")"; exit 1; }
trt_s=""
if [ -n "${TRTEXEC:-}" ]; then
  # shellcheck disable=SC2086
  timed_build trtexec "$TRTEXEC" --onnx="$w/wide_resnet101_2.onnx" $FLAGS --saveEngine="$w/trtexec.plan"
  trc=$rc
  trt_s=$build_s
  say "trtexec build: exit $trc, ${trt_s} s, $(stat -c %s "$w/trtexec.plan" 2>/dev/null || echo 0) bytes; build time tensorrt-node / trtexec: $(awk -v a="$node_s" -v b="$trt_s" 'BEGIN { printf "%.3f", a / b }')"
  [ "${WORKFLOW_UNTIL:-}" = build ] && { say "stopped after the builds (WORKFLOW_UNTIL=build)"; exit 0; }
  # 3. both plans measured by trtexec the same way, A B B A
  [ "$(wc -l < "$w/load.tsv" 2>/dev/null || echo 0)" -ge 4 ] || rm -f "$w/load.tsv"
  [ -f "$w/load.tsv" ] || for p in node trtexec trtexec node; do
    "$TRTEXEC" --loadEngine="$w/$p.plan" --shapes=input:32x3x224x224 --useCudaGraph --useSpinWait --duration=5 --warmUp=500 > "$w/load-$p.log" 2>&1
    q=$(grep -oE 'Throughput: [0-9.]+ qps' "$w/load-$p.log" | tail -1 | grep -oE '[0-9.]+')
    echo "$p $q" >> "$w/load.tsv"
    say "trtexec --loadEngine $p.plan (batch 32, CUDA graph): ${q:-?} qps"
  done
  say "trtexec --loadEngine qps, A B B A: $(tr '\n' ' ' < "$w/load.tsv")"
  awk '{ s[$1] += $2; n[$1]++ } END { if (n["node"] && n["trtexec"]) printf "plan built by tensorrt-node / by trtexec, trtexec throughput: %.4f\n", (s["node"] / n["node"]) / (s["trtexec"] / n["trtexec"]) }' "$w/load.tsv" | tee -a "$summary"
fi
cp "$w/node.plan" "$TRTNODE_FIXTURES/engines/wide_resnet101_2_fp16.plan"

# 4. served, and asked by the stock tritonclient (workflow-check.sh)
WORKFLOW_DIR="$w" bash tools/gpu-host/workflow-check.sh "$w/node.plan" node | tee -a "$summary"
crc=${PIPESTATUS[0]}
cp "$out/client-node.json" "$w/client.json" 2>/dev/null
node -e "
const fs=require('fs');const w='$w';
const read=(f)=>{try{return fs.readFileSync(w+'/'+f,'utf8')}catch{return null}};
fs.writeFileSync('$out/workflow.json', JSON.stringify({meta: JSON.parse(read('meta.json')||'null'), buildSeconds: {node: $node_s, trtexec: '$trt_s' === '' ? null : Number('$trt_s')}, loadEngine: read('load.tsv'), client: JSON.parse(read('client.json')||'null')}, null, 1));
"
say "workflow exit $crc"
exit $crc
