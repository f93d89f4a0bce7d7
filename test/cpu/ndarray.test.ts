/**
 * ndarray views as feeds (lib/ndarray.ts) and tensors as ndarray views (Tensor.toNdarray):
 * contiguous views become tensors over the same memory, any other view is copied row-major with
 * the right values, and every shape/stride/offset/type that does not fit the data is refused
 * with a typed error before anything is read. Then the same through the batcher and the ONNX
 * Runtime backend, with real inference.
 */
import { resolve } from 'node:path';
import ndarray from 'ndarray';
import { describe, expect, it } from 'vitest';
import { TensorRtError } from '../../lib/errors.js';
import { Tensor } from '../../lib/tensor.js';
import { isContiguous, isNdArray, toTensor, toTensorFeeds, type NdArrayLike } from '../../lib/ndarray.js';
import { DynamicBatcher } from '../../lib/batcher/dynamic-batcher.js';
import { OnnxRuntimeBackend } from '../../lib/backends/onnxruntime.js';

/** DynamicBatcher.infer's parameter is typed Record<string, Tensor>; ndarray views are accepted at run time. */
const asFeed = (v: NdArrayLike) => v as unknown as Tensor;
const iota = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

function expectCode(f: () => unknown, code: string, message?: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(TensorRtError);
  expect((err as TensorRtError).code).toBe(code);
  if (message) expect((err as TensorRtError).message).toMatch(message);
}

/** The view's elements in row-major order, read through ndarray's own get(). */
function elements(v: ndarray.NdArray<ndarray.Data>): number[] {
  const out: number[] = [];
  const walk = (prefix: number[]) => {
    if (prefix.length === v.shape.length) {
      out.push(Number(v.get(...prefix)));
      return;
    }
    for (let i = 0; i < v.shape[prefix.length]!; i++) walk([...prefix, i]);
  };
  walk([]);
  return out;
}

