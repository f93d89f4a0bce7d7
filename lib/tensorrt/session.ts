/**
 * Session: the common case, shaped like onnxruntime-node's InferenceSession.
 *
 *   const s = await Session.create('model.plan');
 *   const { logits } = await s.run({ input: new Tensor('float32', data, [8, 3, 224, 224]) });
 *
 * Each "slot" is one execution context on its own stream with device buffers and pinned staging
 * sized for the profile's largest shapes, allocated once: the steady state allocates nothing
 * but the returned output arrays (and not even those with reuseOutputs).
 */
import { TensorRtError } from '../errors.js';
import { byteLength, typedArrayConstructor, viewAs, type DataType, type TypedArray } from '../dtypes.js';
import { Tensor, formatShape, shapeSize } from '../tensor.js';
import { toTensorFeeds } from '../ndarray.js';
import { DeviceBuffer, HostBuffer, type CompletionMode, type WaitMode, Stream } from './cuda.js';
import { ExecutionContext, packDims } from './context.js';
import { Runtime, type Engine, type RuntimeOptions, type ShapeRange, type TensorInfo } from './runtime.js';
import { checkInputShape } from './shapes.js';
import { probePlan } from './probe.js';

/** A tensor that lives in device memory. */
export interface DeviceTensor {
  readonly location: 'gpu';
  readonly type: DataType;
  readonly dims: readonly number[];
  readonly buffer: DeviceBuffer;
  readonly byteOffset: number;
}

export function deviceTensor(type: DataType, buffer: DeviceBuffer, dims: readonly number[], byteOffset = 0): DeviceTensor {
  return Object.freeze({ location: 'gpu' as const, type, dims: Object.freeze([...dims]), buffer, byteOffset });
}

function isDeviceTensor(x: unknown): x is DeviceTensor {
  return typeof x === 'object' && x !== null && (x as DeviceTensor).location === 'gpu' && (x as DeviceTensor).buffer instanceof DeviceBuffer;
}

export type SessionFeed = Tensor | DeviceTensor;
export type SessionResult = Record<string, Tensor>;
export type SessionDeviceResult = Record<string, DeviceTensor>;

export interface SessionOptions extends RuntimeOptions {
  /** Share a runtime between sessions; otherwise the session creates (and owns) one. */
  runtime?: Runtime;
  /** Optimization profile (default 0). */
  profile?: number;
  /** 'cpu' (default): outputs come back as host Tensors. 'gpu': as DeviceTensors, no copy back. */
  outputLocation?: 'cpu' | 'gpu';
  /**
   * Return views of the session's pinned output buffers instead of copies: no allocation per
   * call, but the data is valid only until the next run() that uses the same slot.
   */
  reuseOutputs?: boolean;
  /** Replay a CUDA graph while shapes stay the same (static-shape hot paths). */
  cudaGraph?: boolean;
  /** Number of contexts (each on its own stream) that serve concurrent run() calls. Default 1. */
  contexts?: number;
  waitMode?: WaitMode;
  /** How completions reach JS: 'wake' (default) or 'poll' (see StreamOptions.completion). */
  completion?: CompletionMode;
  /**
   * Load and run the plan once in a child process before loading it here (probePlan): for plans
   * from untrusted places, since TensorRT can crash or hang on some corrupted plans.
   */
  probe?: boolean | { timeoutMs?: number };
}

interface SlotTensor {
  info: TensorInfo;
  capacity: number; // bytes
  device: DeviceBuffer;
  staging: HostBuffer;
  stagingBytes: Uint8Array;
  /** what is bound now: the slot's own buffers, or a caller's device tensor */
  bound: 'staged' | 'device-own' | DeviceBuffer;
}

class Slot {
  readonly ctx: ExecutionContext;
  readonly inputs: SlotTensor[] = [];
  readonly outputs: SlotTensor[] = [];
  readonly inDims: Int32Array;
  readonly outDims: Int32Array;
  busy = false;

