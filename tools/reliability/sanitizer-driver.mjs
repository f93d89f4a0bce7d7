#!/usr/bin/env node
// A short tour of the GPU paths for compute-sanitizer (tools/reliability/compute-sanitizer.sh):
// the tiny and classifier fixture plans through the public API of dist/ — a low-level context
// run (with and without a CUDA graph), Session.run with CPU and GPU outputs, DeviceBuffer and
// HostBuffer copies, disposal while runs are in flight, and the dynamic batcher on 2 instances
// (completions woken and polled; batches gathered on the launch thread and DMA'd from staging).
// Every result is checked against the fixture references, so a run under the sanitizer is also
// a correctness run. Small on purpose: the sanitizer slows kernels down by 10-100x.
//   node tools/reliability/sanitizer-driver.mjs [--iters N] [--only step,step]
// Prints one line per step ("ok <step> <ms>" or "FAIL <step>: <why>") and "driver: N ok, M failed";
// exits 1 if any step failed.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { opt } from './cli-args.mjs';
import { relError } from './rel-error.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const lib = await import(process.env.TRTNODE_LIB ?? '../../dist/index.js');
const { Runtime, Session, Tensor, DeviceBuffer, HostBuffer, Stream, TensorRtBackend, DynamicBatcher, deviceTensor, packDims } = lib;

const ITERS = Number(opt('iters', process.env.SANITIZER_ITERS ?? 2));
const only = opt('only')?.split(',');
const FIX = process.env.TRTNODE_FIXTURES ?? join(here, '..', '..', 'fixtures', 'gpu');
const manifest = JSON.parse(readFileSync(join(FIX, 'manifest.json'), 'utf8'));
const plan = (name) => join(FIX, 'engines', `${name}.plan`);
const CTOR = { float32: Float32Array, int32: Int32Array };

