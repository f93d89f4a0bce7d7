// The low-level path: buffers and copies, 8 contexts on 8 streams at once, CUDA graphs,
// disposal while work is in flight, and a leak check.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../../lib/tensorrt/runtime.js';
import { DeviceBuffer, HostBuffer, Stream, cudaInfo, markTimingEpoch } from '../../lib/tensorrt/cuda.js';
import { packDims } from '../../lib/tensorrt/context.js';
import { Session } from '../../lib/tensorrt/session.js';
import { GPU_READY, SKIP_REASON, plan, refCase, relError, rows, expectCode } from './helpers.js';

/** A context of the FP32 classifier with device buffers and pinned staging for `batch` images. */
async function classifierContext(batch: number) {
  const rt = new Runtime();
  const engine = await rt.deserializeAsync(plan('classifier_fp32'));
  const ctx = engine.createContext();
  const dIn = new DeviceBuffer(batch * 3 * 32 * 32 * 4);
  const dOut = new DeviceBuffer(batch * 10 * 4);
  const hIn = new HostBuffer(batch * 3 * 32 * 32 * 4);
  const hOut = new HostBuffer(batch * 10 * 4);
  ctx.setTensorAddress('input', dIn);
  ctx.setTensorAddress('logits', dOut);
  ctx.setHostStaging('input', hIn);
  ctx.setHostStaging('logits', hOut);
  return { rt, engine, ctx, dIn, dOut, hIn, hOut };
}

