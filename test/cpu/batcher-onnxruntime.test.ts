/** The dynamic batcher over real ONNX Runtime CPU sessions (fixtures/onnx, see tools/make_cpu_fixtures.py). */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConcatBatches } from '../../lib/backends/concat-batch.js';
import { createOnnxRuntimeInstances } from '../../lib/backends/onnxruntime.js';
import { DynamicBatcher } from '../../lib/batcher/dynamic-batcher.js';
import { Tensor } from '../../lib/tensor.js';
import { mulberry32 } from '../../lib/bench/data.js';

const fixture = (n: string) => fileURLToPath(new URL(`../../fixtures/onnx/${n}`, import.meta.url));

/** Deterministic PRNG: the bench's mulberry32. */
const rng = mulberry32;

describe('DynamicBatcher + ONNX Runtime', () => {
  it('10,000 concurrent requests of 1..4 items on 2 instances equal running each alone', async () => {
    const rand = rng(42);
    const N = 10_000;
    const reqs = Array.from({ length: N }, () => {
      const k = 1 + Math.floor(rand() * 4);
      const x = new Float32Array(k * 4).map(() => Math.round((rand() - 0.5) * 2000) / 8);
      const xi = new Int32Array(k * 2).map(() => Math.floor((rand() - 0.5) * 1e6));
      return { k, x: new Tensor('float32', x, [k, 4]), x_int: new Tensor('int32', xi, [k, 2]) };
    });
    const instances = await createOnnxRuntimeInstances(fixture('affine.onnx'), 2, { maxBatchSize: 32, intraOpNumThreads: 1 });
    const batcher = new DynamicBatcher(instances, { maxBatchSize: 32 });
    const results = await Promise.all(reqs.map((r) => batcher.infer({ x: r.x, x_int: r.x_int })));

    const [alone] = await createOnnxRuntimeInstances(fixture('affine.onnx'), 1, { maxBatchSize: 32, intraOpNumThreads: 1 });
    let items = 0;
    for (let i = 0; i < N; i++) {
      const r = reqs[i]!;
      items += r.k;
      const ref = await alone!.run({ x: r.x, x_int: r.x_int });
      const got = results[i]!;
      expect(got.y!.dims).toEqual([r.k, 4]);
      expect(got.z!.dims).toEqual([r.k, 2]);
      expect(got.y!.data).toEqual(ref.y!.data);
      expect(got.z!.data).toEqual(ref.z!.data);
    }
    // and the exact known values
    expect(results[0]!.y!.data[0]).toBe((reqs[0]!.x.data[0] as number) * 2 + 1);
    const s = batcher.statistics();
    expect(s.success.count).toBe(N);
    expect(s.inferenceCount).toBe(items);
    expect(s.executionCount).toBeLessThan(N); // requests were really batched
    expect(s.batchStats.reduce((a, b) => a + b.computeInfer.count, 0)).toBe(s.executionCount);
    expect(Math.max(...s.batchStats.map((b) => b.batchSize))).toBeLessThanOrEqual(32);
    await batcher.close();
    await alone!.dispose();
  });

  it('classifier: batched logits equal single-request logits', async () => {
    const rand = rng(7);
    const reqs = Array.from({ length: 600 }, () => {
      const k = 1 + Math.floor(rand() * 4);
      return new Tensor('float32', new Float32Array(k * 3 * 64).map(() => rand() * 2 - 1), [k, 3, 8, 8]);
    });
    const instances = await createOnnxRuntimeInstances(fixture('classifier_small.onnx'), 2, { maxBatchSize: 16, intraOpNumThreads: 1 });
    const batcher = new DynamicBatcher(instances, { maxBatchSize: 16, preferredBatchSize: [8, 16], maxQueueDelayMicroseconds: 200 });
    const results = await Promise.all(reqs.map((images) => batcher.infer({ images })));
    const [alone] = await createOnnxRuntimeInstances(fixture('classifier_small.onnx'), 1, { maxBatchSize: 16, intraOpNumThreads: 1 });
    let maxDiff = 0;
    for (let i = 0; i < reqs.length; i++) {
      const ref = (await alone!.run({ images: reqs[i]! })).logits!;
      const got = results[i]!.logits!;
      expect(got.dims).toEqual(ref.dims);
      for (let j = 0; j < ref.size; j++) maxDiff = Math.max(maxDiff, Math.abs((got.data[j] as number) - (ref.data[j] as number)));
    }
    expect(maxDiff).toBeLessThan(1e-5);
    expect(batcher.statistics().executionCount).toBeLessThan(reqs.length);
    await batcher.close();
    await alone!.dispose();
  });

  it('preserveOrdering delivers in arrival order across 2 instances', async () => {
    const instances = await createOnnxRuntimeInstances(fixture('affine.onnx'), 2, { maxBatchSize: 8, intraOpNumThreads: 1 });
    const batcher = new DynamicBatcher(instances, { maxBatchSize: 8, preserveOrdering: true });
    const order: number[] = [];
    const ps = Array.from({ length: 2000 }, (_, i) => {
      const k = 1 + (i % 3);
      return batcher
        .infer({ x: new Tensor('float32', new Float32Array(4 * k).fill(i), [k, 4]), x_int: new Tensor('int32', new Int32Array(2 * k).fill(i), [k, 2]) })
        .then((r) => {
          order.push(i);
          expect(r.z!.data[0]).toBe(3 * i);
        });
    });
    await Promise.all(ps);
    expect(order).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    await batcher.close({ drain: true });
  });

  it('a failing ORT batch (bad input) fails only its requests', async () => {
    const instances = await createOnnxRuntimeInstances(fixture('affine.onnx'), 1, { maxBatchSize: 8, intraOpNumThreads: 1 });
    // Wrap the instance so that batches containing the value 13 fail inside ORT (wrong shape fed).
    const inst = instances[0]!;
    const wrapper = {
      kind: inst.kind,
      signature: inst.signature,
      run: (feeds: Record<string, Tensor>) => {
        const x = feeds.x!;
        if (Array.from(x.data as Float32Array).includes(13)) {
          return inst.run({ x: new Tensor('float32', x.data, [x.dims[0]! * 2, 2]), x_int: feeds.x_int! });
        }
        return inst.run(feeds);
      },
      dispose: () => inst.dispose(),
      createBatch: () => batches.create(),
    };
    const batches = new ConcatBatches(inst.signature, (feeds) => wrapper.run(feeds));
    const batcher = new DynamicBatcher([wrapper], { maxBatchSize: 2 });
    const mk = (v: number) => batcher.infer({ x: new Tensor('float32', new Float32Array(4).fill(v), [1, 4]), x_int: new Tensor('int32', new Int32Array(2), [1, 2]) });
    const ps = [mk(1), mk(2), mk(13), mk(4), mk(5)]; // batches: [1], [2,13], [4,5]
    const settled = await Promise.allSettled(ps);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
    const err = (settled[2] as PromiseRejectedResult).reason;
    expect(err.code).toBe('ERR_BACKEND');
    expect(err.message).toMatch(/invalid dimensions|onnxruntime/i);
    expect(((await ps[4]!).y!.data as Float32Array)[0]).toBe(11);
    await batcher.close();
  });
});
