#!/usr/bin/env bash
# On the GPU test host (issue 24 item 3): builds the fixture ONNX models with `tensorrt-node build`
# and, when TRTEXEC names a trtexec binary, with trtexec and the same flags; times both builds,
# compares the two plans' IO and profiles, runs both against the references (fixtures/gpu/refs),
# and with TRTEXEC measures both plans with `trtexec --loadEngine` (in the order A B B A); then
# runs test/gpu/build.test.ts (progress, cancellation, parse errors, the repository's build on
# first load).
#   bash tools/gpu-host/build-check.sh [--no-tests]
# Needs: the full TensorRT 10.6 in $TENSORRT_LIB_DIR (default /tmp/opt/trt/lib: libnvinfer,
# libnvinfer_builder_resource, libnvonnxparser; `stage.sh builder`), node + node_modules + the addon
# + dist/ (.stage/app, unpacked by env.sh). Optional: TRTEXEC=/path/to/trtexec (issue 24 item 1);
# EXTRA_ONNX=/path/model.onnx with EXTRA_FLAGS="--minShapes=... --fp16" and EXTRA_SHAPES=input:32x3x224x224
# adds a case (the workflow's wide_resnet101_2, say) to the build-time and throughput comparison.
# Writes to $OUT: build-check.txt (summary), build-check.json, build-check-logs.tar.xz, test-build.log.
# Exit 0 when every build succeeded, every plan matched its references, the IO and profiles of the
# two builders agree, and the GPU test passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/gpu-host/env.sh
export LD_LIBRARY_PATH="$TENSORRT_LIB_DIR:${LD_LIBRARY_PATH:-}"
run_tests=1
[ "${1:-}" = "--no-tests" ] && run_tests=0
summary=$out/build-check.txt
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }
[ -f dist/cli/main.js ] || { say "build-check: no dist/cli/main.js: carry .stage/app (stage.sh app runs npm run build:ts)"; exit 2; }
ls "$TENSORRT_LIB_DIR"/libnvinfer_builder_resource.so.* >/dev/null 2>&1 || { say "build-check: no libnvinfer_builder_resource in $TENSORRT_LIB_DIR: stage the builder (stage.sh builder)"; exit 2; }
ls "$TENSORRT_LIB_DIR"/libnvonnxparser.so.* >/dev/null 2>&1 || { say "build-check: no libnvonnxparser in $TENSORRT_LIB_DIR"; exit 2; }
if [ -n "${TRTEXEC:-}" ] && [ ! -x "$TRTEXEC" ]; then say "build-check: TRTEXEC=$TRTEXEC is not executable"; exit 2; fi
work=/tmp/build-check
rm -rf "$work" && mkdir -p "$work/logs"
F=$TRTNODE_FIXTURES
say "date: $(date -u +%FT%TZ); $(nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader); node $(node --version)"
say "TensorRT: $TENSORRT_LIB_DIR; trtexec: ${TRTEXEC:-not set}; fixtures: $F"

