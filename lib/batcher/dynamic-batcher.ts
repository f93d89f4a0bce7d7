/**
 * Triton-style dynamic batcher over N backend instances.
 *
 * The parts: request validation (validate.ts), the priority queues (request-queues.ts), batch
 * formation by Triton's rules (policy.ts), and the instances with the batches they assemble
 * and run (executor.ts). This class ties them together: it takes requests, decides when to look
 * at the queue (arrivals, free instances, the oldest request's delay, timeouts), and delivers
 * each request's outcome, in arrival order where asked.
 *
 * Batches are formed only when an instance is free, and go to a free one; N instances run N
 * batches at once. While the next batch's requests arrive, they are already added to the batch
 * being assembled where it is expected to run (stageOnArrival): the instance copies them in
 * while the others arrive, so a formed batch only has to start.
 */
import { TensorRtError, isTensorRtError, type ErrorCode } from '../errors.js';
import type { TypedArray } from '../dtypes.js';
import type { Tensor } from '../tensor.js';
import { toTensorFeeds, type NdArrayLike } from '../ndarray.js';
import type { BackendInstance, ModelSignature } from '../backends/backend.js';
import type { DynamicBatchingOptions, InferRequestOptions, InferResult, InferenceScheduler, ModelStatistics, QueuePolicy } from './types.js';
import { MAX_TIMER_MS, systemClock, type BatcherClock, type TimerHandle } from './clock.js';
import { StatsCollector } from './stats.js';
import { NO_INPUTS, type Outcome, type Pending } from './request.js';
import { RequestQueues } from './request-queues.js';
import { formBatch, type BatchPolicy } from './policy.js';
import { BatchExecutor } from './executor.js';
import { MAX_MICROSECONDS, MAX_PRIORITY_LEVELS, RequestValidator, boundedInt, resolvePolicy } from './validate.js';

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
  /** adding the requests the instance did not have yet (Triton's compute_input) */
  computeInputMicroseconds: number;
  /** the batch's run (compute_infer) */
  computeInferMicroseconds: number;
  /** splitting and copying outputs (compute_output) */
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
   * Add each arriving request to the batch being assembled where the next batch is expected to
   * run (BatchBuilder.add: the instance starts copying it at once), when that batch is sure to
   * start with it. Changes nothing but timing. Default true.
   */
  stageOnArrival?: boolean;
}

