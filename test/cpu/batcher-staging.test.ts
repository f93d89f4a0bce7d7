/**
 * Batches assembled by the instance as requests arrive (stageOnArrival, BatchBuilder). The fake
 * instance here assembles like the TensorRT one: each add() writes the request at its rows of
 * one of its "device" buffers (one per IO set) at once, and a batch runs from that buffer only.
 * A request assembled at the wrong rows, or a batch that ran with rows it never received, gives
 * wrong results or an error, never a passing test.
 */
import { describe, expect, it } from 'vitest';
import { DynamicBatcher } from '../../lib/batcher/dynamic-batcher.js';
import type { DynamicBatchingOptions } from '../../lib/batcher/types.js';
import type { BackendInstance, BatchBuilder, ModelSignature } from '../../lib/backends/backend.js';
import { TensorRtError } from '../../lib/errors.js';
import { Tensor } from '../../lib/tensor.js';
import { FakeClock, ManualGate, code, flush, rows } from './batcher-helpers.js';

const vals = (t: Tensor) => Array.from(t.data as Float32Array);

interface Event {
  kind: 'add' | 'run' | 'abandon' | 'truncate' | 'done';
  instance: number;
  set: number;
  /** add: the request's first value; run: rows; truncate: requests kept */
  value: number;
  /** the instance was running another batch at the time */
  busy: boolean;
}