describe('toTensor: ndarray views as tensors', () => {
  it('a contiguous view is a tensor over the same memory (no copy), offset included', () => {
    const data = iota(2 * 3 * 4);
    const v = ndarray(data, [2, 3, 4]);
    const t = toTensor(v, 'x');
    expect(t.type).toBe('float32');
    expect(t.dims).toEqual([2, 3, 4]);
    expect(t.data.buffer).toBe(data.buffer);
    expect(t.data.byteOffset).toBe(0);
    // the second item of the batch: .pick(1) and .lo(1) keep the rows contiguous, at an offset
    const second = toTensor(v.pick(1, null, null), 'x');
    expect(second.dims).toEqual([3, 4]);
    expect(second.data.buffer).toBe(data.buffer);
    expect(second.data.byteOffset).toBe(12 * 4);
    expect(Array.from(second.data as Float32Array)).toEqual(Array.from(data.subarray(12, 24)));
    expect(isContiguous(v.lo(1, 0, 0))).toBe(true);
  });

  it('dimensions of size 1 may have any stride; an empty view is contiguous', () => {
    expect(isContiguous({ shape: [1, 3], stride: [999, 1] })).toBe(true);
    expect(isContiguous({ shape: [3, 1], stride: [1, -7] })).toBe(true);
    expect(isContiguous({ shape: [0, 5], stride: [3, 2] })).toBe(true);
    const t = toTensor(ndarray(new Float32Array(4), [0, 4]), 'x');
    expect(t.dims).toEqual([0, 4]);
    expect(t.size).toBe(0);
  });

  it.each([
    ['transposed', (v: ndarray.NdArray<Float32Array>) => v.transpose(1, 0, 2)],
    ['stepped', (v: ndarray.NdArray<Float32Array>) => v.step(1, 2, 1)],
    ['reversed', (v: ndarray.NdArray<Float32Array>) => v.step(-1, -1, 1)],
    ['an inner slice', (v: ndarray.NdArray<Float32Array>) => v.hi(2, 3, 3).lo(0, 1, 1)],
    ['a column', (v: ndarray.NdArray<Float32Array>) => v.pick(null, null, 2)],
  ])('a %s view is copied row-major, with the values ndarray reads', (_name, make) => {
    const data = iota(2 * 4 * 5);
    const v = make(ndarray(data, [2, 4, 5]));
    expect(isContiguous(v)).toBe(false);
    const t = toTensor(v, 'x');
    expect(t.dims).toEqual(v.shape);
    expect(t.data.buffer).not.toBe(data.buffer);
    expect(Array.from(t.data as Float32Array)).toEqual(elements(v as ndarray.NdArray<ndarray.Data>));
  });

  it('a 0-d view is a scalar tensor', () => {
    const data = iota(6);
    const t = toTensor(ndarray(data, [2, 3]).pick(1, 2), 'x');
    expect(t.dims).toEqual([]);
    expect(Array.from(t.data as Float32Array)).toEqual([5]);
  });

  it('the data class decides the type; Uint8ClampedArray and Buffer are uint8, BigInt64Array int64', () => {
    expect(toTensor(ndarray(new Int32Array(4), [4]), 'x').type).toBe('int32');
    expect(toTensor(ndarray(new Int8Array(4), [4]), 'x').type).toBe('int8');
    expect(toTensor(ndarray(new BigInt64Array(4), [2, 2]), 'x').type).toBe('int64');
    const clamped = new Uint8ClampedArray([1, 2, 3, 4]);
    const c = toTensor(ndarray(clamped, [4]), 'x');
    expect(c.type).toBe('uint8');
    expect(c.data.buffer).toBe(clamped.buffer); // a view, not a copy
    expect(toTensor(ndarray(Buffer.from([1, 2]), [2]), 'x').type).toBe('uint8');
  });

  it('an explicit type where the data class does not say it alone: bool, float16, bfloat16', () => {
    expect(toTensor(ndarray(new Uint8Array(4), [4]), 'mask', 'bool').type).toBe('bool');
    expect(toTensor(ndarray(new Uint16Array(4), [4]), 'h', 'float16').type).toBe('float16');
    expect(toTensor(ndarray(new Uint16Array(4), [4]), 'h', 'bfloat16').type).toBe('bfloat16');
    expectCode(() => toTensor(ndarray(new Uint16Array(4), [4]), 'h'), 'ERR_DTYPE_MISMATCH', /Uint16Array holds float16 or bfloat16.*toTensor\(view, name, 'float16'\)/);
    expectCode(() => toTensor(ndarray(new Float32Array(4), [4]), 'x', 'int32'), 'ERR_DTYPE_MISMATCH', /int32 tensor needs a Int32Array, ndarray feed 'x' holds a Float32Array/);
    expectCode(() => toTensor(new Tensor('float32', new Float32Array(4), [4]), 'x', 'int32'), 'ERR_DTYPE_MISMATCH', /'x' is a float32 tensor, int32 asked/);
  });

  it('types no tensor holds are refused, with what to do', () => {
    expectCode(() => toTensor(ndarray(new Float64Array(4), [4]), 'x'), 'ERR_DTYPE_MISMATCH', /Float64Array: convert it to a Float32Array first/);
    expectCode(() => toTensor(ndarray(new Int16Array(4), [4]), 'x'), 'ERR_DTYPE_MISMATCH', /Int16Array: no tensor type holds it/);
    expectCode(() => toTensor(ndarray([1, 2, 3, 4], [4]), 'x'), 'ERR_DTYPE_MISMATCH', /holds a plain Array; tensors need a TypedArray/);
  });

  it('shapes, strides and offsets that leave the data are refused before anything is read', () => {
    const data = iota(12);
    const view = (shape: number[], stride: number[], offset: number): NdArrayLike => ({ data, shape, stride, offset, dtype: 'float32' });
    expectCode(() => toTensor(view([4, 4], [4, 1], 0), 'x'), 'ERR_BUFFER_TOO_SMALL', /reaches element 15 of data with 12 elements/);
    expectCode(() => toTensor(view([3, 4], [4, 1], 1), 'x'), 'ERR_BUFFER_TOO_SMALL', /reaches element 12/);
    expectCode(() => toTensor(view([3], [-1], 1), 'x'), 'ERR_BUFFER_TOO_SMALL', /reaches element -1/);
    expectCode(() => toTensor(view([3, 4], [4], 0), 'x'), 'ERR_INVALID_ARGUMENT', /shape \[3,4\] and stride \[4\] differ in length/);
    expectCode(() => toTensor(view([3, 4], [4, 0.5], 0), 'x'), 'ERR_INVALID_ARGUMENT', /invalid stride 0\.5/);
    expectCode(() => toTensor(view([3, -4], [4, 1], 0), 'x'), 'ERR_INVALID_ARGUMENT', /invalid dimension -4/);
    expectCode(() => toTensor(view([3, 4], [4, 1], -1), 'x'), 'ERR_INVALID_ARGUMENT', /invalid offset -1/);
    expectCode(() => toTensor(view([3, 4], [4, 1], Number.NaN), 'x'), 'ERR_INVALID_ARGUMENT', /invalid offset NaN/);
    expectCode(() => toTensor({ nope: 1 } as unknown as NdArrayLike, 'x'), 'ERR_INVALID_ARGUMENT', /neither a Tensor nor an ndarray view/);
  });
});

