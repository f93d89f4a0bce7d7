// Pure TypeScript parts of the TensorRT layer: shape checks, dim packing, dtype mapping, Tensor.
import { describe, expect, it } from 'vitest';
import { checkInputShape } from '../../lib/tensorrt/shapes.js';
import { packDims } from '../../lib/tensorrt/context.js';
import { Tensor } from '../../lib/tensor.js';
import { byteLength, dataTypeFromTrt, kserveDataType, trtDataType, DATA_TYPES } from '../../lib/dtypes.js';
import { TensorRtError } from '../../lib/errors.js';
import type { TensorInfo } from '../../lib/tensorrt/runtime.js';

const input: TensorInfo = { name: 'input', mode: 'input', dtype: 'float32', shape: [-1, 3, 32, 32], formatDescription: '', location: 'device', isShapeTensor: false };
const range = { min: [1, 3, 32, 32], opt: [8, 3, 32, 32], max: [32, 3, 32, 32] };

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TensorRtError);
    return (e as TensorRtError).code;
  }
  return 'none';
}

describe('shape validation against the engine and its profile', () => {
  it('accepts shapes inside the profile', () => {
    for (const n of [1, 8, 32]) expect(code(() => checkInputShape(input, range, [n, 3, 32, 32], 0))).toBe('none');
  });
  it('wrong rank and static dimensions are ERR_SHAPE_MISMATCH', () => {
    expect(code(() => checkInputShape(input, range, [8, 3, 1024], 0))).toBe('ERR_SHAPE_MISMATCH');
    expect(code(() => checkInputShape(input, range, [8, 4, 32, 32], 0))).toBe('ERR_SHAPE_MISMATCH');
    expect(code(() => checkInputShape(input, range, [8, 3, 32.5, 32], 0))).toBe('ERR_SHAPE_MISMATCH');
  });
  it('a dynamic dimension outside min..max is ERR_SHAPE_OUT_OF_PROFILE with the range in the message', () => {
    try {
      checkInputShape(input, range, [33, 3, 32, 32], 0);
      expect.fail('accepted');
    } catch (e) {
      expect((e as TensorRtError).code).toBe('ERR_SHAPE_OUT_OF_PROFILE');
      expect((e as Error).message).toContain('max [32,3,32,32]');
    }
    expect(code(() => checkInputShape(input, range, [0, 3, 32, 32], 0))).toBe('ERR_SHAPE_OUT_OF_PROFILE');
  });
});

describe('packDims', () => {
  it('packs [rank, dims...] per tensor, reusing the given array', () => {
    const out = new Int32Array(16);
    const p = packDims([[2, 3], [4]], out);
    expect(p).toBe(out);
    expect(Array.from(p.subarray(0, 5))).toEqual([2, 2, 3, 1, 4]);
  });
  it('rejects invalid dimensions', () => {
    expect(code(() => packDims([[2, -1]]))).toBe('ERR_SHAPE_MISMATCH');
  });
});

describe('data types', () => {
  it('map both ways to TensorRT and KServe', () => {
    for (const t of DATA_TYPES) expect(dataTypeFromTrt(trtDataType(t))).toBe(t);
    expect(kserveDataType('float16')).toBe('FP16');
    expect(byteLength('int4', 3)).toBe(2);
    expect(code(() => dataTypeFromTrt(99))).toBe('ERR_DTYPE_MISMATCH');
  });
  it('Tensor checks its TypedArray class and byte length', () => {
    expect(code(() => new Tensor('float32', new Int32Array(4), [4]))).toBe('ERR_DTYPE_MISMATCH');
    expect(code(() => new Tensor('float32', new Float32Array(4), [5]))).toBe('ERR_SHAPE_MISMATCH');
    expect(new Tensor('int64', new BigInt64Array(6), [2, 3]).size).toBe(6);
  });
});
