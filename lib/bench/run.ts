/**
 * runBench(): trtexec's method (warm-up, then timed iterations; throughput = queries / wall time;
 * min/max/mean/median/percentiles of every metric) applied to three loops over the same plan,
 * shapes and random inputs:
 *
 *  - the C++ loop: ExecutionContext.benchmark(), one iteration at a time on a worker thread,
 *    each waited for by spinning on a CUDA event (the floor; stands in for trtexec);
 *  - the JS loop: `await ctx.run()` back to back from JavaScript, with CUDA-event timing on;
 *  - trtexec itself, when TRTEXEC names the binary.
 *
 * With K streams, K contexts (each on its own stream) run at once in every loop. The batcher
 * mode drives a DynamicBatcher over K TensorRtBackend instances with C concurrent callers sending
 * single-item requests, and measures the best static-batch throughput in the same run.
 */
import { statSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { TensorRtError } from '../errors.js';
import { byteLength, typedArrayConstructor, viewAs, type TypedArray } from '../dtypes.js';
import { Tensor, formatShape, shapeSize } from '../tensor.js';
import { Runtime, type Engine, type RuntimeOptions } from '../tensorrt/runtime.js';
import { packDims, type ExecutionContext } from '../tensorrt/context.js';
import { DeviceBuffer, HostBuffer, Stream, cudaInfo, type CompletionMode, type WaitMode } from '../tensorrt/cuda.js';
import { checkInputShape } from '../tensorrt/shapes.js';
import type { NativeBenchmarkResult } from '../native/binding.js';
import { TensorRtBackend } from '../backends/tensorrt.js';
import type { BackendInstance } from '../backends/backend.js';
import { DynamicBatcher } from '../batcher/dynamic-batcher.js';
import type { InferRequestOptions, ModelStatistics } from '../batcher/types.js';
import { fillRandom } from './data.js';
import { resolveShapes } from './shapes.js';
import { addSamples, concatSamples, timingStats } from './stats.js';
import { checkTrtexec, runTrtexec } from './trtexec.js';
import { TimeProgress, noProgress, type ProgressSink } from './progress.js';
import type {
  BatcherBenchReport,
  BatcherRunResult,
  BenchConfig,
  BenchEnvironment,
  BenchLoopResult,
  BenchMethod,
  BenchRatios,
  BenchReport,
  StaticBatchResult,
} from './types.js';

export interface BatcherBenchOptions {
  /** concurrent callers; a list runs one measurement per value (the static sweep once) */
  concurrency: number | readonly number[];
  /** default: the instances' maxBatchSize (the profile's max of dimension 0) */
  maxBatchSize?: number;
  /** default 500 */
  maxQueueDelayUs?: number;
  /** DynamicBatcher's preferredBatchSize (default: none, as Triton's) */
  preferredBatchSizes?: readonly number[];
  /** measure the best static-batch throughput (default true) */
  staticSweep?: boolean;
  /** duration of each static batch size (default min(durationMs, 1000)) */
  staticDurationMs?: number;
  /** the static batch sizes to sweep (default 1, 2, 4, ... up to maxBatchSize, and maxBatchSize) */
  staticBatchSizes?: readonly number[];
  /** CUDA graphs in the static sweep (default: the bench's cudaGraph) */
  staticCudaGraph?: boolean;
  /**
   * Where each request's input lives: one JS array shared by every caller (default), or a pinned
   * HostBuffer per caller, which the backend gather copies to the GPU by DMA with no CPU copy.
   */
  requestMemory?: 'js' | 'pinned';
  /**
   * Each caller gives the batcher its own output buffers, reused for every request
   * (InferRequestOptions.outputBuffers: no allocation per request), instead of getting new arrays.
   */
  callerOutputs?: boolean;
  /** DynamicBatcher's stageOnArrival (default true, as in DynamicBatcher): false to measure without */
  stageOnArrival?: boolean;
}

export interface RunBenchOptions {
  /** path of a serialized engine (.plan / .engine) */
  plan: string;
  /** input shapes by name (trtexec's --shapes); others: static shape or the profile's opt shape */
  shapes?: Record<string, readonly number[]>;
  /** overrides dimension 0 of every input */
  batch?: number;
  /** timed iterations per stream (exclusive with durationMs) */
  iterations?: number;
  /** timed phase length, ms (default 3000 unless iterations is set) */
  durationMs?: number;
  /**
   * Split the timed phase of the C++ and JS loops into this many rounds, alternating the two
   * (C++ then JS, then JS then C++, ...) on the same contexts; each method's samples are pooled
   * over its rounds. Drift of the host or GPU (clocks, neighbours on a VM) then hits both
   * methods alike, which makes their ratio steadier. Default 1 (C++ loop, then JS loop).
   */
  rounds?: number;
  /** warm-up, ms (default 200, trtexec's default) */
  warmupMs?: number;
  /** contexts, each on its own stream, running at once (trtexec --infStreams); default 1 */
  streams?: number;
  cudaGraph?: boolean;
  /** copy inputs in and outputs out around every inference (default true; false = --noDataTransfers) */
  dataTransfers?: boolean;
  /**
   * Two inferences in flight per stream on two sets of buffers, the next one's inputs copied on
   * an input stream while the current one computes (default true, as trtexec does unless
   * --exposeDMA; false: one at a time, copies and compute in sequence).
   */
  overlap?: boolean;
  device?: number;
  profile?: number;
  /** completion wait mode of the streams the JS loop (and the batcher's instances) run on */
  waitMode?: WaitMode;
  /** how completions reach JS on those streams: 'wake' (default) or 'poll' */
  completion?: CompletionMode;
  /** loops to run (default all; trtexec only when a binary is known) */
  methods?: readonly BenchMethod[];
  /** trtexec binary (default process.env.TRTEXEC); false: never */
  trtexec?: string | false;
  /** more trtexec arguments (default: TRTEXEC_ARGS split on spaces) */
  trtexecArgs?: readonly string[];
  /** batcher mode instead of the three loops */
  batcher?: BatcherBenchOptions;
  /** a progress bar on stderr (true) or a custom sink; default none */
  progress?: boolean | ProgressSink;
  /** Runtime options (library path, flavor, host code) */
  runtime?: Omit<RuntimeOptions, 'device'>;
}

const DEFAULT_DURATION_MS = 3000;
const DEFAULT_WARMUP_MS = 200;
/** warm-up of every round after the first (see RunBenchOptions.rounds) */
const ROUND_WARMUP_MS = 100;
const STATIC_SIZES = [1, 2, 4, 8, 16, 32, 64];

function bad(message: string): TensorRtError {
  return new TensorRtError('ERR_INVALID_ARGUMENT', message);
}

function checkInt(v: number | undefined, what: string, min: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) throw bad(`${what} must be an integer >= ${min}, got ${v}`);
}

