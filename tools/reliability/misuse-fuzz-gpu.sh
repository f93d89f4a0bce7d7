#!/usr/bin/env bash
# On the GPU host, after tools/gpu-host/run.sh (node, node_modules and the addon in place,
# TensorRT at /tmp/opt/trt/lib): the API misuse fuzzer in GPU mode (misuse-fuzz.mjs --mode gpu:
# engines of the GPU fixtures, contexts, runs and benchmarks in flight, dispose during flight,
# objects of another engine, plus everything the CPU mode does), first plain, then under
# compute-sanitizer memcheck (which follows the worker processes).
#   bash tools/reliability/misuse-fuzz-gpu.sh [plain|memcheck|all]      (default all)
#   MISUSE_CALLS=100000           calls of the plain run
#   MISUSE_SANITIZER_CALLS=10000  calls under memcheck (each CUDA call is much slower there)
#   MISUSE_SEED=20261206  MISUSE_BATCH=2500  MISUSE_JOBS=2
#   MISUSE_EXCLUDE=op,op          fuzzer ops to leave out (e.g. gpu-bench-hostile while its fix is pending)
#   MISUSE_TIMEOUT=240            seconds per batch, plain; MISUSE_SANITIZER_TIMEOUT=480 under memcheck
#   MISUSE_LIMIT=540              seconds for each phase as a whole (the device runs a command 600 s at most)
#   MISUSE_DEADLINE=, MISUSE_SANITIZER_DEADLINE=   seconds after which a phase starts no more batches
#                                 (its finished batches are reported; exit 3 when clean but fewer calls
#                                 than asked); default: unset, so the limit cuts a long run off instead
#   MISUSE_LEAN=1                 also hand the loader the TensorRT 10.15 lean runtime (TRTNODE_LEAN_DIR):
#                                 a second TensorRT in the process, so off by default
#   COMPUTE_SANITIZER=/path       the binary, if not in /usr/local/cuda/bin or on PATH
# Writes to $OUT: misuse-fuzz-gpu.txt (the summary: each phase's exit, time and fuzzer summary,
# memcheck's ERROR SUMMARY lines and first reports), misuse-fuzz-gpu-{plain,memcheck}.json and
# misuse-fuzz-gpu-logs.tar.xz (worker logs of crashed batches, memcheck logs per process).
# Exits 1 if a phase failed: a crash, hang, untyped error, failed check, lost promise or memcheck error.
set -uo pipefail
cd "$(dirname "$0")/../.."
phase=${1:-all}
export PATH=/tmp/node/bin:$PATH TENSORRT_LIB_DIR=${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}
source tools/gpu-host/fixtures.sh
out=${OUT:-/tmp/out}
mkdir -p "$out"
logs=$(mktemp -d /tmp/misuse-gpu-logs.XXXXXX)
summary=$out/misuse-fuzz-gpu.txt
say() { echo "$*" | tee -a "$summary"; }
: > "$summary"
if ! command -v node >/dev/null || [ ! -f build/Release/tensorrt_node.node ]; then
  say "misuse-fuzz-gpu: node or build/Release/tensorrt_node.node missing: run tools/gpu-host/run.sh first (same call or an earlier one on the held host)"
  exit 2
fi
lean=${TRTNODE_LEAN_DIR:-/tmp/opt/lean}/tensorrt_lean_libs/libnvinfer_lean.so.10
common=(--mode gpu --seed "${MISUSE_SEED:-20261206}" --batch "${MISUSE_BATCH:-2500}" --jobs "${MISUSE_JOBS:-2}" --fixtures "$TRTNODE_FIXTURES")
[ -n "${MISUSE_EXCLUDE:-}" ] && common+=(--exclude "$MISUSE_EXCLUDE")
[ -n "${MISUSE_LEAN:-}" ] && [ -f "$lean" ] && common+=(--lean "$lean")
limit=${MISUSE_LIMIT:-540}

say "date: $(date -u +%FT%TZ)"
say "gpu: $( (nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || echo "nvidia-smi failed") 2>&1 | head -1)"
say "node $(node --version); TENSORRT_LIB_DIR=$TENSORRT_LIB_DIR; fixtures $TRTNODE_FIXTURES; $(git log -1 --format='commit %h' 2>/dev/null || echo 'commit ?')"
fail=0
skipped=""   # phases asked for that could not run: the verdict names them