  constructor(engine: Engine, profile: number, options: SessionOptions, range: Map<string, ShapeRange>) {
    const stream = new Stream({ device: engine.device, waitMode: options.waitMode, completion: options.completion });
    this.ctx = engine.createContext({ profile, stream, cudaGraph: options.cudaGraph ?? false });
    try {
      // Largest shapes: inputs at the profile's max; outputs as TensorRT infers them from those.
      for (const t of engine.inputs) this.ctx.setInputShape(t.name, range.get(t.name)?.max ?? t.shape);
      for (const t of engine.io) {
        const dims = t.mode === 'input' ? (range.get(t.name)?.max ?? t.shape) : this.ctx.getTensorShape(t.name);
        if (dims.some((d) => d < 0)) throw new TensorRtError('ERR_TRT', `output '${t.name}' has a data-dependent shape ${formatShape(dims)}; Session does not support it`);
        const capacity = Math.max(256, Math.ceil(byteLength(t.dtype, shapeSize(dims)) / 256) * 256);
        const device = new DeviceBuffer(capacity, { device: engine.device });
        const staging = new HostBuffer(capacity);
        const st: SlotTensor = { info: t, capacity, device, staging, stagingBytes: new Uint8Array(staging.buffer), bound: 'staged' };
        this.ctx.setTensorAddress(t.name, device);
        if (t.mode === 'input' || options.outputLocation !== 'gpu') this.ctx.setHostStaging(t.name, staging);
        else st.bound = 'device-own';
        (t.mode === 'input' ? this.inputs : this.outputs).push(st);
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
    const rank = engine.io.reduce((a, t) => a + 1 + t.shape.length, 0);
    this.inDims = new Int32Array(rank);
    this.outDims = new Int32Array(rank);
  }

  dispose(): void {
    this.ctx.dispose();
    this.ctx.stream.dispose();
    for (const t of [...this.inputs, ...this.outputs]) {
      t.device.dispose();
      t.staging.dispose();
    }
  }
}

export class Session {
  readonly engine: Engine;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly profile: number;
  readonly #runtime: Runtime | undefined;
  readonly #ownsRuntime: boolean;
  readonly #ownsEngine: boolean;
  readonly #slots: Slot[];
  readonly #waiting: ((s: Slot) => void)[] = [];
  readonly #inputs: Map<string, { info: TensorInfo; range: ShapeRange | undefined }>;
  readonly #outputLocation: 'cpu' | 'gpu';
  readonly #reuse: boolean;
  #disposed: Promise<void> | undefined;

  private constructor(runtime: Runtime | undefined, ownsRuntime: boolean, engine: Engine, ownsEngine: boolean, options: SessionOptions) {
    this.#runtime = runtime;
    this.#ownsRuntime = ownsRuntime;
    this.#ownsEngine = ownsEngine;
    this.engine = engine;
    this.profile = options.profile ?? 0;
    if (!Number.isInteger(this.profile) || this.profile < 0 || this.profile >= engine.profiles.length) {
      throw new TensorRtError('ERR_INVALID_ARGUMENT', `optimization profile ${this.profile} does not exist (the engine has ${engine.profiles.length})`);
    }
    const prof = engine.profiles[this.profile]!;
    const range = new Map(Object.entries(prof));
    this.#inputs = new Map(engine.inputs.map((t) => [t.name, { info: t, range: range.get(t.name) }]));
    this.inputNames = Object.freeze(engine.inputs.map((t) => t.name));
    this.outputNames = Object.freeze(engine.outputs.map((t) => t.name));
    this.#outputLocation = options.outputLocation ?? 'cpu';
    this.#reuse = options.reuseOutputs ?? false;
    const n = options.contexts ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new TensorRtError('ERR_INVALID_ARGUMENT', `contexts must be a positive integer, got ${n}`);
    this.#slots = [];
    try {
      for (let i = 0; i < n; i++) this.#slots.push(new Slot(engine, this.profile, options, range));
    } catch (e) {
      for (const s of this.#slots) s.dispose();
      throw e;
    }
  }

  /** Loads a plan (path or bytes) and prepares `contexts` contexts with their buffers. */
  static async create(model: string | ArrayBufferView | ArrayBuffer, options: SessionOptions = {}): Promise<Session> {
    if (options.probe) {
      await probePlan(model instanceof ArrayBuffer ? new Uint8Array(model) : model, {
        flavor: options.flavor,
        libraryPath: options.libraryPath,
        device: options.device,
        hostCodeAllowed: options.hostCodeAllowed,
        timeoutMs: typeof options.probe === 'object' ? options.probe.timeoutMs : undefined,
      });
    }
    const owns = options.runtime === undefined;
    const runtime = options.runtime ?? new Runtime(options);
    let engine: Engine | undefined;
    try {
      engine = await runtime.deserializeAsync(model);
      return new Session(runtime, owns, engine, true, options);
    } catch (e) {
      engine?.dispose();
      if (owns) runtime.dispose();
      throw e;
    }
  }

  /**
   * A session over an engine the caller keeps (several sessions may share one engine, and its
   * weights); dispose() then leaves the engine alone.
   */
  static fromEngine(engine: Engine, options: Omit<SessionOptions, keyof RuntimeOptions | 'runtime'> = {}): Session {
    return new Session(undefined, false, engine, false, options);
  }

  get inputMetadata(): TensorInfo[] {
    return this.engine.inputs;
  }
  get outputMetadata(): TensorInfo[] {
    return this.engine.outputs;
  }
  /** The profile's [min, max] range of every input. */
  get inputRanges(): Record<string, ShapeRange> {
    return { ...this.engine.profiles[this.profile] };
  }
  get disposed(): boolean {
    return this.#disposed !== undefined;
  }

  /**
   * Pinned memory of input `name` in a free slot, for callers (the batcher) that want to write
   * inputs in place: pass a Tensor over the returned view to run() and no copy is made.
   * @internal
   */
  stagingView(name: string, bytes: number): Uint8Array | undefined {
    const slot = this.#slots.find((s) => !s.busy) ?? this.#slots[0];
    const t = slot?.inputs.find((x) => x.info.name === name);
    if (!t || bytes > t.capacity) return undefined;
    return t.stagingBytes.subarray(0, bytes);
  }

  /**
   * Copies one piece of input `name` (pinned memory) to the device at `byteOffset` ahead of the
   * runParts() that lists it among its first `stagedParts` parts (ExecutionContext.stageInput:
   * issued with the next few pieces, or by that run).
   * Sessions of one context only (the piece must land in the context that runs it), and only
   * while no run is in flight.
   * @internal used by the TensorRT backend for the batcher
   */
  stageInput(name: string, byteOffset: number, data: TypedArray): void {
    if (this.#disposed) throw new TensorRtError('ERR_DISPOSED', 'the Session was disposed');
    const slot = this.#slots[0];
    if (this.#slots.length !== 1 || slot === undefined) throw new TensorRtError('ERR_INVALID_ARGUMENT', 'stageInput needs a Session of one context');
    if (slot.busy) throw new TensorRtError('ERR_BUSY', 'a run of this Session is in flight');
    const t = slot.inputs.find((x) => x.info.name === name);
    if (t === undefined) throw new TensorRtError('ERR_UNKNOWN_TENSOR', `'${name}' is not an input of this engine`, { tensor: name });
    this.#stage(slot, t);
    slot.ctx.stageInput(name, byteOffset, data);
  }

  /** Per context (in order): CUDA graphs kept for replay, and runs that replayed one (cudaGraph sessions). */
  graphStats(): { kept: number; launches: number }[] {
    return this.#slots.map((s) => ({ kept: s.ctx.graphCount, launches: s.ctx.graphLaunches }));
  }

  run(feeds: Record<string, SessionFeed>): Promise<SessionResult>;
  run(feeds: Record<string, SessionFeed>, options: { outputLocation: 'gpu' }): Promise<SessionDeviceResult>;
  async run(feeds: Record<string, SessionFeed>, options?: { outputLocation?: 'cpu' | 'gpu' }): Promise<SessionResult | SessionDeviceResult> {
    feeds = toTensorFeeds(feeds); // ndarray views → Tensors (lib/ndarray.ts)
    if (this.#disposed) throw new TensorRtError('ERR_DISPOSED', 'the Session was disposed');
    if (options?.outputLocation && options.outputLocation !== this.#outputLocation) {
      throw new TensorRtError('ERR_INVALID_ARGUMENT', `this session was created with outputLocation '${this.#outputLocation}'`);
    }
    const shapes = this.#validate(feeds);
    const got = this.#acquire();
    const slot = got instanceof Promise ? await got : got; // a free slot: no microtask hop before the launch
    try {
      for (let i = 0; i < slot.inputs.length; i++) this.#bindInput(slot, slot.inputs[i]!, feeds[slot.inputs[i]!.info.name]!);
      packDims(shapes, slot.inDims);
      await slot.ctx.run(slot.inDims, slot.outDims);
      return this.#collect(slot);
    } finally {
      this.#release(slot);
    }
  }

  /**
   * run() for an input given as pieces to concatenate (a batch of requests): the pieces are
   * copied into pinned memory on the launch thread, not the JS thread. Outputs as run().
   * @internal used by the TensorRT backend for the batcher
   */
  async runParts(inputs: Record<string, { dtype: DataType; dims: readonly number[]; parts: readonly TypedArray[] }>, options: { stagedParts?: number } = {}): Promise<SessionResult> {
    if (this.#disposed) throw new TensorRtError('ERR_DISPOSED', 'the Session was disposed');
    const shapes: number[][] = [];
    const parts: ArrayBufferView[][] = [];
    for (const [name, { info, range }] of this.#inputs) {
      const f = inputs[name];
      if (!f) throw new TensorRtError('ERR_MISSING_TENSOR', `input '${name}' is missing`, { tensor: name });
      if (f.dtype !== info.dtype) throw new TensorRtError('ERR_DTYPE_MISMATCH', `input '${name}' is ${info.dtype}, got ${f.dtype}`);
      checkInputShape(info, range, f.dims, this.profile);
      shapes.push([...f.dims]);
      parts.push([...f.parts]);
    }
    for (const name of Object.keys(inputs)) if (!this.#inputs.has(name)) throw new TensorRtError('ERR_UNKNOWN_TENSOR', `'${name}' is not an input of this engine`);
    const got = this.#acquire();
    const slot = got instanceof Promise ? await got : got; // a free slot: no microtask hop before the launch
    try {
      for (const t of slot.inputs) this.#stage(slot, t);
      packDims(shapes, slot.inDims);
      await slot.ctx.run(slot.inDims, slot.outDims, parts, options.stagedParts ?? 0);
      return this.#collect(slot) as SessionResult;
    } finally {
      this.#release(slot);
    }
  }

  #validate(feeds: Record<string, SessionFeed>): number[][] {
    if (typeof feeds !== 'object' || feeds === null) throw new TensorRtError('ERR_INVALID_ARGUMENT', 'run() takes an object of named input tensors');
    for (const name of Object.keys(feeds)) {
      if (!this.#inputs.has(name)) {
        const isOutput = this.outputNames.includes(name);
        throw new TensorRtError('ERR_UNKNOWN_TENSOR', `'${name}' is ${isOutput ? 'an output, not an input' : 'not an input of this engine'} (inputs: ${this.inputNames.join(', ')})`, { tensor: name });
      }
    }
    const shapes: number[][] = [];
    for (const [name, { info, range }] of this.#inputs) {
      const f = feeds[name];
      if (f === undefined || f === null) throw new TensorRtError('ERR_MISSING_TENSOR', `input '${name}' is missing`, { tensor: name });
      if (!(f instanceof Tensor) && !isDeviceTensor(f)) {
        throw new TensorRtError('ERR_INVALID_ARGUMENT', `input '${name}' must be a Tensor or a DeviceTensor (deviceTensor()), got ${Object.prototype.toString.call(f)}`);
      }
      if (f.type !== info.dtype) {
        throw new TensorRtError('ERR_DTYPE_MISMATCH', `input '${name}' is ${info.dtype}, got ${f.type}`, { tensor: name, expected: info.dtype, actual: f.type });
      }
      checkInputShape(info, range, f.dims, this.profile);
      const bytes = byteLength(info.dtype, shapeSize(f.dims));
      if (f instanceof Tensor) {
        if ((f.data.buffer as ArrayBuffer & { detached?: boolean }).detached || (f.data.byteLength === 0 && bytes > 0)) {
          throw new TensorRtError('ERR_DETACHED_BUFFER', `input '${name}': its ArrayBuffer was detached (transferred or disposed)`, { tensor: name });
        }
        if (f.data.byteLength !== bytes) throw new TensorRtError('ERR_SHAPE_MISMATCH', `input '${name}' ${formatShape(f.dims)} needs ${bytes} bytes, data has ${f.data.byteLength}`);
      } else {
        if (f.buffer.disposed) throw new TensorRtError('ERR_DISPOSED', `input '${name}': its DeviceBuffer was disposed`, { tensor: name });
        if (f.byteOffset + bytes > f.buffer.byteLength) {
          throw new TensorRtError('ERR_BUFFER_TOO_SMALL', `input '${name}' ${formatShape(f.dims)} needs ${bytes} bytes at offset ${f.byteOffset}; the DeviceBuffer has ${f.buffer.byteLength}`);
        }
      }
      shapes.push([...f.dims]);
    }
    return shapes;
  }

  /** Binds the slot's own device buffer and pinned staging to input t (if a caller's was bound). */
  #stage(slot: Slot, t: SlotTensor): void {
    if (t.bound === 'staged') return;
    slot.ctx.setTensorAddress(t.info.name, t.device);
    slot.ctx.setHostStaging(t.info.name, t.staging);
    t.bound = 'staged';
  }

  #bindInput(slot: Slot, t: SlotTensor, f: SessionFeed): void {
    const name = t.info.name;
    if (f instanceof Tensor) {
      this.#stage(slot, t);
      const src = f.data;
      // Data already written in place (stagingView) needs no copy.
      if (src.buffer !== t.staging.buffer || src.byteOffset !== 0) t.stagingBytes.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    } else {
      if (t.bound !== f.buffer) {
        slot.ctx.setTensorAddress(name, f.buffer, f.byteOffset);
        slot.ctx.setHostStaging(name, null);
        t.bound = f.buffer;
      }
    }
  }

  #collect(slot: Slot): SessionResult | SessionDeviceResult {
    const out: Record<string, Tensor | DeviceTensor> = {};
    let k = 0;
    for (const t of slot.outputs) {
      const rank = slot.outDims[k++]!;
      const dims = Array.from(slot.outDims.subarray(k, k + rank));
      k += rank;
      const bytes = byteLength(t.info.dtype, shapeSize(dims));
      if (this.#outputLocation === 'gpu') {
        out[t.info.name] = deviceTensor(t.info.dtype, t.device, dims);
      } else if (this.#reuse) {
        out[t.info.name] = new Tensor(t.info.dtype, viewAs(t.info.dtype, t.staging.buffer, 0, bytes), dims);
      } else {
        const C = typedArrayConstructor(t.info.dtype);
        const copy = new C(bytes / C.BYTES_PER_ELEMENT);
        new Uint8Array(copy.buffer).set(t.stagingBytes.subarray(0, bytes));
        out[t.info.name] = new Tensor(t.info.dtype, copy as TypedArray, dims);
      }
    }
    return out as SessionResult | SessionDeviceResult;
  }

  #acquire(): Promise<Slot> | Slot {
    const free = this.#slots.find((s) => !s.busy);
    if (free) {
      free.busy = true;
      return free;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(slot: Slot): void {
    const next = this.#waiting.shift();
    if (next) next(slot);
    else slot.busy = false;
  }

  /** Waits for runs in flight, then frees contexts, buffers and the engine. Idempotent. */
  dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      // Take every slot: resolves once each is free, so no run is cut short.
      await Promise.all(this.#slots.map(() => this.#acquire()));
      for (const s of this.#slots) s.dispose();
      if (this.#ownsEngine) this.engine.dispose();
      if (this.#ownsRuntime) this.#runtime?.dispose();
    })();
    return this.#disposed;
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
