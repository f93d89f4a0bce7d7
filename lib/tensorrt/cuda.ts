/**
 * CUDA-level objects: streams, device memory, pinned host memory. Thin, typed wrappers over the
 * native classes; every method can throw or reject with a TensorRtError.
 */
import { loadNative, type CudaInfo, type NativeDeviceBuffer, type NativeHostBuffer, type NativeStream } from '../native/binding.js';
import { TensorRtError } from '../errors.js';
import { typedArrayConstructor, viewAs, type DataType, type TypedArray } from '../dtypes.js';
import ndarray from 'ndarray';
import { CompletionPoller } from './poller.js';

export type WaitMode = 'adaptive' | 'spin' | 'block';
export type CompletionMode = 'wake' | 'poll';

export interface StreamOptions {
  device?: number;
  /** CUDA stream priority (lower is higher priority). */
  priority?: number;
  /**
   * How the completion watcher waits for GPU work: 'adaptive' (default with completion 'wake')
   * sleeps through most of the expected duration, then spins; 'spin' (default with completion
   * 'poll') never sleeps (lowest latency, one busy core while work is pending); 'block' always
   * sleeps in the driver (least CPU).
   */
  waitMode?: WaitMode;
  /** Spin window of 'adaptive' before it blocks (µs, default 200). */
  spinMicroseconds?: number;
  /**
   * How finished work reaches JS. 'wake' (default): the watcher wakes the event loop, which
   * costs a thread wake-up per completion (tens of µs on hosts where that is slow). 'poll': while
   * work is in flight on the stream, the JS thread collects completions itself, in turns chained
   * by setImmediate and, after a turn that delivered something, by microtasks: a few µs, but the
   * JS thread stays busy until the work is done. Timers and I/O still get the thread between
   * turns (at least every 200 µs). Unless waitMode is given, 'poll' also makes it 'spin'. On a
   * 'poll' stream the watcher only launches the work the JS thread does not launch inline, so a
   * watcher that sleeps and wakes late (tens of µs where waking a thread is slow) delays the next
   * launch, not a completion.
   */
  completion?: CompletionMode;
}

const poller = new CompletionPoller();

