// Run inside a project that installed the tensorrt-node tarball (tools/gpu-host/install-check.sh
// on the GPU host; test/cpu/package-install.test.ts for the no-TensorRT branch): the low-level
// API, Session and the dynamic batcher on the classifier fixture plan (input [N,3,32,32] float32,
// logits [N,10]; the plan the docs' GPU examples name classifier.plan), each result compared with
// the fixture's ONNX Runtime reference. Prints one JSON object. (The docs' examples themselves run
// as written through test/docs-examples-gpu.mjs.)
//   node check-gpu-example.mjs --fixtures <fixtures/gpu> --expect ok        (TensorRT + GPU here)
//   node check-gpu-example.mjs --expect missing                             (no TensorRT: the error)
// Exit 0 when the outcome is the expected one: every example within 1e-3 of the reference, or
// (missing) ERR_TRT_NOT_FOUND as a TensorRtError naming TENSORRT_LIB_DIR.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DeviceBuffer, DynamicBatcher, HostBuffer, Runtime, Session, Tensor, TensorRtBackend, TensorRtError, loadNative, packDims } from 'tensorrt-node';

const args = process.argv.slice(2);
const opt = (name) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
const expect = opt('expect') ?? 'ok';
const require = createRequire(import.meta.url);
const out = { expect };
out.packageRoot = dirname(require.resolve('tensorrt-node/package.json'));
out.packageVersion = JSON.parse(readFileSync(join(out.packageRoot, 'package.json'), 'utf8')).version;
const native = loadNative();
out.headerVersion = native.headerVersion;
out.loaded = () => [...new Set(readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith('.node')).map((l) => l.split(/\s+/).pop()))];

function relError(a, b) {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  const r = Math.sqrt(num) / Math.sqrt(den || 1);
  return Number.isNaN(r) ? Infinity : r;
}
const TOL = 1e-3; // FP32 engine vs ONNX Runtime FP32 (TF32 on Hopper), as in the GPU suite

async function examples(fixtures) {
  const manifest = JSON.parse(readFileSync(join(fixtures, 'manifest.json'), 'utf8'));
  const eng = manifest.engines.classifier_fp32;
  const planPath = join(fixtures, eng.plan);
  const f32 = (file) => {
    const b = readFileSync(join(fixtures, file));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  const refIn = f32(eng.refs.b32.inputs.input.file); // [32,3,32,32]
  const refOut = f32(eng.refs.b32.outputs.logits.file); // [32,10]
  const myBatch = refIn.subarray(0, 8 * 3 * 32 * 32);
  const r = {};

  // --- low-level API (docs/performance.md)
  const logs = [];
  const runtime = new Runtime({ flavor: 'auto', logSeverity: 'warning', onLog: (s, m) => logs.push(`${s} ${m}`) });
  r.runtimeInfo = runtime.info;
  const engine = await runtime.deserializeAsync(planPath);
  const ctx = engine.createContext({ profile: 0 });
  const dIn = new DeviceBuffer(32 * 3 * 32 * 32 * 4), dOut = new DeviceBuffer(32 * 10 * 4);
  const hIn = new HostBuffer(dIn.byteLength), hOut = new HostBuffer(dOut.byteLength);
  ctx.setTensorAddress('input', dIn);  ctx.setHostStaging('input', hIn);
  ctx.setTensorAddress('logits', dOut); ctx.setHostStaging('logits', hOut);
  hIn.view('float32').set(myBatch);
  const outDims = new Int32Array(8);
  await ctx.run(packDims([[8, 3, 32, 32]]), outDims);
  const logits = new Float32Array(hOut.buffer, 0, 8 * 10);
  r.lowLevel = { outDims: Array.from(outDims.subarray(0, 3)), relError: relError(logits, refOut.subarray(0, 80)), logs: logs.slice(0, 5) };
  ctx.dispose();
  for (const b of [dIn, dOut, hIn, hOut]) b.dispose();
  engine.dispose();
  runtime.dispose();

  // --- Session
  const session = await Session.create(planPath, { contexts: 2 });
  const input = new Tensor('float32', Float32Array.from(myBatch), [8, 3, 32, 32]);
  const res = await session.run({ input });
  r.session = { dims: res.logits.dims, relError: relError(res.logits.data, refOut.subarray(0, 80)), inputMetadata: session.inputMetadata };
  await session.dispose();

  // --- dynamic batching: 32 single-image callers
  const backend = new TensorRtBackend();
  const instances = await Promise.all([0, 1].map(() => backend.createInstance(planPath)));
  const batcher = new DynamicBatcher(instances, { maxBatchSize: 32, preferredBatchSize: [16, 32], maxQueueDelayMicroseconds: 500 });
  const one = (i) => new Tensor('float32', refIn.slice(i * 3072, (i + 1) * 3072), [1, 3, 32, 32]);
  const got = await Promise.all(Array.from({ length: 32 }, (_, i) => batcher.infer({ input: one(i) })));
  const all = new Float32Array(320);
  got.forEach((g, i) => all.set(g.logits.data, i * 10));
  const st = batcher.statistics();
  r.batcher = { relError: relError(all, refOut), executions: st.executionCount, inferences: st.inferenceCount };
  await batcher.close();
  return r;
}

let pass = false;
try {
  if (expect === 'missing') {
    // what a user without TensorRT sees first
    new Runtime().dispose();
    out.runtime = { created: true };
  } else {
    const fixtures = opt('fixtures');
    if (!fixtures) throw new Error('--fixtures <dir with manifest.json> is required with --expect ok');
    out.examples = await examples(fixtures);
    const e = out.examples;
    pass =
      JSON.stringify(e.lowLevel.outDims) === '[2,8,10]' && e.lowLevel.relError < TOL &&
      JSON.stringify(e.session.dims) === '[8,10]' && e.session.relError < TOL &&
      e.batcher.relError < TOL && e.batcher.inferences === 32 && e.batcher.executions < 32;
  }
} catch (e) {
  out.error = { isTensorRtError: e instanceof TensorRtError, name: e.name, code: e.code, message: e.message };
}
if (expect === 'missing') {
  pass = out.error?.isTensorRtError === true && out.error.code === 'ERR_TRT_NOT_FOUND' && out.error.message.includes('TENSORRT_LIB_DIR');
}
out.loaded = out.loaded();
// only the installed package's prebuilt addon: nothing from a build tree or another checkout
const ours = out.loaded.filter((p) => /tensorrt[-_]node/.test(p));
out.addonFromPrebuild = ours.length === 1 && ours[0] === join(out.packageRoot, 'prebuilds', 'linux-x64', 'tensorrt-node.napi.node');
pass &&= out.addonFromPrebuild;
out.pass = pass;
process.stdout.write(`${JSON.stringify(out, (k, v) => (typeof v === 'bigint' ? String(v) : v), 1)}\n`);
process.exitCode = pass ? 0 : 1;