if [ "$phase" = plain ] || [ "$phase" = all ]; then
  t0=$(date +%s)
  timeout -k 10 "$limit" node tools/reliability/misuse-fuzz.mjs "${common[@]}" --calls "${MISUSE_CALLS:-100000}" --timeout "${MISUSE_TIMEOUT:-240}" ${MISUSE_DEADLINE:+--deadline "$MISUSE_DEADLINE"} \
    --json "$out/misuse-fuzz-gpu-plain.json" --logs "$logs/plain" > "$logs/plain.txt" 2>&1
  rc=$?
  say "plain: exit $rc$([ $rc = 124 ] && echo " (TIMED OUT after $limit s: lower MISUSE_CALLS)")$([ $rc = 3 ] && echo " (INCOMPLETE: clean, but MISUSE_DEADLINE stopped it before MISUSE_CALLS)"), $(( $(date +%s) - t0 )) s"
  sed 's/^/  /' "$logs/plain.txt" | tee -a "$summary"
  [ $rc = 0 ] || fail=1
fi

if [ "$phase" = memcheck ] || [ "$phase" = all ]; then
  source tools/reliability/find-compute-sanitizer.sh
  if [ -z "$cs" ]; then
    say "memcheck: compute-sanitizer NOT FOUND (set COMPUTE_SANITIZER=/path): skipped, nothing was checked"
    skipped="; memcheck NOT run (no compute-sanitizer)"
  else
    say "memcheck: $cs ($("$cs" --version 2>&1 | grep -iE 'version' | head -1))"
    mkdir -p "$logs/memcheck"
    t0=$(date +%s)
    # every process (the driver and each worker) gets its own log; a worker with errors still
    # finishes its batch, so the ERROR SUMMARY lines below are the verdict, with the fuzzer's own
    # (--print-limit 0: every error printed, so that each is sorted below into API or memory)
    timeout -k 10 "$limit" "$cs" --tool memcheck --target-processes all --launch-timeout 120 --print-limit 0 --error-exitcode 86 \
      --log-file "$logs/memcheck/memcheck.%p.log" \
      node tools/reliability/misuse-fuzz.mjs "${common[@]}" --calls "${MISUSE_SANITIZER_CALLS:-10000}" --timeout "${MISUSE_SANITIZER_TIMEOUT:-480}" ${MISUSE_SANITIZER_DEADLINE:+--deadline "$MISUSE_SANITIZER_DEADLINE"} \
      --json "$out/misuse-fuzz-gpu-memcheck.json" --logs "$logs/memcheck-batches" > "$logs/memcheck.txt" 2>&1
    rc=$?
    errors=$(grep -hE 'ERROR SUMMARY: [0-9]+ errors?$' "$logs"/memcheck/*.log 2>/dev/null | awk '{ n += $4 } END { print n + 0 }')
    # "Program hit <error> on CUDA API call": a CUDA call that returned an error, which the addon
    # turned into a typed error (the fuzzer's huge allocations are refused as out of memory). Every
    # other report (invalid access, uninitialised read, leak, ...) is a memory error.
    api=$(cat "$logs"/memcheck/*.log 2>/dev/null | grep -c '^========= Program hit')
    memory=$(( errors - api ))
    procs=$(ls "$logs"/memcheck/*.log 2>/dev/null | wc -l)
    what=ok
    case $rc in
      0) ;;
      86) what="memcheck reported errors"; [ "$memory" = 0 ] && what="memcheck: CUDA API calls that failed only, no memory error" ;;
      124|137) what="TIMED OUT after $limit s (lower MISUSE_SANITIZER_CALLS)" ;;
      3) what="INCOMPLETE: clean, but MISUSE_SANITIZER_DEADLINE stopped it before MISUSE_SANITIZER_CALLS" ;;
      *) what="the fuzzer failed (its summary below)" ;;
    esac
    say "memcheck: exit $rc ($what), $(( $(date +%s) - t0 )) s, $procs process logs, $errors errors in their ERROR SUMMARY lines: $memory memory errors, $api CUDA API calls that returned an error"
    sed 's/^/  /' "$logs/memcheck.txt" | tee -a "$summary"
    grep -hE '^========= (Invalid|Program hit|Uninitialized|Leaked|Error|Malloc|Cuda|Warning)' "$logs"/memcheck/*.log 2>/dev/null | sort | uniq -c | sort -rn | head -12 | tee -a "$summary"
    # clean: the fuzzer passed and memcheck saw no memory error (exit 86 with API errors only is clean)
    passed=$(node -e 'try { process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).pass === true)) } catch { process.stdout.write("false") }' "$out/misuse-fuzz-gpu-memcheck.json")
    { { [ $rc = 0 ] || [ $rc = 86 ]; } && [ "$memory" = 0 ] && [ "$passed" = true ]; } || fail=1
  fi
fi

tar -C "$logs" -cJf "$out/misuse-fuzz-gpu-logs.tar.xz" . && rm -rf "$logs"
say "misuse-fuzz-gpu: $([ $fail = 0 ] && echo 'clean, every phase that ran' || echo 'NOT clean (see above)')$skipped; logs in misuse-fuzz-gpu-logs.tar.xz"
exit $fail
