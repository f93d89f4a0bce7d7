#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UBSan (build-asan/; float-cast-overflow too, which
# GCC's -fsanitize=undefined leaves out) and runs the CPU-reachable native paths under it: the
# fixed tour of asan-native.mjs, then the API misuse fuzzer (misuse-fuzz.mjs) for MISUSE_CALLS
# calls. Node itself is not instrumented: libasan and libubsan are preloaded, leak detection is
# off (Node keeps allocations until exit by design). An invalid memory access aborts its worker
# with a report (a crash in the fuzzer's summary, with the call that did it); undefined behaviour
# is reported once per source location and counted (UBSan halt_on_error=0, so one run finds it
# all). Exits non-zero on any of them outside misuse-known.mjs.
#   bash tools/reliability/asan.sh [--no-build] [more misuse-fuzz.mjs options]
#   MISUSE_CALLS (default 100000), MISUSE_SEED (default 20261206), MISUSE_JSON (a summary file)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=1
if [ "${1:-}" = --no-build ]; then build=0; shift; fi
if [ $build = 1 ]; then
  t0=$(date +%s)
  # CXX carries the flag: cmake-js sets CMAKE_CXX_FLAGS itself, and CMake keeps flags given with
  # the compiler (CMAKE_CXX_COMPILER_ARG1) on every compile.
  CXX="${CXX:-g++} -fsanitize=float-cast-overflow" node scripts/build-native.mjs --sanitize >/dev/null
  echo "asan: build-asan/ built in $(( $(date +%s) - t0 )) s"
fi
addon=$PWD/build-asan/Debug/tensorrt_node.node
# the real TensorRT lean runtime (PyPI): the loader's paths past dlopen run under the sanitizers too
cache=${TRTNODE_TOOLCHAIN_DIR:-$PWD/.cache/toolchain}
lean=$cache/tensorrt-10.15.1.29-lean/tensorrt_lean_libs/libnvinfer_lean.so.10
[ -f "$lean" ] || node scripts/toolchain.mjs lean >/dev/null 2>&1 || echo "asan: no lean runtime (scripts/toolchain.mjs lean failed): the loader is fuzzed without it"
[ -f "$lean" ] && export TRTNODE_LEAN_LIB=$lean
preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
asan=detect_leaks=0:abort_on_error=1:halt_on_error=1
ubsan=halt_on_error=0:print_stacktrace=1
LD_PRELOAD="$preload" ASAN_OPTIONS=$asan UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 node tools/reliability/asan-native.mjs "$addon"
t0=$(date +%s)
node tools/reliability/misuse-fuzz.mjs --addon "$addon" --calls "${MISUSE_CALLS:-100000}" --seed "${MISUSE_SEED:-20261206}" --timeout 300 \
  ${MISUSE_JSON:+--json "$MISUSE_JSON"} --env "LD_PRELOAD=$preload" --env "ASAN_OPTIONS=$asan" --env "UBSAN_OPTIONS=$ubsan" "$@"
echo "asan: misuse fuzzer under ASan + UBSan in $(( $(date +%s) - t0 )) s"
