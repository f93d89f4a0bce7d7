/**
 * ExecutionContext: the low-level path for people who manage their own device buffers.
 * Bind device buffers (and optionally pinned staging buffers), set input shapes, run().
 *
 * A context has one or more IO sets (ioSets): each set is its own binding of every tensor. Runs
 * on different sets may be in flight together: the next run's inputs are copied to the device
 * on the set's own input stream while the current run computes, and no two runs in flight ever
 * share a buffer. A set accepts new staged inputs and a new run only once its last run settled.
 */
import { loadNative, type NativeBenchmarkResult, type NativeExecutionContext, type NativeRunOptions } from '../native/binding.js';
import { TensorRtError } from '../errors.js';
import { formatShape } from '../tensor.js';
import { Stream, rejectOnThrow, type DeviceBuffer, type HostBuffer } from './cuda.js';
import type { Engine } from './runtime.js';

export interface ExecutionContextOptions {
  /** Optimization profile to start with (default 0). */
  profile?: number;
  /** Stream to run on; by default the context creates its own. */
  stream?: Stream;
  /**
   * Caller-managed activation memory (at least engine.deviceMemorySize bytes). Contexts that
   * never run at the same time (e.g. on one stream) may share one buffer.
   */
  deviceMemory?: DeviceBuffer;
  /** Capture copies + inference in a CUDA graph and replay it while shapes and buffers stay the same. */
  cudaGraph?: boolean;
  /** IO sets (1 to 8, default 1): independent bindings whose runs may be in flight together. */
  ioSets?: number;
  /** CUDA graphs kept for replay, one per binding state (default 32; least recently used dropped). */
  maxGraphs?: number;
}

export interface BenchmarkOptions {
  iterations?: number;
  durationMs?: number;
  warmupMs?: number;
  cudaGraph?: boolean;
  /**
   * Keep two iterations in flight on IO sets 0 and 1 (needs ioSets >= 2): the next one's inputs
   * are copied on the input stream while the current one computes, as trtexec does.
   */
  overlap?: boolean;
}

export type ContextRunOptions = NativeRunOptions;

export class ExecutionContext {
  /** @internal */ readonly native: NativeExecutionContext;
  readonly engine: Engine;
  readonly stream: Stream;
  readonly #ownsStream: boolean;