describe.skipIf(!GPU_READY)(`ExecutionContext, buffers and streams${SKIP_REASON}`, () => {
  it('host → device → device → host round trip through pinned and pageable memory', async () => {
    const stream = new Stream();
    const n = 1 << 16;
    const src = new Float32Array(n).map((_, i) => Math.sin(i));
    const a = new DeviceBuffer(n * 4);
    const b = new DeviceBuffer(n * 4);
    const pinned = new HostBuffer(n * 4);
    await a.copyFrom(src, { stream });
    await b.copyFrom(a, { stream });
    await b.copyTo(pinned, { stream });
    expect(Array.from(pinned.view('float32') as Float32Array)).toEqual(Array.from(src));
    await b.fill(0xff, { stream });
    await b.copyTo(pinned, { stream });
    expect(new Uint8Array(pinned.buffer).every((x) => x === 0xff)).toBe(true);
    // a HostBuffer disposed detaches its ArrayBuffer: views become empty, nothing dangles
    const view = pinned.view('float32');
    pinned.dispose();
    expect(view.length).toBe(0);
    expectCode(() => pinned.buffer, 'ERR_DISPOSED');
    a.dispose();
    b.dispose();
    await expect(b.copyFrom(src, { stream })).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    stream.dispose();
  });

  it('8 contexts on 8 streams run concurrently with correct, independent results', async () => {
    const rt = new Runtime();
    const engine = await rt.deserializeAsync(plan('classifier_fp32'));
    const ref = refCase('classifier', 'b32');
    const ctxs = Array.from({ length: 8 }, (_, i) => {
      const ctx = engine.createContext();
      const n = i + 1; // each context its own batch size and rows
      const input = rows(ref.inputs.input!, i, i + n > 32 ? 32 : i + n);
      const inBytes = input.data.byteLength;
      const dIn = new DeviceBuffer(inBytes);
      const dOut = new DeviceBuffer(32 * 10 * 4);
      const hIn = new HostBuffer(inBytes);
      const hOut = new HostBuffer(32 * 10 * 4);
      new Uint8Array(hIn.buffer).set(new Uint8Array(input.data.buffer, input.data.byteOffset, inBytes));
      ctx.setTensorAddress('input', dIn);
      ctx.setTensorAddress('logits', dOut);
      ctx.setHostStaging('input', hIn);
      ctx.setHostStaging('logits', hOut);
      ctx.setInputShape('input', [...input.dims]);
      return { ctx, input, hOut, dIn, dOut, hIn, from: i };
    });
    for (let round = 0; round < 5; round++) {
      await Promise.all(ctxs.map((c) => c.ctx.run()));
      for (const c of ctxs) {
        const n = c.input.dims[0]!;
        const got = new Float32Array(c.hOut.buffer, 0, n * 10);
        expect(relError(got, rows(ref.outputs.logits!, c.from, c.from + n).data as Float32Array)).toBeLessThan(1e-3);
      }
    }
    expect(new Set(ctxs.map((c) => c.ctx.stream.native.handle)).size).toBe(8);
    for (const c of ctxs) {
      c.ctx.dispose();
      for (const b of [c.dIn, c.dOut, c.hIn, c.hOut]) b.dispose();
    }
    engine.dispose();
    rt.dispose();
  });

  it('CUDA graph replay gives the same outputs as plain enqueue; graphs are kept per shape and replayed when a shape comes back', async () => {
    const { rt, engine, ctx, dIn, dOut, hIn, hOut } = await classifierContext(32);
    const ref = refCase('classifier', 'b32');
    new Uint8Array(hIn.buffer).set(new Uint8Array(ref.inputs.input!.data.buffer));
    const results: Record<string, Float32Array> = {};
    for (const graph of [false, true]) {
      ctx.setCudaGraph(graph);
      for (const n of [8, 8, 8, 16, 16, 16, 8, 8]) {
        const outDims = new Int32Array(8);
        await ctx.run({ inputDims: packDims([[n, 3, 32, 32]]), outputDims: outDims });
        expect(Array.from(outDims.subarray(0, 3))).toEqual([2, n, 10]);
        const got = Float32Array.from(new Float32Array(hOut.buffer, 0, n * 10));
        // every graph run (captured or replayed from the cache) equals the plain run
        if (graph) expect(Array.from(got)).toEqual(Array.from(results[`false-${n}`]!));
        results[`${graph}-${n}`] = got;
      }
      // replayed for the shapes seen twice after one plain run at each (TensorRT needs one before capture)
      expect(ctx.graphLaunches > 0).toBe(graph);
      // one graph per shape: 8 was replayed after 16, not captured again
      expect(ctx.graphCount).toBe(graph ? 2 : 0);
    }
    for (const n of [8, 16]) {
      expect(Array.from(results[`true-${n}`]!)).toEqual(Array.from(results[`false-${n}`]!));
      expect(relError(results[`true-${n}`]!, rows(ref.outputs.logits!, 0, n).data as Float32Array)).toBeLessThan(1e-3);
    }
    ctx.dispose();
    for (const b of [dIn, dOut, hIn, hOut]) b.dispose();
    engine.dispose();
    rt.dispose();
  });

  it('setTiming: [h2d, compute, d2h] ms per run, in a new array or written into the caller\'s', async () => {
    const { rt, engine, ctx, dIn, dOut, hIn, hOut } = await classifierContext(8);
    const dims = packDims([[8, 3, 32, 32]]);
    expect(await ctx.run({ inputDims: dims })).toBeUndefined();
    ctx.setTiming(true);
    const a = await ctx.run({ inputDims: dims });
    const b = await ctx.run({ inputDims: dims });
    expect(a).toBeInstanceOf(Float64Array);
    expect(b).not.toBe(a);
    for (const t of [a!, b!]) for (const ms of t) expect(ms >= 0 && ms < 1000).toBe(true);
    expect(a![1]).toBeGreaterThan(0); // the inference itself takes time
    const into = new Float64Array(4).fill(-1);
    ctx.setTiming(true, into);
    const c = await ctx.run({ inputDims: dims });
    expect(c).toBe(into);
    expect(into[1]).toBeGreaterThan(0);
    expect(into[3]).toBe(-1); // only the first three are written
    expectCode(() => ctx.setTiming(true, new Float32Array(3) as unknown as Float64Array), 'ERR_INVALID_ARGUMENT');
    expectCode(() => ctx.setTiming(true, new Float64Array(2)), 'ERR_INVALID_ARGUMENT');
    expect(await ctx.run({ inputDims: dims })).toBe(into); // a rejected setTiming changed nothing
    ctx.setTiming(false);
    expect(await ctx.run({ inputDims: dims })).toBeUndefined();
    ctx.dispose();
    for (const x of [dIn, dOut, hIn, hOut]) x.dispose();
    engine.dispose();
    rt.dispose();
  });

  it('timeline (markTimingEpoch): timed runs add [start, end] ms from the mark, in order; the C++ loop returns startMs/endMs', async () => {
    const { rt, engine, ctx, dIn, dOut, hIn, hOut } = await classifierContext(8);
    const dims = packDims([[8, 3, 32, 32]]);
    ctx.setTiming(true);
    markTimingEpoch(0);
    const a = (await ctx.run({ inputDims: dims }))!;
    const b = (await ctx.run({ inputDims: dims }))!;
    expect(a.length).toBe(5);
    expect(a[3]).toBeGreaterThanOrEqual(0);
    expect(a[4]).toBeGreaterThanOrEqual(a[3]!);
    expect(b[3]).toBeGreaterThanOrEqual(a[4]!); // one stream: the second starts after the first ends
    // the span covers the three phases
    expect(a[4]! - a[3]!).toBeCloseTo(a[0]! + a[1]! + a[2]!, 2);
    const four = new Float64Array(4).fill(-1);
    ctx.setTiming(true, four);
    await ctx.run({ inputDims: dims });
    expect(four[3]).toBe(-1); // no room: start and end are not written
    const five = new Float64Array(5).fill(-1);
    ctx.setTiming(true, five);
    await ctx.run({ inputDims: dims });
    expect(five[3]).toBeGreaterThan(b[3]!);
    ctx.setTiming(false);
    const r = await ctx.benchmark({ iterations: 5, warmupMs: 0 });
    expect(r.startMs.length).toBe(5);
    for (let i = 1; i < 5; i++) expect(r.startMs[i]).toBeGreaterThanOrEqual(r.endMs[i - 1]!);
    expectCode(() => markTimingEpoch(99), 'ERR_INVALID_ARGUMENT'); // no such device (no GPU at all would be ERR_CUDA_UNAVAILABLE)
    ctx.dispose();
    for (const x of [dIn, dOut, hIn, hOut]) x.dispose();
    engine.dispose();
    rt.dispose();
  });

  it('dispose of engine, context, buffers and session while work is in flight: no crash, every promise settles', async () => {
    const s = await Session.create(plan('classifier_fp32'), { contexts: 2 });
    const ref = refCase('classifier', 'b32');
    const runs = Array.from({ length: 50 }, () => s.run(ref.inputs));
    const disposed = s.dispose(); // waits for the runs in flight
    const settled = await Promise.allSettled(runs);
    await disposed;
    expect(settled.filter((r) => r.status === 'fulfilled').length).toBe(50);
    await expect(s.run(ref.inputs)).rejects.toMatchObject({ code: 'ERR_DISPOSED' });

    // Low level: release everything right after enqueueing.
    const rt = new Runtime();
    const engine = await rt.deserializeAsync(plan('classifier_fp32'));
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const ctx = engine.createContext();
      const dIn = new DeviceBuffer(32 * 3 * 32 * 32 * 4);
      const dOut = new DeviceBuffer(32 * 10 * 4);
      ctx.setTensorAddress('input', dIn);
      ctx.setTensorAddress('logits', dOut);
      ctx.setInputShape('input', [32, 3, 32, 32]);
      pending.push(ctx.run());
      dIn.dispose();
      dOut.dispose();
      ctx.dispose();
      if (i === 10) engine.dispose();
      if (i >= 10) break;
    }
    const r = await Promise.allSettled(pending);
    expect(r.every((x) => x.status === 'fulfilled')).toBe(true);
    expectCode(() => engine.createContext(), 'ERR_DISPOSED');
    rt.dispose();
  });

  it('no device or host memory growth over 3,000 runs (leak check)', async () => {
    const s = await Session.create(plan('classifier_fp32'));
    const ref = refCase('classifier', 'b7');
    for (let i = 0; i < 300; i++) await s.run(ref.inputs); // warm-up
    global.gc?.();
    const free0 = cudaInfo().devices[0]!.freeMemory;
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 3000; i++) await s.run(ref.inputs);
    global.gc?.();
    const free1 = cudaInfo().devices[0]!.freeMemory;
    const rss1 = process.memoryUsage().rss;
    console.log(`leak check: device free ${free0} → ${free1} B, RSS ${(rss0 / 2 ** 20).toFixed(1)} → ${(rss1 / 2 ** 20).toFixed(1)} MiB`);
    expect(free0 - free1).toBeLessThan(4 << 20); // 4 MiB: allocator granularity
    expect(rss1 - rss0).toBeLessThan(64 << 20);
    await s.dispose();
  });
});
