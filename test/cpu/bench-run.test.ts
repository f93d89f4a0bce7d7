/**
 * runBench end to end on a fake native binding (no GPU here): exercises the plumbing of the C++
 * loop, the JS loop, K streams, the batcher mode with its static sweep, and the error paths.
 * The numbers mean nothing; the wiring, the shapes and the report shape are what is checked.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TensorRtError } from '../../lib/errors.js';
import type {
  NativeBenchmarkResult,
  NativeBinding,
  NativeDeviceBuffer,
  NativeEngine,
  NativeExecutionContext,
  NativeHostBuffer,
  NativeProfile,
  NativeRunOptions,
  NativeRuntime,
  NativeStream,
  NativeTensorInfo,
} from '../../lib/native/binding.js';
import type * as BindingModule from '../../lib/native/binding.js';

type FakeTensor = NativeTensorInfo;
const tensor = (name: string, mode: 'input' | 'output', trtDataType: number, shape: number[]): FakeTensor => ({
  name,
  mode,
  trtDataType,
  shape,
  format: 0,
  formatDescription: 'row major linear',
  location: 'device',
  isShapeTensor: false,
});
interface Log {
  streams: Record<string, unknown>[];
  contexts: number;
  shapes: Record<string, number[]>[];
  benchmarks: Record<string, unknown>[];
  runs: number;
  maxConcurrentRuns: number;
  staging: number;
  uploads: number;
  inputData: Float32Array[];
  /** pieces handed to stageInput */
  stagedPieces: number;
  polls: number;
}
const log: Log = { streams: [], contexts: 0, shapes: [], benchmarks: [], runs: 0, maxConcurrentRuns: 0, staging: 0, uploads: 0, inputData: [], stagedPieces: 0, polls: 0 };

const CLASSIFIER: FakeTensor[] = [tensor('input', 'input', 0, [-1, 3, 4, 4]), tensor('logits', 'output', 0, [-1, 10])];
const PROFILE = { input: { min: [1, 3, 4, 4], opt: [8, 3, 4, 4], max: [32, 3, 4, 4] } };
const STATIC: FakeTensor[] = [tensor('x', 'input', 0, [1, 16]), tensor('n', 'input', 3, [1, 16]), tensor('y', 'output', 0, [1, 16])];

