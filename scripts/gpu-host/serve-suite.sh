#!/usr/bin/env bash
# On the GPU test host: the server half of issue 6. Runs the stock Python tritonclient against the
# server over TensorRT plans (test/gpu/server-tritonclient.test.ts) and the GPU server benchmark
# (bench/server-overhead.mjs: ResNet-50 FP16, 64 closed-loop single-image callers, in-process vs
# HTTP binary vs gRPC, twice; with the default gRPC threads also gRPC and HTTP over system shared
# memory), writes logs and results to $OUT and prints a short summary last.
#   bash scripts/gpu-host/serve-suite.sh --venv-only   (call carrying .stage/tritonclient: the venv only)
#   bash scripts/gpu-host/serve-suite.sh [--no-tests] [--no-bench] [--duration S]
# Needs .stage/app carried now or unpacked by an earlier call on this host (see scripts/gpu-host/env.sh),
# the ResNet-50 plan (stage.sh resnet, carried earlier to /tmp/resnet) and a tritonclient venv:
# $TRTNODE_TRITONCLIENT_VENV (default /tmp/trtn-tritonclient-venv), made here from .stage/tritonclient
# or /tmp/tritonclient when missing. Writes to $OUT: serve.log, serve-junit.xml, server-gpu.json, server-gpu.md.
set -uo pipefail
cd "$(dirname "$0")/../.."
export TRTNODE_TRITONCLIENT_VENV=${TRTNODE_TRITONCLIENT_VENV:-/tmp/trtn-tritonclient-venv}
tests=1
bench=1
venv_only=0
duration=5
while [ $# -gt 0 ]; do
  case "$1" in
    --venv-only) venv_only=1 ;;
    --no-tests) tests=0 ;;
    --no-bench) bench=0 ;;
    --duration) duration=$2; shift ;;
    *) echo "serve-suite.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

# 1. the Python venv, offline from staged wheels
wheels=""
for d in "${TRTNODE_TRITONCLIENT_WHEELS:-}" .stage/tritonclient /tmp/tritonclient; do
  if [ -n "$d" ] && ls "$d"/tritonclient-*.whl >/dev/null 2>&1; then wheels=$d; break; fi
done
bash scripts/gpu-host/tritonclient-venv.sh "${wheels:-/nonexistent}" "$TRTNODE_TRITONCLIENT_VENV" > /tmp/trtn-tritonclient-venv.log 2>&1
venv_rc=$?
venv_line="$(tail -1 /tmp/trtn-tritonclient-venv.log) (exit $venv_rc)"
echo "$venv_line"
if [ $venv_only = 1 ]; then exit $venv_rc; fi

source scripts/gpu-host/env.sh
log=$out/serve.log
{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader
  echo "node $(node --version); TENSORRT_LIB_DIR=$TENSORRT_LIB_DIR; fixtures $TRTNODE_FIXTURES"
  echo "venv: $venv_line"
} | tee "$log"
t0=$SECONDS

# 2. the stock tritonclient against the server (skips visibly without plan or venv)
test_rc=skipped
if [ $tests = 1 ]; then
  echo "=== test/gpu/server-tritonclient.test.ts ===" >> "$log"
  TRTNODE_JUNIT=$out/serve-junit.xml node node_modules/vitest/vitest.mjs run --config vitest.gpu.config.ts test/gpu/server-tritonclient.test.ts 2>&1 | tee -a "$log"
  test_rc=${PIPESTATUS[0]}
fi

# 3. the server benchmark: ResNet-50 FP16 plan, 2 instances, dynamic batching (test/gpu/model-repository)
bench_rc=skipped
if [ $bench = 1 ]; then
  echo "=== bench/server-overhead.mjs (resnet50) ===" >> "$log"
  repo=/tmp/trtn-serve-repository
  if node scripts/gpu-host/model-repository.mjs "$repo" "$TRTNODE_FIXTURES" 2>&1 | tee -a "$log"; then
    # the server's default gRPC front-end threads (server-gpu.json/.md, summarized below; with the
    # system shared memory methods grpc-shm and http-shm), then gRPC on the main thread
    # (--grpc-workers 0: server-gpu-grpc-workers-0.json; its .md stays in /tmp, $OUT brings back 8
    # files at most); callers on 4 client threads
    bench_rc=0
    for grpc_workers in default 0; do
      if [ $grpc_workers = default ]; then methods=in-process,http-binary,grpc,grpc-shm,http-shm; files=(--json "$out/server-gpu.json" --md "$out/server-gpu.md")
      else methods=in-process,http-binary,grpc; files=(--grpc-workers "$grpc_workers" --json "$out/server-gpu-grpc-workers-$grpc_workers.json" --md "/tmp/server-gpu-grpc-workers-$grpc_workers.md"); fi
      node bench/server-overhead.mjs --model-repository "$repo" --model resnet50 --concurrency 64 \
        --methods "$methods" --repeat 2 --duration "$duration" --warmup 1 --client-workers 4 \
        "${files[@]}" 2>&1 | tee -a "$log"
      rc=${PIPESTATUS[0]}
      [ "$rc" = 0 ] || bench_rc=$rc
    done
  else
    bench_rc=2
  fi
fi

echo "=== serve-suite summary ($((SECONDS - t0)) s) ===" | tee -a "$log"
{
  head -4 "$log"
  if [ $tests = 1 ]; then
    grep -E "Test Files|Tests |FAIL|✗|×|skipped:|passed in|failed" "$log" | sed 's/\x1b\[[0-9;]*m//g' | grep -v "^===" | tail -8
  fi
  if [ -f "$out/server-gpu.md" ] && [ "$bench_rc" != skipped ]; then
    grep -E "^\| (C|--:|64)" "$out/server-gpu.md" | cut -d'|' -f2-7,9,11
    grep -A2 "^## GPU criterion" "$out/server-gpu.md" | tail -1
  fi
  echo "venv exit $venv_rc; tritonclient test exit $test_rc; server bench exit $bench_rc"
} | tee -a "$log"
for rc in "$test_rc" "$bench_rc"; do
  if [ "$rc" != skipped ] && [ "$rc" != 0 ]; then exit 1; fi
done
exit 0
