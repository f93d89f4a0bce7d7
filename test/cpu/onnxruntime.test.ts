import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OnnxRuntimeBackend, createOnnxRuntimeInstances, dataTypeFromOrt, ortTypeFromDataType } from '../../lib/backends/onnxruntime.js';
import { TensorRtError } from '../../lib/errors.js';
import { Tensor } from '../../lib/tensor.js';
import { code } from './batcher-helpers.js';

const fixture = (n: string) => fileURLToPath(new URL(`../../fixtures/onnx/${n}`, import.meta.url));
const AFFINE = fixture('affine.onnx');

describe('OnnxRuntimeBackend', () => {
  it('accepts .onnx files only', () => {
    const b = new OnnxRuntimeBackend();
    expect(b.kind).toBe('onnxruntime');
    expect(b.accepts('model.onnx')).toBe(true);
    expect(b.accepts('MODEL.ONNX')).toBe(true);
    expect(b.accepts('model.plan')).toBe(false);
  });

  it('reads the signature from session metadata; dynamic dims become -1', async () => {
    const inst = await new OnnxRuntimeBackend({ intraOpNumThreads: 1 }).createInstance(AFFINE, { maxBatchSize: 16 });
    expect(inst.kind).toBe('onnxruntime');
    expect(inst.signature).toEqual({
      inputs: [
        { name: 'x', dtype: 'float32', shape: [-1, 4] },
        { name: 'x_int', dtype: 'int32', shape: [-1, 2] },
      ],
      outputs: [
        { name: 'y', dtype: 'float32', shape: [-1, 4] },
        { name: 'z', dtype: 'int32', shape: [-1, 2] },
      ],
      maxBatchSize: 16,
    });
    await inst.dispose();
    const unbatched = await new OnnxRuntimeBackend().createInstance(AFFINE);
    expect(unbatched.signature.maxBatchSize).toBe(0);
    await unbatched.dispose();
    const cls = await new OnnxRuntimeBackend().createInstance(fixture('classifier_small.onnx'), { maxBatchSize: 8 });
    expect(cls.signature.inputs[0]!.shape).toEqual([-1, 3, 8, 8]);
    expect(cls.signature.outputs[0]!.shape).toEqual([-1, 10]);
    await cls.dispose();
  });

  it('derives maxBatchSize 0 for a static dimension 0 and refuses to batch it', async () => {
    const b = new OnnxRuntimeBackend();
    const inst = await b.createInstance(fixture('static_add.onnx'));
    expect(inst.signature.maxBatchSize).toBe(0);
    expect(inst.signature.inputs[0]!.shape).toEqual([2, 3]);
    await inst.dispose();
    expect(await code(b.createInstance(fixture('static_add.onnx'), { maxBatchSize: 4 }))).toBe('ERR_CONFIG');
  });

  it('runs with exact outputs, including on views into larger buffers', async () => {
    const inst = await new OnnxRuntimeBackend({ intraOpNumThreads: 1 }).createInstance(AFFINE, { maxBatchSize: 8 });
    const big = new Float32Array([99, 99, 99, 99, 1, 2, 3, 4, -1, 0.5, 0, 10]);
    const ints = new Int32Array([7, 7, 1, -2, 3, 4]);
    const out = await inst.run({ x: new Tensor('float32', big.subarray(4), [2, 4]), x_int: new Tensor('int32', ints.subarray(2), [2, 2]) });
    expect(out.y!.dims).toEqual([2, 4]);
    expect(out.y!.type).toBe('float32');
    expect(Array.from(out.y!.data as Float32Array)).toEqual([3, 5, 7, 9, -1, 2, 1, 21]);
    expect(out.z!.type).toBe('int32');
    expect(Array.from(out.z!.data as Int32Array)).toEqual([3, -6, 9, 12]);
    await inst.dispose();
  });

  it("turns ORT failures into ERR_BACKEND carrying ORT's text", async () => {
    const inst = await new OnnxRuntimeBackend().createInstance(AFFINE, { maxBatchSize: 8 });
    const e = await inst.run({ x: Tensor.zeros('float32', [1, 3]), x_int: Tensor.zeros('int32', [1, 2]) }).then(
      () => undefined,
      (x: unknown) => x as TensorRtError,
    );
    expect(e?.code).toBe('ERR_BACKEND');
    expect(e?.message).toMatch(/invalid dimensions/i);
    // the instance still works afterwards
    const ok = await inst.run({ x: Tensor.zeros('float32', [1, 4]), x_int: Tensor.zeros('int32', [1, 2]) });
    expect(Array.from(ok.y!.data as Float32Array)).toEqual([1, 1, 1, 1]);
    await inst.dispose();
    expect(await code(new OnnxRuntimeBackend().createInstance(fixture('does-not-exist.onnx')))).toBe('ERR_BACKEND');
  });

  it('dispose() waits for a run in flight, is idempotent, and later runs fail with ERR_DISPOSED', async () => {
    const inst = await new OnnxRuntimeBackend().createInstance(fixture('classifier_small.onnx'), { maxBatchSize: 64 });
    const run = inst.run({ images: Tensor.zeros('float32', [64, 3, 8, 8]) });
    const d1 = inst.dispose();
    const d2 = inst.dispose();
    expect(d2).toBe(d1);
    const out = await run;
    expect(out.logits!.dims).toEqual([64, 10]);
    await d1;
    expect(await code(inst.run({ images: Tensor.zeros('float32', [1, 3, 8, 8]) }))).toBe('ERR_DISPOSED');
  });

  it('createOnnxRuntimeInstances makes independent sessions', async () => {
    const insts = await createOnnxRuntimeInstances(AFFINE, 3, { maxBatchSize: 4, intraOpNumThreads: 1 });
    expect(insts).toHaveLength(3);
    expect(new Set(insts).size).toBe(3);
    const outs = await Promise.all(
      insts.map((i, k) => i.run({ x: new Tensor('float32', new Float32Array(4).fill(k), [1, 4]), x_int: new Tensor('int32', new Int32Array([k, k]), [1, 2]) })),
    );
    expect(outs.map((o) => o.z!.data[0])).toEqual([0, 3, 6]);
    await Promise.all(insts.map((i) => i.dispose()));
    expect(await code(createOnnxRuntimeInstances(AFFINE, 0))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('maps ORT type names to data types and back', () => {
    expect(dataTypeFromOrt('float32')).toBe('float32');
    expect(dataTypeFromOrt('int64')).toBe('int64');
    expect(() => dataTypeFromOrt('string')).toThrowError(expect.objectContaining({ code: 'ERR_DTYPE_MISMATCH' }));
    expect(ortTypeFromDataType('bool')).toBe('bool');
    expect(() => ortTypeFromDataType('bfloat16')).toThrowError(expect.objectContaining({ code: 'ERR_DTYPE_MISMATCH' }));
  });
});