// Every fake class implements its interface in lib/native/binding.ts and the binding object
// satisfies NativeBinding's members it provides: a change of the native surface fails the
// typecheck here instead of leaving a fake that no longer matches the addon.
vi.mock('../../lib/native/binding.js', () => {
  class Stream implements NativeStream {
    device: number;
    pending = 0;
    disposed = false;
    estimatedMicroseconds = 0;
    handle = 0n;
    jsCompletion = false;
    constructor(o: Record<string, unknown> = {}) {
      log.streams.push(o);
      this.device = (o.device as number) ?? 0;
    }
    synchronize() {
      return Promise.resolve();
    }
    poll() {
      log.polls++;
      return 0;
    }
    dispose() {
      this.disposed = true;
    }
  }
  class DeviceBuffer implements NativeDeviceBuffer {
    byteLength: number;
    device = 0;
    disposed = false;
    address = 0n;
    data: Uint8Array;
    constructor(n: number) {
      this.byteLength = n;
      this.data = new Uint8Array(n);
    }
    copyFrom(src: Parameters<NativeDeviceBuffer['copyFrom']>[0]) {
      log.uploads++;
      if ('buffer' in src && src.buffer instanceof ArrayBuffer) this.data.set(new Uint8Array(src.buffer).subarray(0, this.byteLength));
      return Promise.resolve();
    }
    copyTo() {
      return Promise.resolve();
    }
    fill() {
      return Promise.resolve();
    }
    dispose() {
      this.disposed = true;
    }
  }
  class HostBuffer implements NativeHostBuffer {
    buffer: ArrayBuffer;
    byteLength: number;
    disposed = false;
    constructor(n: number) {
      this.buffer = new ArrayBuffer(n);
      this.byteLength = n;
    }
    dispose() {
      this.disposed = true;
    }
  }
  class Engine implements NativeEngine {
    io: FakeTensor[];
    profiles: NativeProfile[];
    deviceMemorySize = 0;
    name = 'fake';
    disposed = false;
    constructor(io: FakeTensor[], profiles: Engine['profiles']) {
      this.io = io;
      this.profiles = profiles;
    }
    layerInformation() {
      return '{}';
    }
    dispose() {
      this.disposed = true;
    }
  }
  let inFlight = 0;
  // Typed against the real binding: a change of the native surface fails the typecheck here.
  class ExecutionContext implements NativeExecutionContext {
    engine: Engine;
    profile = 0;
    pending = 0;
    disposed = false;
    ioSets: number;
    graphCount = 0;
    graphLaunches = 0;
    dims = new Map<string, number[]>();
    timing = false;
    graph = false;
    /** per IO set: host staging by tensor name */
    host: Map<string, { buffer: ArrayBuffer }>[];
    constructor(engine: NativeEngine, _stream: NativeStream, o: { ioSets?: number } = {}) {
      this.engine = engine as Engine;
      this.ioSets = o.ioSets ?? 1;
      this.host = Array.from({ length: this.ioSets }, () => new Map());
      log.contexts++;
    }
    setInputShape(name: string, dims: readonly number[]) {
      const r = this.engine.profiles[0]?.[name];
      if (r && dims.some((d, i) => d < r.min[i]! || d > r.max[i]!)) throw new TensorRtError('ERR_SHAPE_OUT_OF_PROFILE', `fake: ${name} out of profile`);
      this.dims.set(name, [...dims]);
    }
    getTensorShape(name: string) {
      const t = this.engine.io.find((x) => x.name === name)!;
      if (t.mode === 'input') return this.dims.get(name) ?? t.shape;
      const first = this.engine.io.find((x) => x.mode === 'input')!;
      const b = (this.dims.get(first.name) ?? first.shape)[0]!;
      return [b, ...t.shape.slice(1)];
    }
    setTensorAddress() {}
    setHostStaging(name: string, b: unknown, _offset?: number, set = 0) {
      if (b) {
        log.staging++;
        this.host[set]!.set(name, b as { buffer: ArrayBuffer });
      }
    }
    setOptimizationProfile() {}
    setCudaGraph(on: boolean) {
      this.graph = on;
    }
    setTiming(on: boolean) {
      this.timing = on;
    }
    stageInput() {
      log.stagedPieces++;
    }
    truncateStaged() {}
    clearStaged() {}
    run(o: NativeRunOptions = {}) {
      log.runs++;
      const inDims = o.inputDims;
      const outDims = o.outputDims;
      if (inDims) {
        let k = 0;
        const seen: Record<string, number[]> = {};
        for (const t of this.engine.io.filter((x) => x.mode === 'input')) {
          const r = inDims[k++]!;
          seen[t.name] = Array.from(inDims.subarray(k, k + r));
          k += r;
          this.setInputShape(t.name, seen[t.name]!);
        }
        if (log.shapes.length < 50) log.shapes.push(seen);
      }
      const h = this.host[o.set ?? 0]!.get('input');
      if (h && log.inputData.length < 5) log.inputData.push(new Float32Array(h.buffer.slice(0, 64)));
      if (outDims) {
        let k = 0;
        for (const t of this.engine.io.filter((x) => x.mode === 'output')) {
          const d = this.getTensorShape(t.name);
          outDims[k++] = d.length;
          for (const x of d) outDims[k++] = x;
        }
      }
      inFlight++;
      log.maxConcurrentRuns = Math.max(log.maxConcurrentRuns, inFlight);
      if (this.graph) this.graphLaunches++;
      const timing = this.timing;
      return new Promise<Float64Array | undefined>((resolve) =>
        setTimeout(() => {
          inFlight--;
          resolve(timing ? Float64Array.from([0.001, 0.01, 0.002]) : undefined);
        }, 0),
      );
    }
    benchmark(o: { iterations?: number; durationMs?: number; warmupMs?: number; cudaGraph?: boolean; overlap?: boolean }) {
      log.benchmarks.push({ ...o, shapes: Object.fromEntries(this.dims) });
      const n = o.iterations ?? Math.max(1, Math.round((o.durationMs ?? 3000) / 0.5));
      const f = (v: number) => Float64Array.from({ length: n }, (_, i) => v + (i % 7));
      const g = !!o.cudaGraph;
      const empty = new Float64Array(0);
      return new Promise<NativeBenchmarkResult>((resolve) =>
        setTimeout(
          () =>
            resolve({
              latencyUs: f(40),
              enqueueUs: f(5),
              h2dUs: f(g ? 30 : 3),
              computeUs: f(g ? 0 : 25),
              d2hUs: f(g ? 0 : 2),
              startMs: empty,
              endMs: empty,
              totalMs: o.durationMs ?? n * 0.05,
              iterations: n,
              cudaGraph: g,
              overlap: !!o.overlap,
              timingErrors: 0,
            }),
          1,
        ),
      );
    }
    dispose() {
      this.disposed = true;
    }
  }
  class Runtime implements NativeRuntime {
    info: NativeRuntime['info'] = { version: '10.6.0', versionNumber: 100600, flavor: 'full', libraryPath: '/fake/libnvinfer.so.10', headerVersion: '10.6.0', device: 0 };
    deserialize(): never {
      throw new Error('sync deserialize not used');
    }
    async deserializeAsync(plan: Parameters<NativeRuntime['deserializeAsync']>[0]) {
      const { readFileSync: read } = await import('node:fs');
      if (typeof plan !== 'string') throw new Error('the bench loads plans from files');
      const text = read(plan, 'utf8');
      if (text.startsWith('FAKE-CLASSIFIER')) return new Engine(CLASSIFIER, [PROFILE]);
      if (text.startsWith('FAKE-STATIC')) return new Engine(STATIC, [{ x: { min: [1, 16], opt: [1, 16], max: [1, 16] }, n: { min: [1, 16], opt: [1, 16], max: [1, 16] } }]);
      throw new TensorRtError('ERR_PLAN_INVALID', 'fake: not a plan');
    }
    setLogSeverity() {}
    setLogger() {}
    dispose() {}
  }
  const binding = {
    Stream,
    DeviceBuffer,
    HostBuffer,
    Runtime,
    ExecutionContext,
    cudaInfo: () => ({ driverVersion: 12060, runtimeVersion: 12060, devices: [{ index: 0, name: 'Fake GPU', computeCapability: '9.0', totalMemory: 1 << 30, freeMemory: 1 << 30, multiProcessorCount: 132 }] }),
    setErrorFactory() {},
    headerVersion: '10.6.0',
    addonVersion: '0.1.0',
    napiVersion: 8,
  } satisfies Pick<NativeBinding, 'Stream' | 'DeviceBuffer' | 'HostBuffer' | 'Runtime' | 'ExecutionContext' | 'cudaInfo' | 'setErrorFactory' | 'headerVersion' | 'addonVersion' | 'napiVersion'>;
  return { loadNative: () => binding as unknown as NativeBinding, nativeAvailable: () => true } satisfies Partial<typeof BindingModule>;
});