/** Calls an async native method so that a synchronous throw becomes a rejection. */
export function rejectOnThrow<T>(f: () => Promise<T>): Promise<T> {
  try {
    return f();
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Information on the CUDA driver and devices; throws ERR_CUDA_UNAVAILABLE without them. */
export function cudaInfo(): CudaInfo {
  return loadNative().cudaInfo();
}

/**
 * A diagnostic timeline: marks now (on the GPU) as the origin from which timed runs
 * (ExecutionContext.setTiming) measure their start and end. After a mark, a timed run resolves
 * with [h2d, compute, d2h, start, end] ms (start and end from the mark, on the GPU's clock), so
 * the runs of several streams can be laid on one axis: where the GPU idled, where streams
 * overlapped. Marking again moves the origin (float ms from the mark lose sub-µs resolution
 * after a few seconds: mark before each measurement).
 * @internal
 */
export function markTimingEpoch(device = 0): void {
  loadNative().markTimingEpoch(device);
}

export class Stream {
  /** @internal */ readonly native: NativeStream;
  readonly completion: CompletionMode;
  constructor(options: StreamOptions = {}) {
    const completion = options.completion ?? 'wake';
    if (completion !== 'wake' && completion !== 'poll') throw new TensorRtError('ERR_INVALID_ARGUMENT', `completion must be 'wake' or 'poll', got ${String(completion)}`);
    const waitMode = options.waitMode ?? (completion === 'poll' ? 'spin' : undefined);
    // 'poll': the JS thread also detects completions itself (and launches cheap work inline: a
    // CUDA graph replay or an enqueue measured under 30 µs), since its poller runs whenever work
    // is in flight; the watcher only launches the rest.
    this.native = new (loadNative().Stream)({ ...options, ...(waitMode === undefined ? {} : { waitMode }), ...(completion === 'poll' ? { jsCompletion: true } : {}) });
    this.completion = completion;
  }
  /**
   * Called after work is submitted on this stream: a 'poll' stream joins the poller.
   * @internal
   */
  watch<T>(submitted: Promise<T>): Promise<T> {
    if (this.completion === 'poll') {
      poller.watch(this.native);
    }
    return submitted;
  }
  get device(): number {
    return this.native.device;
  }
  /** Pieces of work enqueued on this stream whose completion has not been delivered yet. */
  get pending(): number {
    return this.native.pending;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  /** Resolves when everything enqueued so far has completed. */
  synchronize(): Promise<void> {
    return rejectOnThrow(() => this.watch(this.native.synchronize()));
  }
  /** No new work; the stream is destroyed once the work in flight is delivered. Idempotent. */
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

export interface CopyOptions {
  stream: Stream;
  /** byte offset into this device buffer */
  offset?: number;
  /** byte offset into the other side */
  otherOffset?: number;
  byteLength?: number;
}

type HostSide = HostBuffer | ArrayBufferView | ArrayBuffer;

function hostNative(x: HostSide | DeviceBuffer): NativeHostBuffer | NativeDeviceBuffer | ArrayBufferView | ArrayBuffer {
  return x instanceof HostBuffer || x instanceof DeviceBuffer ? x.native : x;
}

/** Device memory (cudaMalloc). Freed by dispose() or the garbage collector, after work in flight. */
export class DeviceBuffer {
  /** @internal */ readonly native: NativeDeviceBuffer;
  constructor(byteLength: number, options: { device?: number } = {}) {
    this.native = new (loadNative().DeviceBuffer)(byteLength, options);
  }
  get byteLength(): number {
    return this.native.byteLength;
  }
  get device(): number {
    return this.native.device;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  /** The raw device pointer, for interop with other CUDA libraries. */
  get address(): bigint {
    return this.native.address;
  }
  /** Asynchronous copy into this buffer from host memory or another device buffer. */
  copyFrom(src: HostSide | DeviceBuffer, options: CopyOptions): Promise<void> {
    return rejectOnThrow(() => options.stream.watch(this.native.copyFrom(hostNative(src), { stream: options.stream.native, offset: options.offset, srcOffset: options.otherOffset, byteLength: options.byteLength })));
  }
  /** Asynchronous copy from this buffer into host memory or another device buffer. */
  copyTo(dst: HostSide | DeviceBuffer, options: CopyOptions): Promise<void> {
    return rejectOnThrow(() => options.stream.watch(this.native.copyTo(hostNative(dst), { stream: options.stream.native, offset: options.offset, dstOffset: options.otherOffset, byteLength: options.byteLength })));
  }
  /** Sets every byte (cudaMemsetAsync). */
  fill(byte: number, options: { stream: Stream }): Promise<void> {
    return rejectOnThrow(() => options.stream.watch(this.native.fill(byte, { stream: options.stream.native })));
  }
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** ArrayBuffers of live HostBuffers: views of them are pinned memory. */
const pinnedArrayBuffers = new WeakSet<ArrayBufferLike>();

/** Whether this view's memory is a HostBuffer's (pinned: DMA-able without a staging copy). */
export function isPinned(view: ArrayBufferView): boolean {
  return pinnedArrayBuffers.has(view.buffer) && view.byteLength > 0;
}

/**
 * Pinned host memory (cudaHostAlloc) exposed as an ArrayBuffer without copies: DMA reads and
 * writes exactly the bytes JS sees. dispose() detaches the ArrayBuffer (views become empty).
 */
export class HostBuffer {
  /** @internal */ readonly native: NativeHostBuffer;
  constructor(byteLength: number) {
    this.native = new (loadNative().HostBuffer)(byteLength);
    pinnedArrayBuffers.add(this.native.buffer);
  }
  get byteLength(): number {
    return this.native.byteLength;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  /** The pinned memory as an ArrayBuffer. */
  get buffer(): ArrayBuffer {
    return this.native.buffer;
  }
  /** A TypedArray view of `count` elements of `dtype` at `byteOffset`. */
  view(dtype: DataType, byteOffset = 0, count?: number): TypedArray {
    const C = typedArrayConstructor(dtype);
    const bytes = count === undefined ? this.byteLength - byteOffset : count * C.BYTES_PER_ELEMENT;
    if (byteOffset < 0 || byteOffset + bytes > this.byteLength || byteOffset % C.BYTES_PER_ELEMENT !== 0) {
      throw new TensorRtError('ERR_INVALID_ARGUMENT', `a ${dtype} view of ${bytes} bytes at ${byteOffset} does not fit a ${this.byteLength}-byte HostBuffer`);
    }
    return viewAs(dtype, this.buffer, byteOffset, bytes);
  }
  /** An ndarray over the pinned memory (no copy). */
  ndarray(dtype: DataType, shape: number[], byteOffset = 0): ndarray.NdArray {
    const n = shape.reduce((a, b) => a * b, 1);
    return ndarray(this.view(dtype, byteOffset, n) as unknown as ndarray.Data<number>, shape);
  }
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