function sameSignature(a: ModelSignature, b: ModelSignature): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class DynamicBatcher implements InferenceScheduler {
  readonly signature: ModelSignature;
  readonly #clock: BatcherClock;
  readonly #stageOnArrival: boolean;
  readonly #policy: BatchPolicy;
  readonly #preserveOrdering: boolean;
  readonly #defaultLevel: number;
  readonly #validator: RequestValidator;
  readonly #queues: RequestQueues;
  readonly #executor: BatchExecutor;
  readonly #listeners = new Set<BatcherListener>();
  readonly #stats = new StatsCollector();

  #seq = 0;
  #nextDeliver = 0;
  readonly #undelivered = new Map<number, Pending>();

  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #inSchedule = false;
  #again = false;

  #closed = false;
  #closePromise: Promise<void> | undefined;
  #closeResolve: (() => void) | undefined;

  constructor(instances: BackendInstance[], options: DynamicBatchingOptions, extras: DynamicBatcherExtras = {}) {
    if (!Array.isArray(instances) || instances.length === 0) throw new TensorRtError('ERR_INVALID_ARGUMENT', 'DynamicBatcher needs at least one backend instance');
    if (options === null || typeof options !== 'object') throw new TensorRtError('ERR_CONFIG', 'DynamicBatcher needs an options object');
    const first = instances[0] as BackendInstance;
    for (const inst of instances) {
      if (!sameSignature(inst.signature, first.signature)) throw new TensorRtError('ERR_CONFIG', 'all instances of a batcher must have the same signature');
    }
    const sig = first.signature;
    const mbs = options.maxBatchSize ?? 0;
    if (!Number.isInteger(mbs) || mbs < 0) throw new TensorRtError('ERR_CONFIG', `maxBatchSize must be an integer >= 0, got ${String(options.maxBatchSize)}`);
    if (mbs > 0 && sig.maxBatchSize === 0) throw new TensorRtError('ERR_CONFIG', `maxBatchSize ${mbs} asked for a model without a batch dimension (its maxBatchSize is 0)`);
    if (mbs > sig.maxBatchSize) throw new TensorRtError('ERR_CONFIG', `maxBatchSize ${mbs} exceeds the model's ${sig.maxBatchSize}`);
    const batching = mbs > 0;
    this.#clock = extras.clock ?? systemClock;
    this.#stageOnArrival = extras.stageOnArrival ?? true;
    // Without batching (Triton's default scheduler) a request may still carry several rows, up
    // to the model's own limit: the signature keeps it.
    this.signature = { inputs: sig.inputs, outputs: sig.outputs, maxBatchSize: batching ? mbs : sig.maxBatchSize };

    const pref = options.preferredBatchSize ?? [];
    if (!Array.isArray(pref)) throw new TensorRtError('ERR_CONFIG', 'preferredBatchSize must be an array of batch sizes');
    for (const p of pref) {
      if (!Number.isInteger(p) || p < 1 || (batching && p > mbs)) throw new TensorRtError('ERR_CONFIG', `preferred batch size ${p} must be in 1..maxBatchSize (${mbs})`);
    }
    const nLevels = Math.max(1, boundedInt(options.priorityLevels, 'priorityLevels', 0, MAX_PRIORITY_LEVELS));
    const preferred = new Set(batching ? pref : []);
    const keyed = batching && sig.inputs.some((s) => s.shape.slice(1).some((d) => d < 0));
    this.#policy = {
      batching,
      maxBatchSize: mbs,
      preferred,
      maxPreferred: preferred.size > 0 ? Math.max(...preferred) : mbs,
      delayUs: boundedInt(options.maxQueueDelayMicroseconds, 'maxQueueDelayMicroseconds', 0, MAX_MICROSECONDS),
      simpleQueue: batching && nLevels === 1 && !keyed && preferred.size === 0,
    };
    this.#preserveOrdering = !!options.preserveOrdering;

    const dl = options.defaultPriorityLevel ?? (nLevels > 1 ? Math.ceil(nLevels / 2) : 1);
    if (nLevels > 1 && (!Number.isInteger(dl) || dl < 1 || dl > nLevels)) throw new TensorRtError('ERR_CONFIG', `defaultPriorityLevel ${dl} must be in 1..${nLevels}`);
    this.#defaultLevel = nLevels > 1 ? dl - 1 : 0;
    const base = resolvePolicy(options.defaultQueuePolicy, { maxQueueSize: 0, defaultTimeoutMicroseconds: 0, timeoutAction: 'reject', allowTimeoutOverride: false });
    for (const k of Object.keys(options.priorityQueuePolicy ?? {})) {
      const n = Number(k);
      if (!Number.isInteger(n) || n < 1 || n > nLevels) throw new TensorRtError('ERR_CONFIG', `priorityQueuePolicy level ${k} is not in 1..${nLevels}`);
    }
    const policies: Required<QueuePolicy>[] = [];
    for (let i = 0; i < nLevels; i++) policies.push(resolvePolicy(options.priorityQueuePolicy?.[i + 1], base));
    this.#queues = new RequestQueues(policies);
    this.#validator = new RequestValidator(sig, batching, mbs, sig.maxBatchSize);
    this.#executor = new BatchExecutor(instances, {
      clock: this.#clock,
      batching,
      finish: (r, outcome, phases) => this.#finish(r, outcome, false, phases),
      batchDone: (instance, items, requests, ok, code, inputUs, inferUs, outputUs) => {
        this.#stats.execution(items, inputUs, inferUs, outputUs, ok);
        if (this.#listeners.size > 0) {
          this.#emitBatch({ instance, batchSize: items, requests, ok, ...(code ? { code } : {}), computeInputMicroseconds: inputUs, computeInferMicroseconds: inferUs, computeOutputMicroseconds: outputUs });
        }
      },
      schedule: () => this.#schedule(),
      defer: (fn) => (this.#clock.defer ? this.#clock.defer(fn) : setImmediate(fn)),
    });
    if (extras.listener) this.#listeners.add(extras.listener);
  }

  /** Register a metrics listener; returns a function that removes it. */
  addListener(listener: BatcherListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Number of instances currently running a batch (one may run two: see BatchExecutor). */
  get busyInstances(): number {
    return this.#executor.busyInstances;
  }

  statistics(): ModelStatistics {
    return this.#stats.snapshot(this.#queues.count);
  }

  // ---------------------------------------------------------------- submission

  infer(inputs: Record<string, Tensor | NdArrayLike>, options: InferRequestOptions = {}): Promise<InferResult> {
    const submitUs = this.#clock.now();
    let level = this.#defaultLevel;
    try {
      if (this.#closed) throw new TensorRtError('ERR_CLOSED', 'the model is closed and accepts no requests');
      if (options === null || typeof options !== 'object') throw new TensorRtError('ERR_INVALID_ARGUMENT', 'options must be an object');
      const feeds = toTensorFeeds(inputs); // ndarray views → Tensors (lib/ndarray.ts)
      if (options.signal?.aborted) throw new TensorRtError('ERR_ABORTED', 'request aborted before submission');
      const levels = this.#queues.levels;
      if (levels > 1 && options.priority !== undefined && options.priority !== 0) {
        const p = options.priority;
        if (!Number.isInteger(p) || p < 1 || p > levels) throw new TensorRtError('ERR_INVALID_ARGUMENT', `priority ${p} is not in 1..${levels}`);
        level = p - 1;
      }
      const { items, shapeKey } = this.#validator.inputs(feeds);
      const outputs = this.#validator.outputs(options.outputs);
      const outputBuffers = options.outputBuffers === undefined ? undefined : this.#validator.outputBuffers(options.outputBuffers, outputs, items);
      const policy = this.#queues.policy(level);
      if (policy.maxQueueSize > 0 && this.#queues.countAt(level) >= policy.maxQueueSize) {
        throw new TensorRtError('ERR_QUEUE_FULL', `queue of priority level ${level + 1} is full (${policy.maxQueueSize} requests)`, { priority: level + 1, maxQueueSize: policy.maxQueueSize });
      }
      let timeout = policy.defaultTimeoutMicroseconds;
      const o = options.timeoutMicroseconds;
      if (policy.allowTimeoutOverride && typeof o === 'number' && Number.isFinite(o) && o > 0 && (timeout === 0 || o < timeout)) timeout = o;
      return this.#enqueue(feeds, items, shapeKey, level, submitUs, timeout, outputs, outputBuffers, options.signal);
    } catch (e) {
      const err = isTensorRtError(e) ? e : new TensorRtError('ERR_INVALID_ARGUMENT', String((e as Error)?.message ?? e), undefined, { cause: e });
      const total = this.#clock.now() - submitUs;
      this.#stats.requestFailed(total);
      this.#emitRequest({ status: 'fail', code: err.code, priority: level + 1, items: 0, queueMicroseconds: 0, totalMicroseconds: total });
      return Promise.reject(err);
    }
  }

  #enqueue(
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
        seq: this.#seq++,
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
      this.#queues.push(r);
      this.#undelivered.set(r.seq, r);
      if (signal) {
        r.onAbort = () => this.#abort(r);
        signal.addEventListener('abort', r.onAbort, { once: true });
      }
      if (this.#stageOnArrival && this.#policy.batching) this.#executor.stageAhead(r, this.#queues.count, this.#policy.maxBatchSize);
      this.#schedule();
    });
  }

  #abort(r: Pending): void {
    if (r.state === 'done') return;
    const wasQueued = r.state === 'queued';
    if (wasQueued) this.#leave(r);
    // Delivered at once even with preserveOrdering: the caller asked to stop waiting.
    this.#finish(r, { ok: false, error: new TensorRtError('ERR_ABORTED', wasQueued ? 'request aborted while queued' : 'request aborted while its batch ran') }, true);
    if (wasQueued) this.#schedule();
  }

  /** r leaves the queue; a batch assembled ahead with it in can no longer be the next one. */
  #leave(r: Pending): void {
    if (r.stagedOn >= 0) this.#executor.clearStaged(r.stagedOn);
    this.#queues.remove(r);
  }

  // ---------------------------------------------------------------- scheduling

  #schedule(): void {
    if (this.#inSchedule) {
      this.#again = true;
      return;
    }
    this.#inSchedule = true;
    try {
      do {
        this.#again = false;
        this.#scheduleOnce();
      } while (this.#again);
    } finally {
      this.#inSchedule = false;
    }
    this.#maybeFinishClose();
  }

  #scheduleOnce(): void {
    const now = this.#clock.now();
    this.#queues.expire(now, (r, action) => {
      if (action === 'delay') {
        if (r.stagedOn >= 0) this.#executor.clearStaged(r.stagedOn); // it moves behind every request not delayed
        return;
      }
      this.#leave(r);
      this.#finish(r, { ok: false, error: new TensorRtError('ERR_TIMEOUT', `request timed out after ${Math.round(now - r.submitUs)} µs in the queue`) });
    });
    let wakeAt = Infinity;
    while (this.#queues.count > 0) {
      const idx = this.#executor.freeInstance();
      if (idx < 0) break;
      const d = formBatch(this.#policy, this.#queues, now, this.#closed);
      if (d.batch !== undefined && d.batch.length > 0) {
        if (this.#executor.isAwaitingCallers(idx) && d.full !== true) break; // rescheduled when it stops awaiting them
        this.#executor.dispatch(idx, d.batch, now, (r) => this.#leave(r));
        continue;
      }
      wakeAt = d.wakeAt ?? Infinity;
      break;
    }
    this.#arm(Math.min(wakeAt, this.#queues.nextDeadline()), now);
  }

  #arm(at: number, now: number): void {
    if (at === this.#timerAt && this.#timer !== undefined) return;
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
    }
    if (at === Infinity) return;
    this.#timerAt = at;
    // Node's timers take at most 2^31 - 1 ms: a later time is reached in steps, each firing
    // re-arming for what is left.
    const ms = Math.min(MAX_TIMER_MS, Math.max(0, (at - now) / 1000));
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#schedule();
    }, ms);
  }

  // ---------------------------------------------------------------- completion

  /**
   * Record a request's outcome and deliver it (in arrival order with preserveOrdering, unless
   * `immediate`). `phases`: queue, input, infer, output µs for successes.
   */
  #finish(r: Pending, outcome: Outcome, immediate = false, phases?: readonly [number, number, number, number]): void {
    if (r.state === 'done' && r.outcome !== undefined) return;
    const dispatched = r.state === 'running';
    r.state = 'done';
    r.outcome = outcome;
    if (r.signal && r.onAbort) r.signal.removeEventListener('abort', r.onAbort);
    const now = this.#clock.now();
    const total = now - r.submitUs;
    if (outcome.ok && phases !== undefined) this.#stats.requestSucceeded(total, phases[0], phases[1], phases[2], phases[3]);
    else this.#stats.requestFailed(total);
    if (this.#listeners.size > 0) {
      this.#emitRequest({
        status: outcome.ok ? 'success' : 'fail',
        ...(outcome.ok ? {} : { code: outcome.error.code }),
        priority: r.level + 1,
        items: r.items,
        queueMicroseconds: dispatched ? r.dispatchUs - r.submitUs : now - r.submitUs,
        totalMicroseconds: total,
      });
    }
    if (!this.#preserveOrdering || immediate) this.#settle(r);
    if (this.#preserveOrdering) this.#deliverInOrder();
    else this.#undelivered.delete(r.seq);
  }

  #settle(r: Pending): void {
    if (r.settled || r.outcome === undefined) return;
    r.settled = true;
    const o = r.outcome;
    r.inputs = NO_INPUTS;
    r.outputBuffers = undefined;
    if (o.ok) r.resolve(o.value);
    else r.reject(o.error);
  }

  #deliverInOrder(): void {
    for (;;) {
      const r = this.#undelivered.get(this.#nextDeliver);
      if (r === undefined) {
        if (this.#nextDeliver < this.#seq) {
          this.#nextDeliver++;
          continue;
        }
        return;
      }
      if (r.outcome === undefined) return;
      this.#settle(r);
      this.#undelivered.delete(r.seq);
      this.#nextDeliver++;
    }
  }

  #emitRequest(e: BatcherRequestEvent): void {
    for (const l of this.#listeners) {
      try {
        l.onRequest?.(e);
      } catch {
        /* listeners must not break the batcher */
      }
    }
  }

  #emitBatch(e: BatcherBatchEvent): void {
    for (const l of this.#listeners) {
      try {
        l.onBatch?.(e);
      } catch {
        /* listeners must not break the batcher */
      }
    }
  }

  // ---------------------------------------------------------------- closing

  close(options: { drain?: boolean } = {}): Promise<void> {
    if (this.#closePromise !== undefined) return this.#closePromise;
    this.#closed = true;
    const drain = options.drain ?? true;
    if (!drain) {
      for (const r of this.#queues.drain()) {
        this.#leave(r);
        this.#finish(r, { ok: false, error: new TensorRtError('ERR_CLOSED', 'the model was closed before the request ran') });
      }
    }
    const idle = new Promise<void>((resolve) => {
      this.#closeResolve = resolve;
    });
    this.#closePromise = idle.then(async () => {
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      await this.#executor.dispose();
    });
    this.#schedule();
    return this.#closePromise;
  }

  #maybeFinishClose(): void {
    if (this.#closed && this.#closeResolve && this.#queues.count === 0 && this.#executor.running === 0) {
      const r = this.#closeResolve;
      this.#closeResolve = undefined;
      r();
    }
  }
}