const { runBench, SampleColumns } = await import('../../lib/bench/run.js');
const { runBenchCli } = await import('../../lib/cli/bench.js');
const { formatBenchReport } = await import('../../lib/bench/format.js');

let tmp: string;
let classifier: string;
let staticPlan: string;
let garbage: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'trtn-bench-run-'));
  classifier = path.join(tmp, 'classifier.plan');
  staticPlan = path.join(tmp, 'tiny.plan');
  garbage = path.join(tmp, 'garbage.plan');
  writeFileSync(classifier, 'FAKE-CLASSIFIER');
  writeFileSync(staticPlan, 'FAKE-STATIC');
  writeFileSync(garbage, 'nope');
  delete process.env.TRTEXEC;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeEach(() => {
  Object.assign(log, { streams: [], contexts: 0, shapes: [], benchmarks: [], runs: 0, maxConcurrentRuns: 0, staging: 0, uploads: 0, inputData: [], stagedPieces: 0, polls: 0 } satisfies Log);
});

describe('runBench on a fake binding', () => {
  it('runs the C++ and JS loops at the opt shape with random inputs, and notes the missing trtexec', async () => {
    const r = await runBench({ plan: classifier, durationMs: 20, warmupMs: 5 });
    expect(r.config).toMatchObject({ shapes: { input: [8, 3, 4, 4] }, batch: 8, streams: 1, cudaGraph: false, dataTransfers: true, durationMs: 20, warmupMs: 5, methods: ['cpp', 'js'] });
    expect(r.environment.tensorrt?.version).toBe('10.6.0');
    expect(r.environment.cuda?.device?.name).toBe('Fake GPU');
    expect(log.benchmarks).toEqual([{ durationMs: 20, warmupMs: 5, cudaGraph: false, overlap: true, shapes: { input: [8, 3, 4, 4] } }]);
    expect(r.results.cpp?.iterations).toBe(40);
    expect(r.results.cpp?.throughputQps).toBeCloseTo(2000, 9);
    expect(r.results.cpp?.inferencesPerSecond).toBeCloseTo(16000, 9);
    expect(r.results.cpp?.h2d?.mean).toBeGreaterThan(0);
    expect(r.results.js?.iterations).toBeGreaterThan(0);
    expect(r.results.js?.compute?.mean).toBeCloseTo(10, 9);
    expect(r.results.js?.h2d?.mean).toBeCloseTo(1, 9);
    expect(r.results.js?.latency.count).toBe(r.results.js?.iterations);
    expect(log.shapes[0]).toEqual({ input: [8, 3, 4, 4] });
    // staging bound for the input and the output of both IO sets: data transfers on, overlap
    expect(log.staging).toBe(4);
    // the JS loop stages each run's input from its set's pinned staging (as the C++ loop copies it)
    expect(log.stagedPieces).toBeGreaterThan(0);
    // random, non-zero input in the pinned staging buffer
    expect(log.inputData[0]!.every((v) => v !== 0 && v >= -1 && v < 1)).toBe(true);
    expect(r.ratios.jsOverCppThroughput).toBeGreaterThan(0);
    expect(r.ratios.jsMinusCppLatencyUs?.mean).toBeTypeOf('number');
    expect(r.notes.join('\n')).toMatch(/TRTEXEC is not set: the C\+\+ loop stands in for trtexec/);
    expect(JSON.parse(JSON.stringify(r)).results.cpp.latency.p99).toBeTypeOf('number');
  });

  it('K streams: K contexts on their own streams, loops run concurrently; batch, graph, no transfers, waitMode, iterations', async () => {
    const r = await runBench({ plan: classifier, batch: 32, streams: 3, cudaGraph: true, dataTransfers: false, waitMode: 'spin', iterations: 7, warmupMs: 0, methods: ['cpp', 'js'] });
    expect(log.contexts).toBe(3);
    expect(log.streams).toEqual([
      { device: 0, waitMode: 'spin' },
      { device: 0, waitMode: 'spin' },
      { device: 0, waitMode: 'spin' },
    ]);
    expect(log.benchmarks).toHaveLength(3);
    expect(log.benchmarks[0]).toEqual({ iterations: 7, warmupMs: 0, cudaGraph: true, overlap: true, shapes: { input: [32, 3, 4, 4] } });
    expect(r.results.cpp?.iterations).toBe(21);
    expect(r.results.cpp?.cudaGraph).toBe(true);
    expect(r.results.cpp?.compute?.mean).toBeGreaterThanOrEqual(30);
    expect(r.results.cpp?.h2d).toBeUndefined();
    expect(r.results.js?.iterations).toBe(42); // two lanes (IO sets) per stream
    expect(r.results.js?.cudaGraph).toBe(true);
    expect(log.maxConcurrentRuns).toBe(6);
    expect(log.staging).toBe(0);
    expect(log.uploads).toBe(6); // inputs uploaded once per context and IO set
    expect(r.config.iterations).toBe(7);
    expect(r.config.durationMs).toBeUndefined();
    expect(r.notes.some((n) => /TRTEXEC/.test(n))).toBe(false);
  });

  it('rounds: the timed phase is split into alternating C++ and JS rounds, pooled per method, with a ratio per round', async () => {
    const r = await runBench({ plan: classifier, durationMs: 30, warmupMs: 150, rounds: 3, methods: ['cpp', 'js'] });
    // three C++ rounds of 10 ms; only the first gets the full warm-up
    expect(log.benchmarks.map((b) => [b.durationMs, b.warmupMs])).toEqual([
      [10, 150],
      [10, 100],
      [10, 100],
    ]);
    expect(r.results.cpp?.iterations).toBe(60); // the fake runs 2 iterations per ms
    expect(r.results.cpp?.wallMs).toBeCloseTo(30, 9);
    expect(r.config.rounds).toBe(3);
    expect(r.ratios.jsOverCppThroughputPerRound).toHaveLength(3);
    for (const x of r.ratios.jsOverCppThroughputPerRound!) expect(x).toBeGreaterThan(0);
    expect(formatBenchReport(r).join('\n')).toMatch(/in 3 alternating rounds \(JS\/C\+\+ per round: [\d.]+, [\d.]+, [\d.]+\)/);
    await expect(runBench({ plan: classifier, iterations: 5, rounds: 2 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/rounds/) });
    // one method alone: nothing to alternate with, one round
    const one = await runBench({ plan: classifier, durationMs: 10, warmupMs: 0, rounds: 4, methods: ['cpp'] });
    expect(one.config.rounds).toBeUndefined();
    expect(one.ratios.jsOverCppThroughputPerRound).toBeUndefined();
  });

  it('static shapes need no --shapes; a batch equal to the static one is accepted', async () => {
    const r = await runBench({ plan: staticPlan, batch: 1, durationMs: 5, warmupMs: 0, methods: ['js'] });
    expect(r.config.shapes).toEqual({ x: [1, 16], n: [1, 16] });
    expect(r.results.cpp).toBeUndefined();
    expect(r.results.js?.iterations).toBeGreaterThan(0);
  });

  it('the JS loop\'s sample columns keep every sample as they grow past their capacity', () => {
    const c = new SampleColumns(3);
    for (let i = 0; i < 1000; i++) c.add(i, i + 0.5, -i, 2 * i, i % 7);
    const s = c.samples();
    expect(c.count).toBe(1000);
    for (const col of [s.latency, s.enqueue, s.h2d, s.compute, s.d2h]) expect(col.length).toBe(1000);
    expect(Array.from(s.latency.slice(0, 4))).toEqual([0, 1, 2, 3]);
    expect(s.latency[999]).toBe(999);
    expect(s.enqueue[500]).toBe(500.5);
    expect(s.h2d[3]).toBe(-3);
    expect(s.compute[999]).toBe(1998);
    expect(s.d2h[13]).toBe(6);
  });

  it('runs trtexec (a fake one) with the bench flags when TRTEXEC is set', async () => {
    const sample = path.resolve(__dirname, '../fixtures/trtexec-sample.txt');
    const argsFile = path.join(tmp, 'trtexec-args');
    const bin = path.join(tmp, 'trtexec');
    writeFileSync(bin, `#!/bin/sh\nif [ "$1" = "--help" ]; then echo "&&&& RUNNING TensorRT.trtexec [TensorRT v100600] # trtexec --help"; echo "  --infStreams=N"; exit 0; fi\necho "$@" > '${argsFile}'\ncat '${sample}'\n`);
    chmodSync(bin, 0o755);
    process.env.TRTEXEC = bin;
    try {
      const r = await runBench({ plan: classifier, shapes: { input: [32, 3, 4, 4] }, durationMs: 10, warmupMs: 1, streams: 2 });
      expect(readFileSync(argsFile, 'utf8').trim()).toBe(`--loadEngine=${classifier} --shapes=input:32x3x4x4 --duration=0.01 --warmUp=1 --infStreams=2 --useSpinWait`);
      expect(r.results.trtexec?.throughputQps).toBe(185.092);
      expect(r.results.trtexec?.inferencesPerSecond).toBeCloseTo(185.092 * 32, 9);
      expect(r.ratios.cppOverTrtexecThroughput).toBeGreaterThan(0);
      expect(r.config.methods).toEqual(['cpp', 'js', 'trtexec']);
    } finally {
      delete process.env.TRTEXEC;
    }
  });

  it('batcher mode: static sweep over allowed batch sizes, then C callers per concurrency', async () => {
    const r = await runBench({ plan: classifier, streams: 2, durationMs: 30, warmupMs: 5, batcher: { concurrency: [1, 16], maxBatchSize: 16, maxQueueDelayUs: 200, staticDurationMs: 10 } });
    const b = r.batcher!;
    expect(b.instances).toBe(2);
    expect(b.maxBatchSize).toBe(16);
    expect(b.requestShapes).toEqual({ input: [1, 3, 4, 4] });
    expect(b.staticSweep.map((s) => s.batchSize)).toEqual([1, 2, 4, 8, 16]);
    // two contexts per static batch size
    expect(log.benchmarks.filter((x) => (x.shapes as Record<string, number[]>).input![0] === 16)).toHaveLength(2);
    expect(b.bestStatic?.batchSize).toBe(16); // same qps for every size in the fake: the largest batch wins
    expect(b.maxBatchLatencyUs).toBeCloseTo(b.staticSweep.at(-1)!.latencyMeanUs, 9);
    expect(b.p99BoundUs).toBeCloseTo(200 + b.maxBatchLatencyUs!, 9);
    expect(b.runs.map((x) => x.concurrency)).toEqual([1, 16]);
    for (const run of b.runs) {
      expect(run.requests).toBeGreaterThan(0);
      expect(run.failed).toBe(0);
      expect(run.latency.count).toBe(run.requests);
      expect(run.meanBatchSize).toBeGreaterThanOrEqual(1);
      expect(run.ratioToBestStatic).toBeCloseTo(run.inferencesPerSecond / b.bestStatic!.inferencesPerSecond, 9);
      expect(typeof run.p99WithinBound).toBe('boolean');
    }
    // 16 callers against 2 instances form batches larger than 1
    expect(b.runs[1]!.meanBatchSize).toBeGreaterThan(1);
    expect(r.results).toEqual({});
  });

  it("completion 'poll' reaches every stream; the batcher's requests are staged on the instances' IO sets", async () => {
    const r = await runBench({ plan: classifier, streams: 2, durationMs: 30, warmupMs: 0, completion: 'poll', batcher: { concurrency: 8, staticSweep: false } });
    expect(log.streams.length).toBeGreaterThan(0);
    for (const s of log.streams) expect(s).toMatchObject({ completion: 'poll', waitMode: 'spin' }); // poll implies a spinning watcher unless waitMode is given
    expect(log.polls).toBeGreaterThan(0);
    expect(log.stagedPieces).toBeGreaterThan(0);
    expect(r.config.completion).toBe('poll');
    const dflt = await runBench({ plan: classifier, streams: 2, durationMs: 30, warmupMs: 0, batcher: { concurrency: 8, staticSweep: false } });
    expect(dflt.batcher!.requestMemory).toBe('js');
    const pinned = await runBench({ plan: classifier, streams: 2, durationMs: 30, warmupMs: 0, batcher: { concurrency: 3, staticSweep: false, requestMemory: 'pinned' } });
    expect(pinned.batcher!.requestMemory).toBe('pinned');
    expect(pinned.batcher!.runs[0]!.requests).toBeGreaterThan(0);
  });

  it.each([
    [{ completion: 'busy' }, 'ERR_INVALID_ARGUMENT'],
    [{ batcher: { concurrency: 2, requestMemory: 'gpu' } }, 'ERR_INVALID_ARGUMENT'],
    [{ shapes: { input: [64, 3, 4, 4] } }, 'ERR_SHAPE_OUT_OF_PROFILE'],
    [{ batch: 33 }, 'ERR_SHAPE_OUT_OF_PROFILE'],
    [{ shapes: { nope: [1] } }, 'ERR_UNKNOWN_TENSOR'],
    [{ profile: 3 }, 'ERR_INVALID_ARGUMENT'],
    [{ iterations: 5, durationMs: 5 }, 'ERR_INVALID_ARGUMENT'],
    [{ streams: 0 }, 'ERR_INVALID_ARGUMENT'],
    [{ batcher: { concurrency: 4, maxBatchSize: 64 } }, 'ERR_SHAPE_OUT_OF_PROFILE'],
    [{ batcher: { concurrency: [] } }, 'ERR_INVALID_ARGUMENT'],
  ])('rejects %j with %s', async (o, code) => {
    await expect(runBench({ plan: classifier, durationMs: 5, warmupMs: 0, ...(o as object) })).rejects.toMatchObject({ code });
  });

  it('a plan that does not load, a missing file, a model without a batch dimension in batcher mode', async () => {
    await expect(runBench({ plan: garbage })).rejects.toMatchObject({ code: 'ERR_PLAN_INVALID' });
    await expect(runBench({ plan: path.join(tmp, 'missing.plan') })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/no such file/) });
    await expect(runBench({ plan: staticPlan, batcher: { concurrency: 2 } })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringMatching(/dynamic batch dimension/) });
  });

  it('the CLI prints the table and maps errors to exit codes', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runBenchCli([classifier, '--duration', '0.02', '--warmup', '0', '--shapes', 'input:4x3x4x4'], { out: (l) => out.push(l), err: (l) => err.push(l), progress: false });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/Fake GPU \(sm 9\.0\), TensorRT 10\.6\.0/);
    expect(out.join('\n')).toMatch(/Throughput \(inferences\/s, batch 4\)/);

    const e1: string[] = [];
    expect(await runBenchCli([classifier, '--shapes', 'input:64x3x4x4'], { out: () => undefined, err: (l) => e1.push(l), progress: false })).toBe(2);
    expect(e1).toHaveLength(1);
    expect(e1[0]).toMatch(/outside optimization profile 0 \(min \[1,3,4,4\], max \[32,3,4,4\]\) \[ERR_SHAPE_OUT_OF_PROFILE\]$/);

    const e2: string[] = [];
    expect(await runBenchCli([garbage], { out: () => undefined, err: (l) => e2.push(l), progress: false })).toBe(1);
    expect(e2).toEqual(['tensorrt-node bench: fake: not a plan [ERR_PLAN_INVALID]']);

    const e3: string[] = [];
    const o3: string[] = [];
    expect(await runBenchCli([classifier, '--batcher', '--concurrency', '2', '--duration', '0.02', '--warmup', '0', '--max-batch', '4'], { out: (l) => o3.push(l), err: (l) => e3.push(l), progress: false })).toBe(0);
    expect(o3.join('\n')).toMatch(/Dynamic batcher \(maxBatchSize 4, maxQueueDelay 500 µs, 1 instance\)/);
    expect(o3.join('\n')).toMatch(/best static: batch \d+/);
  });
});

