// The dynamic batcher over TensorRT instances (the dynamic-batch classifier fixture): mixed
// concurrent requests equal running each alone, in any memory; batches assembled on IO sets
// (Session.beginBatch) and staged inputs (ExecutionContext.stageInput); ordering, bad input, close().
import { describe, expect, it } from 'vitest';
import { TensorRtBackend, type TensorRtInstance } from '../../lib/backends/tensorrt.js';
import { DynamicBatcher } from '../../lib/batcher/dynamic-batcher.js';
import { HostBuffer } from '../../lib/tensorrt/cuda.js';
import { packDims } from '../../lib/tensorrt/context.js';
import { Runtime } from '../../lib/tensorrt/runtime.js';
import { Session } from '../../lib/tensorrt/session.js';
import { Tensor } from '../../lib/tensor.js';
import { GPU_READY, SKIP_REASON, expectCode, expectRejectCode, plan, refCase, relError, rows } from './helpers.js';

/** Copies of `tensors` in one pinned HostBuffer (views of it: what is DMA'd with no CPU copy). */
function pinnedCopies(tensors: Tensor[]): { pinned: Tensor[]; host: HostBuffer } {
  const bytes = tensors.reduce((a, t) => a + t.data.byteLength, 0);
  const host = new HostBuffer(bytes);
  let at = 0;
  const pinned = tensors.map((t) => {
    const v = new Float32Array(host.buffer, at, t.data.length);
    v.set(t.data as Float32Array);
    at += t.data.byteLength;
    return new Tensor('float32', v, t.dims);
  });
  return { pinned, host };
}