# name | ONNX | build flags | inference shapes for trtexec --loadEngine ('' = static)
cases=(
  "tiny|$F/onnx/tiny.onnx||"
  "classifier_fp32|$F/onnx/classifier.onnx|--minShapes=input:1x3x32x32 --optShapes=input:8x3x32x32 --maxShapes=input:32x3x32x32|input:32x3x32x32"
  "classifier_fp16|$F/onnx/classifier.onnx|--minShapes=input:1x3x32x32 --optShapes=input:8x3x32x32 --maxShapes=input:32x3x32x32 --fp16|input:32x3x32x32"
  "seq_mlp_2prof|$F/onnx/seq_mlp.onnx|--profile=0 --minShapes=tokens:1x1x16 --optShapes=tokens:2x32x16 --maxShapes=tokens:4x64x16 --profile=1 --minShapes=tokens:8x64x16 --optShapes=tokens:16x128x16 --maxShapes=tokens:32x256x16|tokens:2x32x16"
  "dtypes|$F/onnx/dtypes.onnx||"
)
[ -n "${EXTRA_ONNX:-}" ] && cases+=("extra|$EXTRA_ONNX|${EXTRA_FLAGS:-}|${EXTRA_SHAPES:-}")

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rc=0
: > "$work/cases.tsv"
for c in "${cases[@]}"; do
  IFS='|' read -r name onnx flags shapes <<< "$c"
  [ -f "$onnx" ] || { say "$name: $onnx missing, skipped"; continue; }
  t0=$(now)
  # shellcheck disable=SC2086 # the flags are words
  node dist/cli/main.js build --onnx="$onnx" $flags --saveEngine="$work/$name.node.plan" > "$work/logs/$name.node.log" 2>&1
  nrc=$?
  t1=$(now)
  node_s=$(elapsed "$t0" "$t1")
  [ $nrc -eq 0 ] || { rc=1; say "$name: tensorrt-node build failed (exit $nrc): $(tail -3 "$work/logs/$name.node.log" | tr '\n' ' ')"; }
  trt_s=""
  if [ -n "${TRTEXEC:-}" ]; then
    t0=$(now)
    # shellcheck disable=SC2086
    "$TRTEXEC" --onnx="$onnx" $flags --saveEngine="$work/$name.trtexec.plan" --skipInference > "$work/logs/$name.trtexec.log" 2>&1
    trc=$?
    t1=$(now)
    trt_s=$(elapsed "$t0" "$t1")
    [ $trc -eq 0 ] || { rc=1; say "$name: trtexec build failed (exit $trc): $(tail -3 "$work/logs/$name.trtexec.log" | tr '\n' ' ')"; }
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$onnx" "$node_s" "$trt_s" "$shapes" >> "$work/cases.tsv"
done