describe('progress bar', () => {
  it('advances with phases and the clock, and is safe to stop before it starts', async () => {
    const { TimeProgress } = await import('../../lib/bench/progress.js');
    const { PassThrough } = await import('node:stream');
    const s = new PassThrough() as InstanceType<typeof PassThrough> & { isTTY?: boolean; columns?: number; cursorTo?: unknown; clearLine?: unknown; moveCursor?: unknown };
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.isTTY = true;
    s.columns = 120;
    s.cursorTo = (_x: number, _y: unknown, cb?: () => void) => (cb?.(), true);
    s.clearLine = (_d: number, cb?: () => void) => (cb?.(), true);
    s.moveCursor = (_x: number, _y: number, cb?: () => void) => (cb?.(), true);
    const never = new TimeProgress(s);
    never.stop();
    never.phase('x', 10);
    // the highest percentage drawn so far with `phase` as the phase's name
    const drawn = (phase: string) => Math.max(-1, ...[...text.matchAll(new RegExp(`(\\d+)% \\| ${phase.replace(/\+/g, '\\+')}`, 'g'))].map((m) => Number(m[1])));
    const p = new TimeProgress(s);
    p.start(100);
    p.phase('C++ loop', 50);
    // within a phase the bar moves with the clock (a tick every 100 ms), up to the phase's share
    await vi.waitFor(() => expect(drawn('C++ loop')).toBeGreaterThan(0), { timeout: 10_000 });
    expect(drawn('C++ loop')).toBeLessThanOrEqual(50);
    // the next phase starts where the previous ones' shares end
    p.phase('JS loop', 50);
    await vi.waitFor(() => expect(drawn('JS loop')).toBeGreaterThanOrEqual(50), { timeout: 10_000 });
    p.stop();
    expect(text).toMatch(/bench \[.*\] \d+% \| C\+\+ loop/);
  });

  it('runBench drives a custom sink through its phases', async () => {
    const phases: string[] = [];
    let total = 0;
    let stopped = 0;
    await runBench({ plan: classifier, durationMs: 5, warmupMs: 0, progress: { start: (t) => (total = t), phase: (n) => phases.push(n), stop: () => stopped++ } });
    expect(total).toBeGreaterThan(0);
    expect(phases).toEqual(['setting up contexts', 'C++ loop', 'JS loop']);
    expect(stopped).toBe(1);
  });
});
