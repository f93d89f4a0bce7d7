/**
 * The batcher's instances: which one takes the next batch, the batch each is assembling ahead
 * (requests added to its BatchBuilder as they arrive, so the instance copies them while the
 * rest of the batch is still coming), and the execution of a batch: run it, split its outputs
 * into the requests' results, hand them back.
 */
import { TensorRtError, isTensorRtError, type ErrorCode } from '../errors.js';
import type { BackendInstance, BatchBuilder } from '../backends/backend.js';
import type { BatcherClock } from './clock.js';
import type { Outcome, Pending } from './request.js';
import { scatterOutputs } from './scatter.js';
import { ConcatBatches } from '../backends/concat-batch.js';

/**
 * How batches of `instance` are assembled: its own builders, or, for an instance that only runs
 * whole batches (a custom backend with run() alone), concatenation on the JS thread.
 */
function batchesOf(instance: BackendInstance): () => BatchBuilder {
  if (typeof instance.createBatch === 'function') return () => instance.createBatch!();
  const concat = new ConcatBatches(instance.signature, (feeds, options) => instance.run(feeds, options));
  return () => concat.create();
}

/** What the executor needs from the batcher around it. */
export interface ExecutionHost {
  readonly clock: BatcherClock;
  readonly batching: boolean;
  /** A request's outcome; phases (µs) for successes: queue, input, infer, output. */
  finish(r: Pending, outcome: Outcome, phases?: readonly [number, number, number, number]): void;
  /** A batch ended (statistics and listeners); timings in µs. */
  batchDone(instance: number, items: number, requests: number, ok: boolean, code: ErrorCode | undefined, inputUs: number, inferUs: number, outputUs: number): void;
  /** Look at the queue again (an instance became free). */
  schedule(): void;
  /** Call fn after the current turn of the event loop. */
  defer(fn: () => void): void;
}

interface InstanceState {
  readonly instance: BackendInstance;
  /** the instance's createBatch, or concatenation over its run() for an instance without one */
  readonly createBatch: () => BatchBuilder;
  /** batches it can hold at once, running or being assembled (its IO sets, for TensorRT) */
  readonly capacity: number;
  /**
   * Batches running on it (at most capacity). A second batch is launched while the first is in
   * flight, as trtexec and the static loop keep two queued on a context's stream: the stream is
   * never empty between them for the first one's completion, scatter and the next launch.
   */
  running: number;
  /** when its latest batch was dispatched (µs) */
  startedUs: number;
  /**
   * It delivered a batch of several requests in the current turn of the event loop. The callers
   * it answered may come straight back with their next requests (in-process callers do, within
   * microseconds); until those have had the turn, it takes full batches only. Without this, a
   * request that had waited out the queue delay behind two busy instances would leave alone in a
   * batch of one as soon as one of them was done.
   */
  awaitingCallers: boolean;
  /** the next batch it will run, being assembled: the first `staged.length` queued requests */
  builder: BatchBuilder | undefined;
  staged: Pending[];
  stagedItems: number;
}

export class BatchExecutor {
  readonly #host: ExecutionHost;
  readonly #states: InstanceState[];
  #running = 0;

