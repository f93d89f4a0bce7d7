/**
 * Triton-style dynamic batcher over N backend instances.
 *
 * Batch formation follows triton-inference-server/core's DynamicBatchScheduler:
 *  - requests are scanned in scheduling order (priority level 1 first, FIFO inside a level,
 *    requests delayed by a 'delay' timeout after every non-delayed one); a request counts as its
 *    dimension 0 (k items); the batch is the longest prefix that fits maxBatchSize and whose
 *    requests share every non-batch dimension; a request that does not fit or does not match
 *    ends the batch (it will start a later one: no reordering, so no starvation);
 *  - if the prefix reaches a preferred batch size, the largest one reached is sent at once;
 *    if the next request would exceed the largest preferred size (or maxBatchSize when none is
 *    given) without an exact preferred size, the batch up to that point is sent at once;
 *  - otherwise the batch waits until its oldest request has waited maxQueueDelayMicroseconds
 *    (0: sent as soon as an instance is free), then everything pending (up to maxBatchSize,
 *    same shape) is sent;
 *  - batches are only formed when an instance is free, and go to the lowest-numbered free one;
 *    N instances run N batches at once.
 */
import { TensorRtError, isTensorRtError, type ErrorCode } from '../errors.js';
import { byteLength, matchesArrayType, typedArrayConstructor, viewAs, type DataType, type TypedArray } from '../dtypes.js';
import { Tensor, formatShape, shapeSize } from '../tensor.js';
import { toTensorFeeds } from '../ndarray.js';
import type { BackendInstance, GatheredInput, ModelSignature, TensorSpec } from '../backends/backend.js';
import type { DynamicBatchingOptions, InferRequestOptions, InferResult, InferenceScheduler, ModelStatistics, QueuePolicy } from './types.js';
import { systemClock, type BatcherClock, type TimerHandle } from './clock.js';
import { LazyQueue, MinHeap } from './queue.js';
import { StatsCollector } from './stats.js';

/** Reported once per request when it is settled (including rejections at submission). */
export interface BatcherRequestEvent {
  status: 'success' | 'fail';
  /** error code when status is 'fail' */
  code?: ErrorCode;
  /** priority level the request was queued at (1 = highest) */
  priority: number;
  /** batch items the request carried (its dimension 0; 1 for models without a batch dimension) */
  items: number;
  /** µs from submission until its batch was dispatched (or until it left the queue otherwise); 0 if never queued */
  queueMicroseconds: number;
  /** µs from submission until settled */
  totalMicroseconds: number;
}

/** Reported once per backend execution. */
export interface BatcherBatchEvent {
  /** index of the instance that ran it */
  instance: number;
  /** batch items (sum of the requests' dimension 0) */
  batchSize: number;
  /** number of requests in the batch */
  requests: number;
  ok: boolean;
  /** error code when ok is false */
  code?: ErrorCode;
  /** gathering inputs (Triton's compute_input) */
  computeInputMicroseconds: number;
  /** backend run() (compute_infer) */
  computeInferMicroseconds: number;
  /** slicing and copying outputs (compute_output) */
  computeOutputMicroseconds: number;
}

/**
 * Observer hook for metrics (e.g. prom-client histograms). Called synchronously; exceptions
 * thrown by a listener are swallowed.
 */
export interface BatcherListener {
  onRequest?(event: BatcherRequestEvent): void;
  onBatch?(event: BatcherBatchEvent): void;
}

export interface DynamicBatcherExtras {
  /** Time source and timers (tests inject a manual clock); default performance.now + global timers. */
  clock?: BatcherClock;
  /** Listener registered at construction (more with addListener). */
  listener?: BatcherListener;
  /**
   * Let backends that can (TensorRT: runParts) concatenate a batch's requests on their own
   * launch thread (with a pool of copy threads) instead of the JS thread; a batch whose requests
   * all live in pinned memory (views of HostBuffers) is DMA'd to the GPU with no CPU copy at all.
   * On by default: on the H100 host (ResNet-50, 2 instances, 64 single-image callers) it gave
   * 0.69–0.73 of the best static throughput against 0.40–0.74 for the JS-thread gather over three
   * runs, and it leaves the JS thread to the callers and the servers
   * (bench/results/2026-11-25-h100-session2/SUMMARY.md). false: gather on the JS thread, except
   * for all-pinned batches.
   */
  gatherOnBackend?: boolean;
  /**
   * Copy each arriving request to the free instance its batch will run on, as it arrives, where
   * the instance can (BackendInstance.stageInput: TensorRT, requests in pinned memory): the batch's
   * copy then overlaps the arrival of its other requests instead of following the batch's
   * formation. Only requests that arrive in queue order at an idle instance are staged; a batch
   * that does not start with them copies them again, so this changes nothing but timing.
   * Default true.
   */
  stageOnArrival?: boolean;
}

type State = 'queued' | 'running' | 'done';

type Outcome = { ok: true; value: InferResult } | { ok: false; error: TensorRtError };

interface Pending {
  seq: number;
  inputs: Record<string, Tensor>;
  items: number;
  shapeKey: string;
  level: number; // 0-based index
  submitUs: number;
  deadlineUs: number;
  delayed: boolean;
  state: State;
  outputs: readonly string[];
  /** caller's buffers for outputs (InferRequestOptions.outputBuffers), or undefined */
  outputBuffers: Record<string, TypedArray> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  resolve: (v: InferResult) => void;
  reject: (e: unknown) => void;
  dispatchUs: number;
  outcome: Outcome | undefined;
  settled: boolean;
  /** the instance its inputs were staged on (stageInput) while queued, or -1 */
  stagedOn: number;
}

interface Level {
  policy: Required<QueuePolicy>;
  queue: LazyQueue<Pending>;
  delayed: LazyQueue<Pending>;
  count: number;
}

