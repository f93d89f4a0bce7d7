/** Test doubles for the batcher: a manual clock and a controllable fake backend instance. */
import type { BatcherClock, TimerHandle } from '../../lib/batcher/clock.js';
import type { BackendInstance, BatchBuilder, ModelSignature, RunOptions } from '../../lib/backends/backend.js';
import { ConcatBatches } from '../../lib/backends/concat-batch.js';
import type { TypedArray } from '../../lib/dtypes.js';
import { TensorRtError } from '../../lib/errors.js';
import { Tensor } from '../../lib/tensor.js';

export class FakeClock implements BatcherClock {
  t = 0;
  private id = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.id;
    this.timers.set(id, { at: this.t + ms * 1000, fn });
    return id;
  }
  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h as number);
  }
  get pendingTimers(): number {
    return this.timers.size;
  }
  /** Move time forward by `us`, firing due timers in order. */
  advance(us: number): void {
    const end = this.t + us;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
  }
}

/** Let promise callbacks and setImmediate work run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}

export interface RunRecord {
  instance: number;
  dims: number[];
  data: number[];
  time: number;
  /** the Float32Array handed to run() for x */
  feed: TypedArray;
}

/** Runs held until the test lets them go, first in, first out (the fake instances' manual mode). */
export class ManualGate {
  readonly #waiters: (() => void)[] = [];

  constructor(readonly name: string) {}

  /** Number of runs waiting for release(). */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves when release() lets this run go. */
  wait(): Promise<void> {
    return new Promise<void>((r) => this.#waiters.push(r));
  }

  /** Lets the run that waited longest go. */
  release(): void {
    const w = this.#waiters.shift();
    if (!w) throw new Error(`${this.name} has no run waiting`);
    w();
  }
}

/**
 * Signature: input x float32 [-1,-1] (batch, features), output y = 10 * x float32 and
 * output s = row sums float32 [-1,1]. Manual mode: run() waits until release(). Outputs are views
 * into one buffer per instance that the next run overwrites (as a TensorRT instance would).
 */
export class FakeInstance implements BackendInstance {
  readonly kind = 'fake';
  readonly signature: ModelSignature;
  manual = false;
  failNext: Error | undefined;
  disposed = 0;
  running = 0;
  private outBuf = new Float32Array(0);
  /** batches are concatenated on the JS thread when they run, as ONNX Runtime's instance does */
  readonly batches: ConcatBatches;
  private readonly gate: ManualGate;

  constructor(
    readonly index: number,
    readonly log: RunRecord[],
    readonly clock: { now(): number },
    maxBatchSize = 64,
    opts: { staticFeatures?: number } = {},
  ) {
    const f = opts.staticFeatures ?? -1;
    const b = maxBatchSize > 0 ? [-1] : [];
    this.signature = {
      inputs: [{ name: 'x', dtype: 'float32', shape: [...b, f] }],
      outputs: [
        { name: 'y', dtype: 'float32', shape: [...b, f] },
        { name: 's', dtype: 'float32', shape: [...b, 1] },
      ],
      maxBatchSize,
    };
    this.batches = new ConcatBatches(this.signature, (feeds, o) => this.run(feeds, o));
    this.gate = new ManualGate(`instance ${index}`);
  }

  createBatch(): BatchBuilder {
    return this.batches.create();
  }

  /** Number of runs waiting for release(). */
  get waiting(): number {
    return this.gate.waiting;
  }

  release(): void {
    this.gate.release();
  }

  async run(feeds: Record<string, Tensor>, _o?: RunOptions): Promise<Record<string, Tensor>> {
    const x = feeds.x as Tensor;
    this.log.push({ instance: this.index, dims: [...x.dims], data: Array.from(x.data as Float32Array), time: this.clock.now(), feed: x.data });
    this.running++;
    try {
      if (this.manual) await this.gate.wait();
      else await Promise.resolve();
      if (this.failNext) {
        const e = this.failNext;
        this.failNext = undefined;
        throw e;
      }
      const n = x.size;
      const rows = x.dims.length > 1 ? (x.dims[0] as number) : 1;
      const cols = n / Math.max(rows, 1);
      if (this.outBuf.length < n + rows) this.outBuf = new Float32Array(n + rows);
      const xd = x.data as Float32Array;
      for (let i = 0; i < n; i++) this.outBuf[i] = xd[i]! * 10;
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += xd[r * cols + c]!;
        this.outBuf[n + r] = s;
      }
      const y = new Tensor('float32', this.outBuf.subarray(0, n), x.dims);
      const s = new Tensor('float32', this.outBuf.subarray(n, n + rows), x.dims.length > 1 ? [rows, 1] : [1]);
      return { y, s };
    } finally {
      this.running--;
    }
  }

  async dispose(): Promise<void> {
    this.disposed++;
  }
}

export function makeInstances(n: number, clock: { now(): number }, maxBatchSize = 64, opts: { staticFeatures?: number } = {}) {
  const log: RunRecord[] = [];
  const instances = Array.from({ length: n }, (_, i) => new FakeInstance(i, log, clock, maxBatchSize, opts));
  return { log, instances };
}

/** A float32 [k, f] tensor whose rows are `base, base+1, ...` filled with the row value. */
export function rows(base: number, k = 1, f = 2): Tensor {
  const a = new Float32Array(k * f);
  for (let r = 0; r < k; r++) a.fill(base + r, r * f, (r + 1) * f);
  return new Tensor('float32', a, [k, f]);
}

/** How a promise settled: 'resolved', or the TensorRtError code it rejected with. */
export async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e instanceof TensorRtError ? e.code : `untyped: ${String(e)}`;
  }
}
