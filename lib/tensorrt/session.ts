/**
 * Session: the common case, shaped like onnxruntime-node's InferenceSession.
 *
 *   const s = await Session.create('model.plan');
 *   const { logits } = await s.run({ input: new Tensor('float32', data, [8, 3, 224, 224]) });
 *
 * Each context runs on its own stream with, per IO set, device buffers and pinned staging sized
 * for the profile's largest shapes, allocated once: the steady state allocates nothing but the
 * returned output arrays (and not even those with reuseOutputs). With overlap (the default) a
 * context has two IO sets, so a second run's inputs are copied while the first computes.
 */
import { TensorRtError } from '../errors.js';
import { byteLength, typedArrayConstructor, viewAs, type DataType, type TypedArray } from '../dtypes.js';
import { Tensor, formatShape, shapeSize } from '../tensor.js';
import { toTensorFeeds, type NdArrayLike } from '../ndarray.js';
import { DeviceBuffer, HostBuffer, type CompletionMode, type WaitMode, Stream } from './cuda.js';
import { ExecutionContext, packDims } from './context.js';
import { Runtime, type Engine, type RuntimeOptions, type ShapeRange, type TensorInfo } from './runtime.js';
import { checkInputShape } from './shapes.js';
import { probePlan } from './probe.js';
import { assertPlanFile } from './plan-header.js';

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

/** What run() takes per input: a host tensor, a device tensor, or an ndarray view (made a Tensor). */
export type SessionFeed = Tensor | DeviceTensor | NdArrayLike;
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
   * call, but the data is valid only until the next run() that uses the same buffers.
   */
  reuseOutputs?: boolean;
  /** Replay a CUDA graph while shapes stay the same (static-shape hot paths). */
  cudaGraph?: boolean;
  /** Number of contexts (each on its own stream). Default 1. */
  contexts?: number;
  /**
   * Two sets of buffers per context (default true): two runs may be in flight on one context,
   * the second one's inputs copied to the device while the first computes (what trtexec does).
   * Doubles the session's device and pinned memory; false keeps one run per context.
   */
  overlap?: boolean;
  waitMode?: WaitMode;
  /** How completions reach JS: 'wake' (default) or 'poll' (see StreamOptions.completion). */
  completion?: CompletionMode;
  /**
   * Load and run the plan once in a child process before loading it here (probePlan): for plans
   * from untrusted places, since TensorRT can crash or hang on some corrupted plans.
   */
  probe?: boolean | { timeoutMs?: number };
}

interface SetTensor {
  info: TensorInfo;
  capacity: number; // bytes
  device: DeviceBuffer;
  /** pinned staging: inputs from ordinary memory are copied into it, CPU outputs copied back into it */
  staging: HostBuffer | undefined;
  /** what is bound now: the set's own buffers, or a caller's device buffer */
  bound: 'own' | DeviceBuffer;
}

/** One IO set of one context: what one run in flight uses. */
class IoSlot {
  readonly inputs: SetTensor[] = [];
  readonly outputs: SetTensor[] = [];
  readonly inDims: Int32Array;
  readonly outDims: Int32Array;
  readonly runOptions: { inputDims: Int32Array; outputDims: Int32Array; set: number };
  busy = false;

  constructor(
    readonly ctx: ExecutionContext,
    readonly index: number,
    rank: number,
  ) {
    this.inDims = new Int32Array(rank);
    this.outDims = new Int32Array(rank);
    this.runOptions = { inputDims: this.inDims, outputDims: this.outDims, set: index };
  }

  /** Binds the set's own device buffer (and staging) to input t, if a caller's was bound. */
  bindOwn(t: SetTensor): void {
    if (t.bound === 'own') return;
    this.ctx.setTensorAddress(t.info.name, t.device, 0, this.index);
    this.ctx.setHostStaging(t.info.name, t.staging ?? null, 0, this.index);
    t.bound = 'own';
  }

  dispose(): void {
    for (const t of [...this.inputs, ...this.outputs]) {
      t.device.dispose();
      t.staging?.dispose();
    }
  }
}

/** One context with its IO sets. */
class ContextSlot {
  readonly ctx: ExecutionContext;
  readonly sets: IoSlot[] = [];