/** x float32 [-1, -1] → y = 10x [-1, -1], s = row sums [-1, 1]. */
class AssemblingInstance implements BackendInstance {
  readonly kind = 'fake-assembling';
  readonly signature: ModelSignature = {
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, -1] }],
    outputs: [
      { name: 'y', dtype: 'float32', shape: [-1, -1] },
      { name: 's', dtype: 'float32', shape: [-1, 1] },
    ],
    maxBatchSize: 64,
  };
  readonly batchCapacity: number;
  readonly device: Float32Array[];
  /** per set: the output buffers a run's results are views of (kept until the batcher's done()) */
  readonly outY: Float32Array[];
  readonly outS: Float32Array[];
  readonly inUse: boolean[];
  readonly gate: ManualGate;
  running = 0;
  manual = true;
  failAdd: (() => boolean) | undefined;
  failRun = false;
  disposed = false;

  constructor(
    readonly index: number,
    readonly events: Event[],
    sets: number,
  ) {
    this.batchCapacity = sets;
    this.device = Array.from({ length: sets }, () => new Float32Array(64 * 8));
    this.outY = Array.from({ length: sets }, () => new Float32Array(64 * 8));
    this.outS = Array.from({ length: sets }, () => new Float32Array(64));
    this.inUse = Array.from({ length: sets }, () => false);
    this.gate = new ManualGate(`instance ${index}`);
  }

  get waiting(): number {
    return this.gate.waiting;
  }

  release(): void {
    this.gate.release();
  }

  run(): Promise<Record<string, Tensor>> {
    return Promise.reject(new TensorRtError('ERR_INVALID_ARGUMENT', 'the batcher assembles batches; run() is not used'));
  }

  createBatch(): BatchBuilder {
    if (this.disposed) throw new TensorRtError('ERR_DISPOSED', 'disposed');
    const set = this.inUse.indexOf(false);
    if (set < 0) throw new TensorRtError('ERR_BUSY', `instance ${this.index}: every set is in use`);
    this.inUse[set] = true;
    const dev = this.device[set]!;
    const inst = this;
    let cols = -1;
    let at = 0; // floats written
    const marks: number[] = [];
    let state: 'open' | 'spent' = 'open';
    let holding = false; // ran: the set (and the outputs in it) stays in use until done()
    const done = () => {
      state = 'spent';
      inst.inUse[set] = false;
    };
    const log = (kind: Event['kind'], value: number) => inst.events.push({ kind, instance: inst.index, set, value, busy: inst.running > 0 });
    return {
      get size() {
        return marks.length;
      },
      add(inputs) {
        if (state !== 'open') throw new Error('spent builder');
        const x = inputs.x!;
        if (inst.failAdd?.()) {
          done();
          log('abandon', -1);
          throw new TensorRtError('ERR_CUDA', 'copy failed');
        }
        if (cols === -1) cols = x.dims[1]!;
        if (x.dims[1] !== cols) throw new Error(`shape change inside one batch: ${cols} then ${x.dims[1]}`);
        dev.set(x.data as Float32Array, at);
        at += x.size;
        marks.push(at);
        log('add', (x.data as Float32Array)[0]!);
      },
      truncate(count) {
        marks.length = count;
        at = count === 0 ? 0 : marks[count - 1]!;
        log('truncate', count);
      },
      async run() {
        if (state !== 'open') throw new Error('spent builder');
        const rowsN = at / cols;
        log('run', rowsN);
        inst.running++;
        try {
          if (inst.manual) await inst.gate.wait();
          else await Promise.resolve();
          if (inst.failRun) throw new TensorRtError('ERR_CUDA', 'the batch failed');
          // views of the set's output buffers, as a TensorRT instance returns them: a batch run
          // on this set before the batcher copied them would change these results
          const y = inst.outY[set]!.subarray(0, at);
          const s = inst.outS[set]!.subarray(0, rowsN).fill(0);
          for (let i = 0; i < at; i++) {
            y[i] = dev[i]! * 10;
            s[Math.floor(i / cols)]! += dev[i]!;
          }
          holding = true;
          return { y: new Tensor('float32', y, [rowsN, cols]), s: new Tensor('float32', s, [rowsN, 1]) };
        } finally {
          inst.running--;
          if (holding) state = 'spent';
          else done();
        }
      },
      done() {
        if (!holding) return;
        holding = false;
        inst.inUse[set] = false;
        log('done', 0);
      },
      abandon() {
        if (state === 'spent') return;
        done();
        log('abandon', marks.length);
      },
    };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

function setup(n: number, options: Partial<DynamicBatchingOptions> = {}, extras: { sets?: number; stageOnArrival?: boolean; manual?: boolean } = {}) {
  const clock = new FakeClock();
  const events: Event[] = [];
  const instances = Array.from({ length: n }, (_, i) => new AssemblingInstance(i, events, extras.sets ?? 2));
  for (const i of instances) i.manual = extras.manual ?? true;
  const batcher = new DynamicBatcher(instances, { maxBatchSize: 8, ...options }, { clock, ...(extras.stageOnArrival !== undefined ? { stageOnArrival: extras.stageOnArrival } : {}) });
  const adds = () => events.filter((e) => e.kind === 'add');
  const runs = () => events.filter((e) => e.kind === 'run');
  return { clock, events, instances, batcher, adds, runs };
}

describe('DynamicBatcher: batches assembled by the instance as requests arrive', () => {
  it('requests arriving at an idle instance are added as they come; the formed batch only runs', async () => {
    const { clock, instances, batcher, adds, runs } = setup(2, { maxQueueDelayMicroseconds: 100 });
    const ps = [0, 1, 2].map((i) => batcher.infer({ x: rows(i) }));
    expect(adds().map((e) => [e.instance, e.value])).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
    ]);
    clock.advance(100);
    await flush();
    expect(runs().map((e) => [e.instance, e.value])).toEqual([[0, 3]]);
    expect(adds()).toHaveLength(3); // nothing added again at dispatch
    instances[0]!.release();
    (await Promise.all(ps)).forEach((r, i) => expect(vals(r.y!)).toEqual([i * 10, i * 10]));
    await batcher.close();
  });

  it('while every instance runs a batch, the next is assembled on the one that started first and runs there at once, in its second set', async () => {
    const { instances, batcher, events, runs } = setup(2, { maxBatchSize: 2, maxQueueDelayMicroseconds: 1000 });
    const first = [0, 1].map((i) => batcher.infer({ x: rows(i) })); // full: instance 0 at once
    await flush();
    const second = [2, 3].map((i) => batcher.infer({ x: rows(i) })); // full: the idle instance 1
    await flush();
    expect(runs().map((e) => [e.instance, e.set, e.busy])).toEqual([
      [0, 0, false],
      [1, 0, false],
    ]);
    const third = [4, 5].map((i) => batcher.infer({ x: rows(i) })); // both busy: assembled on instance 0, set 1
    const assembledAhead = events.filter((e) => e.kind === 'add' && e.busy);
    expect(assembledAhead.map((e) => [e.instance, e.set, e.value])).toEqual([
      [0, 1, 4],
      [0, 1, 5],
    ]);
    await flush();
    // full: launched behind instance 0's first batch, without waiting for it (as trtexec keeps two in flight)
    expect(runs().at(-1)).toMatchObject({ instance: 0, set: 1, value: 2, busy: true });
    expect(batcher.busyInstances).toBe(2);
    const fourth = [6, 7].map((i) => batcher.infer({ x: rows(i) })); // both sets of instance 0 in use: instance 1's second
    await flush();
    expect(runs().at(-1)).toMatchObject({ instance: 1, set: 1, value: 2, busy: true });
    const fifth = [8, 9].map((i) => batcher.infer({ x: rows(i) })); // every set in use: it waits in the queue
    await flush();
    expect(runs()).toHaveLength(4);
    expect(events.filter((e) => e.kind === 'add')).toHaveLength(8);
    instances[0]!.release(); // instance 0's first batch is done: the fifth runs on its set 0
    await flush();
    expect(runs().at(-1)).toMatchObject({ instance: 0, set: 0, value: 2 });
    instances[0]!.release();
    instances[1]!.release();
    instances[1]!.release();
    instances[0]!.release();
    const res = await Promise.all([...first, ...second, ...third, ...fourth, ...fifth]);
    res.forEach((r, i) => expect(vals(r.y!)).toEqual([i * 10, i * 10]));
    await batcher.close();
  });

  it('a batch assembled on a busy instance while it fills is abandoned when an idle instance takes it; the batch runs there, correctly', async () => {
    const { clock, instances, batcher, events, runs } = setup(2, { maxBatchSize: 4, maxQueueDelayMicroseconds: 1000 });
    const first = [0, 1, 2, 3].map((i) => batcher.infer({ x: rows(i) })); // full: instance 0
    await flush();
    const second = [4, 5, 6, 7].map((i) => batcher.infer({ x: rows(i) })); // full: instance 1
    await flush();
    const third = [8, 9].map((i) => batcher.infer({ x: rows(i) })); // not full: assembled on instance 0 (started first), set 1
    await flush();
    expect(runs()).toHaveLength(2);
    expect(events.filter((e) => e.kind === 'add' && e.busy).map((e) => [e.instance, e.set, e.value])).toEqual([
      [0, 1, 8],
      [0, 1, 9],
    ]);
    instances[1]!.release(); // instance 1 is done first and idle when the queue delay runs out
    await flush();
    clock.advance(1000);
    await flush();
    expect(events.some((e) => e.kind === 'abandon' && e.instance === 0 && e.set === 1)).toBe(true);
    expect(runs().at(-1)).toMatchObject({ instance: 1, value: 2, busy: false });
    instances[1]!.release();
    instances[0]!.release();
    const res = await Promise.all([...first, ...second, ...third]);
    res.forEach((r, i) => expect(vals(r.y!)).toEqual([i * 10, i * 10]));
    await batcher.close();
  });

  it('an instance of one set assembles only while idle: requests that queue while it runs are added when their batch forms', async () => {
    const { clock, instances, batcher, events } = setup(1, { maxBatchSize: 4, maxQueueDelayMicroseconds: 100 }, { sets: 1 });
    const a = batcher.infer({ x: rows(0) });
    clock.advance(100);
    await flush();
    const queued = [1, 2].map((i) => batcher.infer({ x: rows(i) }));
    expect(events.filter((e) => e.kind === 'add')).toHaveLength(1);
    instances[0]!.release();
    await a;
    await flush();
    clock.advance(100);
    await flush();
    expect(events.filter((e) => e.kind === 'add').map((e) => [e.value, e.busy])).toEqual([
      [0, false],
      [1, false],
      [2, false],
    ]);
    instances[0]!.release();
    expect((await Promise.all(queued)).map((r) => vals(r.y!))).toEqual([
      [10, 10],
      [20, 20],
    ]);
    await batcher.close();
  });

  it('aborting a request after it was added abandons that assembly; the batch adds the others again, correctly', async () => {
    const { clock, instances, batcher, events } = setup(1, { maxQueueDelayMicroseconds: 100 });
    const ac = new AbortController();
    const a = batcher.infer({ x: rows(0) });
    const b = batcher.infer({ x: rows(1) }, { signal: ac.signal });
    ac.abort();
    const c = batcher.infer({ x: rows(2) });
    expect(await code(b)).toBe('ERR_ABORTED');
    expect(events.filter((e) => e.kind === 'abandon')).toHaveLength(1);
    clock.advance(100);
    await flush();
    instances[0]!.release();
    expect(vals((await a).y!)).toEqual([0, 0]);
    expect(vals((await c).y!)).toEqual([20, 20]);
    expect(events.filter((e) => e.kind === 'run').map((e) => e.value)).toEqual([2]);
    await batcher.close();
  });

  it('a copy that fails while a request is added leaves its batch to add everything anew; a batch that fails mid-copy fails its requests only', async () => {
    const { clock, instances, batcher } = setup(1, { maxQueueDelayMicroseconds: 100 });
    let fail = false;
    instances[0]!.failAdd = () => fail;
    const a = batcher.infer({ x: rows(0) });
    fail = true;
    const b = batcher.infer({ x: rows(1) }); // its add fails: nothing stays assembled
    fail = false;
    const c = batcher.infer({ x: rows(2) });
    clock.advance(100);
    await flush();
    instances[0]!.release();
    expect((await Promise.all([a, b, c])).map((r) => vals(r.y!))).toEqual([
      [0, 0],
      [10, 10],
      [20, 20],
    ]);
    // Now every add fails: at dispatch too. The batch fails with ERR_BACKEND; the instance serves again afterwards.
    let n = 0;
    instances[0]!.failAdd = () => n++ < 100;
    const d = code(batcher.infer({ x: rows(3) }));
    clock.advance(100);
    await flush();
    expect(await d).toBe('ERR_BACKEND');
    instances[0]!.failAdd = undefined;
    const e = batcher.infer({ x: rows(4) });
    clock.advance(100);
    await flush();
    instances[0]!.release();
    expect(vals((await e).y!)).toEqual([40, 40]);
    await batcher.close();
  });

  it('a request of higher priority is not added behind lower ones; the batch it leads is assembled anew', async () => {
    const { clock, instances, batcher, events } = setup(1, { maxQueueDelayMicroseconds: 100, priorityLevels: 2, defaultPriorityLevel: 2 });
    const low = [0, 1].map((i) => batcher.infer({ x: rows(i) }));
    const high = batcher.infer({ x: rows(9) }, { priority: 1 });
    expect(events.filter((e) => e.kind === 'add')).toHaveLength(2);
    clock.advance(100);
    await flush();
    // the batch starts with the high-priority request: the assembly of the low ones is abandoned
    expect(events.filter((e) => e.kind === 'add').slice(2).map((e) => e.value)).toEqual([9, 0, 1]);
    instances[0]!.release();
    expect(vals((await high).y!)).toEqual([90, 90]);
    expect((await Promise.all(low)).map((r) => vals(r.y!))).toEqual([
      [0, 0],
      [10, 10],
    ]);
    await batcher.close();
  });

  it('a batch cut at a preferred size keeps the assembled requests it starts with (truncate); the rest wait for a later batch', async () => {
    const { clock, instances, batcher, events, runs } = setup(1, { maxBatchSize: 8, preferredBatchSize: [3], maxQueueDelayMicroseconds: 100 });
    // a and b carry 2 rows each: with b the batch would pass the preferred 3, so a goes alone, at once
    const a = batcher.infer({ x: rows(0, 2) });
    const b = batcher.infer({ x: rows(2, 2) });
    await flush();
    expect(events.filter((e) => e.kind === 'truncate').map((e) => e.value)).toEqual([1]);
    expect(runs().map((e) => e.value)).toEqual([2]);
    instances[0]!.release();
    expect(vals((await a).y!)).toEqual([0, 0, 10, 10]);
    clock.advance(100);
    await flush();
    instances[0]!.release();
    expect(vals((await b).y!)).toEqual([20, 20, 30, 30]);
    await batcher.close();
  });

  it('shapes that change between batches: a request of another shape is not added behind the others and starts its own batch', async () => {
    const { clock, instances, batcher, runs } = setup(1, { maxQueueDelayMicroseconds: 100 });
    const two = [batcher.infer({ x: rows(0, 1, 2) }), batcher.infer({ x: rows(1, 1, 2) })];
    const three = batcher.infer({ x: rows(5, 1, 3) });
    clock.advance(100);
    await flush();
    instances[0]!.release();
    await flush();
    clock.advance(100);
    await flush();
    instances[0]!.release();
    expect((await Promise.all(two)).map((r) => vals(r.y!))).toEqual([
      [0, 0],
      [10, 10],
    ]);
    expect(vals((await three).y!)).toEqual([50, 50, 50]);
    expect(runs().map((e) => e.value)).toEqual([2, 1]);
    await batcher.close();
  });

  it('stageOnArrival: false adds every request when its batch forms', async () => {
    const { clock, instances, batcher, events } = setup(1, { maxQueueDelayMicroseconds: 100 }, { stageOnArrival: false });
    const ps = [batcher.infer({ x: rows(0) }), batcher.infer({ x: rows(1) })];
    expect(events).toHaveLength(0);
    clock.advance(100);
    await flush();
    expect(events.map((e) => e.kind)).toEqual(['add', 'add', 'run']);
    instances[0]!.release();
    expect((await Promise.all(ps)).map((r) => vals(r.y!))).toEqual([
      [0, 0],
      [10, 10],
    ]);
    await batcher.close();
  });

  it('many callers with mixed sizes, priorities and aborts on 2 instances of 2 sets: every result is its own', async () => {
    const { batcher, events } = setup(2, { maxBatchSize: 8, maxQueueDelayMicroseconds: 0, priorityLevels: 2, defaultPriorityLevel: 2 }, { manual: false });
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    let next = 0;
    let checked = 0;
    let aborted = 0;
    async function caller(n: number): Promise<void> {
      for (let k = 0; k < n; k++) {
        const items = 1 + Math.floor(rand() * 3);
        const base = next;
        next += items;
        const ac = new AbortController();
        const p = batcher.infer({ x: rows(base, items) }, { signal: ac.signal, ...(rand() < 0.1 ? { priority: 1 } : {}) });
        if (rand() < 0.05) ac.abort();
        try {
          const r = await p;
          const want: number[] = [];
          for (let i = 0; i < items; i++) want.push((base + i) * 10, (base + i) * 10);
          expect(vals(r.y!)).toEqual(want);
          checked++;
        } catch (e) {
          expect((e as TensorRtError).code).toBe('ERR_ABORTED');
          aborted++;
        }
      }
    }
    await Promise.all(Array.from({ length: 24 }, () => caller(40)));
    expect(checked + aborted).toBe(24 * 40);
    expect(checked).toBeGreaterThan(800);
    // assembly ahead happened, some of it while the instance was busy
    expect(events.some((e) => e.kind === 'add' && e.busy)).toBe(true);
    await batcher.close();
  });

  it('an instance with run() only runs one batch at a time whatever batchCapacity it declares (the concatenation reuses one buffer)', async () => {
    const clock = new FakeClock();
    let running = 0;
    let most = 0;
    const gate = new ManualGate('the run-only instance');
    const runOnly: BackendInstance = {
      kind: 'fake-run-only',
      signature: { inputs: [{ name: 'x', dtype: 'float32', shape: [-1, -1] }], outputs: [{ name: 'y', dtype: 'float32', shape: [-1, -1] }], maxBatchSize: 2 },
      batchCapacity: 2,
      async run(feeds) {
        most = Math.max(most, ++running);
        await gate.wait();
        running--;
        const x = feeds.x!;
        return { y: new Tensor('float32', Float32Array.from(x.data as Float32Array, (v) => v * 10), [...x.dims]) };
      },
      async dispose() {},
    };
    const batcher = new DynamicBatcher([runOnly], { maxBatchSize: 2, maxQueueDelayMicroseconds: 1000 }, { clock });
    const ps = [0, 1, 2, 3].map((i) => batcher.infer({ x: rows(i) })); // two full batches
    await flush();
    expect(gate.waiting).toBe(1); // the second waits for the first
    gate.release();
    await flush();
    expect(gate.waiting).toBe(1);
    gate.release();
    (await Promise.all(ps)).forEach((r, i) => expect(vals(r.y!)).toEqual([i * 10, i * 10]));
    expect(most).toBe(1);
    expect(batcher.statistics().executionCount).toBe(2);
    await batcher.close();
  });
});
