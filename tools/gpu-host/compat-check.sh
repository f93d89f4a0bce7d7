#!/usr/bin/env bash
# On the GPU test host (issue 22): the published prebuilds at work, each cell of
# docs/compatibility.md that this host can fill.
#   1. the TensorRT 10 prebuild (10.3 headers, CUDA 12.9 runtime linked statically) runs the whole
#      GPU suite against the host's TensorRT 10.6 runtime and CUDA 13 driver (TRTNODE_ADDON=<it>), then
#      again with TRTNODE_MEMCPY_BATCH=0 (the per-piece copies drivers older than 12.8 get);
#   2. trtexec 10.6.0 (toolchain.mjs trtexec, issue 24) runs a fixture plan on the GPU;
#   3. with both prebuilds installed as a package has them, the loader picks the one whose
#      libnvinfer.so.<major> it finds (TENSORRT_LIB_DIR at 10.6, then at 11.2);
#   4. TensorRT 11.2 (Maven): the 11.x builder (its Python bindings, PyPI tensorrt-cu12-bindings
#      11.2.1.2) tries to build a plan from fixtures/gpu/onnx/tiny.onnx with the jar's PTX builder
#      resource (it may fail: what happened is recorded), then the TensorRT 11 prebuild loads the 11.2 runtime,
#      tries its own build() of the same model, runs each 11.x plan built against the fixture's
#      reference, and refuses a 10.6 plan with ERR_TRT_VERSION naming both versions (trt11-run.mjs).
#
#   bash tools/gpu-host/compat-check.sh [--no-suite]
#
# Needs, on a host still held after run.sh (node, node_modules, dist/ and TensorRT 10.6 in
# /tmp/opt/trt, the lean runtime in /tmp/opt/lean): .stage/prebuilds carried (and .stage/trtexec
# for step 2); TensorRT 11.2 in /tmp/opt/trt11 (stage.sh runtime11, and builder11 for step 4's
# build) for step 4. Writes to $OUT (8 files): compat-check.txt (the summary, printed last),
# compat-gpu-trt10.log, compat-gpu-junit.xml, compat-results.tar.xz, compat-trtexec10.log,
# compat-builder11.log, compat-trt11.json, compat-trt11.stderr.log (8). Exit 0 when every step that could run passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
suite=1
for a in "$@"; do
  case "$a" in
    --no-suite) suite=0 ;;
    *) echo "compat-check: unknown argument '$a'" >&2; exit 2 ;;
  esac
done
source tools/gpu-host/env.sh
work=/tmp/compat
rm -rf $work && mkdir -p $work/results
summary=$out/compat-check.txt
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }
P10=$TRTNODE_PREBUILDS/tensorrt-node.napi.node
P11=$TRTNODE_PREBUILDS/tensorrt-node.trt11.napi.node
[ -f "$P10" ] && [ -f "$P11" ] || { say "compat-check: no prebuilds in $TRTNODE_PREBUILDS: carry .stage/prebuilds (bash tools/gpu-host/stage.sh prebuilds)"; exit 2; }
TRT10=${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}
TRT11=${TENSORRT11_LIB_DIR:-/tmp/opt/trt11/lib}
fixtures=$TRTNODE_FIXTURES
say "date: $(date -u +%FT%TZ)"
say "gpu: $( (nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader || echo 'nvidia-smi failed') 2>&1 | head -1)"
say "node $(node --version); TensorRT 10 at $TRT10; TensorRT 11 at $TRT11 ($([ -f $TRT11/libnvinfer.so.11 ] && echo present || echo absent))"
for j in tensorrt-node.json tensorrt-node.trt11.json; do
  say "prebuild $(node -p "const i=require('$TRTNODE_PREBUILDS/$j'); i.file+': headers '+i.tensorrt.headerVersion+', cudart '+i.cuda.cudartVersion+', release '+i.release+', sha256 '+i.sha256.slice(0,16)")"
done
rc=0

# 1. the TensorRT 10 prebuild (10.3 headers, CUDA 12.9 static runtime) runs the GPU suite on TensorRT 10.6
say "--- 1. GPU suite with TRTNODE_ADDON=$P10, TensorRT $TRT10"
TRTNODE_ADDON=$P10 node -e "
  const t = require('./dist/index.cjs');
  try {
    const c = t.cudaInfo(); const r = new t.Runtime();
    console.log(JSON.stringify({ runtime: r.info.version, headers: r.info.headerVersion, library: r.info.libraryPath, driverVersion: c.driverVersion, cudaRuntimeVersion: c.runtimeVersion, gpu: c.devices[0] && c.devices[0].name }));
    r.dispose();
  } catch (e) { console.log(e.code + ': ' + e.message.split('\n')[0]); process.exitCode = 1; }" 2>&1 | tee -a "$summary"
