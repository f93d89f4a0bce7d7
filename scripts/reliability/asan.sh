#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UBSan (build-asan/) and runs the CPU-reachable native
# paths under it. Node itself is not instrumented: libasan is preloaded, leak detection is off
# (Node keeps allocations until exit by design); any invalid access aborts with a report.
set -euo pipefail
cd "$(dirname "$0")/../.."
node scripts/build-native.mjs --sanitize >/dev/null
lean=.cache/toolchain/tensorrt-10.15.1.29-lean/tensorrt_lean_libs/libnvinfer_lean.so.10
[ -f $lean ] && export TRTNODE_LEAN_LIB=$PWD/$lean
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  node scripts/reliability/asan-native.mjs "$PWD/build-asan/Debug/tensorrt_node.node"