  constructor(engine: Engine, profile: number, options: SessionOptions, range: Map<string, ShapeRange>) {
    const stream = new Stream({ device: engine.device, waitMode: options.waitMode, completion: options.completion });
    const ioSets = options.overlap === false ? 1 : 2;
    try {
      this.ctx = engine.createContext({ profile, stream, cudaGraph: options.cudaGraph ?? false, ioSets });
    } catch (e) {
      stream.dispose();
      throw e;
    }
    try {
      // Largest shapes: inputs at the profile's max; outputs as TensorRT infers them from those.
      for (const t of engine.inputs) this.ctx.setInputShape(t.name, range.get(t.name)?.max ?? t.shape);
      const rank = engine.io.reduce((a, t) => a + 1 + t.shape.length, 0);
      for (let k = 0; k < ioSets; k++) {
        const set = new IoSlot(this.ctx, k, rank);
        this.sets.push(set);
        for (const t of engine.io) {
          const dims = t.mode === 'input' ? (range.get(t.name)?.max ?? t.shape) : this.ctx.getTensorShape(t.name);
          if (dims.some((d) => d < 0)) throw new TensorRtError('ERR_TRT', `output '${t.name}' has a data-dependent shape ${formatShape(dims)}; Session does not support it`);
          const capacity = Math.max(256, Math.ceil(byteLength(t.dtype, shapeSize(dims)) / 256) * 256);
          const device = new DeviceBuffer(capacity, { device: engine.device });
          const wantsStaging = t.mode === 'input' || options.outputLocation !== 'gpu';
          let staging: HostBuffer | undefined;
          try {
            staging = wantsStaging ? new HostBuffer(capacity) : undefined;
          } catch (e) {
            device.dispose();
            throw e;
          }
          const st: SetTensor = { info: t, capacity, device, staging, bound: 'own' };
          (t.mode === 'input' ? set.inputs : set.outputs).push(st);
          this.ctx.setTensorAddress(t.name, device, 0, k);
          if (staging) this.ctx.setHostStaging(t.name, staging, 0, k);
        }
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  dispose(): void {
    this.ctx.dispose();
    this.ctx.stream.dispose();
    for (const s of this.sets) s.dispose();
  }
}

/**
 * A batch assembled request by request on one IO set of a Session (Session.beginBatch): each
 * added request's inputs start towards the device at once (copy threads and DMA), while the rest
 * of the batch is still arriving; run() then only launches the inference.
 * @internal used by the TensorRT backend for the batcher
 */
export class SessionBatch {
  readonly #session: Session;
  readonly #slot: IoSlot;
  readonly #names: readonly string[];
  /** per input: bytes staged so far, and after each request (for truncate) */
  readonly #bytes: number[];
  readonly #marks: number[][] = [];
  readonly #rowsAfter: number[] = [];
  #first: number[][] | undefined;
  #firstByName: Map<string, number[]> | undefined;
  #rows = 0;
  #state: 'open' | 'running' | 'done' = 'open';
  /** holdOutputs: a successful run keeps its set (and the outputs in it) until release() */
  readonly #hold: boolean;
  #held = false;

  /** @internal */
  constructor(session: Session, slot: IoSlot, names: readonly string[], holdOutputs = false) {
    this.#session = session;
    this.#slot = slot;
    this.#names = names;
    this.#bytes = names.map(() => 0);
    this.#hold = holdOutputs;
  }

  /** Requests added so far. */
  get size(): number {
    return this.#rowsAfter.length;
  }

  /** Appends one request: its rows follow the rows added before (dimension 0 of every input). */
  add(inputs: Record<string, Tensor>): void {
    if (this.#state !== 'open') throw new TensorRtError('ERR_INVALID_ARGUMENT', 'this batch was already run or abandoned');
    const slot = this.#slot;
    // Checked as rows of the whole batch before anything is staged: a request that does not fit
    // is refused and the batch keeps what it had.
    const { rows, dims: byName } = this.#session._checkBatchRequest(inputs, this.#rows, this.#firstByName);
    const dims = slot.inputs.map((t) => byName.get(t.info.name)!);
    try {
      // Rebinding clears what the set staged: bind every input before staging any.
      if (this.size === 0) for (const t of slot.inputs) slot.bindOwn(t);
      for (let k = 0; k < slot.inputs.length; k++) {
        const t = slot.inputs[k]!;
        const data = (inputs[t.info.name] as Tensor).data;
        slot.ctx.stageInput(t.info.name, this.#bytes[k]!, data, slot.index);
        this.#bytes[k]! += data.byteLength;
      }
    } catch (e) {
      this.abandon();
      throw e;
    }
    if (this.#first === undefined) {
      this.#first = dims;
      this.#firstByName = byName;
    }
    this.#rows += rows;
    this.#rowsAfter.push(this.#rows);
    this.#marks.push([...this.#bytes]);
  }

  /** Keeps the first `count` requests only (a batch formed shorter than what was added). */
  truncate(count: number): void {
    if (this.#state !== 'open') throw new TensorRtError('ERR_INVALID_ARGUMENT', 'this batch was already run or abandoned');
    if (!Number.isInteger(count) || count < 0 || count > this.size) throw new TensorRtError('ERR_INVALID_ARGUMENT', `cannot keep ${count} of ${this.size} requests`);
    if (count === this.size) return;
    const keep = count === 0 ? this.#names.map(() => 0) : this.#marks[count - 1]!;
    for (let k = 0; k < this.#names.length; k++) this.#slot.ctx.truncateStaged(this.#names[k]!, keep[k]!, this.#slot.index);
    this.#bytes.splice(0, this.#bytes.length, ...keep);
    this.#marks.length = count;
    this.#rowsAfter.length = count;
    this.#rows = count === 0 ? 0 : this.#rowsAfter[count - 1]!;
    if (count === 0) {
      this.#first = undefined;
      this.#firstByName = undefined;
    }
  }

  /**
   * Runs the batch of the requests added. The outputs are views of the set's pinned output
   * buffers, valid until that set's next run starts: copy what you keep.
   */
  async run(): Promise<SessionResult> {
    if (this.#state !== 'open') throw new TensorRtError('ERR_INVALID_ARGUMENT', 'this batch was already run or abandoned');
    if (this.size === 0) throw new TensorRtError('ERR_INVALID_ARGUMENT', 'the batch is empty');
    this.#state = 'running';
    this.#session._batchClosed(this);
    const slot = this.#slot;
    try {
      const shapes = this.#first!.map((d) => [this.#rows, ...d.slice(1)]);
      packDims(shapes, slot.inDims);
      await slot.ctx.run(slot.runOptions);
      const out = this.#session._collect(slot, true) as SessionResult;
      this.#held = this.#hold;
      return out;
    } catch (e) {
      try {
        slot.ctx.clearStaged(slot.index);
      } catch {
        /* the context is gone: nothing staged survives it */
      }
      throw e;
    } finally {
      this.#state = 'done';
      if (!this.#held) this.#session._release(slot);
    }
  }

  /**
   * With holdOutputs: gives the set back after a successful run(), once its outputs (views of
   * the set's buffers) have been copied. Until then no other batch can run on the set and write
   * them. Idempotent; nothing to do without holdOutputs or after a failed run.
   */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.#session._release(this.#slot);
  }

  /** Forgets the requests added; the set is free again. Idempotent. */
  abandon(): void {
    if (this.#state !== 'open') return;
    this.#state = 'done';
    this.#session._batchClosed(this);
    try {
      this.#slot.ctx.clearStaged(this.#slot.index);
    } finally {
      this.#session._release(this.#slot);
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
  readonly #contexts: ContextSlot[];
  readonly #sets: IoSlot[];
  readonly #waiting: ((s: IoSlot) => void)[] = [];
  /** batches begun and neither run nor abandoned: dispose() abandons them (each holds an IO set) */
  readonly #openBatches = new Set<SessionBatch>();
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
    if (this.#outputLocation !== 'cpu' && this.#outputLocation !== 'gpu') throw new TensorRtError('ERR_INVALID_ARGUMENT', `outputLocation must be 'cpu' or 'gpu'`);
    this.#reuse = options.reuseOutputs ?? false;
    const n = options.contexts ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new TensorRtError('ERR_INVALID_ARGUMENT', `contexts must be an integer from 1 to 64, got ${n}`);
    this.#contexts = [];
    try {
      for (let i = 0; i < n; i++) this.#contexts.push(new ContextSlot(engine, this.profile, options, range));
    } catch (e) {
      for (const s of this.#contexts) s.dispose();
      throw e;
    }
    // Interleaved: consecutive runs go to different contexts before a context's second set.
    this.#sets = [];
    const depth = this.#contexts[0]!.sets.length;
    for (let k = 0; k < depth; k++) for (const c of this.#contexts) this.#sets.push(c.sets[k]!);
  }
  /** Loads a plan (path or bytes) and prepares `contexts` contexts with their buffers. */
  static async create(model: string | ArrayBufferView | ArrayBuffer, options: SessionOptions = {}): Promise<Session> {
    if (typeof model === 'string') assertPlanFile(model); // a missing file is reported as such, before any TensorRT lookup
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
   * Starts a batch on a free IO set (ERR_BUSY if none is free): its requests are added one by
   * one as they arrive, and copied towards the device at once. holdOutputs: the set stays the
   * batch's after its run until SessionBatch.release(), so that a batch run meanwhile on this
   * Session cannot land on it and overwrite the outputs before they are copied.
   * @internal used by the TensorRT backend for the batcher
   */
  beginBatch(options: { holdOutputs?: boolean } = {}): SessionBatch {
    if (this.#disposed) throw new TensorRtError('ERR_DISPOSED', 'the Session was disposed');
    const slot = this.#sets.find((s) => !s.busy);
    if (slot === undefined) throw new TensorRtError('ERR_BUSY', 'every IO set of this Session is in use');
    slot.busy = true;
    const batch = new SessionBatch(this, slot, this.inputNames, options.holdOutputs === true);
    this.#openBatches.add(batch);
    return batch;
  }

  /** @internal SessionBatch: it was run or abandoned. */
  _batchClosed(batch: SessionBatch): void {
    this.#openBatches.delete(batch);
  }

  /**
   * @internal SessionBatch.add: one request's inputs, checked as rows `rowsBefore`.. of the batch
   * (names, types, the shape of the whole batch against the profile, the same inner dimensions
   * as the batch's first request, the data's size). Returns its rows and each input's dims.
   */
  _checkBatchRequest(inputs: Record<string, Tensor>, rowsBefore: number, first: ReadonlyMap<string, readonly number[]> | undefined): { rows: number; dims: Map<string, number[]> } {
    if (typeof inputs !== 'object' || inputs === null) throw new TensorRtError('ERR_INVALID_ARGUMENT', 'add() takes an object of named input tensors');
    for (const name of Object.keys(inputs)) {
      if (!this.#inputs.has(name)) throw new TensorRtError('ERR_UNKNOWN_TENSOR', `'${name}' is not an input of this engine (inputs: ${this.inputNames.join(', ')})`, { tensor: name });
    }
    let rows = -1;
    const dims = new Map<string, number[]>();
    for (const [name, { info, range }] of this.#inputs) {
      const f = inputs[name];
      if (f === undefined || f === null) throw new TensorRtError('ERR_MISSING_TENSOR', `input '${name}' is missing`, { tensor: name });
      if (!(f instanceof Tensor)) throw new TensorRtError('ERR_INVALID_ARGUMENT', `input '${name}' must be a Tensor, got ${Object.prototype.toString.call(f)}`, { tensor: name });
      if (f.type !== info.dtype) throw new TensorRtError('ERR_DTYPE_MISMATCH', `input '${name}' is ${info.dtype}, got ${f.type}`, { tensor: name, expected: info.dtype, actual: f.type });
      if (f.dims.length === 0) throw new TensorRtError('ERR_SHAPE_MISMATCH', `input '${name}' has no batch dimension`, { tensor: name });
      const r = f.dims[0]!;
      if (rows === -1) rows = r;
      else if (r !== rows) throw new TensorRtError('ERR_SHAPE_MISMATCH', `input '${name}' has ${r} rows, another input of the same request ${rows}`, { tensor: name });
      const prev = first?.get(name);
      if (prev !== undefined && (prev.length !== f.dims.length || prev.some((d, i) => i > 0 && d !== f.dims[i]))) {
        throw new TensorRtError('ERR_SHAPE_MISMATCH', `input '${name}' ${formatShape(f.dims)} does not stack with the batch's ${formatShape(prev)} (dimensions after the first must agree)`, { tensor: name });
      }
      // the whole batch with this request in it must fit the profile (and so the set's buffers)
      checkInputShape(info, range, [rowsBefore + r, ...f.dims.slice(1)], this.profile);
      const bytes = byteLength(info.dtype, shapeSize(f.dims));
      if ((f.data.buffer as ArrayBuffer & { detached?: boolean }).detached) throw new TensorRtError('ERR_DETACHED_BUFFER', `input '${name}': its ArrayBuffer was detached (transferred or disposed)`, { tensor: name });
      if (f.data.byteLength !== bytes) throw new TensorRtError('ERR_SHAPE_MISMATCH', `input '${name}' ${formatShape(f.dims)} needs ${bytes} bytes, data has ${f.data.byteLength}`, { tensor: name });
      dims.set(name, f.dims as number[]);
    }
    return { rows, dims };
  }

  /** IO sets not in use now (runs or batches being assembled take one each). */
  get freeSets(): number {
    let n = 0;
    for (const s of this.#sets) if (!s.busy) n++;
    return n;
  }

  /** Per context (in order): CUDA graphs kept for replay, and runs that replayed one (cudaGraph sessions). */
  graphStats(): { kept: number; launches: number }[] {
    return this.#contexts.map((s) => ({ kept: s.ctx.graphCount, launches: s.ctx.graphLaunches }));
  }

  run(feeds: Record<string, SessionFeed>): Promise<SessionResult>;
  run(feeds: Record<string, SessionFeed>, options: { outputLocation: 'gpu' }): Promise<SessionDeviceResult>;
  async run(input: Record<string, SessionFeed>, options?: { outputLocation?: 'cpu' | 'gpu' }): Promise<SessionResult | SessionDeviceResult> {
    const feeds = toTensorFeeds(input) as Record<string, Tensor | DeviceTensor>; // ndarray views → Tensors (lib/ndarray.ts)
    if (this.#disposed) throw new TensorRtError('ERR_DISPOSED', 'the Session was disposed');
    if (options?.outputLocation && options.outputLocation !== this.#outputLocation) {
      throw new TensorRtError('ERR_INVALID_ARGUMENT', `this session was created with outputLocation '${this.#outputLocation}'`);
    }
    const shapes = this.#validate(feeds);
    const got = this.#acquire();
    const slot = got instanceof Promise ? await got : got; // a free set: no microtask hop before the launch
    try {
      try {
        // Rebinding clears what the set staged: bind every input before staging any.
        for (const t of slot.inputs) this.#bindInput(slot, t, feeds[t.info.name]!);
        for (const t of slot.inputs) {
          const f = feeds[t.info.name]!;
          if (f instanceof Tensor) slot.ctx.stageInput(t.info.name, 0, f.data, slot.index);
        }
        packDims(shapes, slot.inDims);
      } catch (e) {
        slot.ctx.clearStaged(slot.index);
        throw e;
      }
      await slot.ctx.run(slot.runOptions);
      return this._collect(slot, this.#reuse);
    } finally {
      this._release(slot);
    }
  }

  #validate(feeds: Record<string, Tensor | DeviceTensor>): number[][] {
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

  /**
   * Binds what input t reads for this run: the set's own buffers for a host tensor (whose data
   * is then staged: pinned memory by DMA, other memory through the copy threads and the pinned
   * staging, on the set's input stream), a caller's device buffer for a device tensor.
   */
  #bindInput(slot: IoSlot, t: SetTensor, f: Tensor | DeviceTensor): void {
    const name = t.info.name;
    if (f instanceof Tensor) {
      slot.bindOwn(t);
    } else if (t.bound !== f.buffer) {
      slot.ctx.setTensorAddress(name, f.buffer, f.byteOffset, slot.index);
      slot.ctx.setHostStaging(name, null, 0, slot.index);
      t.bound = f.buffer;
    }
  }

  /** @internal The outputs of the set's last run: views of its pinned buffers (reuse), copies, or device tensors. */
  _collect(slot: IoSlot, reuse: boolean): SessionResult | SessionDeviceResult {
    const out: Record<string, Tensor | DeviceTensor> = {};
    let k = 0;
    for (const t of slot.outputs) {
      const rank = slot.outDims[k++]!;
      const dims = Array.from(slot.outDims.subarray(k, k + rank));
      k += rank;
      const bytes = byteLength(t.info.dtype, shapeSize(dims));
      if (this.#outputLocation === 'gpu' || t.staging === undefined) {
        out[t.info.name] = deviceTensor(t.info.dtype, t.device, dims);
      } else if (reuse) {
        out[t.info.name] = new Tensor(t.info.dtype, viewAs(t.info.dtype, t.staging.buffer, 0, bytes), dims);
      } else {
        const C = typedArrayConstructor(t.info.dtype);
        const copy = new C(bytes / C.BYTES_PER_ELEMENT);
        new Uint8Array(copy.buffer).set(new Uint8Array(t.staging.buffer, 0, bytes));
        out[t.info.name] = new Tensor(t.info.dtype, copy as TypedArray, dims);
      }
    }
    return out as SessionResult | SessionDeviceResult;
  }

  #acquire(): Promise<IoSlot> | IoSlot {
    const free = this.#sets.find((s) => !s.busy);
    if (free) {
      free.busy = true;
      return free;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** @internal */
  _release(slot: IoSlot): void {
    const next = this.#waiting.shift();
    if (next) next(slot);
    else slot.busy = false;
  }

  /** Waits for runs in flight, then frees contexts, buffers and the engine. Idempotent. */
  dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      // Batches still being assembled will never run: they give their sets back (what they
      // staged is dropped once the copies in flight end). Runs in flight are waited for.
      for (const b of [...this.#openBatches]) b.abandon();
      // Take every set: resolves once each is free, so no run is cut short.
      await Promise.all(this.#sets.map(() => this.#acquire()));
      for (const s of this.#contexts) s.dispose();
      if (this.#ownsEngine) this.engine.dispose();
      if (this.#ownsRuntime) this.#runtime?.dispose();
    })();
    return this.#disposed;
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