if [ $suite = 1 ]; then
  TRTNODE_ADDON=$P10 TRTNODE_RESULTS_DIR=$work/results TRTNODE_JUNIT=$out/compat-gpu-junit.xml \
    node node_modules/vitest/vitest.mjs run --config vitest.gpu.config.ts > "$out/compat-gpu-trt10.log" 2>&1
  rc_suite=$?
  grep -E "Test Files|Tests " "$out/compat-gpu-trt10.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -2 | tee -a "$summary"
  grep -E "FAIL|×" "$out/compat-gpu-trt10.log" | sed 's/\x1b\[[0-9;]*m//g' | head -10 | tee -a "$summary"
  say "GPU suite (10.3-built prebuild, cudart 12.9, TensorRT 10.6 runtime): exit $rc_suite"
  [ $rc_suite = 0 ] || rc=1
  # 1b. the same with TRTNODE_MEMCPY_BATCH=0: the one-copy-per-piece path that drivers older than 12.8 take
  TRTNODE_ADDON=$P10 TRTNODE_MEMCPY_BATCH=0 TRTNODE_RESULTS_DIR=$work/results-nobatch \
    node node_modules/vitest/vitest.mjs run --config vitest.gpu.config.ts > "$out/compat-gpu-nobatch.log" 2>&1
  rc_nb=$?
  grep -E "Test Files|Tests " "$out/compat-gpu-nobatch.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -2 | tee -a "$summary"
  say "GPU suite again with TRTNODE_MEMCPY_BATCH=0 (per-piece host-to-device copies, as on a pre-12.8 driver): exit $rc_nb"
  [ $rc_nb = 0 ] || rc=1
  tar -C $work -cJf "$out/compat-results.tar.xz" results $( [ -d $work/results-nobatch ] && echo results-nobatch )
fi

# 2. trtexec 10.6.0 from the toolchain (issue 24 item 1) on a fixture plan
say "--- 2. trtexec"
if [ -n "${TRTEXEC:-}" ] && [ -x "$TRTEXEC" ]; then
  timeout 120 "$TRTEXEC" --loadEngine="$fixtures/engines/classifier_fp32.plan" --shapes=input:8x3x32x32 --duration=2 > "$out/compat-trtexec10.log" 2>&1
  rc_te=$?
  grep -E "TensorRT\.trtexec|Throughput|GPU Compute Time: min|PASSED|FAILED" "$out/compat-trtexec10.log" | head -6 | tee -a "$summary"
  say "trtexec 10.6.0 --loadEngine classifier_fp32.plan: exit $rc_te"
  [ $rc_te = 0 ] || rc=1
else
  say "trtexec: not staged (carry .stage/trtexec: bash tools/gpu-host/stage.sh trtexec)"
fi

# 3. the loader's choice between the two prebuilds, as an installed package has them
say "--- 3. which prebuild the loader picks"
pkg=$work/pkg
mkdir -p $pkg/prebuilds && cp -r "$TRTNODE_PREBUILDS" $pkg/prebuilds/ && cp -r dist package.json $pkg/ && ln -s "$repo/node_modules" $pkg/node_modules
for d in "$TRT10" "$TRT11"; do
  [ -d "$d" ] || { say "  TENSORRT_LIB_DIR=$d: absent, skipped"; continue; }
  env -u TRTNODE_ADDON TENSORRT_LIB_DIR=$d LD_LIBRARY_PATH= node -e "
    const t = require('$pkg/dist/index.cjs');
    const out = {};
    try { const r = new t.Runtime(); out.runtime = r.info.version; out.library = r.info.libraryPath; r.dispose(); } catch (e) { out.error = e.code + ': ' + e.message.split('\n')[0]; }
    out.loaded = [...new Set(require('fs').readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith('.node')).map((l) => l.split(/\s+/).pop().replace('$pkg/', '')))];
    console.log('  TENSORRT_LIB_DIR=$d: ' + JSON.stringify(out));" 2>&1 | tee -a "$summary"
done

# 4. TensorRT 11.2
say "--- 4. TensorRT 11.2"
plan11=$work/tiny.trt11.plan
if [ ! -f $TRT11/libnvinfer.so.11 ]; then
  say "TensorRT 11: $TRT11/libnvinfer.so.11 absent (stage.sh runtime11 parts, the last with --unpack /tmp/opt/trt11): skipped"