function ref(engine, c) {
  const r = manifest.engines[engine].refs[c];
  const load = (m) =>
    Object.fromEntries(
      Object.entries(m).map(([k, t]) => {
        const b = readFileSync(join(FIX, t.file));
        const C = CTOR[t.dtype];
        const data = new C(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
        return [k, new Tensor(t.dtype, data, t.shape)];
      }),
    );
  return { inputs: load(r.inputs), outputs: load(r.outputs) };
}
function rows(t, from, to) {
  const per = t.size / t.dims[0];
  return new Tensor(t.type, t.data.slice(from * per, to * per), [to - from, ...t.dims.slice(1)]);
}
function check(cond, why) {
  if (!cond) throw new Error(why);
}
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const TOL = 1e-3; // FP32 engines vs ONNX Runtime FP32 (TF32 on Hopper), as in test/gpu/session.test.ts

const steps = {
  // Runtime → engine → context; device/host staging, packed dims, plain enqueue then CUDA graph replay
  async 'context-run'() {
    const rt = new Runtime({ logSeverity: 'error' });
    const engine = await rt.deserializeAsync(plan('classifier_fp32'));
    const ctx = engine.createContext({ profile: 0 });
    const r = ref('classifier_fp32', 'b32');
    const dIn = new DeviceBuffer(32 * 3 * 32 * 32 * 4);
    const dOut = new DeviceBuffer(32 * 10 * 4);
    const hIn = new HostBuffer(dIn.byteLength);
    const hOut = new HostBuffer(dOut.byteLength);
    ctx.setTensorAddress('input', dIn);
    ctx.setHostStaging('input', hIn);
    ctx.setTensorAddress('logits', dOut);
    ctx.setHostStaging('logits', hOut);
    hIn.view('float32').set(r.inputs.input.data);
    for (const graph of [false, true]) {
      ctx.setCudaGraph(graph);
      for (let i = 0; i < ITERS + 1; i++) {
        for (const n of [8, 32]) {
          const outDims = new Int32Array(8);
          await ctx.run(packDims([[n, 3, 32, 32]]), outDims);
          check(same(Array.from(outDims.subarray(0, 3)), [2, n, 10]), `output dims ${outDims.subarray(0, 3)}`);
          const err = relError(new Float32Array(hOut.buffer, 0, n * 10), rows(r.outputs.logits, 0, n).data);
          check(err < TOL, `graph=${graph} batch ${n}: relative error ${err}`);
        }
      }
    }
    ctx.dispose();
    for (const b of [dIn, dOut, hIn, hOut]) b.dispose();
    engine.dispose();
    rt.dispose();
  },
  // Session.run, host outputs: tiny (exact, FP32 + INT32 IO) and the classifier at batches 1, 7, 32
  async 'session-cpu'() {
    const tiny = await Session.create(plan('tiny'));
    const t = ref('tiny', 'b1');
    for (let i = 0; i < ITERS; i++) {
      const out = await tiny.run(t.inputs);
      check(same(Array.from(out.y.data), Array.from(t.outputs.y.data)), 'tiny y differs from the reference');
      check(same(Array.from(out.m.data), Array.from(t.outputs.m.data)), 'tiny m differs from the reference');
    }
    await tiny.dispose();
    for (const engine of ['classifier_fp32', 'classifier_fp16']) {
      const s = await Session.create(plan(engine), { contexts: 2 });
      for (const c of ['b1', 'b7', 'b32']) {
        const r = ref('classifier_fp32', c);
        const out = await s.run(r.inputs);
        const err = relError(out.logits.data, r.outputs.logits.data);
        check(err < (engine.endsWith('16') ? 2e-2 : TOL), `${engine} ${c}: relative error ${err}`);
      }
      await s.dispose();
    }
  },
  // Session.run with a device-resident input and outputs left on the GPU, copied back explicitly
  async 'session-gpu'() {
    const r = ref('classifier_fp32', 'b7');
    const s = await Session.create(plan('classifier_fp32'), { outputLocation: 'gpu' });
    const stream = new Stream();
    const dIn = new DeviceBuffer(r.inputs.input.data.byteLength);
    await dIn.copyFrom(r.inputs.input.data, { stream });
    for (let i = 0; i < ITERS; i++) {
      const out = await s.run({ input: deviceTensor('float32', dIn, [7, 3, 32, 32]) }, { outputLocation: 'gpu' });
      check(same(out.logits.dims, [7, 10]), `dims ${out.logits.dims}`);
      const host = new Float32Array(70);
      await out.logits.buffer.copyTo(host, { stream, byteLength: 280 });
      const err = relError(host, r.outputs.logits.data);
      check(err < TOL, `relative error ${err}`);
    }
    await s.dispose();
    dIn.dispose();
    stream.dispose();
    // reused pinned outputs
    const reuse = await Session.create(plan('classifier_fp32'), { reuseOutputs: true });
    const a = await reuse.run(r.inputs);
    check(relError(a.logits.data, r.outputs.logits.data) < TOL, 'reuseOutputs result');
    await reuse.dispose();
  },
  // host ↔ device ↔ device copies through pageable and pinned memory, fill, partial lengths
  async 'buffers'() {
    const stream = new Stream();
    const n = 1 << 16;
    const src = new Float32Array(n).map((_, i) => Math.sin(i));
    const a = new DeviceBuffer(n * 4);
    const b = new DeviceBuffer(n * 4);
    const pinned = new HostBuffer(n * 4);
    for (let i = 0; i < ITERS; i++) {
      await a.copyFrom(src, { stream });
      await b.copyFrom(a, { stream });
      await b.copyTo(pinned, { stream });
      check(same(Array.from(pinned.view('float32')), Array.from(src)), 'round trip differs');
      await b.fill(0xff, { stream });
      await b.copyTo(pinned, { stream });
      check(new Uint8Array(pinned.buffer).every((x) => x === 0xff), 'fill');
      const part = new Float32Array(100);
      await a.copyTo(part, { stream, byteLength: 400 });
      check(same(Array.from(part), Array.from(src.subarray(0, 100))), 'partial copy');
    }
    pinned.dispose();
    a.dispose();
    b.dispose();
    stream.dispose();
  },
  // dispose while runs are in flight: a session (dispose waits), and engine/context/buffers
  // released right after enqueueing (freed when the last run completes)
  async 'dispose-in-flight'() {
    const r = ref('classifier_fp32', 'b7');
    const s = await Session.create(plan('classifier_fp32'), { contexts: 2 });
    const runs = Array.from({ length: 20 * ITERS }, () => s.run(r.inputs));
    const disposing = s.dispose();
    const settled = await Promise.allSettled(runs);
    await disposing;
    check(settled.every((x) => x.status === 'fulfilled'), `session: ${settled.filter((x) => x.status !== 'fulfilled').length} runs rejected`);
    check(relError(settled.at(-1).value.logits.data, r.outputs.logits.data) < TOL, 'last run after dispose began');
    const rt = new Runtime({ logSeverity: 'error' });
    const engine = await rt.deserializeAsync(plan('classifier_fp32'));
    const ctx = engine.createContext();
    const dIn = new DeviceBuffer(32 * 3 * 32 * 32 * 4);
    const dOut = new DeviceBuffer(32 * 10 * 4);
    ctx.setTensorAddress('input', dIn);
    ctx.setTensorAddress('logits', dOut);
    ctx.setInputShape('input', [32, 3, 32, 32]);
    const pending = Array.from({ length: 20 * ITERS }, () => ctx.run());
    dIn.dispose();
    dOut.dispose();
    ctx.dispose();
    engine.dispose();
    rt.dispose();
    const done = await Promise.allSettled(pending);
    check(done.every((x) => x.status === 'fulfilled'), 'context runs rejected after dispose');
    const late = await ctx.run().then(() => 'resolved', (e) => e.code);
    check(late === 'ERR_DISPOSED', `use after dispose: ${late}`);
  },
  // the dynamic batcher over 2 TensorRT instances: concurrent requests of 1..4 rows equal running alone
  async 'batcher'() {
    await batcherTour(new TensorRtBackend());
    // requests in pinned memory: each is DMA'd from where it is as it joins a batch (stageInput), not copied through the staging
    await batcherTour(new TensorRtBackend({ cudaGraph: true }), { pinned: true });
  },
  // the same with completions polled on the event loop (the watcher does not wake it then), plus
  // Session.run on a polled stream
  async 'poll'() {
    const tiny = await Session.create(plan('tiny'), { completion: 'poll' });
    const t = ref('tiny', 'b1');
    for (let i = 0; i < ITERS; i++) {
      const out = await tiny.run(t.inputs);
      check(same(Array.from(out.y.data), Array.from(t.outputs.y.data)), 'tiny y differs from the reference (poll)');
    }
    await tiny.dispose();
    // a polled stream with CUDA graphs: the JS thread launches the replays inline and completes them
    const graphed = await Session.create(plan('tiny'), { completion: 'poll', cudaGraph: true });
    for (let i = 0; i < ITERS + 3; i++) {
      const out = await graphed.run(t.inputs);
      check(same(Array.from(out.y.data), Array.from(t.outputs.y.data)), 'tiny y differs from the reference (poll, graph)');
    }
    await graphed.dispose();
    await batcherTour(new TensorRtBackend({ completion: 'poll' }));
  },
};

async function batcherTour(backend, { pinned = false } = {}) {
  const instances = await Promise.all([0, 1].map(() => backend.createInstance(plan('classifier_fp32'))));
  const batcher = new DynamicBatcher(instances, { maxBatchSize: 32, maxQueueDelayMicroseconds: 200 });
  const r = ref('classifier_fp32', 'b32');
  const reqs = Array.from({ length: 48 * ITERS }, (_, i) => {
    const k = 1 + (i % 4);
    const from = (i * 7) % (32 - k);
    return { from, k };
  });
  let inputs = reqs.map(({ from, k }) => rows(r.inputs.input, from, from + k));
  let host;
  if (pinned) {
    host = new HostBuffer(inputs.reduce((a, t) => a + t.data.byteLength, 0));
    let at = 0;
    inputs = inputs.map((t) => {
      const v = new Float32Array(host.buffer, at, t.data.length);
      v.set(t.data);
      at += t.data.byteLength;
      return new Tensor('float32', v, t.dims);
    });
  }
  const got = await Promise.all(inputs.map((input) => batcher.infer({ input })));
  for (let i = 0; i < reqs.length; i++) {
    const { from, k } = reqs[i];
    const err = relError(got[i].logits.data, rows(r.outputs.logits, from, from + k).data);
    check(err < TOL, `request ${i}: relative error ${err}`);
  }
  const stats = batcher.statistics();
  check(stats.executionCount < reqs.length, `not batched: ${stats.executionCount} executions`);
  await batcher.close();
  await Promise.all(instances.map((x) => x.dispose()));
  host?.dispose();
}

let ok = 0;
let failed = 0;
for (const [name, fn] of Object.entries(steps)) {
  if (only && !only.includes(name)) continue;
  const t0 = performance.now();
  try {
    await fn();
    ok++;
    console.log(`ok ${name} ${(performance.now() - t0).toFixed(0)} ms`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.code ?? ''} ${String(e.message ?? e).split('\n')[0]}`);
  }
}
console.log(`driver: ${ok} ok, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
