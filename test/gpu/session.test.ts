// Session API against the fixture engines: exact and toleranced results, every batch size,
// both profiles, every IO dtype, GPU-resident inputs and outputs, and every bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session, deviceTensor } from '../../lib/tensorrt/session.js';
import { DeviceBuffer, Stream } from '../../lib/tensorrt/cuda.js';
import { Tensor } from '../../lib/tensor.js';
import { GPU_READY, SKIP_REASON, halfToFloat, plan, refCase, relError, rows, expectRejectCode } from './helpers.js';


// Tolerances (relative L2 error against ONNX Runtime FP32 on CPU): FP32 engines may use TF32
// tensor cores on Hopper, so 1e-3; FP16 engines 2e-2.
const TOL_FP32 = 1e-3;
const TOL_FP16 = 2e-2;

describe.skipIf(!GPU_READY)(`Session${SKIP_REASON}`, () => {
  it('tiny model: exact results (FP32 y = 2x + 1, INT32 m = 3n + 1)', async () => {
    const s = await Session.create(plan('tiny'));
    const r = refCase('tiny', 'b1');
    for (let i = 0; i < 3; i++) {
      const out = await s.run(r.inputs);
      expect(out.y!.dims).toEqual([1, 16]);
      expect(Array.from(out.y!.data as Float32Array)).toEqual(Array.from(r.outputs.y!.data as Float32Array));
      expect(out.m!.type).toBe('int32');
      expect(Array.from(out.m!.data as Int32Array)).toEqual(Array.from(r.outputs.m!.data as Int32Array));
    }
    await s.dispose();
  });

  for (const [engine, tol] of [['classifier_fp32', TOL_FP32], ['classifier_fp16', TOL_FP16]] as const) {
    it(`${engine}: outputs match ONNX Runtime within ${tol} for batches 1, 7, 32`, async () => {
      const s = await Session.create(plan(engine));
      for (const c of ['b1', 'b7', 'b32']) {
        const r = refCase('classifier', c);
        const out = await s.run(r.inputs);
        expect(out.logits!.dims).toEqual(r.outputs.logits!.dims);
        const err = relError(out.logits!.data as Float32Array, r.outputs.logits!.data as Float32Array);
        console.log(`${engine} ${c}: relative L2 error ${err.toExponential(2)}`);
        expect(err).toBeLessThan(tol);
      }
      await s.dispose();
    });
  }

  it('classifier_fp32: every batch size 1..32 gives the rows of the batch-32 reference', async () => {
    const s = await Session.create(plan('classifier_fp32'));
    const r = refCase('classifier', 'b32');
    for (let n = 1; n <= 32; n++) {
      const out = await s.run({ input: rows(r.inputs.input!, 0, n) });
      expect(out.logits!.dims).toEqual([n, 10]);
      expect(relError(out.logits!.data as Float32Array, rows(r.outputs.logits!, 0, n).data as Float32Array)).toBeLessThan(TOL_FP32);
    }
    await s.dispose();
  });

  it('two optimization profiles: each serves its own shape range', async () => {
    for (const [profile, c] of [[0, 'p0'], [1, 'p1']] as const) {
      const s = await Session.create(plan('seq_mlp_2prof'), { profile });
      const r = refCase('seq_mlp', c);
      const out = await s.run(r.inputs);
      expect(out.hidden!.dims).toEqual(r.outputs.hidden!.dims);
      expect(relError(out.hidden!.data as Float32Array, r.outputs.hidden!.data as Float32Array)).toBeLessThan(TOL_FP32);
      // the other profile's case is outside this one
      const other = refCase('seq_mlp', c === 'p0' ? 'p1' : 'p0');
      await expectRejectCode(s.run(other.inputs), 'ERR_SHAPE_OUT_OF_PROFILE');
      await s.dispose();
    }
  });

  it('every IO data type: fp16, int64, bool, uint8 exact', async () => {
    const s = await Session.create(plan('dtypes'));
    const r = refCase('dtypes', 'c0');
    const out = await s.run(r.inputs);
    expect(Array.from(out.h2!.data as Uint16Array).map(halfToFloat)).toEqual(Array.from(r.outputs.h2!.data as Uint16Array).map(halfToFloat));
    expect(Array.from(out.i64p7!.data as BigInt64Array)).toEqual(Array.from(r.outputs.i64p7!.data as BigInt64Array));
    expect(Array.from(out.notb!.data as Uint8Array)).toEqual(Array.from(r.outputs.notb!.data as Uint8Array));
    expect(Array.from(out.u8p1!.data as Uint8Array)).toEqual(Array.from(r.outputs.u8p1!.data as Uint8Array));
    await s.dispose();
  });

  it('GPU-resident input and output (DeviceTensor), and reused pinned outputs', async () => {
    const r = refCase('classifier', 'b7');
    const gpu = await Session.create(plan('classifier_fp32'), { outputLocation: 'gpu' });
    const stream = new Stream();
    const dIn = new DeviceBuffer(r.inputs.input!.data.byteLength);
    await dIn.copyFrom(r.inputs.input!.data, { stream });
    const out = await gpu.run({ input: deviceTensor('float32', dIn, [7, 3, 32, 32]) }, { outputLocation: 'gpu' });
    expect(out.logits!.dims).toEqual([7, 10]);
    const host = new Float32Array(70);
    await out.logits!.buffer.copyTo(host, { stream, byteLength: 280 });
    expect(relError(host, r.outputs.logits!.data as Float32Array)).toBeLessThan(TOL_FP32);
    await gpu.dispose();
    dIn.dispose();
    stream.dispose();

    const reuse = await Session.create(plan('classifier_fp32'), { reuseOutputs: true });
    const a = await reuse.run(r.inputs);
    const first = Float32Array.from(a.logits!.data as Float32Array);
    const b = await reuse.run({ input: rows(refCase('classifier', 'b32').inputs.input!, 0, 7) });
    expect(a.logits!.data.buffer).toBe(b.logits!.data.buffer); // the same pinned memory, no allocation
    expect(relError(first, r.outputs.logits!.data as Float32Array)).toBeLessThan(TOL_FP32);
    await reuse.dispose();
  });

  describe('bad input: typed error, and the session stays usable', () => {
    let s: Session;
    const r = () => refCase('classifier', 'b7');
    beforeAll(async () => {
      s = await Session.create(plan('classifier_fp32'));
    });
    afterAll(async () => {
      await s.dispose();
    });
    async function stillWorks(): Promise<void> {
      const ok = await s.run(r().inputs);
      expect(relError(ok.logits!.data as Float32Array, r().outputs.logits!.data as Float32Array)).toBeLessThan(TOL_FP32);
    }
    it('wrong dtype', async () => {
      await expectRejectCode(s.run({ input: new Tensor('int32', new Int32Array(7 * 3 * 32 * 32), [7, 3, 32, 32]) }), 'ERR_DTYPE_MISMATCH');
      await stillWorks();
    });
    it('wrong rank and wrong static dimension', async () => {
      await expectRejectCode(s.run({ input: new Tensor('float32', new Float32Array(7 * 3 * 32 * 32), [7, 3, 1024]) }), 'ERR_SHAPE_MISMATCH');
      await expectRejectCode(s.run({ input: new Tensor('float32', new Float32Array(7 * 4 * 32 * 32), [7, 4, 32, 32]) }), 'ERR_SHAPE_MISMATCH');
      await stillWorks();
    });
    it('batch above the profile max and below its min', async () => {
      await expectRejectCode(s.run({ input: new Tensor('float32', new Float32Array(33 * 3 * 32 * 32), [33, 3, 32, 32]) }), 'ERR_SHAPE_OUT_OF_PROFILE');
      await expectRejectCode(s.run({ input: new Tensor('float32', new Float32Array(0), [0, 3, 32, 32]) }), 'ERR_SHAPE_OUT_OF_PROFILE');
      await stillWorks();
    });
    it('missing and unknown tensor names', async () => {
      await expectRejectCode(s.run({}), 'ERR_MISSING_TENSOR');
      await expectRejectCode(s.run({ ...r().inputs, extra: r().inputs.input! }), 'ERR_UNKNOWN_TENSOR');
      await expectRejectCode(s.run({ logits: r().inputs.input! }), 'ERR_UNKNOWN_TENSOR');
      await stillWorks();
    });
    it('a detached ArrayBuffer', async () => {
      const t = r().inputs.input!;
      structuredClone(t.data.buffer, { transfer: [t.data.buffer as ArrayBuffer] });
      await expectRejectCode(s.run({ input: t }), 'ERR_DETACHED_BUFFER');
      await stillWorks();
    });
    it('a disposed device buffer as input', async () => {
      const d = new DeviceBuffer(7 * 3 * 32 * 32 * 4);
      d.dispose();
      await expectRejectCode(s.run({ input: deviceTensor('float32', d, [7, 3, 32, 32]) }), 'ERR_DISPOSED');
      await stillWorks();
    });
  });

  it('a disposed session refuses work; dispose is idempotent', async () => {
    const s = await Session.create(plan('tiny'));
    await Promise.all([s.dispose(), s.dispose()]);
    await expectRejectCode(s.run(refCase('tiny', 'b1').inputs), 'ERR_DISPOSED');
  });
});