  /** @internal use engine.createContext() */
  constructor(engine: Engine, options: ExecutionContextOptions = {}) {
    this.engine = engine;
    this.#ownsStream = options.stream === undefined;
    this.stream = options.stream ?? new Stream({ device: engine.device });
    try {
      this.native = new (loadNative().ExecutionContext)(engine.native, this.stream.native, {
        profile: options.profile ?? 0,
        deviceMemory: options.deviceMemory?.native,
        ioSets: options.ioSets ?? 1,
        maxGraphs: options.maxGraphs ?? 32,
      });
    } catch (e) {
      if (this.#ownsStream) this.stream.dispose();
      throw e;
    }
    if (options.cudaGraph) this.native.setCudaGraph(true);
  }

  get profile(): number {
    return this.native.profile;
  }
  get pending(): number {
    return this.native.pending;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  /** Number of IO sets. */
  get ioSets(): number {
    return this.native.ioSets;
  }
  /** CUDA graphs kept for replay, one per shape and binding state seen (at most maxGraphs, least recently used dropped). */
  get graphCount(): number {
    return this.native.graphCount;
  }
  /** Runs that replayed a CUDA graph (rather than enqueueing the network). */
  get graphLaunches(): number {
    return this.native.graphLaunches;
  }

  /** Validated against the engine and the active profile before TensorRT sees it. */
  setInputShape(name: string, dims: readonly number[]): void {
    this.native.setInputShape(name, dims);
  }
  getTensorShape(name: string): number[] {
    return this.native.getTensorShape(name);
  }
  /** Binds a device buffer to an input or output of IO set `set` (byteOffset: a multiple of 256). */
  setTensorAddress(name: string, buffer: DeviceBuffer | null, byteOffset = 0, set = 0): void {
    this.native.setTensorAddress(name, buffer ? buffer.native : null, byteOffset, set);
  }
  /** run() copies inputs from this pinned buffer before, and outputs into it after, the inference. */
  setHostStaging(name: string, buffer: HostBuffer | null, byteOffset = 0, set = 0): void {
    this.native.setHostStaging(name, buffer ? buffer.native : null, byteOffset, set);
  }
  setOptimizationProfile(index: number): void {
    this.native.setOptimizationProfile(index);
  }
  setCudaGraph(enabled: boolean): void {
    this.native.setCudaGraph(enabled);
  }
  /**
   * When on, run() resolves with [h2d, compute, d2h] milliseconds measured with CUDA events: in
   * a new Float64Array, or, given `into` (3 elements at least), written into it (no allocation
   * per run; the next run's completion overwrites it). After markTimingEpoch (a diagnostic),
   * also [start, end] ms from the mark: new arrays get 5 elements, `into` needs 5 for them.
   */
  setTiming(enabled: boolean, into?: Float64Array): void {
    this.native.setTiming(enabled, into ?? null);
  }
  /**
   * Enqueues the inputs' copies, the inference and the outputs' copies, and resolves when the
   * GPU is done. The launch happens on the stream's watcher thread (on a 'poll' stream a cheap
   * one, a CUDA graph replay or an enqueue measured under 30 µs, runs inline), so TensorRT's
   * enqueue does not hold up the JS thread. The JS thread waits where it needs what a pending
   * launch uses: the setters, getTensorShape, graphCount, graphLaunches and benchmark wait for
   * the launches submitted before them; stageInput at byte 0 of an input already staged,
   * truncateStaged and clearStaged wait for the IO set's copy threads; a DeviceBuffer copy or
   * fill and Stream.synchronize wait for the stream's pending launches (stream order).
   * Inputs staged with stageInput are taken from there; the others are copied from their host
   * staging, if one is bound. outputDims is written at the launch: read it after this resolves.
   */
  run(options: ContextRunOptions = {}): Promise<Float64Array | undefined> {
    try {
      return this.stream.watch(this.native.run(options));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  /**
   * Sends one piece of input `name` towards the device at `byteOffset`, ahead of the next run()
   * of IO set `set`, which then takes it instead of copying the input from its host staging.
   * Any host memory: pinned memory (a HostBuffer or a view of one) is DMA'd from where it is;
   * other memory is copied into the set's pinned staging by copy threads and DMA'd from there.
   * Pieces go in order from byte 0 (0 starts the input afresh) and must add up to the input's
   * size at run(). Refused (ERR_BUSY) while a run of the set is in flight. The memory must stay
   * unchanged until that run settles.
   */
  stageInput(name: string, byteOffset: number, data: ArrayBufferView | ArrayBuffer, set = 0): void {
    this.native.stageInput(name, byteOffset, data, set);
  }
  /** Keeps only the first byteLength staged bytes of input `name` on IO set `set`. */
  truncateStaged(name: string, byteLength: number, set = 0): void {
    this.native.truncateStaged(name, byteLength, set);
  }
  /** Forgets what was staged on IO set `set` (its next run copies from the host staging again). */
  clearStaged(set = 0): void {
    this.native.clearStaged(set);
  }
  /** The same work in a C++ loop on a worker thread: the floor for JS-path comparisons. */
  benchmark(options: BenchmarkOptions = {}): Promise<NativeBenchmarkResult> {
    return rejectOnThrow(() => this.native.benchmark(options));
  }
  /** Work in flight completes; the context is released after it. Idempotent. */
  dispose(): void {
    this.native.dispose();
    if (this.#ownsStream) this.stream.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Packs shapes for run(): [rank, d0, d1, ...] per tensor, in order. */
export function packDims(shapes: readonly (readonly number[])[], out?: Int32Array): Int32Array {
  const n = shapes.reduce((a, s) => a + 1 + s.length, 0);
  const a = out && out.length >= n ? out : new Int32Array(n);
  let k = 0;
  for (const s of shapes) {
    a[k++] = s.length;
    for (const d of s) {
      if (!Number.isInteger(d) || d < 0 || d > 0x7fffffff) throw new TensorRtError('ERR_SHAPE_MISMATCH', `invalid dimension ${d} in ${formatShape(s)}`);
      a[k++] = d;
    }
  }
  return a;
}