interface Decision {
  batch?: Pending[];
  /** the batch reached the largest preferred size (maxBatchSize when none): nothing to wait for */
  full?: boolean;
  wakeAt?: number;
}

function posInt(v: number | undefined, what: string, min = 0): number {
  const x = v ?? 0;
  if (!Number.isInteger(x) || x < min) throw new TensorRtError('ERR_CONFIG', `${what} must be an integer >= ${min}, got ${v}`);
  return x;
}

function resolvePolicy(p: QueuePolicy | undefined, base: Required<QueuePolicy>): Required<QueuePolicy> {
  const out: Required<QueuePolicy> = { ...base };
  if (p?.maxQueueSize !== undefined) out.maxQueueSize = posInt(p.maxQueueSize, 'maxQueueSize');
  if (p?.defaultTimeoutMicroseconds !== undefined) out.defaultTimeoutMicroseconds = posInt(p.defaultTimeoutMicroseconds, 'defaultTimeoutMicroseconds');
  if (p?.timeoutAction !== undefined) {
    if (p.timeoutAction !== 'reject' && p.timeoutAction !== 'delay') throw new TensorRtError('ERR_CONFIG', `timeoutAction must be 'reject' or 'delay'`);
    out.timeoutAction = p.timeoutAction;
  }
  if (p?.allowTimeoutOverride !== undefined) out.allowTimeoutOverride = !!p.allowTimeoutOverride;
  return out;
}