  constructor(instances: readonly BackendInstance[], host: ExecutionHost) {
    this.#host = host;
    this.#states = instances.map((instance) => ({
      instance,
      createBatch: batchesOf(instance),
      // concatenation over run() reuses one gather buffer per instance: one batch at a time there
      capacity: typeof instance.createBatch === 'function' ? Math.max(1, Math.floor(instance.batchCapacity ?? 1)) : 1,
      running: 0,
      startedUs: 0,
      awaitingCallers: false,
      builder: undefined,
      staged: [],
      stagedItems: 0,
    }));
  }

  /** Batches running now (an instance may run up to its capacity). */
  get running(): number {
    return this.#running;
  }

  /** Instances running at least one batch. */
  get busyInstances(): number {
    let n = 0;
    for (const s of this.#states) if (s.running > 0) n++;
    return n;
  }

  get instances(): BackendInstance[] {
    return this.#states.map((s) => s.instance);
  }

  /**
   * The instance the next batch goes to, among those with room for one more running batch: an
   * idle one before one already running a batch (the GPU then works on both); then one not
   * awaiting its callers; then one that assembled the batch's first requests already. -1 if
   * every instance is full.
   */
  freeInstance(): number {
    let pick = -1;
    let pickRank = 8;
    for (let i = 0; i < this.#states.length; i++) {
      const s = this.#states[i] as InstanceState;
      if (s.running >= s.capacity) continue;
      const rank = (s.running > 0 ? 4 : 0) + (s.awaitingCallers ? 2 : 0) + (s.staged.length > 0 ? 0 : 1);
      if (rank < pickRank) {
        pick = i;
        pickRank = rank;
      }
    }
    return pick;
  }

  /** Whether a free instance awaits the callers it just answered (it then takes full batches only). */
  isAwaitingCallers(idx: number): boolean {
    return (this.#states[idx] as InstanceState).awaitingCallers;
  }

  /**
   * Where the next batch is expected to run, for assembling it ahead: the instance holding its
   * first requests already; else an idle instance; else one running a batch with room for
   * another (it runs the assembled batch as soon as the batch forms), the one whose batch
   * started earliest. -1: nowhere (every instance is full).
   */
  #stagingTarget(): number {
    let free = -1;
    let busy = -1;
    for (let i = 0; i < this.#states.length; i++) {
      const s = this.#states[i] as InstanceState;
      if (s.staged.length > 0) return i;
      if (s.running === 0) {
        if (free < 0 || (this.#states[free] as InstanceState).awaitingCallers) free = i;
      } else if (s.running < s.capacity && (busy < 0 || s.startedUs < (this.#states[busy] as InstanceState).startedUs)) {
        busy = i;
      }
    }
    return free >= 0 ? free : busy;
  }

  /**
   * Adds r, just queued, to the batch being assembled where the next batch is expected to run,
   * if that batch is sure to start with the requests there and then r: every other queued
   * request is there already, and r neither overtakes them (a higher priority level) nor
   * differs in shape, and fits.
   */
  stageAhead(r: Pending, queued: number, maxBatchSize: number): void {
    const idx = this.#stagingTarget();
    if (idx < 0) return;
    const s = this.#states[idx] as InstanceState;
    if (s.staged.length !== queued - 1) return;
    const last = s.staged[s.staged.length - 1];
    if (last !== undefined && (r.level < last.level || r.shapeKey !== last.shapeKey)) return;
    if (s.stagedItems + r.items > maxBatchSize) return;
    try {
      s.builder ??= s.createBatch();
      s.builder.add(r.inputs);
    } catch {
      // It could not start (the instance is being disposed, say): the batch adds its requests
      // itself when it runs, and fails there with the reason if the instance is unusable.
      this.clearStaged(idx);
      return;
    }
    s.staged.push(r);
    s.stagedItems += r.items;
    r.stagedOn = idx;
  }

  /** Forgets what instance idx assembled ahead (a request of it left the queue otherwise, or was delayed). */
  clearStaged(idx: number): void {
    const s = this.#states[idx] as InstanceState;
    for (const r of s.staged) r.stagedOn = -1;
    s.staged.length = 0;
    s.stagedItems = 0;
    const b = s.builder;
    s.builder = undefined;
    try {
      b?.abandon();
    } catch {
      /* nothing staged survives an unusable instance anyway */
    }
  }

  /**
   * Runs `batch` (requests just taken from the queue, in order) on instance idx (one with room
   * for another running batch): with the batch it assembled ahead where that holds the batch's
   * first requests, else a new one.
   * `leave(r)` takes each request out of the queue.
   */
  dispatch(idx: number, batch: Pending[], now: number, leave: (r: Pending) => void): void {
    const s = this.#states[idx] as InstanceState;
    let builder = s.builder;
    let n = 0;
    while (n < batch.length && n < s.staged.length && s.staged[n] === batch[n]) n++;
    s.builder = undefined; // the batch owns it now
    const beyond = s.staged.length > n;
    for (const r of s.staged) r.stagedOn = -1;
    s.staged.length = 0;
    s.stagedItems = 0;
    let failure: unknown;
    if (builder !== undefined) {
      try {
        if (n === 0) {
          builder.abandon();
          builder = undefined;
        } else if (beyond) {
          builder.truncate(n); // requests assembled beyond the batch stay queued for a later one
        }
      } catch (e) {
        failure = e;
      }
    }
    s.running++;
    s.startedUs = now;
    this.#running++;
    for (const r of batch) {
      leave(r);
      r.state = 'running';
      r.dispatchUs = now;
    }
    void this.#execute(idx, batch, builder, n, failure);
  }

  async #execute(idx: number, batch: Pending[], builder: BatchBuilder | undefined, assembled: number, failure: unknown): Promise<void> {
    const host = this.#host;
    const clock = host.clock;
    const s = this.#states[idx] as InstanceState;
    let total = 0;
    for (const r of batch) total += r.items;
    const t0 = clock.now();
    let t1 = t0;
    let t2 = t0;
    let ran = false;
    try {
      if (failure !== undefined) throw failure;
      builder ??= s.createBatch();
      try {
        for (let i = assembled; i < batch.length; i++) builder.add((batch[i] as Pending).inputs);
      } catch (e) {
        builder.abandon();
        throw e;
      }
      t1 = clock.now();
      const out = await builder.run();
      t2 = clock.now();
      const failed = new Map<Pending, TensorRtError>();
      const results = scatterOutputs(out, batch, total, host.batching, failed);
      const t3 = clock.now();
      ran = true;
      host.batchDone(idx, total, batch.length, true, undefined, t1 - t0, t2 - t1, t3 - t2);
      for (const r of batch) {
        if (r.state !== 'running') continue;
        const why = failed.size > 0 ? failed.get(r) : undefined;
        if (why !== undefined) host.finish(r, { ok: false, error: why });
        else host.finish(r, { ok: true, value: results.get(r)! }, [r.dispatchUs - r.submitUs, t1 - t0, t2 - t1, t3 - t2]);
      }
    } catch (e) {
      const t3 = clock.now();
      if (t2 === t0) t2 = t3;
      const msg = e instanceof Error ? e.message : String(e);
      const err = new TensorRtError('ERR_BACKEND', isTensorRtError(e, 'ERR_BACKEND') ? msg : `backend failed to run the batch: ${msg}`, { instance: idx, ...(isTensorRtError(e) ? { backendCode: e.code } : {}) }, { cause: e });
      if (!ran) host.batchDone(idx, total, batch.length, false, err.code, t1 - t0, t2 - t1, t3 - t2);
      for (const r of batch) if (r.state === 'running') host.finish(r, { ok: false, error: err });
    } finally {
      // the outputs are copied (or the batch failed): the instance may reuse their buffers
      try {
        builder?.done?.();
      } catch {
        /* an instance that cannot take its buffers back fails its next batch instead */
      }
      s.running--;
      this.#running--;
      // One request answered: no crowd of callers to wait for (and no loop turn added to a lone
      // caller's next request).
      if (batch.length > 1) {
        s.awaitingCallers = true;
        host.defer(() => {
          s.awaitingCallers = false;
          host.schedule();
        });
      }
      host.schedule();
    }
  }

  /** Abandons what is being assembled and disposes every instance. */
  dispose(): Promise<PromiseSettledResult<void>[]> {
    for (let i = 0; i < this.#states.length; i++) this.clearStaged(i);
    return Promise.allSettled(this.#states.map((s) => s.instance.dispose()));
  }
}
