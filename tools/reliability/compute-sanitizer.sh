#!/usr/bin/env bash
# On the GPU host, after tools/gpu-host/run.sh (node, node_modules, dist/ and the addon in
# place, TensorRT at /tmp/opt/trt/lib): compute-sanitizer over tools/reliability/sanitizer-driver.mjs,
# which drives the GPU paths on the tiny and classifier fixtures and checks every result.
#   bash tools/reliability/compute-sanitizer.sh
#   SANITIZER_TOOLS="memcheck racecheck synccheck"   which tools (default: all three)
#   SANITIZER_TIMEOUT=120      seconds per memcheck run; racecheck/synccheck get SANITIZER_TIMEOUT_OTHER (60)
#   SANITIZER_ITERS=1          iterations per driver step under the sanitizer
#   SANITIZER_LEAK=1           memcheck --leak-check full (TensorRT's own allocations make this noisy)
#   COMPUTE_SANITIZER=/path    the binary, if not in /usr/local/cuda/bin or on PATH
# Writes two files to $OUT: compute-sanitizer.txt (the summary: version, one line per tool with
# its exit code, time, ERROR SUMMARY and the driver's result) and compute-sanitizer-logs.tar.xz
# (full sanitizer and driver logs). Exits 0 and says so when compute-sanitizer is missing;
# otherwise exits 1 if any tool reported errors, timed out or the driver failed a check.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH=/tmp/node/bin:$PATH TENSORRT_LIB_DIR=${TENSORRT_LIB_DIR:-/tmp/opt/trt/lib}
if [ -z "${TRTNODE_FIXTURES:-}" ]; then
  if [ -f /tmp/fixtures/manifest.json ]; then TRTNODE_FIXTURES=/tmp/fixtures; else TRTNODE_FIXTURES=$PWD/fixtures/gpu; fi
fi
export TRTNODE_FIXTURES
out=${OUT:-/tmp/out}
mkdir -p "$out"
logs=$(mktemp -d /tmp/sanitizer-logs.XXXXXX)
summary=$out/compute-sanitizer.txt
say() { echo "$*" | tee -a "$summary"; }
elapsed() { local ms=$(( ($(date +%s%N) - $1) / 1000000 )); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
: > "$summary"

source tools/reliability/find-compute-sanitizer.sh
if [ -z "$cs" ]; then
  say "compute-sanitizer: NOT FOUND (looked in /usr/local/cuda/bin, /usr/local/cuda/compute-sanitizer, PATH; set COMPUTE_SANITIZER=/path): skipped, nothing was checked"
  ls -d /usr/local/cuda* 2>&1 | tee -a "$summary"
  exit 0
fi
if ! command -v node >/dev/null || [ ! -f dist/index.js ]; then
  say "compute-sanitizer: node or dist/ missing: run tools/gpu-host/run.sh first (same call or an earlier one on the held host)"
  exit 2
fi

say "date: $(date -u +%FT%TZ)"
say "gpu: $( (nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || echo "nvidia-smi failed") 2>&1 | head -1)"
say "compute-sanitizer: $cs ($("$cs" --version 2>&1 | grep -iE 'version' | head -1))"
say "node $(node --version); TENSORRT_LIB_DIR=$TENSORRT_LIB_DIR; fixtures $TRTNODE_FIXTURES"

# without the sanitizer first: the driver must pass on its own, and how long it takes
t0=$(date +%s%N)
node tools/reliability/sanitizer-driver.mjs --iters 2 > "$logs/driver-plain.log" 2>&1
rc=$?
say "plain (no sanitizer): exit $rc, $(elapsed "$t0") s, $(tail -1 "$logs/driver-plain.log")"
grep '^FAIL' "$logs/driver-plain.log" | tee -a "$summary"
if [ $rc != 0 ]; then
  tar -C "$logs" -cJf "$out/compute-sanitizer-logs.tar.xz" . && rm -rf "$logs"
  say "compute-sanitizer: not run: the driver fails without it (above); fix that first"
  exit 1
fi

fail=0
for tool in ${SANITIZER_TOOLS:-memcheck racecheck synccheck}; do
  extra=()
  limit=${SANITIZER_TIMEOUT_OTHER:-60}
  only=()
  case "$tool" in
    memcheck)
      limit=${SANITIZER_TIMEOUT:-120}
      [ -n "${SANITIZER_LEAK:-}" ] && extra+=(--leak-check full)
      ;;
    racecheck|synccheck)
      # shared-memory hazards and barrier misuse are per kernel: the kernels of one
      # context run and one session run cover what the other steps launch again
      only=(--only context-run,session-cpu)
      ;;
  esac
  t0=$(date +%s%N)
  timeout -k 10 "$limit" "$cs" --tool "$tool" --target-processes all --launch-timeout 120 --print-limit 200 \
    --error-exitcode 86 --log-file "$logs/$tool.log" "${extra[@]}" \
    node tools/reliability/sanitizer-driver.mjs --iters "${SANITIZER_ITERS:-1}" "${only[@]}" > "$logs/$tool.driver.log" 2>&1
  rc=$?
  secs=$(elapsed "$t0")
  summ=$(grep -h 'ERROR SUMMARY' "$logs/$tool.log" 2>/dev/null | tr '\n' ' ')
  what=ok
  case $rc in
    0) ;;
    86) what="errors reported"; fail=1 ;;
    124|137) what="TIMED OUT after ${limit} s (no verdict)"; fail=1 ;;
    *) what="driver or sanitizer failed"; fail=1 ;;
  esac
  say "$tool: exit $rc ($what), $secs s, ${summ:-no ERROR SUMMARY line}, driver: $(tail -1 "$logs/$tool.driver.log")"
  grep '^FAIL' "$logs/$tool.driver.log" | tee -a "$summary"
  # the first reports, so the summary alone says what kind of error it was
  grep -E '^========= (Invalid|Program hit|Race|Barrier|Uninitialized|Leaked|Error|Malloc|Cuda|Warning)' "$logs/$tool.log" 2>/dev/null | sort | uniq -c | sort -rn | head -8 | tee -a "$summary"
done
tar -C "$logs" -cJf "$out/compute-sanitizer-logs.tar.xz" .
rm -rf "$logs"
say "compute-sanitizer: $([ $fail = 0 ] && echo 'all clean' || echo 'NOT clean (see above)'); logs in compute-sanitizer-logs.tar.xz"
exit $fail