describe.skipIf(!GPU_READY)(`DynamicBatcher on TensorRT${SKIP_REASON}`, () => {
  it('2,000 concurrent requests of 1..4 items on 2 instances equal running each alone', async () => {
    const backend = new TensorRtBackend();
    const instances = await Promise.all([0, 1].map(() => backend.createInstance(plan('classifier_fp32'))));
    expect(instances[0]!.signature.maxBatchSize).toBe(32);
    const batcher = new DynamicBatcher(instances, { maxBatchSize: 32, maxQueueDelayMicroseconds: 200, preferredBatchSize: [16, 32] });
    const alone = await Session.create(plan('classifier_fp32'));
    const ref = refCase('classifier', 'b32').inputs.input!;
    const requests = Array.from({ length: 2000 }, (_, i) => {
      const k = 1 + (i % 4);
      const from = (i * 7) % (32 - k);
      return rows(ref, from, from + k);
    });
    const expected = [];
    for (const r of requests) expected.push((await alone.run({ input: r })).logits!);
    const got = await Promise.all(requests.map((r) => batcher.infer({ input: r })));
    for (let i = 0; i < got.length; i++) {
      expect(got[i]!.logits!.dims).toEqual(expected[i]!.dims);
      expect(relError(got[i]!.logits!.data as Float32Array, expected[i]!.data as Float32Array)).toBeLessThan(1e-3);
    }
    const stats = batcher.statistics();
    expect(stats.inferenceCount).toBe(requests.reduce((a, r) => a + r.dims[0]!, 0));
    expect(stats.executionCount).toBeLessThan(2000); // requests really were batched
    console.log(`batcher on TensorRT: ${stats.executionCount} executions for 2000 requests`);
    await batcher.close();
    await alone.dispose();
  });

  for (const cudaGraph of [false, true]) {
    it(`requests in pinned memory, JS arrays and large JS arrays (copy threads) give the same results${cudaGraph ? ', CUDA graphs' : ''}`, async () => {
      const backend = new TensorRtBackend({ cudaGraph });
      const instances = await Promise.all([0, 1].map(() => backend.createInstance(plan('classifier_fp32'))));
      const batcher = new DynamicBatcher(instances, { maxBatchSize: 32, maxQueueDelayMicroseconds: 200 });
      const alone = await Session.create(plan('classifier_fp32'));
      const ref = refCase('classifier', 'b32').inputs.input!;
      // 1..3 rows (12-36 KB: copied inline) and 8 rows (96 KB: copied by the copy threads)
      const plain = Array.from({ length: 900 }, (_, i) => {
        const k = i % 5 === 4 ? 8 : 1 + (i % 3);
        const from = (i * 5) % (32 - k);
        return rows(ref, from, from + k);
      });
      const { pinned, host } = pinnedCopies(plain);
      const expected = [];
      for (const r of plain) expected.push((await alone.run({ input: r })).logits!);
      // three waves, so that later batches meet instances that ran before (graphs replayed):
      // pinned, JS memory, and the two mixed
      const waves = [pinned, plain, plain.map((p, i) => (i % 2 ? pinned[i]! : p))];
      for (const wave of waves) {
        const got = await Promise.all(wave.map((r) => batcher.infer({ input: r })));
        for (let i = 0; i < got.length; i++) expect(relError(got[i]!.logits!.data as Float32Array, expected[i]!.data as Float32Array)).toBeLessThan(1e-3);
      }
      const stats = batcher.statistics();
      expect(stats.executionCount).toBeLessThan(3 * 900);
      if (cudaGraph) expect(instances.some((i) => (i as TensorRtInstance).session.graphStats()[0]!.launches > 0)).toBe(true);
      await batcher.close();
      await alone.dispose();
      host.dispose();
    });
  }

  it('maxBatchSize 0 on a batching model (Triton\'s default scheduler): each request runs alone, rows and all', async () => {
    const backend = new TensorRtBackend();
    const instances = await Promise.all([0, 1].map(() => backend.createInstance(plan('classifier_fp32'))));
    const batcher = new DynamicBatcher(instances, { maxBatchSize: 0 });
    expect(batcher.signature.maxBatchSize).toBe(32);
    const alone = await Session.create(plan('classifier_fp32'));
    const ref = refCase('classifier', 'b32').inputs.input!;
    const requests = Array.from({ length: 60 }, (_, i) => rows(ref, i % 20, (i % 20) + 1 + (i % 5)));
    const expected = [];
    for (const r of requests) expected.push((await alone.run({ input: r })).logits!);
    const got = await Promise.all(requests.map((r) => batcher.infer({ input: r })));
    for (let i = 0; i < got.length; i++) expect(relError(got[i]!.logits!.data as Float32Array, expected[i]!.data as Float32Array)).toBeLessThan(1e-3);
    expect(batcher.statistics().executionCount).toBe(60);
    await batcher.close();
    await alone.dispose();
  });

  it('Session.beginBatch: requests added one by one (any memory), truncated, run on an IO set; misuse refused with typed errors', async () => {
    const s = await Session.create(plan('classifier_fp32'));
    const ref = refCase('classifier', 'b32').inputs.input!;
    const parts = [rows(ref, 0, 2), rows(ref, 2, 3), rows(ref, 3, 6), rows(ref, 6, 14)];
    const { pinned, host } = pinnedCopies(parts);
    const whole = (await s.run({ input: rows(ref, 0, 14) })).logits!;
    const want = Float32Array.from(whole.data as Float32Array);
    // pinned and JS memory mixed, all four
    const b = s.beginBatch();
    b.add({ input: pinned[0]! });
    b.add({ input: parts[1]! });
    b.add({ input: pinned[2]! });
    b.add({ input: parts[3]! });
    expect(b.size).toBe(4);
    const out = await b.run();
    expect(out.logits!.dims).toEqual([14, 10]);
    expect(relError(out.logits!.data as Float32Array, want)).toBeLessThan(1e-5);
    // truncated to the first three requests
    const t = s.beginBatch();
    for (const p of parts) t.add({ input: p });
    t.truncate(3);
    const out3 = await t.run();
    expect(out3.logits!.dims).toEqual([6, 10]);
    expect(relError(out3.logits!.data as Float32Array, want.subarray(0, 60))).toBeLessThan(1e-5);
    // two IO sets: a third batch is refused while two are open; abandon frees one
    const x = s.beginBatch();
    const y = s.beginBatch();
    expectCode(() => s.beginBatch(), 'ERR_BUSY');
    x.add({ input: parts[0]! });
    x.abandon();
    x.abandon(); // idempotent
    expectCode(() => x.add({ input: parts[0]! }), 'ERR_INVALID_ARGUMENT');
    const z = s.beginBatch();
    z.add({ input: parts[0]! });
    y.add({ input: parts[1]! });
    // both sets in flight at once
    const [oz, oy] = await Promise.all([z.run(), y.run()]);
    expect(relError(oz.logits!.data as Float32Array, want.subarray(0, 20))).toBeLessThan(1e-5);
    expect(relError(oy.logits!.data as Float32Array, want.subarray(20, 30))).toBeLessThan(1e-5);
    await expectRejectCode(z.run(), 'ERR_INVALID_ARGUMENT'); // spent
    const empty = s.beginBatch();
    await expectRejectCode(empty.run(), 'ERR_INVALID_ARGUMENT');
    // a request that would take the batch past the profile (40 rows > 32) is refused when added,
    // before anything of it is staged; the batch keeps what it had and runs
    const bad = s.beginBatch();
    bad.add({ input: parts[3]! });
    expectCode(() => bad.add({ input: rows(ref, 0, 26) }), 'ERR_SHAPE_OUT_OF_PROFILE');
    expectCode(() => bad.add({ input: new Tensor('float32', new Float32Array(3 * 16 * 16), [1, 3, 16, 16]) }), 'ERR_SHAPE_MISMATCH');
    expectCode(() => bad.add({ input: new Tensor('int32', new Int32Array(3 * 32 * 32), [1, 3, 32, 32]) }), 'ERR_DTYPE_MISMATCH');
    expectCode(() => bad.add({ input: parts[0]!, extra: parts[0]! } as never), 'ERR_UNKNOWN_TENSOR');
    expectCode(() => bad.add({}), 'ERR_MISSING_TENSOR');
    expect(bad.size).toBe(1);
    expect(relError((await bad.run()).logits!.data as Float32Array, want.subarray(60, 140))).toBeLessThan(1e-5);
    const again = s.beginBatch();
    again.add({ input: parts[3]! });
    expect(relError((await again.run()).logits!.data as Float32Array, want.subarray(60, 140))).toBeLessThan(1e-5);
    await s.dispose();
    expectCode(() => s.beginBatch(), 'ERR_DISPOSED');
    host.dispose();
  });

  it('ExecutionContext.stageInput: pieces of any memory in order, truncate, clear; a run of another set overlaps; misuse refused', async () => {
    const rt = new Runtime();
    const engine = await rt.deserializeAsync(plan('classifier_fp32'));
    const s = await Session.create(plan('classifier_fp32'));
    const ref = refCase('classifier', 'b32').inputs.input!;
    const want = Float32Array.from((await s.run({ input: rows(ref, 0, 32) })).logits!.data as Float32Array);
    const ctx = engine.createContext({ ioSets: 2 });
    const { DeviceBuffer } = await import('../../lib/tensorrt/cuda.js');
    const buffers = [0, 1].map((set) => {
      const dIn = new DeviceBuffer(32 * 3 * 32 * 32 * 4);
      const dOut = new DeviceBuffer(32 * 10 * 4);
      const hIn = new HostBuffer(dIn.byteLength);
      const hOut = new HostBuffer(dOut.byteLength);
      ctx.setTensorAddress('input', dIn, 0, set);
      ctx.setTensorAddress('logits', dOut, 0, set);
      ctx.setHostStaging('input', hIn, 0, set);
      ctx.setHostStaging('logits', hOut, 0, set);
      return { dIn, dOut, hIn, hOut };
    });
    const { pinned, host } = pinnedCopies([rows(ref, 0, 10), rows(ref, 10, 32)]);
    const out = (set: number, n: number) => new Float32Array(buffers[set]!.hOut.buffer, 0, n * 10);
    // set 0: pinned then JS memory; set 1: JS memory then pinned; both in flight together
    ctx.stageInput('input', 0, pinned[0]!.data, 0);
    ctx.stageInput('input', pinned[0]!.data.byteLength, rows(ref, 10, 32).data, 0);
    ctx.stageInput('input', 0, rows(ref, 0, 10).data, 1);
    ctx.stageInput('input', pinned[0]!.data.byteLength, pinned[1]!.data, 1);
    const dims = packDims([[32, 3, 32, 32]]);
    const r0 = ctx.run({ inputDims: dims, set: 0 });
    // the set in flight refuses staging and a second run; the other set is busy too
    expectCode(() => ctx.stageInput('input', 0, pinned[0]!.data, 0), 'ERR_BUSY');
    await expectRejectCode(ctx.run({ inputDims: dims, set: 0 }), 'ERR_BUSY');
    const r1 = ctx.run({ inputDims: dims, set: 1 });
    await Promise.all([r0, r1]);
    expect(relError(out(0, 32), want)).toBeLessThan(1e-5);
    expect(relError(out(1, 32), want)).toBeLessThan(1e-5);
    // truncated to the first 10 rows
    ctx.stageInput('input', 0, pinned[0]!.data, 0);
    ctx.stageInput('input', pinned[0]!.data.byteLength, pinned[1]!.data, 0);
    ctx.truncateStaged('input', pinned[0]!.data.byteLength, 0);
    await ctx.run({ inputDims: packDims([[10, 3, 32, 32]]), set: 0 });
    expect(relError(out(0, 10), want.subarray(0, 100))).toBeLessThan(1e-5);
    // staged bytes that do not match the shape; out of order; beyond the buffer; unknown set
    ctx.stageInput('input', 0, pinned[0]!.data, 0);
    await expectRejectCode(ctx.run({ inputDims: dims, set: 0 }), 'ERR_SHAPE_MISMATCH');
    expectCode(() => ctx.stageInput('input', 4, pinned[1]!.data, 0), 'ERR_INVALID_ARGUMENT');
    expectCode(() => ctx.stageInput('input', 32 * 3 * 32 * 32 * 4, new Float32Array(1), 0), 'ERR_BUFFER_TOO_SMALL');
    expectCode(() => ctx.stageInput('input', -1, new Float32Array(1), 0), 'ERR_INVALID_ARGUMENT');
    expectCode(() => ctx.stageInput('input', 0, new Float32Array(1), 2), 'ERR_INVALID_ARGUMENT');
    expectCode(() => ctx.stageInput('logits', 0, new Float32Array(1), 0), 'ERR_INVALID_ARGUMENT');
    expectCode(() => ctx.truncateStaged('input', 1 << 30, 0), 'ERR_INVALID_ARGUMENT');
    // cleared: the run copies the set's host staging instead
    ctx.clearStaged(0);
    new Float32Array(buffers[0]!.hIn.buffer, 0, ref.data.length).set(ref.data as Float32Array);
    await ctx.run({ inputDims: dims, set: 0 });
    expect(relError(out(0, 32), want)).toBeLessThan(1e-5);
    ctx.dispose();
    expectCode(() => ctx.stageInput('input', 0, pinned[0]!.data, 0), 'ERR_DISPOSED');
    for (const b of buffers) for (const x of Object.values(b)) x.dispose();
    host.dispose();
    engine.dispose();
    rt.dispose();
    await s.dispose();
  });

  it('staged pieces whose run never comes: dispose right after staging (copies in flight) leaves nothing broken', async () => {
    const ref = refCase('classifier', 'b32').inputs.input!;
    const { pinned, host } = pinnedCopies([rows(ref, 0, 16), rows(ref, 16, 32)]);
    for (let i = 0; i < 20; i++) {
      const s = await Session.create(plan('classifier_fp32'));
      const b = s.beginBatch();
      b.add({ input: pinned[0]! });
      b.add({ input: rows(ref, 16, 32) }); // 196 KB of JS memory: on the copy threads
      b.abandon();
      const c = s.beginBatch();
      c.add({ input: rows(ref, 0, 16) });
      c.add({ input: pinned[1]! });
      await s.dispose(); // c never runs
    }
    const s = await Session.create(plan('classifier_fp32'));
    const want = Float32Array.from((await s.run({ input: rows(ref, 0, 32) })).logits!.data as Float32Array);
    const b = s.beginBatch();
    b.add({ input: pinned[0]! });
    b.add({ input: rows(ref, 16, 32) });
    expect(relError((await b.run()).logits!.data as Float32Array, want)).toBeLessThan(1e-5);
    await s.dispose();
    host.dispose();
  });

  it('preserveOrdering delivers in arrival order; bad input is rejected at submission', async () => {
    const backend = new TensorRtBackend();
    const instances = await Promise.all([0, 1].map(() => backend.createInstance(plan('classifier_fp32'))));
    const batcher = new DynamicBatcher(instances, { maxBatchSize: 32, maxQueueDelayMicroseconds: 100, preserveOrdering: true });
    const ref = refCase('classifier', 'b32').inputs.input!;
    const order: number[] = [];
    await Promise.all(Array.from({ length: 300 }, (_, i) => batcher.infer({ input: rows(ref, i % 30, (i % 30) + 1 + (i % 2)) }).then(() => order.push(i))));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    await expect(batcher.infer({ input: new Tensor('int32', new Int32Array(3 * 32 * 32), [1, 3, 32, 32]) })).rejects.toMatchObject({ code: 'ERR_DTYPE_MISMATCH' });
    await expect(batcher.infer({ input: new Tensor('float32', new Float32Array(33 * 3 * 32 * 32), [33, 3, 32, 32]) })).rejects.toMatchObject({ code: 'ERR_BATCH_TOO_LARGE' });
    await expect(batcher.infer({ input: new Tensor('float32', new Float32Array(3 * 16 * 16), [1, 3, 16, 16]) })).rejects.toMatchObject({ code: 'ERR_SHAPE_MISMATCH' });
    await batcher.close();
    await expect(batcher.infer({ input: rows(ref, 0, 1) })).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });
});
