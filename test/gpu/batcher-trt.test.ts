// The dynamic batcher over TensorRT instances (the dynamic-batch classifier fixture): mixed
// concurrent requests equal running each alone, ordering, bad input, and close().
import { describe, expect, it } from 'vitest';
import { TensorRtBackend } from '../../lib/backends/tensorrt.js';
import { DynamicBatcher } from '../../lib/batcher/dynamic-batcher.js';
import { Session } from '../../lib/tensorrt/session.js';
import { Tensor } from '../../lib/tensor.js';
import { GPU_READY, SKIP_REASON, plan, refCase, relError, rows } from './helpers.js';

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
