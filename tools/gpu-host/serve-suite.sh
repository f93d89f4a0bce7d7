#!/usr/bin/env bash
# On the GPU test host: the server half of issue 6. Runs the stock Python tritonclient against the
# server over TensorRT plans (test/gpu/server-tritonclient.test.ts) and the GPU server benchmark
# (bench/server-overhead.mjs: ResNet-50 FP16, 64 closed-loop single-image callers, in-process vs
# HTTP binary vs gRPC, twice; with the default gRPC threads also gRPC and HTTP over system shared
# memory), writes logs and results to $OUT and prints a short summary last.
#   bash tools/gpu-host/serve-suite.sh --venv-only   (call carrying .stage/tritonclient: the venv only)
#   bash tools/gpu-host/serve-suite.sh [--no-tests] [--no-bench] [--duration S] [--perf-analyzer]
# --perf-analyzer also runs bench/server-perf-analyzer.mjs on the same ResNet-50 repository: NVIDIA's
# perf_analyzer (C++, a separate process) as the client instead of grpc-js threads in the server's
# process: in-process vs perf_analyzer over gRPC, gRPC + system shared memory, HTTP, HTTP + shared
# memory, 64 concurrent single-image requests, twice (server-perf-analyzer.json/.md in $OUT); then
# batch traffic, issue 6's case: 8 concurrent requests of 8 images (the same 64 images in flight),
# in-process vs gRPC, gRPC + shm, HTTP + shm, twice, compared in inferences/s
# (server-perf-analyzer-b8.json/.md). Needs .stage/perf-analyzer (tools/gpu-host/stage.sh
# perf-analyzer) carried now or unpacked to /tmp/perf-analyzer by an earlier call; skipped with a
# message otherwise. The single-image pass took 92 s on the H100, the batch pass adds about as much
# (estimate); with the tests and the other bench a call can pass the 10-minute limit, so on its own:
#   bash tools/gpu-host/serve-suite.sh --no-tests --no-bench --perf-analyzer
# TRTNODE_SERVE_REPOSITORY=DIR TRTNODE_SERVE_MODEL=NAME: bench that repository and model instead of
# making the ResNet-50 one (e.g. bench/models image-stub, for a dry run on a CPU machine).
# Needs .stage/app carried now or unpacked by an earlier call on this host (see tools/gpu-host/env.sh),
# the ResNet-50 plan (stage.sh resnet, carried earlier to /tmp/resnet) and a tritonclient venv:
# $TRTNODE_TRITONCLIENT_VENV (default /tmp/trtn-tritonclient-venv), made here from .stage/tritonclient
# or /tmp/tritonclient when missing. Writes to $OUT: serve.log, serve-junit.xml (tests), server-gpu.json,
# server-gpu.md, server-gpu-grpc-workers-0.json (bench), and with --perf-analyzer
# server-perf-analyzer.json/.md and server-perf-analyzer-b8.json/.md: 9 with everything, one more than
# the 8 a call brings back, so then server-perf-analyzer-b8.md stays in /tmp (its JSON has every number).
set -uo pipefail
cd "$(dirname "$0")/../.."
export TRTNODE_TRITONCLIENT_VENV=${TRTNODE_TRITONCLIENT_VENV:-/tmp/trtn-tritonclient-venv}
tests=1
bench=1
venv_only=0
perf_analyzer=0
duration=5
while [ $# -gt 0 ]; do
  case "$1" in
    --venv-only) venv_only=1 ;;
    --no-tests) tests=0 ;;
    --no-bench) bench=0 ;;
    --duration) duration=$2; shift ;;
    --perf-analyzer) perf_analyzer=1 ;;
    *) echo "serve-suite.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

# 1. the Python venv, offline from staged wheels
wheels=""
for d in "${TRTNODE_TRITONCLIENT_WHEELS:-}" .stage/tritonclient /tmp/tritonclient; do
  if [ -n "$d" ] && ls "$d"/tritonclient-*.whl >/dev/null 2>&1; then wheels=$d; break; fi
done
bash tools/gpu-host/tritonclient-venv.sh "${wheels:-/nonexistent}" "$TRTNODE_TRITONCLIENT_VENV" > /tmp/trtn-tritonclient-venv.log 2>&1
venv_rc=$?
venv_line="$(tail -1 /tmp/trtn-tritonclient-venv.log) (exit $venv_rc)"
echo "$venv_line"
if [ $venv_only = 1 ]; then exit $venv_rc; fi

