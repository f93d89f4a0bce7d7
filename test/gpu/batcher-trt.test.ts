// The dynamic batcher over TensorRT instances (the dynamic-batch classifier fixture): mixed
// concurrent requests equal running each alone, ordering, bad input, and close().
import { describe, expect, it } from 'vitest';
import { TensorRtBackend } from '../../lib/backends/tensorrt.js';
import { DynamicBatcher } from '../../lib/batcher/dynamic-batcher.js';
import type { BackendInstance, GatheredInput, RunOptions } from '../../lib/backends/backend.js';
import { HostBuffer } from '../../lib/tensorrt/cuda.js';
import { Session } from '../../lib/tensorrt/session.js';
import { Tensor } from '../../lib/tensor.js';
import { GPU_READY, SKIP_REASON, expectRejectCode, plan, refCase, relError, rows } from './helpers.js';

/** Copies of `tensors` in one pinned HostBuffer (views of it: what stageInput and runParts DMA). */
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

/** Counts stageInput calls and the stagedParts of each runParts on the instances. */
function countStaging(instances: BackendInstance[]): { stageCalls: number; stagedRuns: number[] } {
  const seen = { stageCalls: 0, stagedRuns: [] as number[] };
  for (const inst of instances) {
    const stage = inst.stageInput!.bind(inst);
    const runParts = inst.runParts!.bind(inst);
    inst.stageInput = (name, off, data) => {
      seen.stageCalls++;
      stage(name, off, data);
    };
    inst.runParts = (inputs: Record<string, GatheredInput>, o?: RunOptions) => {
      seen.stagedRuns.push(o?.stagedParts ?? 0);
      return runParts(inputs, o);
    };
  }
  return seen;
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

  it('gathering on the launch thread of the backend (runParts) gives the same results', async () => {
    const backend = new TensorRtBackend();
    const instances = await Promise.all([0, 1].map(() => backend.createInstance(plan('classifier_fp32'))));
    const batcher = new DynamicBatcher(instances, { maxBatchSize: 32, maxQueueDelayMicroseconds: 200 }, { gatherOnBackend: true });
    const alone = await Session.create(plan('classifier_fp32'));
    const ref = refCase('classifier', 'b32').inputs.input!;
    const requests = Array.from({ length: 600 }, (_, i) => rows(ref, i % 29, (i % 29) + 1 + (i % 3)));
    const expected = [];
    for (const r of requests) expected.push((await alone.run({ input: r })).logits!);
    const got = await Promise.all(requests.map((r) => batcher.infer({ input: r })));
    for (let i = 0; i < got.length; i++) expect(relError(got[i]!.logits!.data as Float32Array, expected[i]!.data as Float32Array)).toBeLessThan(1e-3);
    expect(batcher.statistics().executionCount).toBeLessThan(600);
    await batcher.close();
    await alone.dispose();
  });

  for (const cudaGraph of [false, true]) {
    it(`pinned requests staged on arrival (stageInput) give the same results${cudaGraph ? ', CUDA graphs' : ''}`, async () => {
      const backend = new TensorRtBackend();
      const instances = await Promise.all([0, 1].map(() => backend.createInstance(plan('classifier_fp32'), { cudaGraph })));
      const seen = countStaging(instances);
      const batcher = new DynamicBatcher(instances, { maxBatchSize: 32, maxQueueDelayMicroseconds: 200 });
      const alone = await Session.create(plan('classifier_fp32'));
      const ref = refCase('classifier', 'b32').inputs.input!;
      const plain = Array.from({ length: 900 }, (_, i) => rows(ref, (i * 5) % 29, ((i * 5) % 29) + 1 + (i % 3)));
      const { pinned, host } = pinnedCopies(plain);
      const expected = [];
      for (const r of plain) expected.push((await alone.run({ input: r })).logits!);
      // three waves, so that later batches meet instances that ran before (graphs replayed)
      for (let wave = 0; wave < 3; wave++) {
        const got = await Promise.all(pinned.slice(wave * 300, wave * 300 + 300).map((r) => batcher.infer({ input: r })));
        for (let i = 0; i < got.length; i++) expect(relError(got[i]!.logits!.data as Float32Array, expected[wave * 300 + i]!.data as Float32Array)).toBeLessThan(1e-3);
      }
      expect(seen.stageCalls).toBeGreaterThan(0);
      expect(seen.stagedRuns.filter((n) => n > 0).length).toBeGreaterThan(0);
      console.log(`staging on arrival${cudaGraph ? ' (graphs)' : ''}: ${seen.stageCalls} requests staged, ${seen.stagedRuns.filter((n) => n > 0).length} of ${seen.stagedRuns.length} batches started with staged requests`);
      await batcher.close();
      await alone.dispose();
      host.dispose();
    });
  }

  it('Session.stageInput: pieces staged ahead are skipped by runParts; misuse is refused with typed errors', async () => {
    const s = await Session.create(plan('classifier_fp32'));
    const ref = refCase('classifier', 'b32').inputs.input!;
    const parts = [rows(ref, 0, 2), rows(ref, 2, 3), rows(ref, 3, 6)];
    const { pinned, host } = pinnedCopies(parts);
    const whole = (await s.run({ input: rows(ref, 0, 6) })).logits!;
    const want = Float32Array.from(whole.data as Float32Array);
    const input = (n: number) => ({ input: { dtype: 'float32' as const, dims: [6, 3, 32, 32], parts: pinned.map((t) => t.data).slice(0, n) } });
    s.stageInput('input', 0, pinned[0]!.data);
    s.stageInput('input', pinned[0]!.data.byteLength, pinned[1]!.data);
    // two of the three parts staged: the third is copied by the run
    const out = await s.runParts({ input: { ...input(3).input } }, { stagedParts: 2 });
    expect(relError(out.logits!.data as Float32Array, want)).toBeLessThan(1e-5);
    // all three staged: the run copies nothing
    let at = 0;
    for (const p of pinned) {
      s.stageInput('input', at, p.data);
      at += p.data.byteLength;
    }
    const out3 = await s.runParts(input(3), { stagedParts: 3 });
    expect(relError(out3.logits!.data as Float32Array, want)).toBeLessThan(1e-5);
    // misuse
    expect(() => s.stageInput('input', 0, new Float32Array(10))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' })); // not pinned
    s.stageInput('input', 0, pinned[0]!.data);
    expect(() => s.stageInput('input', 4, pinned[1]!.data)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' })); // out of order
    expect(() => s.stageInput('logits', 0, pinned[0]!.data)).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_TENSOR' }));
    await expectRejectCode(s.runParts(input(3), { stagedParts: 2 }), 'ERR_INVALID_ARGUMENT'); // only one staged
    const big = new HostBuffer(64 << 20);
    expect(() => s.stageInput('input', 0, new Float32Array(big.buffer))).toThrow(expect.objectContaining({ code: 'ERR_BUFFER_TOO_SMALL' }));
    const running = s.run({ input: rows(ref, 0, 32) });
    expect(() => s.stageInput('input', 0, pinned[0]!.data)).toThrow(expect.objectContaining({ code: 'ERR_BUSY' }));
    await running;
    // after the misuse, staging and running still work
    s.stageInput('input', 0, pinned[0]!.data);
    s.stageInput('input', pinned[0]!.data.byteLength, pinned[1]!.data);
    const again = await s.runParts(input(3), { stagedParts: 2 });
    expect(relError(again.logits!.data as Float32Array, want)).toBeLessThan(1e-5);
    await s.dispose();
    expect(() => s.stageInput('input', 0, pinned[0]!.data)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    big.dispose();
    host.dispose();
  });

  it('staged pieces whose run never comes: dispose right after staging, and staging after a failed run, leave nothing broken', async () => {
    const ref = refCase('classifier', 'b32').inputs.input!;
    const { pinned, host } = pinnedCopies([rows(ref, 0, 16), rows(ref, 16, 32)]);
    const input = { input: { dtype: 'float32' as const, dims: [32, 3, 32, 32], parts: pinned.map((t) => t.data) } };
    for (let i = 0; i < 20; i++) {
      // staged copies still queued (two pieces: fewer than a group) or running when the session goes
      const s = await Session.create(plan('classifier_fp32'));
      s.stageInput('input', 0, pinned[0]!.data);
      s.stageInput('input', pinned[0]!.data.byteLength, pinned[1]!.data);
      await s.dispose();
    }
    const s = await Session.create(plan('classifier_fp32'));
    const want = Float32Array.from((await s.run({ input: rows(ref, 0, 32) })).logits!.data as Float32Array);
    // a run refused after its pieces were staged; the next staging round and run are right
    s.stageInput('input', 0, pinned[0]!.data);
    await expectRejectCode(s.runParts(input, { stagedParts: 2 }), 'ERR_INVALID_ARGUMENT');
    s.stageInput('input', 0, pinned[0]!.data);
    s.stageInput('input', pinned[0]!.data.byteLength, pinned[1]!.data);
    const out = await s.runParts(input, { stagedParts: 2 });
    expect(relError(out.logits!.data as Float32Array, want)).toBeLessThan(1e-5);
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
