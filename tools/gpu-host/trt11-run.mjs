// Issue 22, on the GPU host (tools/gpu-host/compat-check.sh step 4): with TRTNODE_ADDON at the
// TensorRT 11 prebuild and TENSORRT_LIB_DIR at the 11.2 libraries, (1) builds tiny.onnx with the
// library's own build() (libnvinfer.so.11 + libnvonnxparser.so.11: the 11.x builder through this
// addon, beside the Python bindings' attempt), then (2) runs every 11.x plan it has through
// Session.run and compares the outputs with the fixture's ONNX Runtime reference, (3) has a 10.6
// plan refused with ERR_TRT_VERSION. Prints one JSON object; exit 0 when (3) held and every plan
// that was built computed right (a build that failed is recorded, not an exit).
//   node tools/gpu-host/trt11-run.mjs <fixtures/gpu> <out dir> [plan built elsewhere ...]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Runtime, Session, Tensor, build } from '../../dist/index.js';
import { relError } from '../reliability/rel-error.mjs';

const [fixtures, outDir, ...others] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(join(fixtures, 'manifest.json'), 'utf8')).engines.tiny;
const typed = (e) => ({ code: e.code, message: String(e.message).slice(0, 600) });
const out = { plans: {} };
let ok = true;

try {
  const r = new Runtime();
  out.runtime = r.info;
  try {
    r.deserialize(join(fixtures, manifest.plan));
    out.plan10 = 'loaded (unexpected)';
  } catch (e) {
    out.plan10 = typed(e);
  }
  r.dispose();
} catch (e) {
  out.runtimeError = typed(e);
}
if (out.plan10?.code !== 'ERR_TRT_VERSION') ok = false;

// (1) build() on TensorRT 11, tiny.onnx as it is (static shapes, FP32)
const plans = others.filter((p) => existsSync(p)).map((p) => ({ name: p, path: p }));
try {
  const t0 = Date.now();
  const b = await build({ onnx: join(fixtures, manifest.onnx) });
  const p = join(outDir, 'tiny.trt11.tensorrt-node.plan');
  writeFileSync(p, b.plan);
  out.build = { ok: true, tensorrtVersion: b.tensorrtVersion, device: b.device, bytes: b.plan.length, buildMs: b.buildMs, wallMs: Date.now() - t0, warnings: b.warnings.slice(0, 5) };
  plans.push({ name: 'tensorrt-node build()', path: p });
} catch (e) {
  out.build = { ok: false, error: typed(e) };
}

// (2) each 11.x plan through Session.run against the reference
const ref = manifest.refs.b1;
const load = (t) => {
  const buf = readFileSync(join(fixtures, t.file));
  const a = t.dtype === 'int32' ? new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4) : new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  return new Tensor(t.dtype, a, t.shape);
};
for (const { name, path } of plans) {
  const rec = (out.plans[name] = {});
  let s;
  try {
    s = await Session.create(path);
    const feeds = Object.fromEntries(Object.entries(ref.inputs).map(([k, t]) => [k, load(t)]));
    const got = await s.run(feeds);
    for (const [k, t] of Object.entries(ref.outputs)) {
      const want = load(t).data;
      rec[k] = got[k] ? { dims: got[k].dims, relError: relError(Array.from(got[k].data), Array.from(want)) } : 'missing';
    }
    rec.ok = Object.keys(ref.outputs).every((k) => rec[k] !== 'missing' && rec[k].relError < 1e-3);
  } catch (e) {
    rec.ok = false;
    rec.error = typed(e);
  } finally {
    await s?.dispose();
  }
  if (!rec.ok) ok = false;
}
out.ok = ok;
console.log(JSON.stringify(out, null, 1));
process.exit(ok ? 0 : 1);