function checkNum(v: number | undefined, what: string, min: number): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < min)) throw bad(`${what} must be a number >= ${min}, got ${v}`);
}

/** Option checks that need no GPU (the CLI runs them before anything is loaded). */
export function validateBenchOptions(o: RunBenchOptions): void {
  if (typeof o.plan !== 'string' || o.plan === '') throw bad('a plan path is required');
  if (o.iterations !== undefined && o.durationMs !== undefined) throw bad('iterations and duration are exclusive: give one');
  checkInt(o.iterations, 'iterations', 1);
  checkInt(o.rounds, 'rounds', 1);
  if (o.rounds !== undefined && o.rounds > 1 && o.iterations !== undefined) throw bad('rounds split a timed phase: give a duration, not iterations');
  checkNum(o.durationMs, 'duration', 1);
  checkNum(o.warmupMs, 'warm-up', 0);
  checkInt(o.streams, 'streams', 1);
  checkInt(o.batch, 'batch', 1);
  checkInt(o.device, 'device', 0);
  checkInt(o.profile, 'profile', 0);
  if (o.waitMode !== undefined && !['adaptive', 'spin', 'block'].includes(o.waitMode)) throw bad(`waitMode must be adaptive, spin or block, got ${String(o.waitMode)}`);
  if (o.completion !== undefined && !['wake', 'poll'].includes(o.completion)) throw bad(`completion must be wake or poll, got ${String(o.completion)}`);
  for (const m of o.methods ?? []) if (!['cpp', 'js', 'trtexec'].includes(m)) throw bad(`unknown method ${String(m)} (cpp, js, trtexec)`);
  if (o.batcher) {
    const c = typeof o.batcher.concurrency === 'number' ? [o.batcher.concurrency] : [...o.batcher.concurrency];
    if (c.length === 0) throw bad('concurrency needs at least one value');
    for (const x of c) checkInt(x, 'concurrency', 1);
    checkInt(o.batcher.maxBatchSize, 'max batch', 1);
    checkInt(o.batcher.maxQueueDelayUs, 'max queue delay (µs)', 0);
    checkNum(o.batcher.staticDurationMs, 'static duration', 1);
    for (const b of o.batcher.staticBatchSizes ?? []) checkInt(b, 'static batch size', 1);
    for (const b of o.batcher.preferredBatchSizes ?? []) checkInt(b, 'preferred batch size', 1);
    if (o.batcher.requestMemory !== undefined && !['js', 'pinned'].includes(o.batcher.requestMemory)) throw bad(`requestMemory must be js or pinned, got ${String(o.batcher.requestMemory)}`);
  }
}

function uvThreadpoolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? n : 4;
}

function environment(runtime: Runtime | undefined, device: number): BenchEnvironment {
  const cpus = os.cpus();
  const env: BenchEnvironment = { node: process.version, platform: `${process.platform} ${process.arch}`, cpus: cpus.length, uvThreadpoolSize: uvThreadpoolSize() };
  if (cpus[0]) env.cpuModel = cpus[0].model.trim();
  if (runtime) {
    const i = runtime.info;
    env.tensorrt = { version: i.version, flavor: i.flavor, libraryPath: i.libraryPath };
  }
  try {
    const c = cudaInfo();
    const d = c.devices.find((x) => x.index === device) ?? c.devices[device];
    env.cuda = { driverVersion: c.driverVersion, runtimeVersion: c.runtimeVersion };
    if (d) env.cuda.device = { index: d.index, name: d.name, computeCapability: d.computeCapability, totalMemory: d.totalMemory };
  } catch {
    /* no CUDA: the runtime would have failed first */
  }
  return env;
}

// ------------------------------------------------------------------------------------ slots

interface SlotOptions {
  device: number;
  profile: number;
  waitMode?: WaitMode | undefined;
  completion?: CompletionMode | undefined;
  dataTransfers: boolean;
  /** two IO sets, two inferences in flight */
  overlap: boolean;
  seed: number;
}