describe('toTensorFeeds and Tensor.toNdarray', () => {
  it('returns the very same feeds object when nothing needs converting (the hot path allocates nothing)', () => {
    const feeds = { x: new Tensor('float32', new Float32Array(4), [1, 4]), d: { location: 'gpu', type: 'float32', dims: [1], buffer: {}, byteOffset: 0 } };
    expect(toTensorFeeds(feeds)).toBe(feeds);
    const mixed = { x: ndarray(iota(4), [1, 4]), y: feeds.x };
    const out = toTensorFeeds(mixed);
    expect(out).not.toBe(mixed);
    expect(out.x).toBeInstanceOf(Tensor);
    expect(out.y).toBe(feeds.x);
    expect(mixed.x).not.toBeInstanceOf(Tensor); // the caller's object is not modified
    expect(isNdArray(feeds.x)).toBe(false);
    expect(isNdArray(feeds.d)).toBe(false);
  });

  it('toNdarray views the same memory, row-major; round trip back to a tensor shares it too', () => {
    const t = new Tensor('int32', Int32Array.from({ length: 6 }, (_, i) => i * 10), [2, 3]);
    const v = t.toNdarray();
    expect(v.shape).toEqual([2, 3]);
    expect(v.stride).toEqual([3, 1]);
    expect(v.get(1, 2)).toBe(50);
    v.set(0, 1, -1);
    expect(t.data[1]).toBe(-1);
    expect(toTensor(v, 'x').data.buffer).toBe(t.data.buffer);
    expect(t.toNdarray().transpose(1, 0).get(2, 1)).toBe(50);
  });

  it('packed 4-bit tensors have no ndarray view', () => {
    expectCode(() => new Tensor('int4', new Uint8Array(2), [4]).toNdarray(), 'ERR_DTYPE_MISMATCH', /int4 tensor packs two values per byte/);
  });
});

describe('ndarray feeds through the batcher and the ONNX Runtime backend (real inference)', () => {
  const model = resolve(__dirname, '../../examples/models/affine/1/model.onnx'); // y = 2x + 1, x: float32 [N,4]

  it('OnnxRuntimeInstance.run takes an ndarray feed, contiguous or not', async () => {
    const inst = await new OnnxRuntimeBackend({ maxBatchSize: 8, intraOpNumThreads: 1 }).createInstance(model);
    try {
      const data = iota(8);
      const out = await inst.run({ x: ndarray(data, [2, 4]) });
      expect(Array.from(out['y']!.data as Float32Array)).toEqual(Array.from(data, (v) => 2 * v + 1));
      // x viewed [4,2] transposed to [2,4]: rows are the even and the odd elements
      const t = await inst.run({ x: ndarray(data, [4, 2]).transpose(1, 0) });
      expect(Array.from(t['y']!.data as Float32Array)).toEqual([0, 2, 4, 6, 1, 3, 5, 7].map((v) => 2 * v + 1));
      await expect(inst.run({ x: ndarray(new Float64Array(4), [1, 4]) })).rejects.toMatchObject({ code: 'ERR_DTYPE_MISMATCH' });
    } finally {
      await inst.dispose();
    }
  });

  it('DynamicBatcher.infer takes ndarray feeds, batches them with Tensor feeds, and rejects bad views as failed requests', async () => {
    const backend = new OnnxRuntimeBackend({ maxBatchSize: 8, intraOpNumThreads: 1 });
    const instances = [await backend.createInstance(model)];
    const batcher = new DynamicBatcher(instances, { maxBatchSize: 8, maxQueueDelayMicroseconds: 20_000 });
    try {
      const rows = Array.from({ length: 8 }, (_, i) => Float32Array.of(i, -i, i / 2, 1));
      const results = await Promise.all(
        rows.map((r, i) =>
          i % 2 === 0
            ? batcher.infer({ x: asFeed(ndarray(r, [1, 4])) })
            : batcher.infer({ x: new Tensor('float32', r, [1, 4]) }),
        ),
      );
      results.forEach((res, i) => expect(Array.from(res['y']!.data as Float32Array)).toEqual(Array.from(rows[i]!, (v) => 2 * v + 1)));
      expect(batcher.statistics().executionCount).toBeLessThan(8);
      const bad = batcher.infer({ x: asFeed({ data: new Float32Array(2), shape: [1, 4], stride: [4, 1], offset: 0 }) });
      await expect(bad).rejects.toMatchObject({ code: 'ERR_BUFFER_TOO_SMALL' });
      expect(batcher.statistics().fail.count).toBe(1);
    } finally {
      await batcher.close();
    }
  });
});