source tools/gpu-host/env.sh
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
pa_rc=skipped
repo_ok=0
model=${TRTNODE_SERVE_MODEL:-resnet50}
if [ $bench = 1 ] || [ $perf_analyzer = 1 ]; then
  if [ -n "${TRTNODE_SERVE_REPOSITORY:-}" ]; then
    repo=$TRTNODE_SERVE_REPOSITORY; repo_ok=1
  else
    repo=/tmp/trtn-serve-repository
    node tools/gpu-host/model-repository.mjs "$repo" "$TRTNODE_FIXTURES" 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" = 0 ] && repo_ok=1
  fi
fi
if [ $bench = 1 ]; then
  echo "=== bench/server-overhead.mjs ($model) ===" >> "$log"
  if [ $repo_ok = 1 ]; then
    # the server's default gRPC front-end threads (server-gpu.json/.md, summarized below; with the
    # system shared memory methods grpc-shm and http-shm), then gRPC on the main thread
    # (--grpc-workers 0: server-gpu-grpc-workers-0.json; its .md stays in /tmp, $OUT brings back 8
    # files at most); callers on 4 client threads
    bench_rc=0
    for grpc_workers in default 0; do
      if [ $grpc_workers = default ]; then methods=in-process,http-binary,grpc,grpc-shm,http-shm; files=(--json "$out/server-gpu.json" --md "$out/server-gpu.md")
      else methods=in-process,http-binary,grpc; files=(--grpc-workers "$grpc_workers" --json "$out/server-gpu-grpc-workers-$grpc_workers.json" --md "/tmp/server-gpu-grpc-workers-$grpc_workers.md"); fi
      node bench/server-overhead.mjs --model-repository "$repo" --model "$model" --concurrency 64 \
        --methods "$methods" --repeat 2 --duration "$duration" --warmup 1 --client-workers 4 \
        "${files[@]}" 2>&1 | tee -a "$log"
      rc=${PIPESTATUS[0]}
      [ "$rc" = 0 ] || bench_rc=$rc
    done
  else
    bench_rc=2
  fi
fi

# 4. the same server measured by perf_analyzer (a separate C++ process), --perf-analyzer only
if [ $perf_analyzer = 1 ]; then
  echo "=== bench/server-perf-analyzer.mjs ($model) ===" >> "$log"
  if [ $repo_ok = 1 ]; then
    # 64 closed-loop single-image requests (perf_analyzer's sync mode: 64 threads), 2 s windows,
    # at most 6 of them per case; in-process for 6 s; interleaved, twice
    node bench/server-perf-analyzer.mjs --model-repository "$repo" --model "$model" --concurrency 64 \
      --repeat 2 --measurement-interval 2000 --max-trials 6 --warmup 1 \
      --json "$out/server-perf-analyzer.json" --md "$out/server-perf-analyzer.md" 2>&1 | tee -a "$log"
    pa_rc=${PIPESTATUS[0]}
    # batch traffic: 8 requests of 8 images in flight (perf_analyzer -b 8), the same 64 images as
    # above; plain HTTP left out (the slowest path, and the time); the ratio is on inferences/s.
    # With the tests and the bench too, this .md would be a 9th file: it stays in /tmp then
    b8_md=$out/server-perf-analyzer-b8.md
    if [ $tests = 1 ] && [ $bench = 1 ]; then b8_md=/tmp/server-perf-analyzer-b8.md; fi
    rm -f "$b8_md" # not an earlier call's table in the summary
    node bench/server-perf-analyzer.mjs --model-repository "$repo" --model "$model" --batch 8 --concurrency 8 \
      --methods grpc,grpc-shm,http-shm --repeat 2 --measurement-interval 2000 --max-trials 6 --warmup 1 \
      --json "$out/server-perf-analyzer-b8.json" --md "$b8_md" 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
    [ "$rc" = 0 ] || pa_rc=$rc
  else
    pa_rc=2
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
  if [ "$pa_rc" != skipped ]; then
    # repeat, method, req/s, infer/s, mean, p50, p99, / in-process, -s, ok
    for md in "$out/server-perf-analyzer.md" "${b8_md:-}"; do
      [ -f "$md" ] || continue
      echo "perf_analyzer: $(basename "$md" .md)"
      grep -E "^\| (repeat|--:|[0-9])" "$md" | cut -d'|' -f2-9,13-14
      grep -A2 "^## Issue 6 criterion" "$md" | tail -1
      grep -m1 "skipped" "$md"
    done
  fi
  echo "venv exit $venv_rc; tritonclient test exit $test_rc; server bench exit $bench_rc; perf_analyzer bench exit $pa_rc"
} | tee -a "$log"
for rc in "$test_rc" "$bench_rc" "$pa_rc"; do
  if [ "$rc" != skipped ] && [ "$rc" != 0 ]; then exit 1; fi
done
exit 0