else
  whl=$(ls /tmp/opt/trt11/wheels/tensorrt_*bindings-11*.whl 2>/dev/null | head -1)
  if [ -n "$whl" ] && [ -f $TRT11/libnvinfer_builder_resource_ptx.so.11.2.1 ]; then
    # the 11.x builder, driven by its Python bindings; the jar carries only the PTX builder
    # resource: whether it builds for this GPU is what this finds out
    mkdir -p $work/site
    python3 -m pip install -q --no-index --no-deps --no-compile --target $work/site "$whl" > "$out/compat-builder11.log" 2>&1
    PYTHONPATH=$work/site LD_LIBRARY_PATH=$TRT11 timeout 600 python3 - "$fixtures/onnx/tiny.onnx" "$plan11" >> "$out/compat-builder11.log" 2>&1 <<'PY'
import sys, time, tensorrt as trt
onnx, plan = sys.argv[1], sys.argv[2]
log = trt.Logger(trt.Logger.INFO)
print("tensorrt", trt.__version__, flush=True)
builder = trt.Builder(log)
net = builder.create_network(0)
parser = trt.OnnxParser(net, log)
if not parser.parse_from_file(onnx):
    for i in range(parser.num_errors):
        print("parse error:", parser.get_error(i))
    sys.exit(2)
cfg = builder.create_builder_config()
t0 = time.time()
blob = builder.build_serialized_network(net, cfg)
print("build seconds %.1f" % (time.time() - t0))
if blob is None:
    print("build failed: build_serialized_network returned None")
    sys.exit(3)
open(plan, "wb").write(bytes(blob))
print("Engine built:", plan, len(bytes(blob)), "bytes")
PY
    rc_b=$?
    grep -E "^tensorrt |Error|error|failed|Unable|Engine built|build seconds" "$out/compat-builder11.log" | head -12 | tee -a "$summary"
    say "11.x builder (Python bindings 11.2.1.2 on the 11.2.1 libraries, tiny.onnx): exit $rc_b; plan: $([ -f $plan11 ] && stat -c %s $plan11 || echo none) bytes"
  else
    say "11.x builder: not staged (stage.sh builder11: the PTX builder resource, parser, plugins, bindings): no 11.x plan to run"
  fi
  # the TensorRT 11 prebuild on the 11.2 runtime: build() through libnvinfer.so.11 and its ONNX
  # parser, every 11.x plan run against tiny's reference, the 10.6 plan refused (trt11-run.mjs)
  TRTNODE_ADDON=$P11 TENSORRT_LIB_DIR=$TRT11 timeout 600 node tools/gpu-host/trt11-run.mjs "$fixtures" $work $plan11 > "$out/compat-trt11.json" 2> "$out/compat-trt11.stderr.log"
  rc_11=$?
  node -e "
    let o; try { o = JSON.parse(require('fs').readFileSync('$out/compat-trt11.json', 'utf8')); } catch (e) { console.log('trt11-run.mjs printed no JSON (exit $rc_11): see compat-trt11.json'); process.exit(1); }
    console.log('TensorRT 11 prebuild + 11.2 runtime: ' + (o.runtime ? o.runtime.version + ' (' + o.runtime.flavor + ', headers ' + o.runtime.headerVersion + ') at ' + o.runtime.libraryPath : 'error ' + JSON.stringify(o.runtimeError)));
    if (o.plan10) console.log('10.6 plan on the 11.2 runtime: ' + (o.plan10.code ? o.plan10.code + ': ' + o.plan10.message.slice(0, 400) : o.plan10));
    console.log('tensorrt-node build() on 11.2: ' + (o.build.ok ? 'built, ' + o.build.bytes + ' bytes in ' + o.build.buildMs + ' ms on ' + o.build.device.name : o.build.error.code + ': ' + o.build.error.message.slice(0, 400)));
    for (const [k, v] of Object.entries(o.plans)) console.log('11.x plan ' + k + ': ' + (v.ok ? 'ran, outputs within 1e-3 of the reference ' : 'FAILED ') + JSON.stringify(v).slice(0, 300));
    if (!Object.keys(o.plans).length) console.log('11.x plan: none built, none run');
    process.exit($rc_11);" 2>&1 | tee -a "$summary"
  [ ${PIPESTATUS[0]} = 0 ] || rc=1
fi
say "compat-check: $([ $rc = 0 ] && echo PASS || echo FAIL)"
exit $rc
