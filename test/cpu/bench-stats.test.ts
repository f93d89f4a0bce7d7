import { describe, expect, it } from 'vitest';
import { addSamples, concatSamples, timingStats, trtexecMedian, trtexecPercentile } from '../../lib/bench/stats.js';
import { formatShapesSpec, parseShapesSpec, resolveShapes } from '../../lib/bench/shapes.js';
import { fillRandom, toBfloat16Bits, toFloat16Bits } from '../../lib/bench/data.js';
import { benchRatios, cppLoopResult, jsLoopResult } from '../../lib/bench/run.js';
import { isTensorRtError } from '../../lib/errors.js';
import type { ProfileInfo, TensorInfo } from '../../lib/tensorrt/runtime.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('stats as trtexec computes them', () => {
  it('odd count: min, max, mean, middle element, percentiles near the top', () => {
    const s = timingStats([5, 1, 4, 2, 3]);
    expect(s).toMatchObject({ count: 5, min: 1, max: 5, mean: 3, median: 3, total: 15 });
    // exclude = int((1 - 0.9) * 5) = 0 → the last element
    expect([s.p90, s.p95, s.p99]).toEqual([5, 5, 5]);
    expect(s.cv).toBeCloseTo(Math.sqrt(2) / 3, 12);
  });

  it('even count: median is the mean of the two middle elements', () => {
    expect(trtexecMedian([1, 2, 3, 4])).toBe(2.5);
    const s = timingStats(range(10).reverse());
    expect(s.median).toBe(5.5);
    // p90: exclude int(0.10000002 × 10) = 1 → index 8 → 9; p95: exclude int(0.5) = 0 → 10
    expect(s.p90).toBe(9);
    expect(s.p95).toBe(10);
    expect(s.p99).toBe(10);
  });

  it('100 samples: float32 arithmetic makes p99 the maximum (as in trtexec)', () => {
    const s = timingStats(range(100));
    expect(s.median).toBe(50.5);
    expect(s.p90).toBe(90); // exclude int(10.000002) = 10 → index 89
    expect(s.p95).toBe(95); // exclude int(5.0000012) = 5 → index 94
    expect(s.p99).toBe(100); // exclude int(0.99999905) = 0 → index 99
    expect(s.mean).toBe(50.5);
  });

  it('1000 samples', () => {
    const s = timingStats(Float64Array.from(range(1000)));
    expect([s.p90, s.p95, s.p99]).toEqual([900, 950, 991]);
    expect(s.median).toBe(500.5);
  });

  it('percentile edge cases', () => {
    expect(trtexecPercentile(0, [1, 2, 3])).toBe(1); // exclude int(1 × 3) = 3 → max(-1, 0)
    expect(trtexecPercentile(100, [1, 2, 3])).toBe(3);
    expect(trtexecPercentile(50, [10, 20, 30, 40])).toBe(20); // exclude int(0.5 × 4) = 2 → index 4 − 1 − 2 = 1
  });

  it('empty input gives NaN statistics', () => {
    const s = timingStats([]);
    expect(s.count).toBe(0);
    expect(Number.isNaN(s.mean)).toBe(true);
    expect(Number.isNaN(trtexecPercentile(99, []))).toBe(true);
    expect(() => trtexecPercentile(101, [1])).toThrow(RangeError);
  });

  it('does not modify its input', () => {
    const a = Float64Array.from([3, 1, 2]);
    timingStats(a);
    expect(Array.from(a)).toEqual([3, 1, 2]);
  });

  it('adds and concatenates samples', () => {
    expect(Array.from(addSamples(Float64Array.from([1, 2]), Float64Array.from([10, 20]), Float64Array.from([100, 200])))).toEqual([111, 222]);
    expect(Array.from(concatSamples([Float64Array.from([1]), [2, 3]]))).toEqual([1, 2, 3]);
  });
});

