#!/usr/bin/env bash
# On the GPU host (issue 8, GPU half): the tarball a user gets, installed as a user would
# (`stage.sh install` on the development machine: npm pack + npm install into an empty project),
# runs README's GPU examples against the staged TensorRT 10.6 runtime, and without TensorRT
# says exactly what is missing.
#   bash tools/gpu-host/install-check.sh            (carry .stage/install; TensorRT at /tmp/opt/trt/lib)
# Node: /tmp/node/bin/node (left by run.sh on the held host), else .stage/install/node.xz
# (stage with INSTALL_WITH_NODE=1), else .stage/app/node.xz.
# Writes to $OUT: install-check.txt (summary), install-check-gpu.json, install-check-missing.json.
# Exit 0 only if both outcomes are the expected ones.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
out=${OUT:-/tmp/out}
nodedir=${INSTALL_CHECK_NODE_DIR:-/tmp/node/bin}
mkdir -p "$out" "$nodedir"
summary=$out/install-check.txt
say() { echo "$*" | tee -a "$summary"; }
: > "$summary"
stage=.stage/install
[ -f $stage/app.tar.xz ] || { say "install-check: $stage/app.tar.xz missing: run 'bash tools/gpu-host/stage.sh install' and carry .stage/install"; exit 2; }
if [ ! -x $nodedir/node ]; then
  for x in $stage/node.xz .stage/app/node.xz; do
    if [ -f $x ]; then xz -dc $x > $nodedir/node && chmod +x $nodedir/node && break; fi
  done
fi
[ -x $nodedir/node ] || { say "install-check: no node: run run.sh first on this host, or stage with INSTALL_WITH_NODE=1"; exit 2; }
export PATH=$nodedir:$PATH
trt=${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}
fixtures=${TRTNODE_FIXTURES:-$repo/fixtures/gpu}
[ -f /tmp/fixtures/manifest.json ] && [ -z "${TRTNODE_FIXTURES:-}" ] && fixtures=/tmp/fixtures

say "date: $(date -u +%FT%TZ)"
say "gpu: $( (nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || echo 'nvidia-smi failed') 2>&1 | head -1)"
say "node $(node --version); staged: $(tr '\n' ';' < $stage/manifest.txt)"

work=/tmp/install-check
rm -rf $work && mkdir -p $work/tgz
xz -dc $stage/app.tar.xz | tar -C $work -xf -
tgz=$(awk '/^tarball /{print $2}' $stage/manifest.txt)
want=$(awk '/^tarball /{print $3}' $stage/manifest.txt)
got=$(sha256sum "$stage/$tgz" | cut -d' ' -f1)
rc_same=0
[ "$got" = "$want" ] || { say "FAIL: $tgz sha256 $got, manifest says $want"; rc_same=1; }
# the installed package is exactly the tarball's contents (npm adds nothing to a package dir here)
tar -C $work/tgz -xzf "$stage/$tgz"
if diff -r $work/tgz/package $work/app/node_modules/tensorrt-node > $work/diff.txt 2>&1; then
  say "installed node_modules/tensorrt-node == $tgz contents (sha256 $got)"
else
  say "FAIL: installed package differs from $tgz:"; head -20 $work/diff.txt | tee -a "$summary"; rc_same=1
fi
say "prebuild: $(node -p "const j=require('$work/app/node_modules/tensorrt-node/prebuilds/linux-x64/tensorrt-node.json'); 'headers '+j.tensorrt.headerVersion+', accepts '+j.tensorrt.accepts+', cudart '+j.cuda.cudartVersion")"

cd $work/app
# 1. with TensorRT: README's Low-level, Session and Dynamic batching examples, checked against the reference
TENSORRT_LIB_DIR=$trt node check-gpu-example.mjs --expect ok --fixtures "$fixtures" > "$out/install-check-gpu.json" 2> $work/gpu.err
rc_gpu=$?
say "GPU examples (TENSORRT_LIB_DIR=$trt, fixtures $fixtures): exit $rc_gpu"
node -e "const o=require('$out/install-check-gpu.json'); const e=o.examples||{}; console.log(JSON.stringify({pass:o.pass, runtime:e.runtimeInfo&&{version:e.runtimeInfo.version,flavor:e.runtimeInfo.flavor,libraryPath:e.runtimeInfo.libraryPath}, lowLevel:e.lowLevel&&{dims:e.lowLevel.outDims,relError:e.lowLevel.relError}, session:e.session&&{dims:e.session.dims,relError:e.session.relError}, batcher:e.batcher, addonFromPrebuild:o.addonFromPrebuild, error:o.error}))" 2>&1 | tee -a "$summary"
[ -s $work/gpu.err ] && { say "stderr:"; tail -5 $work/gpu.err | tee -a "$summary"; }
# the CLI from node_modules/.bin
TENSORRT_LIB_DIR=$trt ./node_modules/.bin/tensorrt-node inspect "$fixtures/engines/classifier_fp32.plan" --json > $work/inspect.json 2>&1
say "tensorrt-node inspect (node_modules/.bin): exit $? $(head -c 300 $work/inspect.json | tr '\n' ' ')"

# 2. without TensorRT: the error a user sees first
env -u TENSORRT_LIB_DIR LD_LIBRARY_PATH= node check-gpu-example.mjs --expect missing > "$out/install-check-missing.json" 2>&1
rc_missing=$?
say "without TENSORRT_LIB_DIR (LD_LIBRARY_PATH empty): exit $rc_missing"
node -e "const o=require('$out/install-check-missing.json'); console.log((o.error? o.error.code+': '+o.error.message : JSON.stringify(o.runtime)))" 2>&1 | tee -a "$summary"

rc=$(( rc_same || rc_gpu || rc_missing ))
say "install-check: $([ $rc = 0 ] && echo PASS || echo FAIL) (tarball $rc_same, gpu $rc_gpu, missing $rc_missing)"
exit $rc