function sameSignature(a: ModelSignature, b: ModelSignature): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** What a settled request keeps of its inputs: nothing (the caller's tensors can be collected). */
const NO_INPUTS: Record<string, Tensor> = Object.freeze({}) as Record<string, Tensor>;

function shapeError(spec: TensorSpec, dims: readonly number[], why: string): TensorRtError {
  return new TensorRtError('ERR_SHAPE_MISMATCH', `input '${spec.name}' has shape ${formatShape(dims)}, the model wants ${formatShape(spec.shape)}: ${why}`, {
    tensor: spec.name,
    expected: [...spec.shape],
    actual: [...dims],
  });
}

/** A new array of `type` holding src[at, at + bytes). */
function copyOf(type: DataType, src: Uint8Array, at: number, bytes: number): TypedArray {
  const C = typedArrayConstructor(type);
  if ((src.byteOffset + at) % C.BYTES_PER_ELEMENT === 0 && bytes % C.BYTES_PER_ELEMENT === 0) {
    // element-aligned: one native copy
    return viewAs(type, src.buffer, src.byteOffset + at, bytes).slice();
  }
  const dst = new C(bytes / C.BYTES_PER_ELEMENT);
  new Uint8Array(dst.buffer).set(src.subarray(at, at + bytes));
  return dst;
}

function describeValue(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v;
}

export class DynamicBatcher implements InferenceScheduler {
  readonly signature: ModelSignature;
  private readonly instances: BackendInstance[];
  private readonly clock: BatcherClock;
  private readonly gatherOnBackend: boolean;
  private readonly stageOnArrival: boolean;
  private readonly batching: boolean;
  private readonly maxBatchSize: number;
  private readonly preferred: Set<number>;
  private readonly maxPreferred: number;
  private readonly delayUs: number;
  private readonly preserveOrdering: boolean;
  private readonly levels: Level[];
  private readonly defaultLevel: number;
  private readonly inputSpecs: Map<string, TensorSpec>;
  /** the model's own limit on dimension 0 (0: no batch dimension), enforced even without batching */
  private readonly sigMaxBatch: number;
  private readonly outputNames: Set<string>;
  private readonly outputSpecs: Map<string, TensorSpec>;
  /** some input has a dynamic dimension beyond dimension 0: requests need a shape key */
  private readonly keyed: boolean;
  private readonly listeners = new Set<BatcherListener>();
  private readonly stats = new StatsCollector();

  private readonly busy: boolean[];
  /**
   * Instances that delivered a batch of several requests in the current turn of the event
   * loop. The callers it
   * answered may come straight back with their next requests (in-process callers do, within
   * microseconds); until those have had the turn, the instance takes full batches only. Without
   * this, a request that had waited out the queue delay behind two busy instances left alone
   * in a batch of one as soon as one of them was done, and 64 closed-loop callers settled into
   * batches of 31, 32, 1, ... (bench/results/2026-11-25-h100-session4).
   */
  private readonly settling: boolean[];
  private readonly pools: Map<string, ArrayBuffer>[];
  /**
   * Per instance: queued requests whose inputs were copied to it ahead of their batch
   * (stageOnArrival), in queue order from its first row; always every request queued when the
   * first of them arrived and each later arrival, so that the next batch starts with them.
   * Emptied when one of them leaves the queue otherwise than in a batch on that instance.
   */
  private readonly staged: Pending[][];
  private readonly stagedItems: number[];
  private poolAllocations = 0;
  private readonly deadlines = new MinHeap<Pending>((r) => r.deadlineUs);
  private queued = 0;
  /** items (rows along the batch axis) of the queued requests */
  private queuedItems = 0;
  /**
   * One priority level, one shape and no preferred sizes: while less than a full batch is queued
   * and its oldest request is younger than the delay, formBatch knows the answer without
   * scanning the queue (which every arrival at a free instance would otherwise do again).
   */
  private readonly simpleQueue: boolean;
  /** every output's name, the outputs of a request that names none (shared, never changed) */
  private readonly allOutputs: readonly string[];
  /** per output whose shape is fixed beyond the batch axis: the bytes one item of it takes */
  private readonly outputItemBytes: Map<string, number>;
  private running = 0;
  private seq = 0;
  private nextDeliver = 0;
  private readonly undelivered = new Map<number, Pending>();

  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private inSchedule = false;
  private again = false;

  private closed = false;
  private closePromise: Promise<void> | undefined;
  private closeResolve: (() => void) | undefined;

  constructor(instances: BackendInstance[], options: DynamicBatchingOptions, extras: DynamicBatcherExtras = {}) {
    if (!Array.isArray(instances) || instances.length === 0) throw new TensorRtError('ERR_INVALID_ARGUMENT', 'DynamicBatcher needs at least one backend instance');
    const first = instances[0] as BackendInstance;
    for (const inst of instances) {
      if (!sameSignature(inst.signature, first.signature)) throw new TensorRtError('ERR_CONFIG', 'all instances of a batcher must have the same signature');
    }
    const sig = first.signature;
    const mbs = posInt(options.maxBatchSize, 'maxBatchSize');
    if (mbs > 0 && sig.maxBatchSize === 0) throw new TensorRtError('ERR_CONFIG', `maxBatchSize ${mbs} asked for a model without a batch dimension (its maxBatchSize is 0)`);
    if (mbs > sig.maxBatchSize && sig.maxBatchSize > 0) throw new TensorRtError('ERR_CONFIG', `maxBatchSize ${mbs} exceeds the model's ${sig.maxBatchSize}`);
    this.instances = [...instances];
    this.clock = extras.clock ?? systemClock;
    this.gatherOnBackend = extras.gatherOnBackend ?? true;
    this.stageOnArrival = extras.stageOnArrival ?? true;
    this.batching = mbs > 0;
    this.maxBatchSize = mbs;
    this.signature = { inputs: sig.inputs, outputs: sig.outputs, maxBatchSize: mbs };
    this.sigMaxBatch = sig.maxBatchSize;

    const pref = options.preferredBatchSize ?? [];
    for (const p of pref) {
      if (!Number.isInteger(p) || p < 1 || (this.batching && p > mbs)) throw new TensorRtError('ERR_CONFIG', `preferred batch size ${p} must be in 1..maxBatchSize (${mbs})`);
    }
    this.preferred = new Set(this.batching ? pref : []);
    this.maxPreferred = this.preferred.size > 0 ? Math.max(...this.preferred) : mbs;
    this.delayUs = posInt(options.maxQueueDelayMicroseconds, 'maxQueueDelayMicroseconds');
    this.preserveOrdering = !!options.preserveOrdering;

    const nLevels = Math.max(1, posInt(options.priorityLevels, 'priorityLevels'));
    const dl = options.defaultPriorityLevel ?? (nLevels > 1 ? Math.ceil(nLevels / 2) : 1);
    if (nLevels > 1 && (!Number.isInteger(dl) || dl < 1 || dl > nLevels)) throw new TensorRtError('ERR_CONFIG', `defaultPriorityLevel ${dl} must be in 1..${nLevels}`);
    this.defaultLevel = nLevels > 1 ? dl - 1 : 0;
    const base = resolvePolicy(options.defaultQueuePolicy, { maxQueueSize: 0, defaultTimeoutMicroseconds: 0, timeoutAction: 'reject', allowTimeoutOverride: false });
    for (const k of Object.keys(options.priorityQueuePolicy ?? {})) {
      const n = Number(k);
      if (!Number.isInteger(n) || n < 1 || n > nLevels) throw new TensorRtError('ERR_CONFIG', `priorityQueuePolicy level ${k} is not in 1..${nLevels}`);
    }
    this.levels = [];
    for (let i = 0; i < nLevels; i++) {
      this.levels.push({
        policy: resolvePolicy(options.priorityQueuePolicy?.[i + 1], base),
        queue: new LazyQueue<Pending>((r) => r.state === 'queued' && !r.delayed),
        delayed: new LazyQueue<Pending>((r) => r.state === 'queued' && r.delayed),
        count: 0,
      });
    }

    this.inputSpecs = new Map(sig.inputs.map((s) => [s.name, s]));
    this.outputNames = new Set(sig.outputs.map((s) => s.name));
    this.outputSpecs = new Map(sig.outputs.map((s) => [s.name, s]));
    this.keyed = this.batching && sig.inputs.some((s) => s.shape.slice(1).some((d) => d < 0));
    this.simpleQueue = this.batching && nLevels === 1 && !this.keyed && this.preferred.size === 0;
    this.allOutputs = Object.freeze([...this.outputNames]);
    this.outputItemBytes = new Map();
    for (const spec of sig.outputs) {
      const rest = this.batching ? spec.shape.slice(1) : spec.shape;
      if (rest.every((d) => d >= 0)) this.outputItemBytes.set(spec.name, byteLength(spec.dtype, shapeSize(rest)));
    }
    this.busy = this.instances.map(() => false);
    this.settling = this.instances.map(() => false);
    this.pools = this.instances.map(() => new Map());
    this.staged = this.instances.map(() => []);
    this.stagedItems = this.instances.map(() => 0);
    if (extras.listener) this.listeners.add(extras.listener);
  }

  /** Register a metrics listener; returns a function that removes it. */
  addListener(listener: BatcherListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Gather buffers allocated so far by the internal pools (stays flat in steady state). */
  get gatherBufferAllocations(): number {
    return this.poolAllocations;
  }

  /** Number of instances currently running a batch. */
  get busyInstances(): number {
    return this.running;
  }

  statistics(): ModelStatistics {
    return this.stats.snapshot(this.queued);
  }

  // ---------------------------------------------------------------- submission

  infer(inputs: Record<string, Tensor>, options: InferRequestOptions = {}): Promise<InferResult> {
    const submitUs = this.clock.now();
    let level = this.defaultLevel;
    try {
      inputs = toTensorFeeds(inputs); // ndarray views → Tensors (lib/ndarray.ts)
      if (this.closed) throw new TensorRtError('ERR_CLOSED', 'the model is closed and accepts no requests');
      if (options.signal?.aborted) throw new TensorRtError('ERR_ABORTED', 'request aborted before submission');
      if (this.levels.length > 1 && options.priority !== undefined && options.priority !== 0) {
        const p = options.priority;
        if (!Number.isInteger(p) || p < 1 || p > this.levels.length) throw new TensorRtError('ERR_INVALID_ARGUMENT', `priority ${p} is not in 1..${this.levels.length}`);
        level = p - 1;
      }
      const { items, shapeKey } = this.validate(inputs);
      const outputs = this.validateOutputs(options.outputs);
      const outputBuffers = options.outputBuffers === undefined ? undefined : this.validateOutputBuffers(options.outputBuffers, outputs, items);
      const lv = this.levels[level] as Level;
      if (lv.policy.maxQueueSize > 0 && lv.count >= lv.policy.maxQueueSize) {
        throw new TensorRtError('ERR_QUEUE_FULL', `queue of priority level ${level + 1} is full (${lv.policy.maxQueueSize} requests)`, { priority: level + 1, maxQueueSize: lv.policy.maxQueueSize });
      }
      let timeout = lv.policy.defaultTimeoutMicroseconds;
      const o = options.timeoutMicroseconds;
      if (lv.policy.allowTimeoutOverride && o !== undefined && Number.isFinite(o) && o > 0 && (timeout === 0 || o < timeout)) timeout = o;
      return this.enqueue(inputs, items, shapeKey, level, submitUs, timeout, outputs, outputBuffers, options.signal);
    } catch (e) {
      const err = isTensorRtError(e) ? e : new TensorRtError('ERR_INVALID_ARGUMENT', String((e as Error)?.message ?? e), undefined, { cause: e });
      const total = this.clock.now() - submitUs;
      this.stats.requestFailed(total);
      this.emitRequest({ status: 'fail', code: err.code, priority: level + 1, items: 0, queueMicroseconds: 0, totalMicroseconds: total });
      return Promise.reject(err);
    }
  }

  private validate(inputs: Record<string, Tensor>): { items: number; shapeKey: string } {
    if (inputs === null || typeof inputs !== 'object') throw new TensorRtError('ERR_INVALID_ARGUMENT', 'inputs must be an object of tensors');
    for (const name in inputs) {
      if (!this.inputSpecs.has(name)) throw new TensorRtError('ERR_UNKNOWN_TENSOR', `the model has no input named '${name}'`, { tensor: name });
    }
    let batch = -1;
    let key = '';
    const from = this.batching ? 1 : 0;
    for (const spec of this.inputSpecs.values()) {
      const t = inputs[spec.name];
      if (t === undefined) throw new TensorRtError('ERR_MISSING_TENSOR', `input '${spec.name}' is required`, { tensor: spec.name });
      if (!(t instanceof Tensor)) throw new TensorRtError('ERR_INVALID_ARGUMENT', `input '${spec.name}' is not a Tensor`, { tensor: spec.name });
      if (t.type !== spec.dtype) throw new TensorRtError('ERR_DTYPE_MISMATCH', `input '${spec.name}' must be ${spec.dtype}, got ${t.type}`, { tensor: spec.name, expected: spec.dtype, actual: t.type });
      const dims = t.dims;
      if (dims.length !== spec.shape.length) throw shapeError(spec, dims, `rank ${dims.length} instead of ${spec.shape.length}`);
      for (let i = from; i < spec.shape.length; i++) {
        const want = spec.shape[i] as number;
        if (want >= 0 && dims[i] !== want) throw shapeError(spec, dims, `dimension ${i} is ${dims[i]}, not ${want}`);
      }
      if (this.batching || this.sigMaxBatch > 0) {
        const k = dims[0] as number;
        if (this.batching && k < 1) throw shapeError(spec, dims, 'dimension 0 (batch) must be at least 1');
        if (batch === -1) batch = k;
        else if (k !== batch) throw shapeError(spec, dims, `dimension 0 (batch) is ${k} but another input has ${batch}`);
      }
      // Requests batch together only with equal non-batch dimensions; where every one of them is
      // fixed by the model, validation above made them equal already.
      if (this.keyed) key += dims.length > 1 ? `${dims.slice(1).join(',')};` : ';';
    }
    const limit = this.batching ? this.maxBatchSize : this.sigMaxBatch;
    if (batch > limit && limit > 0) {
      throw new TensorRtError('ERR_BATCH_TOO_LARGE', `request carries ${batch} items, maxBatchSize is ${limit}`, { items: batch, maxBatchSize: limit });
    }
    return { items: batch > 0 && (this.batching || this.sigMaxBatch > 0) ? batch : 1, shapeKey: key };
  }

  /**
   * Caller-provided output buffers: each names an output the request asked for, has the
   * output's element type, and (where the output's shape is fixed beyond dimension 0) room for
   * the request's rows. Outputs with dynamic dimensions are checked again when scattered.
   */
  private validateOutputBuffers(buffers: Record<string, TypedArray>, outputs: readonly string[], items: number): Record<string, TypedArray> {
    if (buffers === null || typeof buffers !== 'object') throw new TensorRtError('ERR_INVALID_ARGUMENT', 'outputBuffers must be an object of TypedArrays');
    for (const name in buffers) {
      const spec = this.outputSpecs.get(name);
      if (spec === undefined) throw new TensorRtError('ERR_UNKNOWN_TENSOR', `the model has no output named '${name}'`, { tensor: name });
      if (!outputs.includes(name)) throw new TensorRtError('ERR_INVALID_ARGUMENT', `a buffer is given for output '${name}', which the request does not ask for`, { tensor: name });
      const b = buffers[name] as TypedArray;
      if (!matchesArrayType(spec.dtype, b)) {
        const want = typedArrayConstructor(spec.dtype).name;
        throw new TensorRtError('ERR_DTYPE_MISMATCH', `the buffer for output '${name}' must be a ${want} (${spec.dtype}), got ${describeValue(b)}`, { tensor: name, expected: want, actual: describeValue(b) });
      }
      const itemBytes = this.outputItemBytes.get(name);
      if (itemBytes !== undefined) {
        const need = itemBytes * (this.batching ? items : 1);
        if (b.byteLength < need) {
          throw new TensorRtError('ERR_SHAPE_MISMATCH', `the buffer for output '${name}' holds ${b.byteLength} bytes; the request's output needs ${need}`, { tensor: name, expected: need, actual: b.byteLength });
        }
      }
    }
    return buffers;
  }

  private validateOutputs(wanted: string[] | undefined): readonly string[] {
    if (wanted === undefined) return this.allOutputs;
    for (const n of wanted) {
      if (!this.outputNames.has(n)) throw new TensorRtError('ERR_UNKNOWN_TENSOR', `the model has no output named '${n}'`, { tensor: n });
    }
    return [...new Set(wanted)];
  }

  private enqueue(
    inputs: Record<string, Tensor>,
    items: number,
    shapeKey: string,
    level: number,
    submitUs: number,
    timeoutUs: number,
    outputs: readonly string[],
    outputBuffers: Record<string, TypedArray> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<InferResult> {
    return new Promise<InferResult>((resolve, reject) => {
      const r: Pending = {
        seq: this.seq++,
        inputs,
        items,
        shapeKey,
        level,
        submitUs,
        deadlineUs: timeoutUs > 0 ? submitUs + timeoutUs : Infinity,
        delayed: false,
        state: 'queued',
        outputs,
        outputBuffers,
        signal,
        onAbort: undefined,
        resolve,
        reject,
        dispatchUs: 0,
        outcome: undefined,
        settled: false,
        stagedOn: -1,
      };
      const lv = this.levels[level] as Level;
      lv.queue.push(r);
      lv.count++;
      this.queued++;
      this.queuedItems += items;
      this.undelivered.set(r.seq, r);
      if (r.deadlineUs !== Infinity) this.deadlines.push(r);
      if (signal) {
        r.onAbort = () => this.abort(r);
        signal.addEventListener('abort', r.onAbort, { once: true });
      }
      this.stageAhead(r);
      this.schedule();
    });
  }

  /**
   * stageOnArrival: start copying r's inputs to the free instance the next batch goes to, at the
   * rows r will have in that batch. Only when that batch is sure to start with the requests
   * staged there and then r: every other queued request is staged there already, and r does
   * not overtake them (a lower priority level) and has their shape and fits in a batch with them.
   */
  private stageAhead(r: Pending): void {
    if (!this.stageOnArrival || !this.batching || this.closed) return;
    const idx = this.freeInstance();
    if (idx < 0) return;
    const inst = this.instances[idx] as BackendInstance;
    if (inst.stageInput === undefined || inst.runParts === undefined || inst.prefersParts === undefined) return;
    const list = this.staged[idx] as Pending[];
    if (list.length !== this.queued - 1) return;
    const last = list[list.length - 1];
    if (last !== undefined && (r.level < last.level || r.shapeKey !== last.shapeKey)) return;
    const at = this.stagedItems[idx] as number;
    if (at + r.items > this.maxBatchSize) return;
    for (const spec of this.inputSpecs.values()) if (!inst.prefersParts((r.inputs[spec.name] as Tensor).data)) return;
    try {
      for (const spec of this.inputSpecs.values()) {
        const d = (r.inputs[spec.name] as Tensor).data;
        inst.stageInput(spec.name, (d.byteLength / r.items) * at, d);
      }
    } catch {
      // The copy could not start (the instance is being disposed, say): its batch copies
      // everything itself, and fails there with the reason if the instance is unusable.
      this.clearStaged(idx);
      return;
    }
    list.push(r);
    r.stagedOn = idx;
    this.stagedItems[idx] = at + r.items;
  }

  private clearStaged(idx: number): void {
    const list = this.staged[idx] as Pending[];
    for (const r of list) r.stagedOn = -1;
    list.length = 0;
    this.stagedItems[idx] = 0;
  }

  /** How many leading requests of a batch for instance idx are staged there; forgets idx's staging. */
  private takeStaged(idx: number, batch: Pending[]): number {
    const list = this.staged[idx] as Pending[];
    let n = 0;
    while (n < batch.length && n < list.length && list[n] === batch[n]) n++;
    // Requests staged beyond the batch would sit at the wrong rows of the next one. (Staging
    // on other instances that the batch's requests were part of ends as they leave the queue:
    // unqueue.)
    this.clearStaged(idx);
    return n;
  }

  private abort(r: Pending): void {
    if (r.state === 'done') return;
    const wasQueued = r.state === 'queued';
    if (wasQueued) this.unqueue(r);
    // Delivered at once even with preserveOrdering: the caller asked to stop waiting.
    this.finish(r, { ok: false, error: new TensorRtError('ERR_ABORTED', wasQueued ? 'request aborted while queued' : 'request aborted while its batch ran') }, true);
    if (wasQueued) this.schedule();
  }

  private unqueue(r: Pending): void {
    if (r.stagedOn >= 0) this.clearStaged(r.stagedOn);
    const lv = this.levels[r.level] as Level;
    lv.count--;
    this.queued--;
    this.queuedItems -= r.items;
    r.state = 'done';
  }

  // ---------------------------------------------------------------- scheduling

  /** Visit queued requests in scheduling order until `fn` returns false. */
  private scanOrder(fn: (r: Pending) => boolean): void {
    for (const lv of this.levels) if (!lv.queue.scan(fn)) return;
    for (const lv of this.levels) if (!lv.delayed.scan(fn)) return;
  }

  private schedule(): void {
    if (this.inSchedule) {
      this.again = true;
      return;
    }
    this.inSchedule = true;
    try {
      do {
        this.again = false;
        this.scheduleOnce();
      } while (this.again);
    } finally {
      this.inSchedule = false;
    }
    this.maybeFinishClose();
  }

  private scheduleOnce(): void {
    const now = this.clock.now();
    this.expire(now);
    let wakeAt = Infinity;
    while (this.queued > 0) {
      const idx = this.freeInstance();
      if (idx < 0) break;
      const d = this.formBatch(now);
      if (d.batch !== undefined && d.batch.length > 0) {
        if (this.settling[idx] && d.full !== true) break; // rescheduled when it stops settling
        this.dispatch(idx, d.batch, now);
        continue;
      }
      wakeAt = d.wakeAt ?? Infinity;
      break;
    }
    this.arm(Math.min(wakeAt, this.nextDeadline()), now);
  }

  /**
   * The lowest-numbered free instance, one that is not settling if there is one, and among
   * those one where queued requests are staged; -1 if none.
   */
  private freeInstance(): number {
    let pick = -1;
    let pickRank = 4;
    for (let i = 0; i < this.busy.length; i++) {
      if (this.busy[i]) continue;
      const rank = (this.settling[i] ? 2 : 0) + ((this.staged[i] as Pending[]).length > 0 ? 0 : 1);
      if (rank < pickRank) {
        pick = i;
        pickRank = rank;
      }
    }
    return pick;
  }

  private expire(now: number): void {
    for (;;) {
      const r = this.deadlines.peek();
      if (r === undefined || r.deadlineUs > now) break;
      this.deadlines.pop();
      if (r.state !== 'queued' || r.delayed) continue;
      const lv = this.levels[r.level] as Level;
      if (lv.policy.timeoutAction === 'delay') {
        if (r.stagedOn >= 0) this.clearStaged(r.stagedOn); // it moves behind every request not delayed
        r.delayed = true;
        lv.delayed.push(r);
      } else {
        this.unqueue(r);
        this.finish(r, { ok: false, error: new TensorRtError('ERR_TIMEOUT', `request timed out after ${Math.round(now - r.submitUs)} µs in the queue`) });
      }
    }
  }

  private nextDeadline(): number {
    for (;;) {
      const r = this.deadlines.peek();
      if (r === undefined) return Infinity;
      if (r.state === 'queued' && !r.delayed) return r.deadlineUs;
      this.deadlines.pop();
    }
  }

  private arm(at: number, now: number): void {
    if (at === this.timerAt && this.timer !== undefined) return;
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
    }
    if (at === Infinity) return;
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.schedule();
    }, Math.max(0, (at - now) / 1000));
  }

  private formBatch(now: number): Decision {
    if (!this.batching) {
      let head: Pending | undefined;
      this.scanOrder((r) => {
        head = r;
        return false;
      });
      return head === undefined ? {} : { batch: [head] };
    }
    if (this.simpleQueue && this.queuedItems < this.maxBatchSize && this.delayUs > 0 && !this.closed) {
      const lv = this.levels[0] as Level;
      const head = lv.delayed.peek() === undefined ? lv.queue.peek() : undefined;
      if (head !== undefined && now - head.submitUs < this.delayUs) return { wakeAt: head.submitUs + this.delayUs };
    }
    const taken: Pending[] = [];
    let total = 0;
    let best = 0;
    let bestCount = 0;
    let sendNow = false;
    let oldest = Infinity;
    let key = '';
    this.scanOrder((r) => {
      if (taken.length === 0) {
        key = r.shapeKey;
      } else {
        if (total + r.items > this.maxPreferred && best === 0) {
          best = total;
          bestCount = taken.length;
        }
        if (total + r.items > this.maxBatchSize || r.shapeKey !== key) {
          sendNow = true;
          return false;
        }
      }
      taken.push(r);
      total += r.items;
      if (r.submitUs < oldest) oldest = r.submitUs;
      if (this.preferred.has(total)) {
        best = total;
        bestCount = taken.length;
      }
      if (total >= this.maxBatchSize) {
        sendNow = true;
        return false;
      }
      return true;
    });
    const exceeded = this.delayUs > 0 && now - oldest >= this.delayUs;
    if (best > 0 && !exceeded) return { batch: taken.slice(0, bestCount), full: best >= this.maxPreferred };
    if (sendNow || total >= this.maxPreferred || exceeded || this.delayUs === 0 || this.closed) return { batch: taken, full: total >= this.maxPreferred };
    return { wakeAt: oldest + this.delayUs };
  }

  private dispatch(idx: number, batch: Pending[], now: number): void {
    const staged = this.takeStaged(idx, batch);
    this.busy[idx] = true;
    this.running++;
    for (const r of batch) {
      this.unqueue(r);
      r.state = 'running';
      r.dispatchUs = now;
    }
    void this.execute(idx, batch, staged);
  }

  // ---------------------------------------------------------------- execution

  private poolBuffer(idx: number, name: string, bytes: number): ArrayBuffer {
    const pool = this.pools[idx] as Map<string, ArrayBuffer>;
    let b = pool.get(name);
    if (b === undefined || b.byteLength < bytes) {
      b = new ArrayBuffer(bytes);
      pool.set(name, b);
      this.poolAllocations++;
    }
    return b;
  }

  private gather(idx: number, batch: Pending[], total: number): Record<string, Tensor> {
    const inst = this.instances[idx] as BackendInstance;
    const first = batch[0] as Pending;
    if (batch.length === 1 && inst.inputStaging === undefined) return first.inputs;
    const feeds: Record<string, Tensor> = {};
    for (const spec of this.inputSpecs.values()) {
      const t0 = first.inputs[spec.name] as Tensor;
      const dims = this.batching ? [total, ...t0.dims.slice(1)] : [...t0.dims];
      const bytes = byteLength(spec.dtype, shapeSize(dims));
      let buffer: ArrayBufferLike;
      let offset: number;
      const staged = inst.inputStaging?.(spec.name, bytes);
      if (staged !== undefined && staged.byteLength >= bytes) {
        buffer = staged.buffer;
        offset = staged.byteOffset;
      } else {
        buffer = this.poolBuffer(idx, spec.name, bytes);
        offset = 0;
      }
      const dst = new Uint8Array(buffer, offset, bytes);
      let at = 0;
      for (const r of batch) {
        const d = (r.inputs[spec.name] as Tensor).data;
        dst.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
        at += d.byteLength;
      }
      feeds[spec.name] = new Tensor(spec.dtype, viewAs(spec.dtype, buffer, offset, bytes), dims);
    }
    return feeds;
  }

  /**
   * Slice every request's rows out of the batch outputs, copying them (outputs may be reused
   * buffers): into the request's own output buffer where it gave one (no allocation), else into
   * a new array. A request whose buffer turns out too small fails alone (in `failed`).
   */
  private scatter(out: Record<string, Tensor>, batch: Pending[], total: number, failed: Map<Pending, TensorRtError>): Map<Pending, InferResult> {
    const results = new Map<Pending, InferResult>();
    for (const r of batch) results.set(r, {});
    const names = new Set<string>();
    for (const r of batch) for (const n of r.outputs) names.add(n);
    for (const name of names) {
      const t = out[name];
      if (!(t instanceof Tensor)) throw new TensorRtError('ERR_BACKEND', `backend returned no output '${name}'`, { tensor: name });
      const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      if (!this.batching) {
        let shared: TypedArray | undefined; // one copy for every request without its own buffer
        for (const r of batch) {
          if (!r.outputs.includes(name) || failed.has(r)) continue;
          const own = r.outputBuffers?.[name];
          let dst: TypedArray | undefined;
          if (own !== undefined) dst = this.copyInto(own, t.data, 0, src.byteLength, t.type, name, r, failed);
          else dst = shared ??= copyOf(t.type, src, 0, src.byteLength);
          if (dst !== undefined) (results.get(r) as InferResult)[name] = new Tensor(t.type, dst, t.dims);
        }
        continue;
      }
      if (t.dims.length === 0 || t.dims[0] !== total) {
        throw new TensorRtError('ERR_BACKEND', `backend output '${name}' has shape ${formatShape(t.dims)}, expected dimension 0 = ${total}`, { tensor: name });
      }
      const rest = t.dims.slice(1);
      const rowBytes = byteLength(t.type, shapeSize(rest));
      let at = 0;
      for (const r of batch) {
        const bytes = rowBytes * r.items;
        if (r.outputs.includes(name) && r.state === 'running' && !failed.has(r)) {
          const own = r.outputBuffers?.[name];
          const dst = own !== undefined ? this.copyInto(own, t.data, at, bytes, t.type, name, r, failed) : copyOf(t.type, src, at, bytes);
          if (dst !== undefined) (results.get(r) as InferResult)[name] = new Tensor(t.type, dst, [r.items, ...rest]);
        }
        at += bytes;
      }
    }
    return results;
  }

  /** Copies bytes into the caller's buffer; returns the view of them, or records why it cannot. */
  private copyInto(own: TypedArray, data: TypedArray, at: number, bytes: number, type: DataType, name: string, r: Pending, failed: Map<Pending, TensorRtError>): TypedArray | undefined {
    if (own.byteLength < bytes) {
      failed.set(r, new TensorRtError('ERR_SHAPE_MISMATCH', `the buffer for output '${name}' holds ${own.byteLength} bytes; the request's output needs ${bytes}`, { tensor: name, expected: bytes, actual: own.byteLength }));
      return undefined;
    }
    const k = own.BYTES_PER_ELEMENT;
    if (own.constructor === data.constructor && at % k === 0 && bytes % k === 0) {
      (own as Uint8Array).set((data as Uint8Array).subarray(at / k, (at + bytes) / k)); // one view made, not two
    } else {
      new Uint8Array(own.buffer, own.byteOffset, bytes).set(new Uint8Array(data.buffer, data.byteOffset + at, bytes));
    }
    return own.byteLength === bytes ? own : viewAs(type, own.buffer, own.byteOffset, bytes);
  }

  /** Every request's data is what the instance would rather take as parts (TensorRT: pinned memory). */
  private allPreferParts(inst: BackendInstance, batch: Pending[]): boolean {
    if (inst.prefersParts === undefined) return false;
    for (const r of batch) for (const spec of this.inputSpecs.values()) if (!inst.prefersParts((r.inputs[spec.name] as Tensor).data)) return false;
    return true;
  }

  /** staged: how many leading requests of the batch the instance has on it already (stageAhead). */
  private async execute(idx: number, batch: Pending[], staged: number): Promise<void> {
    const inst = this.instances[idx] as BackendInstance;
    let total = 0;
    for (const r of batch) total += r.items;
    const t0 = this.clock.now();
    let t1 = t0;
    let t2 = t0;
    let ok = false;
    let code: ErrorCode | undefined;
    try {
      let out: Record<string, Tensor>;
      if (inst.runParts !== undefined && this.batching && (batch.length > 1 || staged > 0) && (this.gatherOnBackend || this.allPreferParts(inst, batch))) {
        // The backend concatenates the requests itself, off the JS thread.
        const inputs: Record<string, GatheredInput> = {};
        for (const spec of this.inputSpecs.values()) {
          const t0d = (batch[0] as Pending).inputs[spec.name] as Tensor;
          inputs[spec.name] = { dtype: spec.dtype, dims: [total, ...t0d.dims.slice(1)], parts: batch.map((r) => (r.inputs[spec.name] as Tensor).data) };
        }
        t1 = this.clock.now();
        out = await (staged > 0 ? inst.runParts(inputs, { stagedParts: staged }) : inst.runParts(inputs));
      } else {
        const feeds = this.gather(idx, batch, total);
        t1 = this.clock.now();
        out = await inst.run(feeds);
      }
      t2 = this.clock.now();
      const failed = new Map<Pending, TensorRtError>();
      const results = this.scatter(out, batch, total, failed);
      const t3 = this.clock.now();
      ok = true;
      this.stats.execution(total, t1 - t0, t2 - t1, t3 - t2, true);
      if (this.listeners.size > 0) this.emitBatch({ instance: idx, batchSize: total, requests: batch.length, ok: true, computeInputMicroseconds: t1 - t0, computeInferMicroseconds: t2 - t1, computeOutputMicroseconds: t3 - t2 });
      for (const r of batch) {
        if (r.state !== 'running') continue;
        const why = failed.size > 0 ? failed.get(r) : undefined;
        if (why !== undefined) this.finish(r, { ok: false, error: why });
        else this.finish(r, { ok: true, value: results.get(r) as InferResult }, false, r.dispatchUs - r.submitUs, t1 - t0, t2 - t1, t3 - t2);
      }
    } catch (e) {
      const t3 = this.clock.now();
      if (t2 === t0) t2 = t3;
      const msg = e instanceof Error ? e.message : String(e);
      const err = new TensorRtError('ERR_BACKEND', isTensorRtError(e, 'ERR_BACKEND') ? msg : `backend failed to run the batch: ${msg}`, { instance: idx, ...(isTensorRtError(e) ? { backendCode: e.code } : {}) }, { cause: e });
      code = err.code;
      if (!ok) {
        this.stats.execution(total, t1 - t0, t2 - t1, t3 - t2, false);
        this.emitBatch({ instance: idx, batchSize: total, requests: batch.length, ok: false, code, computeInputMicroseconds: t1 - t0, computeInferMicroseconds: t2 - t1, computeOutputMicroseconds: t3 - t2 });
      }
      for (const r of batch) if (r.state === 'running') this.finish(r, { ok: false, error: err });
    } finally {
      this.busy[idx] = false;
      this.running--;
      // One request answered: no crowd of callers to wait for (and no loop turn added to a lone
      // caller's next request).
      if (batch.length > 1) {
        this.settling[idx] = true;
        setImmediate(() => {
          this.settling[idx] = false;
          this.schedule();
        });
      }
      this.schedule();
    }
  }

  // ---------------------------------------------------------------- completion

  /**
   * Record a request's outcome and deliver it (in arrival order with preserveOrdering, unless
   * `immediate`). `phases`: queue, input, infer, output µs for successes.
   */
  private finish(r: Pending, outcome: Outcome, immediate = false, queuePhaseUs = -1, inputUs = 0, inferUs = 0, outputUs = 0): void {
    if (r.state === 'done' && r.outcome !== undefined) return;
    const dispatched = r.state === 'running';
    r.state = 'done';
    r.outcome = outcome;
    if (r.signal && r.onAbort) r.signal.removeEventListener('abort', r.onAbort);
    const now = this.clock.now();
    const total = now - r.submitUs;
    if (outcome.ok && queuePhaseUs >= 0) {
      this.stats.requestSucceeded(total, queuePhaseUs, inputUs, inferUs, outputUs);
    } else {
      this.stats.requestFailed(total);
    }
    if (this.listeners.size > 0) {
      this.emitRequest({
        status: outcome.ok ? 'success' : 'fail',
        ...(outcome.ok ? {} : { code: outcome.error.code }),
        priority: r.level + 1,
        items: r.items,
        queueMicroseconds: dispatched ? r.dispatchUs - r.submitUs : now - r.submitUs,
        totalMicroseconds: total,
      });
    }
    if (!this.preserveOrdering || immediate) this.settle(r);
    if (this.preserveOrdering) this.deliverInOrder();
    else this.undelivered.delete(r.seq);
  }

  private settle(r: Pending): void {
    if (r.settled || r.outcome === undefined) return;
    r.settled = true;
    const o = r.outcome;
    r.inputs = NO_INPUTS;
    r.outputBuffers = undefined;
    if (o.ok) r.resolve(o.value);
    else r.reject(o.error);
  }

  private deliverInOrder(): void {
    for (;;) {
      const r = this.undelivered.get(this.nextDeliver);
      if (r === undefined) {
        if (this.nextDeliver < this.seq) {
          this.nextDeliver++;
          continue;
        }
        return;
      }
      if (r.outcome === undefined) return;
      this.settle(r);
      this.undelivered.delete(r.seq);
      this.nextDeliver++;
    }
  }

  private emitRequest(e: BatcherRequestEvent): void {
    for (const l of this.listeners) {
      try {
        l.onRequest?.(e);
      } catch {
        /* listeners must not break the batcher */
      }
    }
  }

  private emitBatch(e: BatcherBatchEvent): void {
    for (const l of this.listeners) {
      try {
        l.onBatch?.(e);
      } catch {
        /* listeners must not break the batcher */
      }
    }
  }

  // ---------------------------------------------------------------- closing

  close(options: { drain?: boolean } = {}): Promise<void> {
    if (this.closePromise !== undefined) return this.closePromise;
    this.closed = true;
    const drain = options.drain ?? true;
    if (!drain) {
      const dropped: Pending[] = [];
      for (const lv of this.levels) {
        dropped.push(...lv.queue.drain(), ...lv.delayed.drain());
      }
      for (const r of dropped) {
        if (r.state !== 'queued') continue;
        this.unqueue(r);
        this.finish(r, { ok: false, error: new TensorRtError('ERR_CLOSED', 'the model was closed before the request ran') });
      }
    }
    const idle = new Promise<void>((resolve) => {
      this.closeResolve = resolve;
    });
    this.closePromise = idle.then(async () => {
      if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      await Promise.allSettled(this.instances.map((i) => i.dispose()));
    });
    this.schedule();
    return this.closePromise;
  }

  private maybeFinishClose(): void {
    if (this.closed && this.closeResolve && this.queued === 0 && this.running === 0) {
      const r = this.closeResolve;
      this.closeResolve = undefined;
      r();
    }
  }
}