describe('--shapes', () => {
  it('parses trtexec syntax', () => {
    expect(parseShapesSpec('input:32x3x224x224')).toEqual({ input: [32, 3, 224, 224] });
    expect(parseShapesSpec('a:1x2, b:3')).toEqual({ a: [1, 2], b: [3] });
    expect(parseShapesSpec("'in:0':4x5")).toEqual({ 'in:0': [4, 5] });
    expect(formatShapesSpec({ input: [32, 3, 224, 224], 'in:0': [1] })).toBe("input:32x3x224x224,'in:0':1");
  });

  it.each(['', 'input', 'input:', ':1x2', 'input:1xx2', 'input:1x-2', 'input:32x3x', 'a:1,a:2', 'input:1.5x2'])('rejects %j', (spec) => {
    let err: unknown;
    try {
      parseShapesSpec(spec);
    } catch (e) {
      err = e;
    }
    expect(isTensorRtError(err, 'ERR_INVALID_ARGUMENT')).toBe(true);
  });

  const t = (name: string, shape: number[], mode: 'input' | 'output' = 'input'): TensorInfo => ({ name, mode, dtype: 'float32', shape, formatDescription: '', location: 'device', isShapeTensor: false });
  const inputs = [t('input', [-1, 3, 224, 224]), t('mask', [-1, 16])];
  const outputs = [t('logits', [-1, 1000], 'output')];
  const prof: ProfileInfo = {
    input: { min: [1, 3, 224, 224], opt: [8, 3, 224, 224], max: [32, 3, 224, 224] },
    mask: { min: [1, 16], opt: [8, 16], max: [32, 16] },
  };

  it('resolves shapes: given, else the opt shape; batch overrides dimension 0', () => {
    expect(resolveShapes(inputs, outputs, prof)).toEqual({ input: [8, 3, 224, 224], mask: [8, 16] });
    expect(resolveShapes(inputs, outputs, prof, { shapes: { input: [32, 3, 224, 224] } })).toEqual({ input: [32, 3, 224, 224], mask: [8, 16] });
    expect(resolveShapes(inputs, outputs, prof, { batch: 1 })).toEqual({ input: [1, 3, 224, 224], mask: [1, 16] });
    expect(resolveShapes([t('x', [1, 16])], [], {})).toEqual({ x: [1, 16] });
  });

  it.each([
    [{ shapes: { input: [64, 3, 224, 224] } }, 'ERR_SHAPE_OUT_OF_PROFILE'],
    [{ batch: 33 }, 'ERR_SHAPE_OUT_OF_PROFILE'],
    [{ shapes: { input: [8, 3, 224] } }, 'ERR_SHAPE_MISMATCH'],
    [{ shapes: { input: [8, 4, 224, 224] } }, 'ERR_SHAPE_MISMATCH'],
    [{ shapes: { logits: [8, 1000] } }, 'ERR_UNKNOWN_TENSOR'],
    [{ shapes: { nope: [1] } }, 'ERR_UNKNOWN_TENSOR'],
    [{ batch: 0 }, 'ERR_INVALID_ARGUMENT'],
  ] as const)('rejects %j with %s', (o, code) => {
    let err: unknown;
    try {
      resolveShapes(inputs, outputs, prof, o as Parameters<typeof resolveShapes>[3]);
    } catch (e) {
      err = e;
    }
    expect(isTensorRtError(err, code)).toBe(true);
  });
});