/**
 * One context on its own stream with device buffers (and pinned staging) at the bench shapes,
 * per IO set (two with overlap).
 */
class BenchSlot {
  readonly stream: Stream;
  readonly ctx: ExecutionContext;
  /** per IO set: each input's pinned staging (with data transfers), which the JS loop stages from */
  readonly inputViews: { name: string; view: Uint8Array }[][] = [];
  readonly #buffers: { dispose(): void }[] = [];

  private constructor(stream: Stream, ctx: ExecutionContext) {
    this.stream = stream;
    this.ctx = ctx;
  }

  static async create(engine: Engine, shapes: Record<string, number[]>, o: SlotOptions): Promise<BenchSlot> {
    const stream = new Stream({ device: o.device, ...(o.waitMode ? { waitMode: o.waitMode } : {}), ...(o.completion ? { completion: o.completion } : {}) });
    let ctx: ExecutionContext;
    try {
      ctx = engine.createContext({ profile: o.profile, stream, ioSets: o.overlap ? 2 : 1 });
    } catch (e) {
      stream.dispose();
      throw e;
    }
    const slot = new BenchSlot(stream, ctx);
    try {
      for (const t of engine.inputs) ctx.setInputShape(t.name, shapes[t.name]!);
      let seed = o.seed;
      for (let set = 0; set < ctx.ioSets; set++) {
        const views: { name: string; view: Uint8Array }[] = [];
        slot.inputViews.push(views);
        for (const t of engine.io) {
          const dims = t.mode === 'input' ? shapes[t.name]! : ctx.getTensorShape(t.name);
          if (dims.some((d) => d < 0)) throw new TensorRtError('ERR_TRT', `output '${t.name}' has a data-dependent shape ${formatShape(dims)}; the bench does not support it`);
          const bytes = byteLength(t.dtype, shapeSize(dims));
          const cap = Math.max(256, Math.ceil(bytes / 256) * 256);
          const dev = new DeviceBuffer(cap, { device: o.device });
          slot.#buffers.push(dev);
          ctx.setTensorAddress(t.name, dev, 0, set);
          if (t.mode === 'input' || o.dataTransfers) {
            const host = new HostBuffer(cap);
            slot.#buffers.push(host);
            if (t.mode === 'input') {
              fillRandom(host.buffer, t.dtype, 0, bytes, seed++);
              // Without transfers the data must already be on the device.
              if (!o.dataTransfers) await dev.copyFrom(host, { stream, byteLength: cap });
              else views.push({ name: t.name, view: new Uint8Array(host.buffer, 0, bytes) });
            }
            if (o.dataTransfers) ctx.setHostStaging(t.name, host, 0, set);
          }
        }
      }
    } catch (e) {
      slot.dispose();
      throw e;
    }
    return slot;
  }