# IO, profiles and outputs of every plan; trtexec --loadEngine throughput of both builders' plans
WORK=$work node --input-type=module - <<'EOF' 2>&1 | tee -a "$summary"
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
const { Runtime, Session, Tensor } = await import(resolve('dist/index.js'));
const work = process.env.WORK, F = process.env.TRTNODE_FIXTURES, trtexec = process.env.TRTEXEC;
const manifest = JSON.parse(readFileSync(join(F, 'manifest.json'), 'utf8'));
const NP = { float32: ['float32', Float32Array], float16: ['float16', Uint16Array], int32: ['int32', Int32Array], int64: ['int64', BigInt64Array], bool: ['bool', Uint8Array], uint8: ['uint8', Uint8Array], int8: ['int8', Int8Array] };
const ref = (t) => { const [dt, C] = NP[t.dtype]; const b = readFileSync(join(F, t.file)); const ab = new ArrayBuffer(b.byteLength); new Uint8Array(ab).set(b); return new Tensor(dt, new C(ab), t.shape); };
const half = (h) => { const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff; return e === 0 ? s * 2 ** -14 * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * 2 ** (e - 15) * (1 + f / 1024); };
const nums = (t) => Array.from(t.data, (v) => (t.type === 'float16' ? half(v) : Number(v)));
const relErr = (a, b) => { if (a.length !== b.length) return Infinity; let n = 0, d = 0; for (let i = 0; i < a.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; } const r = Math.sqrt(n) / Math.sqrt(d || 1); return Number.isNaN(r) ? Infinity : r; };
const rows = readFileSync(join(work, 'cases.tsv'), 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
const rt = new Runtime({ hostCodeAllowed: true });
const report = { date: new Date().toISOString(), runtime: rt.info, cases: {} };
let failed = false;
const describe = async (file) => { const e = await rt.deserializeAsync(file); const d = { io: e.io.map((t) => ({ name: t.name, mode: t.mode, dtype: t.dtype, shape: t.shape })), profiles: e.profiles }; e.dispose(); return d; };
const fixture = (name) => manifest.engines[name] ?? Object.values(manifest.engines).find((x) => x.onnx === `onnx/${name.replace(/_fp(16|32)$|_2prof$/, '')}.onnx`);
async function checkRefs(planFile, name) {
  const e = fixture(name); if (!e) return { note: 'no references' };
  const tol = /fp16|dtypes/.test(name) ? 2e-2 : 1e-3;
  const out = {};
  for (const [c, r] of Object.entries(e.refs)) {
    const profile = /^p(\d+)$/.test(c) ? Number(c.slice(1)) : 0;
    const s = await Session.create(planFile, { profile, hostCodeAllowed: true });
    const inputs = Object.fromEntries(Object.entries(r.inputs).map(([k, v]) => [k, ref(v)]));
    const got = await s.run(inputs);
    let worst = 0;
    for (const [k, v] of Object.entries(r.outputs)) worst = Math.max(worst, relErr(nums(got[k]), nums(ref(v))));
    await s.dispose();
    out[c] = { relErr: worst, ok: worst < tol };
    if (!(worst < tol)) failed = true;
  }
  return out;
}
function throughput(planFile, shapes) {
  const args = [`--loadEngine=${planFile}`, ...(shapes ? [`--shapes=${shapes}`] : []), '--useCudaGraph', '--duration=5'];
  const log = execFileSync(trtexec, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const m = /Throughput: ([\d.]+) qps/.exec(log);
  return m ? Number(m[1]) : NaN;
}
const line = (...c) => console.log(c.map((x, i) => String(x).padEnd([16, 10, 10, 7, 12, 36, 36][i] ?? 12)).join(' '));
line('case', 'node s', 'trtexec s', 'ratio', 'IO/profiles', 'node plan vs refs', 'trtexec plan vs refs');
for (const [name, onnx, nodeS, trtS, shapes] of rows) {
  const r = { onnx, buildSeconds: { node: Number(nodeS), trtexec: trtS ? Number(trtS) : null } };
  const nodePlan = join(work, `${name}.node.plan`), trtPlan = join(work, `${name}.trtexec.plan`);
  if (existsSync(nodePlan)) { r.node = await describe(nodePlan); r.nodeRefs = await checkRefs(nodePlan, name); } else failed = true;
  if (trtexec && existsSync(trtPlan)) {
    r.trtexec = await describe(trtPlan); r.trtexecRefs = await checkRefs(trtPlan, name);
    r.sameIoAndProfiles = JSON.stringify(r.node) === JSON.stringify(r.trtexec);
    if (!r.sameIoAndProfiles) failed = true;
  }
  if (trtexec && shapes && existsSync(nodePlan) && existsSync(trtPlan)) {
    // A B B A: each plan measured twice, in both positions
    const a1 = throughput(nodePlan, shapes), b1 = throughput(trtPlan, shapes), b2 = throughput(trtPlan, shapes), a2 = throughput(nodePlan, shapes);
    r.throughputQps = { node: [a1, a2], trtexec: [b1, b2], ratio: (a1 + a2) / (b1 + b2) };
  }
  const refs = (x) => (x ? Object.entries(x).map(([c, v]) => (v.relErr === undefined ? v.note ?? c : `${c} ${v.relErr.toExponential(1)}${v.ok ? '' : ' FAIL'}`)).join(', ') : '-');
  line(name, Number(nodeS).toFixed(1), trtS ? Number(trtS).toFixed(1) : '-', trtS ? (Number(nodeS) / Number(trtS)).toFixed(3) : '-', r.sameIoAndProfiles === undefined ? '-' : r.sameIoAndProfiles ? 'same' : 'DIFFER', refs(r.nodeRefs), refs(r.trtexecRefs));
  if (r.throughputQps) console.log(`  trtexec --loadEngine --useCudaGraph ${shapes || '(static)'}: node plan ${r.throughputQps.node.map((q) => q.toFixed(0)).join('/')} qps, trtexec plan ${r.throughputQps.trtexec.map((q) => q.toFixed(0)).join('/')} qps, ratio ${r.throughputQps.ratio.toFixed(3)}`);
  report.cases[name] = r;
}
rt.dispose();
writeFileSync(join(process.env.OUT ?? '/tmp/out', 'build-check.json'), JSON.stringify(report, null, 1));
console.log(failed ? 'build-check: FAILED (see above)' : 'build-check: every plan matches its references' + (trtexec ? ', IO and profiles agree with trtexec' : ''));
process.exit(failed ? 1 : 0);
EOF
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
tar -C "$work" -cJf "$out/build-check-logs.tar.xz" logs cases.tsv

if [ $run_tests -eq 1 ]; then
  TRTNODE_REQUIRE_BUILDER=1 node node_modules/vitest/vitest.mjs run --config vitest.gpu.config.ts test/gpu/build.test.ts > "$out/test-build.log" 2>&1
  trc=$?
  sed 's/\x1b\[[0-9;]*m//g' "$out/test-build.log" | grep -E "✓|×|↓|Tests |FAIL|built|cancelled|unsupported op|phases" | tee -a "$summary"
  [ $trc -eq 0 ] || rc=1
fi
say "build-check exit $rc"
exit $rc