describe('random inputs', () => {
  it('half-precision conversions', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(0.5)).toBe(0x3800);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(1e6)).toBe(0x7c00);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(toBfloat16Bits(1)).toBe(0x3f80);
    expect(toBfloat16Bits(-2)).toBe(0xc000);
  });

  it.each(['float32', 'float16', 'bfloat16', 'int32', 'int64', 'int8', 'uint8', 'fp8'] as const)('fills %s with non-zero values, deterministically', (dtype) => {
    const a = new ArrayBuffer(4096);
    const b = new ArrayBuffer(4096);
    fillRandom(a, dtype, 0, 4096, 3);
    fillRandom(b, dtype, 0, 4096, 3);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const bytes = dtype === 'int64' || dtype === 'float32' || dtype === 'int32' ? 4 : dtype === 'float16' || dtype === 'bfloat16' ? 2 : 1;
    const view = bytes === 4 ? new Uint32Array(a) : bytes === 2 ? new Uint16Array(a) : new Uint8Array(a);
    if (dtype === 'int64') {
      expect(Array.from(new BigInt64Array(a)).every((v) => v >= 1n && v <= 7n)).toBe(true);
    } else {
      expect(Array.from(view).every((v) => v !== 0)).toBe(true);
    }
    if (dtype === 'float32') {
      const f = new Float32Array(a);
      expect(Array.from(f).every((v) => v >= -1 && v < 1)).toBe(true);
      expect(new Set(Array.from(f)).size).toBeGreaterThan(1000);
    }
  });

  it('bools are 0 and 1', () => {
    const a = new ArrayBuffer(1000);
    fillRandom(a, 'bool', 0, 1000);
    const u = new Uint8Array(a);
    expect(u.every((v) => v === 0 || v === 1)).toBe(true);
    expect(u.some((v) => v === 1)).toBe(true);
  });
});

describe('loop results', () => {
  const f = (a: number[]) => Float64Array.from(a);

  it('pools the C++ loop of K contexts: qps = iterations / the longest timed phase', () => {
    const r = cppLoopResult(
      [
        { latencyUs: f([100, 200]), enqueueUs: f([10, 20]), h2dUs: f([1, 2]), computeUs: f([50, 60]), d2hUs: f([3, 4]), startMs: f([]), endMs: f([]), totalMs: 1, iterations: 2, cudaGraph: false, overlap: false, timingErrors: 0 },
        { latencyUs: f([300, 400]), enqueueUs: f([30, 40]), h2dUs: f([5, 6]), computeUs: f([70, 80]), d2hUs: f([7, 8]), startMs: f([]), endMs: f([]), totalMs: 2, iterations: 2, cudaGraph: false, overlap: false, timingErrors: 0 },
      ],
      8,
    );
    expect(r.iterations).toBe(4);
    expect(r.wallMs).toBe(2);
    expect(r.throughputQps).toBe(2000);
    expect(r.inferencesPerSecond).toBe(16000);
    expect(r.latency).toMatchObject({ min: 100, max: 400, mean: 250, median: 250 });
    expect(r.compute?.mean).toBe(65);
    expect(r.h2d?.mean).toBe(3.5);
    expect(r.cudaGraph).toBe(false);
  });

  it('with a CUDA graph, GPU compute spans the whole graph and H2D/D2H are absent', () => {
    const r = cppLoopResult([{ latencyUs: f([100]), enqueueUs: f([5]), h2dUs: f([90]), computeUs: f([0]), d2hUs: f([0]), startMs: f([]), endMs: f([]), totalMs: 0.1, iterations: 1, cudaGraph: true, overlap: false, timingErrors: 0 }], 1);
    expect(r.cudaGraph).toBe(true);
    expect(r.compute?.mean).toBe(90);
    expect(r.h2d).toBeUndefined();
    expect(r.d2h).toBeUndefined();
  });

  it('JS loop results and the ratios', () => {
    const js = jsLoopResult([{ latency: [150, 250], enqueue: [5, 6], h2d: [1, 1], compute: [50, 50], d2h: [1, 1] }], 0.5, 1, false);
    expect(js.throughputQps).toBe(4000);
    expect(js.latency.mean).toBe(200);
    const cpp = cppLoopResult([{ latencyUs: f([100, 200]), enqueueUs: f([1, 1]), h2dUs: f([1, 1]), computeUs: f([50, 50]), d2hUs: f([1, 1]), startMs: f([]), endMs: f([]), totalMs: 0.4, iterations: 2, cudaGraph: false, overlap: false, timingErrors: 0 }], 1);
    const ratios = benchRatios({ cpp, js });
    expect(ratios.jsOverCppThroughput).toBeCloseTo(0.8, 12);
    expect(ratios.jsMinusCppLatencyUs).toEqual({ mean: 50, median: 50, p90: 50, p99: 50 });
    expect(ratios.cppOverTrtexecThroughput).toBeUndefined();
  });
});
