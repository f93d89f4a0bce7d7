# Sourced (not run) by tools/gpu-host/run.sh, serve-suite.sh and compat-check.sh on the GPU test host,
# from the repository root: unpacks node, node_modules and the built addon from .stage/app (each only when
# missing or carried again), perf_analyzer from .stage/perf-analyzer to /tmp/perf-analyzer (when carried),
# the release prebuilds from .stage/prebuilds to /tmp/trtnode-prebuilds and trtexec from .stage/trtexec to
# /tmp/trtexec (when carried), and exports PATH, TENSORRT_LIB_DIR, TRTNODE_LEAN_DIR, TRTNODE_FIXTURES,
# TRTNODE_PREBUILDS, and TRTEXEC when trtexec is there.
# Sets `out` ($OUT, else /tmp/out). A later call on a host still held finds node in /tmp/node.
out=${OUT:-/tmp/out}
mkdir -p "$out" /tmp/node/bin
if [ ! -x /tmp/node/bin/node ]; then
  xz -dc .stage/app/node.xz > /tmp/node/bin/node && chmod +x /tmp/node/bin/node
fi
export PATH=/tmp/node/bin:$PATH
[ -d node_modules ] || tar -xJf .stage/app/node_modules.tar.xz
if [ -f .stage/lean/lean.tar.xz ] && [ ! -d /tmp/opt/lean ]; then
  mkdir -p /tmp/opt/lean && xz -dc .stage/lean/lean.tar.xz | tar -C /tmp/opt/lean -xf -
fi
if [ -f .stage/app/build.tar.xz ]; then tar -xJf .stage/app/build.tar.xz; fi
if [ -f .stage/perf-analyzer/perf-analyzer.tar.xz ]; then
  # tools/gpu-host/stage.sh perf-analyzer: the launcher /tmp/perf-analyzer/perf_analyzer sets LD_LIBRARY_PATH itself
  rm -rf /tmp/perf-analyzer && mkdir -p /tmp/perf-analyzer && xz -dc .stage/perf-analyzer/perf-analyzer.tar.xz | tar -C /tmp/perf-analyzer -xf -
fi
if [ -f .stage/prebuilds/prebuilds.tar.xz ]; then
  rm -rf /tmp/trtnode-prebuilds && mkdir -p /tmp/trtnode-prebuilds && xz -dc .stage/prebuilds/prebuilds.tar.xz | tar -C /tmp/trtnode-prebuilds -xf -
fi
export TRTNODE_PREBUILDS=/tmp/trtnode-prebuilds/linux-x64
if [ -f .stage/trtexec/trtexec.xz ]; then
  mkdir -p /tmp/trtexec/bin && xz -dc .stage/trtexec/trtexec.xz > /tmp/trtexec/bin/trtexec && chmod +x /tmp/trtexec/bin/trtexec
fi
# the plugin library and ONNX parser that trtexec dlopens, beside the runtime (the builder payload has them too)
if [ -f .stage/trtexec/trtexec-libs.tar.xz ] && [ ! -f "${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}/libnvinfer_plugin.so.10" ]; then
  mkdir -p "${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}" && xz -dc .stage/trtexec/trtexec-libs.tar.xz | tar -C "${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}" -xf -
fi
# trtexec dlopens TensorRT: its launcher puts the 10.6 runtime on LD_LIBRARY_PATH (bench's TRTEXEC runs it)
if [ -x /tmp/trtexec/bin/trtexec ]; then
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec /tmp/trtexec/bin/trtexec "$@"\n' "${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}" > /tmp/trtexec/trtexec
  chmod +x /tmp/trtexec/trtexec
  export TRTEXEC=${TRTEXEC:-/tmp/trtexec/trtexec}
fi
[ -f build/Release/tensorrt_node.node ] || echo "env.sh: no build/Release/tensorrt_node.node: carry .stage/app" >&2
export TENSORRT_LIB_DIR=${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}
export TRTNODE_LEAN_DIR=${TRTNODE_LEAN_DIR:-/tmp/opt/lean}
source tools/gpu-host/fixtures.sh