  dispose(): void {
    this.ctx.dispose();
    this.stream.dispose();
    for (const b of this.#buffers) b.dispose();
  }
}

async function createSlots(n: number, engine: Engine, shapes: Record<string, number[]>, o: SlotOptions): Promise<BenchSlot[]> {
  const slots: BenchSlot[] = [];
  try {
    for (let i = 0; i < n; i++) slots.push(await BenchSlot.create(engine, shapes, { ...o, seed: o.seed + i * 101 }));
  } catch (e) {
    for (const s of slots) s.dispose();
    throw e;
  }
  return slots;
}

// ------------------------------------------------------------------------------------ loops

interface LoopOptions {
  iterations?: number | undefined;
  durationMs: number;
  warmupMs: number;
  cudaGraph: boolean;
  batch: number;
}

/** The C++ loop on every slot at once; iterations of all slots pooled. */
export function cppLoopResult(rs: readonly NativeBenchmarkResult[], batch: number): BenchLoopResult {
  return pooledLoopResult('cpp', [cppLoopRun(rs)], batch);
}

/** Samples of one loop on one slot (µs per iteration), whichever side measured them. */
interface LoopSamples {
  latency: Float64Array | readonly number[];
  enqueue: Float64Array | readonly number[];
  h2d: Float64Array | readonly number[];
  compute: Float64Array | readonly number[];
  d2h: Float64Array | readonly number[];
}

/** Pools the slots' samples of one loop into throughput and timing statistics. */
function loopResult(method: 'cpp' | 'js', sets: readonly LoopSamples[], wallMs: number, batch: number, graph: boolean): BenchLoopResult {
  const pool = (k: keyof LoopSamples) => timingStats(concatSamples(sets.map((s) => s[k])));
  const iterations = sets.reduce((a, s) => a + s.latency.length, 0);
  const qps = wallMs > 0 ? iterations / (wallMs / 1000) : 0;
  const res: BenchLoopResult = {
    method,
    iterations,
    wallMs,
    throughputQps: qps,
    inferencesPerSecond: qps * batch,
    latency: pool('latency'),
    enqueue: pool('enqueue'),
    cudaGraph: graph,
  };
  if (graph) {
    // A graph holds copies and inference: its events span the whole graph.
    res.compute = timingStats(concatSamples(sets.map((s) => addSamples(Float64Array.from(s.h2d), Float64Array.from(s.compute), Float64Array.from(s.d2h)))));
  } else {
    res.h2d = pool('h2d');
    res.compute = pool('compute');
    res.d2h = pool('d2h');
  }
  return res;
}

/** One loop's samples on every slot, before pooling; rounds of one method are pooled together. */
interface LoopRun {
  sets: readonly LoopSamples[];
  wallMs: number;
  graph: boolean;
}

function pooledLoopResult(method: 'cpp' | 'js', runs: readonly LoopRun[], batch: number): BenchLoopResult {
  return loopResult(
    method,
    runs.flatMap((r) => r.sets),
    runs.reduce((a, r) => a + r.wallMs, 0),
    batch,
    runs.length > 0 && runs.every((r) => r.graph),
  );
}

async function cppLoop(slots: readonly BenchSlot[], o: LoopOptions): Promise<LoopRun> {
  const overlap = slots.every((s) => s.ctx.ioSets >= 2);
  const opts: { iterations?: number; durationMs?: number; warmupMs: number; cudaGraph: boolean; overlap: boolean } = { warmupMs: o.warmupMs, cudaGraph: o.cudaGraph, overlap };
  if (o.iterations !== undefined) opts.iterations = o.iterations;
  else opts.durationMs = o.durationMs;
  return cppLoopRun(await Promise.all(slots.map((s) => s.ctx.benchmark(opts))));
}

/** The C++ loops of all slots, run at once: the wall time is the longest loop's. */
function cppLoopRun(rs: readonly NativeBenchmarkResult[]): LoopRun {
  return {
    sets: rs.map((r) => ({ latency: r.latencyUs, enqueue: r.enqueueUs, h2d: r.h2dUs, compute: r.computeUs, d2h: r.d2hUs })),
    wallMs: Math.max(...rs.map((r) => r.totalMs)),
    graph: rs.length > 0 && rs.every((r) => r.cudaGraph),
  };
}

/** Per-iteration samples of the JS loop (µs). */
export interface JsSamples {
  latency: Float64Array | readonly number[];
  enqueue: Float64Array | readonly number[];
  h2d: Float64Array | readonly number[];
  compute: Float64Array | readonly number[];
  d2h: Float64Array | readonly number[];
}

/**
 * The JS loop's samples, in Float64Arrays that double when full: recording a sample allocates
 * nothing, as in the C++ loop (JS arrays of numbers grow by reallocation and keep the garbage
 * collector busy, which would show as JS-path overhead).
 * @internal exported for tests
 */
export class SampleColumns {
  private cols: Float64Array[];
  count = 0;
  constructor(capacity: number) {
    this.cols = Array.from({ length: 5 }, () => new Float64Array(capacity));
  }
  add(latency: number, enqueue: number, h2d: number, compute: number, d2h: number): void {
    if (this.count === this.cols[0]!.length) {
      this.cols = this.cols.map((c) => {
        const g = new Float64Array(c.length * 2);
        g.set(c);
        return g;
      });
    }
    const k = this.count++;
    const [a, b, c, d, e] = this.cols as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
    a[k] = latency;
    b[k] = enqueue;
    c[k] = h2d;
    d[k] = compute;
    e[k] = d2h;
  }
  samples(): JsSamples {
    const [latency, enqueue, h2d, compute, d2h] = this.cols.map((c) => c.subarray(0, this.count)) as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
    return { latency, enqueue, h2d, compute, d2h };
  }
}

export function jsLoopResult(samples: readonly JsSamples[], wallMs: number, batch: number, graph: boolean): BenchLoopResult {
  return pooledLoopResult('js', [{ sets: samples, wallMs, graph }], batch);
}

/**
 * `await ctx.run()` back to back from JavaScript on every slot: one lane per IO set (two with
 * overlap), each staging its set's inputs from their pinned staging (DMA on the set's input
 * stream, as the C++ loop copies them) and running; the lanes' runs overlap as the C++ loop's
 * iterations do.
 */
async function jsLoop(slots: readonly BenchSlot[], inputDims: Int32Array, o: LoopOptions): Promise<LoopRun> {
  for (const s of slots) {
    // One lane: timing into one array per slot, read right after each run (no allocation per
    // run). Several lanes would overwrite it: each run then gets its own array.
    s.ctx.setTiming(true, s.ctx.ioSets === 1 ? new Float64Array(3) : undefined);
    s.ctx.setCudaGraph(o.cudaGraph);
  }
  const lanes = slots.flatMap((s) => Array.from({ length: s.ctx.ioSets }, (_, set) => ({ slot: s, set, options: { inputDims, set } })));
  const overlapped = slots.every((s) => s.ctx.ioSets >= 2);
  const runOnce = (l: (typeof lanes)[number]): Promise<Float64Array | undefined> => {
    if (overlapped) for (const v of l.slot.inputViews[l.set]!) l.slot.ctx.stageInput(v.name, 0, v.view, l.set);
    return l.slot.ctx.run(l.options);
  };
  // Warm-up: at least two runs per lane, so that a CUDA graph is captured before timing starts.
  await Promise.all(
    lanes.map(async (l) => {
      const end = performance.now() + o.warmupMs;
      let n = 0;
      do {
        await runOnce(l);
        n++;
      } while (performance.now() < end || n < 2);
    }),
  );
  const launches0 = slots.map((s) => s.ctx.graphLaunches);
  const columns = lanes.map(() => new SampleColumns(o.iterations ?? 4096));
  const t0 = performance.now();
  const end = t0 + o.durationMs;
  await Promise.all(
    lanes.map(async (l, i) => {
      const a = columns[i]!;
      for (let n = 0; o.iterations !== undefined ? n < o.iterations : performance.now() < end; n++) {
        const x = performance.now();
        const p = runOnce(l);
        const y = performance.now();
        const t = await p;
        const z = performance.now();
        a.add((z - x) * 1000, (y - x) * 1000, (t?.[0] ?? Number.NaN) * 1000, (t?.[1] ?? Number.NaN) * 1000, (t?.[2] ?? Number.NaN) * 1000);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const graph = o.cudaGraph && slots.every((s, i) => s.ctx.graphLaunches > launches0[i]!);
  for (const s of slots) s.ctx.setTiming(false);
  return { sets: columns.map((c) => c.samples()), wallMs, graph };
}

export function benchRatios(r: BenchReport['results']): BenchRatios {
  const out: BenchRatios = {};
  const { cpp, js, trtexec } = r;
  if (cpp && js) {
    out.jsOverCppThroughput = js.throughputQps / cpp.throughputQps;
    out.jsMinusCppLatencyUs = {
      mean: js.latency.mean - cpp.latency.mean,
      median: js.latency.median - cpp.latency.median,
      p90: js.latency.p90 - cpp.latency.p90,
      p99: js.latency.p99 - cpp.latency.p99,
    };
  }
  if (trtexec && cpp) out.cppOverTrtexecThroughput = cpp.throughputQps / trtexec.throughputQps;
  if (trtexec && js) out.jsOverTrtexecThroughput = js.throughputQps / trtexec.throughputQps;
  return out;
}

function batchOf(engine: Engine, shapes: Record<string, number[]>): number {
  const first = engine.inputs[0];
  const d = first ? shapes[first.name] : undefined;
  return d && d.length > 0 ? d[0]! : 1;
}

// ------------------------------------------------------------------------------------ runBench

/**
 * Runs the benchmark described by `options` and resolves with its report. Rejects with a
 * TensorRtError: ERR_INVALID_ARGUMENT for bad options or a missing file, ERR_TRT_NOT_FOUND /
 * ERR_CUDA_UNAVAILABLE without TensorRT or a GPU, ERR_PLAN_INVALID for a plan that does not
 * load, ERR_SHAPE_OUT_OF_PROFILE / ERR_SHAPE_MISMATCH / ERR_UNKNOWN_TENSOR for bad shapes,
 * ERR_CONFIG when TRTEXEC is not trtexec, ERR_TRT when trtexec fails.
 */
export async function runBench(options: RunBenchOptions): Promise<BenchReport> {
  validateBenchOptions(options);
  const device = options.device ?? 0;
  const profileIndex = options.profile ?? 0;
  const streams = options.streams ?? 1;
  const warmupMs = options.warmupMs ?? DEFAULT_WARMUP_MS;
  const durationMs = options.iterations !== undefined ? undefined : (options.durationMs ?? DEFAULT_DURATION_MS);
  const cudaGraph = options.cudaGraph ?? false;
  const dataTransfers = options.dataTransfers ?? true;
  const overlap = options.overlap ?? true;
  const notes: string[] = [];
  const batcherMode = options.batcher !== undefined;

  let methods: BenchMethod[] = batcherMode ? [] : [...(options.methods ?? ['cpp', 'js', 'trtexec'])];
  let trtexecBinary: string | undefined;
  if (methods.includes('trtexec')) {
    const b = options.trtexec === false ? undefined : (options.trtexec ?? process.env.TRTEXEC);
    if (b) {
      trtexecBinary = b;
      await checkTrtexec(b); // fail fast, before loading anything
    } else {
      methods = methods.filter((m) => m !== 'trtexec');
      if (options.methods === undefined || options.trtexec === undefined) {
        notes.push('TRTEXEC is not set: the C++ loop stands in for trtexec (same method: warm-up, then timed iterations, one at a time, each waited for).');
      }
    }
  }
  if (streams > uvThreadpoolSize() - 1 && (methods.includes('cpp') || batcherMode)) {
    notes.push(`${streams} C++ loops share libuv's thread pool of ${uvThreadpoolSize()} threads with plan loading: set UV_THREADPOOL_SIZE above ${streams} so that they all run at once.`);
  }

  const runtime = new Runtime({ ...options.runtime, device });
  let engine: Engine | undefined;
  const progress: ProgressSink = options.progress === true ? new TimeProgress() : options.progress ? options.progress : noProgress;
  try {
    const planPath = resolve(options.plan);
    let st;
    try {
      st = statSync(planPath);
    } catch {
      throw bad(`no such file: ${options.plan}`);
    }
    if (!st.isFile()) throw bad(`not a file: ${options.plan}`);
    engine = await runtime.deserializeAsync(planPath);
    if (profileIndex >= engine.profiles.length && !(profileIndex === 0 && engine.profiles.length === 0)) {
      throw bad(`optimization profile ${profileIndex} does not exist (the engine has ${engine.profiles.length})`);
    }
    const prof = engine.profiles[profileIndex];
    const shapes = resolveShapes(engine.inputs, engine.outputs, prof, { shapes: options.shapes, batch: options.batch, profile: profileIndex });
    const batch = batchOf(engine, shapes);
    const config: BenchConfig = { plan: planPath, device, profile: profileIndex, shapes, batch, streams, cudaGraph, dataTransfers, overlap, warmupMs, methods };
    if (options.iterations !== undefined) config.iterations = options.iterations;
    if (durationMs !== undefined) config.durationMs = durationMs;
    if (options.waitMode) config.waitMode = options.waitMode;
    if (options.completion) config.completion = options.completion;
    const report: BenchReport = { version: 1, date: new Date().toISOString(), environment: environment(runtime, device), config, results: {}, ratios: {}, notes };

    const slotOptions: SlotOptions = { device, profile: profileIndex, waitMode: options.waitMode, completion: options.completion, dataTransfers, overlap, seed: 1 };
    const loopMs = (durationMs ?? 1000) + warmupMs;
    if (batcherMode) {
      report.batcher = await batcherBench(engine, planPath, shapes, options, { device, profile: profileIndex, streams, warmupMs, durationMs, cudaGraph, progress, slotOptions });
      return report;
    }

    let roundRatios: number[] | undefined;
    progress.start(methods.length * loopMs + 500);
    progress.phase('setting up contexts', 500);
    const slots = await createSlots(streams, engine, shapes, slotOptions);
    const loop: LoopOptions = { iterations: options.iterations, durationMs: durationMs ?? 0, warmupMs, cudaGraph, batch };
    try {
      // Rounds alternate the order (C++ JS, JS C++, ...) so that neither method always runs
      // first; only the first round of each method gets the full warm-up.
      const rounds = durationMs !== undefined && methods.includes('cpp') && methods.includes('js') ? (options.rounds ?? 1) : 1;
      const perRound: LoopOptions = { ...loop, durationMs: loop.durationMs / rounds };
      const inputDims = packDims(engine.inputs.map((t) => shapes[t.name]!));
      const runs: { cpp: LoopRun[]; js: LoopRun[] } = { cpp: [], js: [] };
      for (let r = 0; r < rounds; r++) {
        const order: ('cpp' | 'js')[] = r % 2 === 0 ? ['cpp', 'js'] : ['js', 'cpp'];
        for (const m of order) {
          if (!methods.includes(m)) continue;
          const o = { ...perRound, warmupMs: r === 0 ? warmupMs : Math.min(warmupMs, ROUND_WARMUP_MS) };
          const what = `${m === 'cpp' ? 'C++' : 'JS'} loop${streams > 1 ? ` ×${streams}` : ''}${rounds > 1 ? ` (round ${r + 1}/${rounds})` : ''}`;
          progress.phase(what, o.durationMs + o.warmupMs);
          if (m === 'cpp') runs.cpp.push(await cppLoop(slots, o));
          else runs.js.push(await jsLoop(slots, inputDims, o));
        }
      }
      if (runs.cpp.length > 0) {
        report.results.cpp = pooledLoopResult('cpp', runs.cpp, batch);
        if (cudaGraph && !report.results.cpp.cudaGraph) notes.push('CUDA graph capture failed in the C++ loop: it ran without a graph.');
      }
      if (runs.js.length > 0) {
        report.results.js = pooledLoopResult('js', runs.js, batch);
        if (cudaGraph && !report.results.js.cudaGraph) notes.push('CUDA graph capture failed in the JS loop: it ran without a graph.');
      }
      if (rounds > 1) {
        config.rounds = rounds;
        const qps = (r: LoopRun) => r.sets.reduce((a, x) => a + x.latency.length, 0) / (r.wallMs / 1000);
        roundRatios = runs.js.map((j, i) => qps(j) / qps(runs.cpp[i]!));
      }
    } finally {
      for (const s of slots) s.dispose();
    }
    if (trtexecBinary && methods.includes('trtexec')) {
      progress.phase('trtexec', loopMs + 2000);
      const dynamicShapes: Record<string, number[]> = {};
      for (const t of engine.inputs) if (t.shape.some((d) => d < 0)) dynamicShapes[t.name] = shapes[t.name]!;
      const extra = options.trtexecArgs ?? (process.env.TRTEXEC_ARGS ? process.env.TRTEXEC_ARGS.split(/\s+/).filter(Boolean) : []);
      report.results.trtexec = await runTrtexec({
        binary: trtexecBinary,
        plan: planPath,
        shapes: dynamicShapes,
        ...(options.iterations !== undefined ? { iterations: options.iterations } : { durationMs: durationMs ?? DEFAULT_DURATION_MS }),
        warmupMs,
        streams,
        cudaGraph,
        dataTransfers,
        overlap,
        device,
        profile: profileIndex,
        extraArgs: extra,
        batch,
      });
    }
    report.ratios = benchRatios(report.results);
    if (roundRatios) report.ratios.jsOverCppThroughputPerRound = roundRatios;
    return report;
  } finally {
    progress.stop();
    engine?.dispose();
    runtime.dispose();
  }
}

// ------------------------------------------------------------------------------------ batcher

interface BatcherContext {
  device: number;
  profile: number;
  streams: number;
  warmupMs: number;
  durationMs: number | undefined;
  cudaGraph: boolean;
  progress: ProgressSink;
  slotOptions: SlotOptions;
}

function randomTensors(engine: Engine, shapes: Record<string, number[]>, seed: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const t of engine.inputs) {
    const tensor = Tensor.zeros(t.dtype, shapes[t.name]!);
    fillRandom(tensor.data.buffer as ArrayBuffer, t.dtype, tensor.data.byteOffset, tensor.data.byteLength, seed++);
    out[t.name] = tensor;
  }
  return out;
}

async function batcherBench(engine: Engine, planPath: string, shapes: Record<string, number[]>, options: RunBenchOptions, c: BatcherContext): Promise<BatcherBenchReport> {
  const bo = options.batcher!;
  const concurrency = typeof bo.concurrency === 'number' ? [bo.concurrency] : [...bo.concurrency];
  const delayUs = bo.maxQueueDelayUs ?? 500;
  const instancesN = c.streams;
  const staticMs = bo.staticDurationMs ?? Math.min(c.durationMs ?? 1000, 1000);
  const runMs = c.durationMs ?? 1000;

  // Same rule as TensorRtInstance: batchable when dimension 0 is dynamic on every tensor.
  const batchable = engine.io.every((t) => t.shape.length > 0 && t.shape[0] === -1);
  if (!batchable) throw new TensorRtError('ERR_CONFIG', 'the batcher bench needs a model with a dynamic batch dimension (dimension 0 of every input and output -1)');
  const prof = engine.profiles[c.profile];
  const profMax = Math.min(...engine.inputs.map((t) => prof?.[t.name]?.max[0] ?? 0));
  const profMin = Math.max(...engine.inputs.map((t) => prof?.[t.name]?.min[0] ?? 1));
  const maxBatch = bo.maxBatchSize ?? profMax;
  if (maxBatch > profMax) throw new TensorRtError('ERR_SHAPE_OUT_OF_PROFILE', `max batch ${maxBatch} exceeds the profile's maximum batch ${profMax}`);
  const requestShapes: Record<string, number[]> = {};
  for (const t of engine.inputs) {
    const d = [...shapes[t.name]!];
    d[0] = 1;
    checkInputShape(t, prof?.[t.name], d, c.profile);
    requestShapes[t.name] = d;
  }

  const sizes = [...new Set(bo.staticBatchSizes ?? [...STATIC_SIZES.filter((b) => b <= maxBatch), maxBatch])].filter((b) => b >= profMin && b <= maxBatch).sort((a, b) => a - b);
  const sweep = bo.staticSweep !== false;
  const expected = (sweep ? sizes.length * (staticMs + c.warmupMs + 200) : 0) + concurrency.length * (runMs + c.warmupMs) + 1000;
  c.progress.start(expected);

  const report: BatcherBenchReport = {
    instances: instancesN,
    maxBatchSize: maxBatch,
    maxQueueDelayUs: delayUs,
    requestMemory: bo.requestMemory ?? 'js',
    callerOutputs: bo.callerOutputs === true,
    stageOnArrival: bo.stageOnArrival !== false,
    requestShapes,
    staticSweep: [],
    runs: [],
  };

  // 1. Static batches: the C++ loop on `instances` contexts at once, per batch size.
  if (sweep) {
    for (const b of sizes) {
      c.progress.phase(`static batch ${b}`, staticMs + c.warmupMs + 200);
      const bShapes: Record<string, number[]> = {};
      for (const t of engine.inputs) bShapes[t.name] = [b, ...shapes[t.name]!.slice(1)];
      const slots = await createSlots(instancesN, engine, bShapes, c.slotOptions);
      try {
        const r = pooledLoopResult('cpp', [await cppLoop(slots, { durationMs: staticMs, warmupMs: c.warmupMs, cudaGraph: bo.staticCudaGraph ?? c.cudaGraph, batch: b })], b);
        const s: StaticBatchResult = {
          batchSize: b,
          iterations: r.iterations,
          wallMs: r.wallMs,
          inferencesPerSecond: r.inferencesPerSecond,
          latencyMeanUs: r.latency.mean,
          latencyP99Us: r.latency.p99,
          computeMeanUs: r.compute?.mean ?? Number.NaN,
        };
        report.staticSweep.push(s);
      } finally {
        for (const s of slots) s.dispose();
      }
    }
    const best = report.staticSweep.reduce<StaticBatchResult | undefined>((a, s) => (!a || s.inferencesPerSecond > a.inferencesPerSecond ? s : a), undefined);
    if (best) report.bestStatic = { batchSize: best.batchSize, inferencesPerSecond: best.inferencesPerSecond };
    const atMax = report.staticSweep.find((s) => s.batchSize === maxBatch);
    if (atMax) {
      report.maxBatchLatencyUs = atMax.latencyMeanUs;
      report.p99BoundUs = delayUs + atMax.latencyMeanUs;
    }
  }

  // 2. The dynamic batcher over `instances` TensorRtBackend instances.
  c.progress.phase('loading batcher instances', 500);
  // Only what the options set explicitly: otherwise the instances run on TensorRtBackend's defaults.
  const backend = new TensorRtBackend({
    ...options.runtime,
    ...(options.waitMode ? { waitMode: options.waitMode } : {}),
    ...(options.completion ? { completion: options.completion } : {}),
    ...(options.cudaGraph !== undefined ? { cudaGraph: options.cudaGraph } : {}),
    ...(options.overlap !== undefined ? { overlap: options.overlap } : {}),
  });
  const instances: BackendInstance[] = [];
  try {
    for (let i = 0; i < instancesN; i++) instances.push(await backend.createInstance(planPath, { device: c.device, profile: c.profile }));
  } catch (e) {
    await Promise.allSettled(instances.map((x) => x.dispose()));
    throw e;
  }
  let batcher: DynamicBatcher;
  try {
    batcher = new DynamicBatcher(
      instances,
      { maxBatchSize: maxBatch, maxQueueDelayMicroseconds: delayUs, ...(bo.preferredBatchSizes?.length ? { preferredBatchSize: [...bo.preferredBatchSizes] } : {}) },
      { stageOnArrival: bo.stageOnArrival !== false },
    );
  } catch (e) {
    await Promise.allSettled(instances.map((x) => x.dispose()));
    throw e;
  }
  const inputs = randomTensors(engine, requestShapes, 7);
  // pinned: every caller gets its own copy of the request in a HostBuffer
  const pinned: HostBuffer[] = [];
  const perCaller = (n: number): Record<string, Tensor>[] | undefined => {
    if (bo.requestMemory !== 'pinned') return undefined;
    return Array.from({ length: n }, () => {
      const own: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(inputs)) {
        const h = new HostBuffer(Math.max(1, t.data.byteLength));
        pinned.push(h);
        const view = viewAs(t.type, h.buffer, 0, t.data.byteLength);
        new Uint8Array(h.buffer, 0, t.data.byteLength).set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        own[name] = new Tensor(t.type, view, t.dims);
      }
      return own;
    });
  };
  // callerOutputs: every caller's own output buffers (outputs whose shape is fixed beyond dimension 0)
  const outputsOf = (n: number): Record<string, TypedArray>[] | undefined => {
    if (bo.callerOutputs !== true) return undefined;
    return Array.from({ length: n }, () => {
      const own: Record<string, TypedArray> = {};
      for (const t of engine.outputs) {
        const rest = t.shape.slice(1);
        if (rest.every((d) => d >= 0)) own[t.name] = new (typedArrayConstructor(t.dtype))(shapeSize(rest));
      }
      return own;
    });
  };
  try {
    for (const conc of concurrency) {
      c.progress.phase(`batcher, ${conc} callers`, runMs + c.warmupMs);
      report.runs.push(await batcherRun(batcher, perCaller(conc) ?? inputs, conc, c.warmupMs, options.iterations, runMs, outputsOf(conc)));
    }
  } finally {
    await batcher.close();
    for (const h of pinned) h.dispose();
  }
  for (const r of report.runs) {
    if (report.bestStatic) r.ratioToBestStatic = r.inferencesPerSecond / report.bestStatic.inferencesPerSecond;
    if (report.p99BoundUs !== undefined) r.p99WithinBound = r.latency.p99 <= report.p99BoundUs;
  }
  return report;
}

/** inputs: one request for every caller, or one per caller */
async function batcherRun(
  batcher: DynamicBatcher,
  inputs: Record<string, Tensor> | Record<string, Tensor>[],
  callers: number,
  warmupMs: number,
  iterations: number | undefined,
  durationMs: number,
  outputBuffers?: Record<string, TypedArray>[],
): Promise<BatcherRunResult> {
  let failure: unknown;
  const mine = (i: number): Record<string, Tensor> => (Array.isArray(inputs) ? inputs[i]! : inputs);
  const opts = (i: number): InferRequestOptions => (outputBuffers ? { outputBuffers: outputBuffers[i]! } : {});
  const wEnd = performance.now() + warmupMs;
  await Promise.all(
    Array.from({ length: callers }, async (_, i) => {
      do {
        await batcher.infer(mine(i), opts(i));
      } while (performance.now() < wEnd);
    }),
  );
  const s0 = batcher.statistics();
  const lat: number[][] = Array.from({ length: callers }, () => []);
  let started = 0;
  const t0 = performance.now();
  const end = t0 + durationMs;
  await Promise.all(
    lat.map(async (samples, i) => {
      const request = mine(i);
      const options = opts(i);
      while (failure === undefined && (iterations !== undefined ? started < iterations : performance.now() < end)) {
        started++;
        const a = performance.now();
        try {
          await batcher.infer(request, options);
        } catch (e) {
          failure ??= e;
          return;
        }
        samples.push((performance.now() - a) * 1000);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  if (failure !== undefined) throw failure;
  const s1 = batcher.statistics();
  const requests = lat.reduce((a, l) => a + l.length, 0);
  const executions = s1.executionCount - s0.executionCount;
  const inferences = s1.inferenceCount - s0.inferenceCount;
  const phase = (s: ModelStatistics, k: 'computeInput' | 'computeInfer' | 'computeOutput'): number => s.batchStats.reduce((a, b) => a + b[k].ns, 0);
  const perExec = (k: 'computeInput' | 'computeInfer' | 'computeOutput'): number => (executions > 0 ? (phase(s1, k) - phase(s0, k)) / executions / 1000 : 0);
  const qn = s1.queue.ns - s0.queue.ns;
  const qc = s1.queue.count - s0.queue.count;
  return {
    concurrency: callers,
    requests,
    failed: s1.fail.count - s0.fail.count,
    wallMs,
    inferencesPerSecond: wallMs > 0 ? requests / (wallMs / 1000) : 0,
    latency: timingStats(concatSamples(lat)),
    meanBatchSize: executions > 0 ? inferences / executions : 0,
    meanQueueUs: qc > 0 ? qn / qc / 1000 : 0,
    executions,
    meanExecutionUs: { input: perExec('computeInput'), infer: perExec('computeInfer'), output: perExec('computeOutput') },
  };
}
