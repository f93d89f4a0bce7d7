/**
 * ExecutionContext: the low-level path for people who manage their own device buffers.
 * Bind device buffers (and optionally pinned staging buffers), set input shapes, run().
 */
import { loadNative, type NativeBenchmarkResult, type NativeExecutionContext } from '../native/binding.js';
import { TensorRtError } from '../errors.js';
import { formatShape } from '../tensor.js';
import { Stream, settle, type DeviceBuffer, type HostBuffer } from './cuda.js';
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
}

export interface BenchmarkOptions {
  iterations?: number;
  durationMs?: number;
  warmupMs?: number;
  cudaGraph?: boolean;
}

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
  /** Whether a CUDA graph is captured for the current shapes and bindings. */
  get graphCaptured(): boolean {
    return this.native.graphCaptured;
  }
  /** CUDA graphs kept for replay, one per shape and binding state seen (at most 8, least recently used dropped). */
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
  /** Binds a device buffer to an input or output (byteOffset: a multiple of 256). */
  setTensorAddress(name: string, buffer: DeviceBuffer | null, byteOffset = 0): void {
    this.native.setTensorAddress(name, buffer ? buffer.native : null, byteOffset);
  }
  /** run() copies inputs from this pinned buffer before, and outputs into it after, the inference. */
  setHostStaging(name: string, buffer: HostBuffer | null, byteOffset = 0): void {
    this.native.setHostStaging(name, buffer ? buffer.native : null, byteOffset);
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
   * Enqueues staging copies, the inference and copies back on the context's stream; resolves
   * when the GPU is done. The JS thread is never blocked.
   */
  run(inputDims?: Int32Array | null, outputDims?: Int32Array | null, parts?: (ArrayBufferView[] | null)[] | null, stagedParts = 0): Promise<Float64Array | undefined> {
    try {
      // parts: per input, host pieces that are concatenated into its pinned staging on the
      // launch thread (gathering a batch without copying on the JS thread); the first
      // stagedParts of each were copied to the device by stageInput already
      return this.stream.watch(this.native.run(inputDims ?? null, outputDims ?? null, parts ?? null, stagedParts));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  /**
   * Copies a piece of input `name` from pinned memory (a HostBuffer or a view of one) to the
   * device at `byteOffset` ahead of the run() that passes it as one of its first `stagedParts`
   * parts (which then is not copied again). Pieces are issued a few at a time in one batched
   * copy (TRTNODE_STAGE_GROUP, default 4: fewer driver calls on the JS thread, fewer DMA
   * submissions), and whatever is left by that run before its inference. Pieces go in order from byte 0
   * (byteOffset 0 starts afresh); refused while a run of this context is in flight, since the
   * device buffer is the inference's input. The batcher uses it to copy requests as they arrive.
   * @internal
   */
  stageInput(name: string, byteOffset: number, data: ArrayBufferView): void {
    this.native.stageInput(name, byteOffset, data);
  }
  /** The same work in a C++ loop on a worker thread: the floor for JS-path comparisons. */
  benchmark(options: BenchmarkOptions = {}): Promise<NativeBenchmarkResult> {
    return settle(() => this.native.benchmark(options));
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
