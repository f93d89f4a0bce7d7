import { describe, expect, it } from 'vitest';
import { DynamicBatcher, type BatcherBatchEvent, type BatcherRequestEvent } from '../../lib/batcher/dynamic-batcher.js';
import type { DynamicBatchingOptions } from '../../lib/batcher/types.js';
import { TensorRtError } from '../../lib/errors.js';
import { Tensor } from '../../lib/tensor.js';
import { FakeClock, code, flush, makeInstances, rows } from './batcher-helpers.js';

function setup(n: number, options: Partial<DynamicBatchingOptions> = {}, maxBatchSize = 64, manual = true, extra: { staticFeatures?: number } = {}) {
  const clock = new FakeClock();
  const { log, instances } = makeInstances(n, clock, maxBatchSize, extra);
  for (const i of instances) i.manual = manual;
  const batcher = new DynamicBatcher(instances, { maxBatchSize: options.maxBatchSize ?? 8, ...options }, { clock });
  return { clock, log, instances, batcher };
}

/** Track settlement order of promises by label. */
function track<T>(p: Promise<T>, label: string, order: string[]): Promise<T> {
  p.then(
    () => order.push(label),
    () => order.push(`${label}!`),
  );
  return p;
}

/** A tensor's values as plain numbers. */
const vals = (t: Tensor) => Array.from(t.data as Float32Array);

const sizes = (log: { dims: number[] }[]) => log.map((r) => r.dims[0]);

describe('DynamicBatcher: batch formation', () => {
  it('delay 0: dispatches as soon as an instance is free, batching what queued meanwhile', async () => {
    const { log, instances, batcher } = setup(1);
    const ps = [batcher.infer({ x: rows(0) })];
    expect(sizes(log)).toEqual([1]);
    for (let i = 1; i <= 5; i++) ps.push(batcher.infer({ x: rows(i) }));
    expect(log).toHaveLength(1);
    instances[0]!.release();
    await flush();
    expect(sizes(log)).toEqual([1, 5]);
    expect(log[1]!.data).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    instances[0]!.release();
    const res = await Promise.all(ps);
    res.forEach((r, i) => {
      expect(vals(r.y!)).toEqual([i * 10, i * 10]);
      expect(r.y!.dims).toEqual([1, 2]);
      expect(vals(r.s!)).toEqual([2 * i]);
    });
  });

  it('caps batches at maxBatchSize, counting each request as its dimension 0', async () => {
    const { log, instances, batcher } = setup(1, { maxBatchSize: 4 });
    const ps = [batcher.infer({ x: rows(0) })];
    for (let i = 0; i < 10; i++) ps.push(batcher.infer({ x: rows(i) }));
    ps.push(batcher.infer({ x: rows(100, 3) }), batcher.infer({ x: rows(200, 3) }));
    for (let i = 0; i < 6; i++) {
      if (instances[0]!.waiting) instances[0]!.release();
      await flush();
    }
    await Promise.all(ps);
    // 1, then 4,4,2 (next is 3 items: does not fit), 3, 3
    expect(sizes(log)).toEqual([1, 4, 4, 2, 3, 3]);
    const big = await ps[11]!;
    expect(big.y!.dims).toEqual([3, 2]);
    expect(vals(big.y!)).toEqual([1000, 1000, 1010, 1010, 1020, 1020]);
  });

  it('dispatches at the largest reachable preferred batch size', async () => {
    const { log, instances, batcher, clock } = setup(1, { maxBatchSize: 8, preferredBatchSize: [2, 4], maxQueueDelayMicroseconds: 10_000 });
    const ps = [batcher.infer({ x: rows(0) })];
    expect(log).toHaveLength(0); // 1 item, not preferred: waits
    ps.push(batcher.infer({ x: rows(1) }));
    expect(sizes(log)).toEqual([2]); // preferred 2 reached at once
    for (let i = 2; i < 7; i++) ps.push(batcher.infer({ x: rows(i) }));
    instances[0]!.release();
    await flush();
    expect(sizes(log)).toEqual([2, 4]); // 5 queued: largest preferred reachable is 4
    instances[0]!.release();
    await flush();
    expect(log).toHaveLength(2); // 1 left, waits for the delay
    clock.advance(9_999);
    expect(log).toHaveLength(2);
    clock.advance(1);
    expect(sizes(log)).toEqual([2, 4, 1]);
    expect(log[2]!.time).toBe(10_000);
    instances[0]!.release();
    await Promise.all(ps);
  });

  it('waits maxQueueDelay for the oldest request, unless the batch reaches maxBatchSize', async () => {
    const { log, instances, batcher, clock } = setup(1, { maxBatchSize: 4, maxQueueDelayMicroseconds: 5_000 });
    const ps = [batcher.infer({ x: rows(0) })];
    clock.advance(2_000);
    ps.push(batcher.infer({ x: rows(1) }), batcher.infer({ x: rows(2) }));
    clock.advance(2_999);
    expect(log).toHaveLength(0);
    clock.advance(1);
    expect(sizes(log)).toEqual([3]);
    expect(log[0]!.time).toBe(5_000);
    instances[0]!.release();
    await flush();
    for (let i = 0; i < 4; i++) ps.push(batcher.infer({ x: rows(i) }));
    expect(sizes(log)).toEqual([3, 4]); // full: no waiting
    expect(log[1]!.time).toBe(5_000);
    instances[0]!.release();
    await Promise.all(ps);
  });

  it('only batches requests whose non-batch dimensions agree', async () => {
    const { log, instances, batcher } = setup(1);
    const ps = [batcher.infer({ x: rows(0) })];
    ps.push(batcher.infer({ x: rows(1, 1, 4) }), batcher.infer({ x: rows(2, 1, 4) }), batcher.infer({ x: rows(3, 1, 3) }), batcher.infer({ x: rows(4, 1, 4) }));
    for (let i = 0; i < 4; i++) {
      instances[0]!.release();
      await flush();
    }
    const res = await Promise.all(ps);
    expect(log.map((r) => r.dims)).toEqual([[1, 2], [2, 4], [1, 3], [1, 4]]);
    expect(vals(res[3]!.y!)).toEqual([30, 30, 30]);
  });

  it('runs one request per execution when the model has no batch dimension', async () => {
    const clock = new FakeClock();
    const { log, instances } = makeInstances(1, clock, 0, { staticFeatures: 2 });
    instances[0]!.manual = true;
    const b = new DynamicBatcher(instances, { maxBatchSize: 0 }, { clock });
    expect(b.signature.maxBatchSize).toBe(0);
    const ps = [1, 2, 3].map((v) => b.infer({ x: new Tensor('float32', new Float32Array([v, v]), [2]) }));
    for (let i = 0; i < 3; i++) {
      instances[0]!.release();
      await flush();
    }
    const res = await Promise.all(ps);
    expect(log.map((r) => r.dims)).toEqual([[2], [2], [2]]);
    expect(res.map((r) => vals(r.y!))).toEqual([[10, 10], [20, 20], [30, 30]]);
    expect(await code(b.infer({ x: new Tensor('float32', new Float32Array(3), [3]) }))).toBe('ERR_SHAPE_MISMATCH');
  });

  it('runs N batches concurrently on N instances, each on the first free instance', async () => {
    const { log, instances, batcher } = setup(2);
    const ps = [batcher.infer({ x: rows(0) }), batcher.infer({ x: rows(1) }), batcher.infer({ x: rows(2) }), batcher.infer({ x: rows(3) })];
    expect(log.map((r) => r.instance)).toEqual([0, 1]);
    expect(instances[0]!.running + instances[1]!.running).toBe(2);
    instances[1]!.release();
    await flush();
    expect(log.map((r) => r.instance)).toEqual([0, 1, 1]);
    expect(log[2]!.dims[0]).toBe(2);
    instances[0]!.release();
    instances[1]!.release();
    await Promise.all(ps);
    // both free now: the next batch goes to instance 0
    const p = batcher.infer({ x: rows(9) });
    expect(log.at(-1)!.instance).toBe(0);
    instances[0]!.release();
    await p;
  });
  it('an instance that just answered several callers waits one loop turn for them before sending a partial batch', async () => {
    // Two instances busy with full batches and a request that waited out the queue delay behind
    // them. When instance 0 answers its 4 callers, they come straight back (closed loop): the
    // next batch takes them with the old request (4 items), instead of sending the old one alone.
    const { log, instances, batcher, clock } = setup(2, { maxBatchSize: 4, maxQueueDelayMicroseconds: 100 });
    const again = (v: number): Promise<unknown> => batcher.infer({ x: rows(v) }).then(() => batcher.infer({ x: rows(v + 100) }));
    const ps = [0, 1, 2, 3].map(again);
    ps.push(...[4, 5, 6, 7].map((v) => batcher.infer({ x: rows(v) })));
    ps.push(batcher.infer({ x: rows(8) }));
    expect(sizes(log)).toEqual([4, 4]);
    clock.advance(200); // request 8 has waited past the delay
    instances[0]!.release();
    await flush();
    expect(sizes(log)).toEqual([4, 4, 4]);
    expect(log[2]!.data.filter((_, i) => i % 2 === 0)).toEqual([8, 100, 101, 102]);
    instances[0]!.release();
    clock.advance(100); // the leftover (103) goes once its own delay is over
    await flush();
    expect(sizes(log)).toEqual([4, 4, 4, 1]);
    instances[0]!.release();
    instances[1]!.release();
    await Promise.all(ps);
  });

  it('a lone request answered does not hold its instance back', async () => {
    const { log, instances, batcher } = setup(1, { maxBatchSize: 4 });
    await Promise.all([batcher.infer({ x: rows(0) }), Promise.resolve().then(() => instances[0]!.release())]);
    const p = batcher.infer({ x: rows(1) });
    expect(sizes(log)).toEqual([1, 1]); // dispatched at once, no loop turn in between
    instances[0]!.release();
    await p;
  });
});

describe('DynamicBatcher: the queue fast path', () => {
  // One level, one shape, no preferred sizes: formBatch answers "wait" without scanning the
  // queue. preferredBatchSize [maxBatchSize] decides exactly the same, but takes the full scan:
  // the same random script (arrivals of 1..3 items, aborts, timeouts both ways, runs finishing
  // at random times) must give the same batches at the same times and the same outcomes.
  for (const timeoutAction of ['reject', 'delay'] as const) {
    it(`decides as the full scan does (seeded random script, timeouts ${timeoutAction})`, async () => {
      const play = async (preferred: boolean) => {
        let seed = 12345;
        const rnd = (n: number) => {
          seed = (seed * 1103515245 + 12345) % 2147483648;
          return seed % n;
        };
        const policy = { defaultTimeoutMicroseconds: 700, timeoutAction };
        const { clock, log, instances, batcher } = setup(
          2,
          { maxBatchSize: 8, maxQueueDelayMicroseconds: 300, defaultQueuePolicy: policy, ...(preferred ? { preferredBatchSize: [8] } : {}) },
          8,
          true,
          { staticFeatures: 2 },
        );
        const outcomes: string[] = [];
        const pending: Promise<unknown>[] = [];
        for (let i = 0; i < 400; i++) {
          clock.advance(rnd(120));
          const ac = new AbortController();
          const p = batcher.infer({ x: rows(i * 10, 1 + rnd(3)) }, { signal: ac.signal });
          pending.push(p.then((r) => outcomes.push(`${i}:${vals(r.s!).join(',')}@${clock.now()}`), (e) => outcomes.push(`${i}!${(e as TensorRtError).code}@${clock.now()}`)));
          if (rnd(25) === 0) ac.abort();
          for (const inst of instances) if (inst.waiting > 0 && rnd(7) === 0) inst.release();
          await flush();
        }
        for (let k = 0; k < 200 && (instances.some((x) => x.waiting > 0) || clock.pendingTimers > 0); k++) {
          clock.advance(200);
          for (const inst of instances) while (inst.waiting > 0) inst.release();
          await flush();
        }
        await Promise.all(pending);
        await batcher.close();
        return { runs: log.map((r) => `${r.instance}:${r.dims[0]}@${r.time}:${r.data[0]}`), outcomes };
      };
      const fast = await play(false);
      const full = await play(true);
      const count = (what: string) => fast.outcomes.filter((o) => o.includes(what)).length;
      console.log(`fast path script (${timeoutAction}): ${fast.runs.length} batches, ${count(':')} served, ${count('!ERR_ABORTED')} aborted, ${count('!ERR_TIMEOUT')} timed out`);
      expect(fast.runs.length).toBeGreaterThan(50);
      expect(fast.outcomes.some((o) => o.includes('!ERR_ABORTED'))).toBe(true);
      if (timeoutAction === 'reject') expect(fast.outcomes.some((o) => o.includes('!ERR_TIMEOUT'))).toBe(true);
      expect(fast.runs).toEqual(full.runs);
      expect(fast.outcomes).toEqual(full.outcomes);
    });
  }
});

describe('DynamicBatcher: caller-provided output buffers', () => {
  it('copies each request\'s rows into its own buffers and returns tensors over them', async () => {
    const { log, batcher, clock } = setup(1, { maxBatchSize: 8, maxQueueDelayMicroseconds: 1000 }, 64, false);
    const yBuf = [new Float32Array(4), new Float32Array(8)];
    const sBuf = [new Float32Array(2), new Float32Array(3)];
    const both = Promise.all([
      batcher.infer({ x: rows(1, 2) }, { outputBuffers: { y: yBuf[0]!, s: sBuf[0]! } }),
      batcher.infer({ x: rows(3, 2) }, { outputBuffers: { y: yBuf[1]!, s: sBuf[1]! } }),
    ]);
    clock.advance(1000);
    const [a, b] = await both;
    expect(sizes(log)).toEqual([4]);
    expect(a!.y!.data).toBe(yBuf[0]); // exactly its size: the buffer itself
    expect(vals(a!.y!)).toEqual([10, 10, 20, 20]);
    expect(a!.y!.dims).toEqual([2, 2]);
    expect(b!.y!.data.buffer).toBe(yBuf[1]!.buffer); // larger: a view of its first rows
    expect(vals(b!.y!)).toEqual([30, 30, 40, 40]);
    expect(Array.from(yBuf[1]!)).toEqual([30, 30, 40, 40, 0, 0, 0, 0]);
    expect(vals(a!.s!)).toEqual([2, 4]);
    expect(vals(b!.s!)).toEqual([6, 8]);
    expect(b!.s!.data.buffer).toBe(sBuf[1]!.buffer);
  });

  it('rejects bad output buffers at submission with typed codes; a buffer too small for a dynamic output fails that request alone', async () => {
    const { batcher, clock } = setup(1, { maxBatchSize: 8, maxQueueDelayMicroseconds: 1000 }, 64, false);
    expect(await code(batcher.infer({ x: rows(1) }, { outputBuffers: { nope: new Float32Array(2) } }))).toBe('ERR_UNKNOWN_TENSOR');
    expect(await code(batcher.infer({ x: rows(1) }, { outputBuffers: { s: new Int32Array(1) } }))).toBe('ERR_DTYPE_MISMATCH');
    expect(await code(batcher.infer({ x: rows(1) }, { outputBuffers: { s: [0] as unknown as Float32Array } }))).toBe('ERR_DTYPE_MISMATCH');
    expect(await code(batcher.infer({ x: rows(1, 3) }, { outputBuffers: { s: new Float32Array(2) } }))).toBe('ERR_SHAPE_MISMATCH'); // s: [3,1]
    expect(await code(batcher.infer({ x: rows(1) }, { outputs: ['y'], outputBuffers: { s: new Float32Array(1) } }))).toBe('ERR_INVALID_ARGUMENT');
    // y is [-1,-1]: known only after the run
    const settled = Promise.allSettled([
      batcher.infer({ x: rows(1) }, { outputBuffers: { y: new Float32Array(1) } }),
      batcher.infer({ x: rows(2) }, { outputBuffers: { y: new Float32Array(2) } }),
    ]);
    clock.advance(1000);
    const [small, fine] = await settled;
    expect(small.status).toBe('rejected');
    expect(((small as PromiseRejectedResult).reason as TensorRtError).code).toBe('ERR_SHAPE_MISMATCH');
    expect(fine.status).toBe('fulfilled');
    expect(vals((fine as PromiseFulfilledResult<Record<string, Tensor>>).value.y!)).toEqual([20, 20]);
    const s = batcher.statistics();
    expect(s.executionCount).toBe(1);
    expect(s.success.count).toBe(1);
  });
});

describe('DynamicBatcher: priorities, ordering, timeouts, aborts', () => {
  it('takes higher priority (lower number) requests first', async () => {
    const { log, instances, batcher } = setup(1, { maxBatchSize: 1, priorityLevels: 3, defaultPriorityLevel: 2 });
    const ps = [batcher.infer({ x: rows(0) })];
    ps.push(batcher.infer({ x: rows(3) }, { priority: 3 }));
    ps.push(batcher.infer({ x: rows(2) }));
    ps.push(batcher.infer({ x: rows(1) }, { priority: 1 }));
    ps.push(batcher.infer({ x: rows(11) }, { priority: 1 }));
    for (let i = 0; i < 5; i++) {
      instances[0]!.release();
      await flush();
    }
    await Promise.all(ps);
    expect(log.map((r) => r.data[0])).toEqual([0, 1, 11, 2, 3]);
    expect(await code(batcher.infer({ x: rows(0) }, { priority: 4 }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('without preserveOrdering, responses come as batches finish', async () => {
    const { instances, batcher } = setup(2);
    const order: string[] = [];
    const a = track(batcher.infer({ x: rows(0) }), 'a', order);
    const b = track(batcher.infer({ x: rows(1) }), 'b', order);
    instances[1]!.release();
    await b;
    expect(order).toEqual(['b']);
    instances[0]!.release();
    await a;
    expect(order).toEqual(['b', 'a']);
  });

  it('with preserveOrdering, responses come in arrival order even when batches finish out of order', async () => {
    const { instances, batcher } = setup(2, { preserveOrdering: true, maxBatchSize: 2 });
    const order: string[] = [];
    const a = track(batcher.infer({ x: rows(0) }), 'a', order);
    const b = track(batcher.infer({ x: rows(1) }), 'b', order);
    const c = track(batcher.infer({ x: rows(2) }), 'c', order);
    const d = track(batcher.infer({ x: rows(3) }), 'd', order);
    instances[1]!.release(); // b done
    await flush();
    expect(order).toEqual([]); // a still running
    // c+d were batched onto instance 1 after b
    instances[1]!.release();
    await flush();
    expect(order).toEqual([]);
    instances[0]!.release();
    await Promise.all([a, b, c, d]);
    await flush();
    expect(order).toEqual(['a', 'b', 'c', 'd']);
    expect(vals((await d).y!)).toEqual([30, 30]);
  });

  it("timeoutAction 'reject': a request that waits past its timeout fails with ERR_TIMEOUT and never runs", async () => {
    const { log, instances, batcher, clock } = setup(1, { defaultQueuePolicy: { defaultTimeoutMicroseconds: 1_000 } });
    const first = batcher.infer({ x: rows(0) }); // runs at once, does not time out
    const late = batcher.infer({ x: rows(1) });
    const lateCode = code(late);
    clock.advance(999);
    await flush();
    expect(batcher.statistics().pendingRequests).toBe(1);
    clock.advance(1);
    expect(await lateCode).toBe('ERR_TIMEOUT');
    expect(batcher.statistics().pendingRequests).toBe(0);
    instances[0]!.release();
    await first;
    await flush();
    expect(log).toHaveLength(1);
    expect(batcher.statistics().fail.count).toBe(1);
  });

  it("timeoutAction 'delay': a timed-out request is moved behind all others and still served", async () => {
    const { log, instances, batcher, clock } = setup(1, {
      maxBatchSize: 1,
      priorityLevels: 2,
      defaultPriorityLevel: 1,
      priorityQueuePolicy: { 1: { defaultTimeoutMicroseconds: 1_000, timeoutAction: 'delay' } },
    });
    const ps = [batcher.infer({ x: rows(0) })];
    ps.push(batcher.infer({ x: rows(1) })); // level 1, will time out
    clock.advance(1_000);
    ps.push(batcher.infer({ x: rows(2) })); // level 1, fresh
    ps.push(batcher.infer({ x: rows(3) }, { priority: 2 })); // lower level, but not delayed
    for (let i = 0; i < 4; i++) {
      instances[0]!.release();
      await flush();
    }
    const res = await Promise.all(ps);
    expect(log.map((r) => r.data[0])).toEqual([0, 2, 3, 1]);
    expect(vals(res[1]!.y!)).toEqual([10, 10]);
  });

  it('allowTimeoutOverride lets a request set a shorter timeout, never a longer one', async () => {
    const mk = (allow: boolean) => setup(1, { defaultQueuePolicy: { defaultTimeoutMicroseconds: 10_000, allowTimeoutOverride: allow } });
    {
      const { batcher, clock, instances } = mk(true);
      const running = batcher.infer({ x: rows(0) });
      const short = code(batcher.infer({ x: rows(1) }, { timeoutMicroseconds: 1_000 }));
      const long = code(batcher.infer({ x: rows(1, 1, 3) }, { timeoutMicroseconds: 50_000 }));
      clock.advance(1_000);
      expect(await short).toBe('ERR_TIMEOUT');
      clock.advance(9_000);
      expect(await long).toBe('ERR_TIMEOUT'); // capped by the default
      instances[0]!.release();
      await running;
    }
    {
      const { batcher, clock, instances } = mk(false);
      const running = batcher.infer({ x: rows(0) });
      const order: string[] = [];
      const p = track(batcher.infer({ x: rows(1) }, { timeoutMicroseconds: 1_000 }), 'p', order);
      const pc = code(p);
      clock.advance(5_000);
      await flush();
      expect(order).toEqual([]); // override ignored
      clock.advance(5_000);
      expect(await pc).toBe('ERR_TIMEOUT');
      instances[0]!.release();
      await running;
    }
  });

  it('abort before dispatch removes the request: ERR_ABORTED, never run', async () => {
    const { log, instances, batcher } = setup(1);
    const running = batcher.infer({ x: rows(0) });
    const ac = new AbortController();
    const aborted = batcher.infer({ x: rows(1) }, { signal: ac.signal });
    const kept = batcher.infer({ x: rows(2) });
    ac.abort();
    expect(await code(aborted)).toBe('ERR_ABORTED');
    instances[0]!.release();
    await flush();
    instances[0]!.release();
    await Promise.all([running, kept]);
    expect(log.map((r) => r.data[0])).toEqual([0, 2]);
    // already-aborted signal: rejected at submission
    expect(await code(batcher.infer({ x: rows(3) }, { signal: AbortSignal.abort() }))).toBe('ERR_ABORTED');
    expect(log).toHaveLength(2);
  });

  it('abort while the batch runs fails only that request', async () => {
    const { log, instances, batcher } = setup(1);
    const first = batcher.infer({ x: rows(0) });
    const ac = new AbortController();
    const a = batcher.infer({ x: rows(1) });
    const b = batcher.infer({ x: rows(2) }, { signal: ac.signal });
    const c = batcher.infer({ x: rows(3) });
    instances[0]!.release();
    await flush();
    expect(sizes(log)).toEqual([1, 3]);
    ac.abort();
    expect(await code(b)).toBe('ERR_ABORTED'); // before the batch finished
    expect(instances[0]!.waiting).toBe(1);
    instances[0]!.release();
    const [ra, rc] = await Promise.all([a, c]);
    expect(vals(ra.y!)).toEqual([10, 10]);
    expect(vals(rc.y!)).toEqual([30, 30]);
    await first;
    const s = batcher.statistics();
    expect(s.success.count).toBe(3);
    expect(s.fail.count).toBe(1);
  });

  it('rejects with ERR_QUEUE_FULL when a level queue is at maxQueueSize', async () => {
    const { instances, batcher } = setup(1, { priorityLevels: 2, defaultPriorityLevel: 1, priorityQueuePolicy: { 1: { maxQueueSize: 2 } } });
    const ps = [batcher.infer({ x: rows(0) })]; // running, not queued
    ps.push(batcher.infer({ x: rows(1) }), batcher.infer({ x: rows(2) }));
    expect(await code(batcher.infer({ x: rows(3) }))).toBe('ERR_QUEUE_FULL');
    ps.push(batcher.infer({ x: rows(4) }, { priority: 2 })); // the other level is unbounded
    instances[0]!.release();
    await flush();
    instances[0]!.release();
    const res = await Promise.all(ps);
    expect(res).toHaveLength(4);
    expect(batcher.statistics().fail.count).toBe(1);
  });
});

describe('DynamicBatcher: failures, validation, close', () => {
  it('a backend that throws fails exactly that batch; the instance is reused', async () => {
    const { log, instances, batcher } = setup(1);
    const ok1 = batcher.infer({ x: rows(0) });
    const bad = [batcher.infer({ x: rows(1) }), batcher.infer({ x: rows(2) })];
    instances[0]!.release();
    await ok1;
    instances[0]!.failNext = new Error('kaboom in kernel');
    const after = batcher.infer({ x: rows(3) }); // queued behind the failing batch
    instances[0]!.release();
    for (const p of bad) {
      const e = await p.then(
        () => undefined,
        (x: unknown) => x as TensorRtError,
      );
      expect(e?.code).toBe('ERR_BACKEND');
      expect(e?.message).toContain('kaboom in kernel');
      expect((e?.cause as Error).message).toBe('kaboom in kernel');
    }
    await flush();
    instances[0]!.release();
    expect(vals((await after).y!)).toEqual([30, 30]);
    expect(log.map((r) => r.instance)).toEqual([0, 0, 0]);
    const s = batcher.statistics();
    expect([s.success.count, s.fail.count, s.executionCount]).toEqual([2, 2, 3]);
  });

  it('rejects bad requests at submission with typed codes', async () => {
    const { batcher, log } = setup(1, { maxBatchSize: 4 }, 64, false, { staticFeatures: 2 });
    const f = (d: number[], v = new Float32Array(d.reduce((a, b) => a * b, 1))) => new Tensor('float32', v, d);
    expect(await code(batcher.infer({ x: f([1, 2]), nope: f([1, 2]) }))).toBe('ERR_UNKNOWN_TENSOR');
    expect(await code(batcher.infer({}))).toBe('ERR_MISSING_TENSOR');
    expect(await code(batcher.infer({ x: new Tensor('int32', new Int32Array(2), [1, 2]) }))).toBe('ERR_DTYPE_MISMATCH');
    expect(await code(batcher.infer({ x: f([2]) }))).toBe('ERR_SHAPE_MISMATCH'); // rank
    expect(await code(batcher.infer({ x: f([1, 3]) }))).toBe('ERR_SHAPE_MISMATCH'); // static dim
    expect(await code(batcher.infer({ x: f([0, 2]) }))).toBe('ERR_SHAPE_MISMATCH'); // empty batch
    expect(await code(batcher.infer({ x: f([5, 2]) }))).toBe('ERR_BATCH_TOO_LARGE');
    expect(await code(batcher.infer({ x: f([1, 2]) }, { outputs: ['zz'] }))).toBe('ERR_UNKNOWN_TENSOR');
    expect(await code(batcher.infer({ x: 'no' as unknown as Tensor }))).toBe('ERR_INVALID_ARGUMENT');
    expect(log).toHaveLength(0);
    expect(batcher.statistics().fail.count).toBe(9);
    const r = await batcher.infer({ x: f([4, 2]) }, { outputs: ['s'] });
    expect(Object.keys(r)).toEqual(['s']);
    await batcher.close();
    expect(await code(batcher.infer({ x: f([1, 2]) }))).toBe('ERR_CLOSED');
  });

  it('rejects bad configurations with ERR_CONFIG', () => {
    const clock = new FakeClock();
    const { instances } = makeInstances(1, clock, 8);
    const bad: DynamicBatchingOptions[] = [
      { maxBatchSize: 16 }, // above the model's 8
      { maxBatchSize: 8, preferredBatchSize: [9] },
      { maxBatchSize: 8, priorityLevels: 2, defaultPriorityLevel: 3 },
      { maxBatchSize: 8, priorityLevels: 2, priorityQueuePolicy: { 5: {} } },
      { maxBatchSize: -1 },
      { maxBatchSize: 1.5 },
      // each level is a queue built up front: 2^32 - 1 levels would exhaust the heap
      { maxBatchSize: 8, priorityLevels: 4294967295 },
      { maxBatchSize: 8, priorityLevels: 1025 },
      { maxBatchSize: 8, priorityLevels: -3 },
      // past the longest timer Node arms (less a ms): refused, not wrapped by Node's 2^31 - 1 ms timers
      { maxBatchSize: 8, maxQueueDelayMicroseconds: (2 ** 31 - 2) * 1000 + 1 },
      { maxBatchSize: 8, maxQueueDelayMicroseconds: Number.NaN },
      { maxBatchSize: 8, defaultQueuePolicy: { defaultTimeoutMicroseconds: 2 ** 53 } },
      { maxBatchSize: 8, defaultQueuePolicy: { maxQueueSize: 1e12 } },
      { maxBatchSize: 8, preferredBatchSize: 3 as unknown as number[] },
    ];
    for (const o of bad) expect(() => new DynamicBatcher(instances, o, { clock }), JSON.stringify(o)).toThrowError(expect.objectContaining({ code: 'ERR_CONFIG' }));
    const { instances: noBatch } = makeInstances(1, clock, 0);
    expect(() => new DynamicBatcher(noBatch, { maxBatchSize: 4 })).toThrowError(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() => new DynamicBatcher([], { maxBatchSize: 4 })).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('delays and timeouts longer than a Node timer holds (2^31 - 1 ms) are reached in steps, never re-armed every millisecond', async () => {
    const clock = new FakeClock();
    const delays: number[] = [];
    const setTimeout = clock.setTimeout.bind(clock);
    clock.setTimeout = (fn, ms) => (delays.push(ms), setTimeout(fn, ms));
    const { instances } = makeInstances(1, clock, 8);
    instances[0]!.manual = false;
    const day = 86_400_000_000;
    const batcher = new DynamicBatcher(instances, { maxBatchSize: 8, maxQueueDelayMicroseconds: day, defaultQueuePolicy: { allowTimeoutOverride: true } }, { clock });
    // a request's own timeout far beyond the timer limit (2^31 ms is about 24.9 days)
    const p = batcher.infer({ x: rows(3) }, { timeoutMicroseconds: 5e12 });
    expect(delays.at(-1)).toBe(day / 1000);
    clock.advance(day - 1);
    await flush();
    expect(delays.length).toBeLessThan(5);
    clock.advance(1);
    await flush();
    expect(vals((await p).y!)).toEqual([30, 30]);
    for (const d of delays) expect(d).toBeLessThanOrEqual(2_147_483_647);
    await batcher.close();
  });

  it('an instance with run() alone (a custom backend, no createBatch): requests are concatenated for it, results exact', async () => {
    const runs: number[][] = [];
    const plain = {
      kind: 'custom',
      signature: { inputs: [{ name: 'x', dtype: 'float32' as const, shape: [-1, 2] }], outputs: [{ name: 'y', dtype: 'float32' as const, shape: [-1, 2] }], maxBatchSize: 8 },
      run: async (feeds: Record<string, Tensor>) => {
        runs.push(feeds.x!.dims as number[]);
        const x = feeds.x!.data as Float32Array;
        return { y: new Tensor('float32', x.map((v) => v * 10), feeds.x!.dims) };
      },
      dispose: async () => {},
    };
    const batcher = new DynamicBatcher([plain], { maxBatchSize: 8, maxQueueDelayMicroseconds: 1000 });
    const res = await Promise.all([batcher.infer({ x: rows(1) }), batcher.infer({ x: rows(2, 2) }), batcher.infer({ x: rows(7) })]);
    expect(res.map((r) => vals(r.y!))).toEqual([[10, 10], [20, 20, 30, 30], [70, 70]]);
    expect(runs.reduce((a, d) => a + d[0]!, 0)).toBe(4);
    expect(runs.length).toBeLessThan(3); // batched, not one run per request
    await batcher.close();
  });

  it('maxBatchSize 0 on a model that batches: Triton\'s default scheduler, each request its own execution with its own rows', async () => {
    const { instances, batcher, log } = setup(2, { maxBatchSize: 0 }, 8, false);
    expect(batcher.signature.maxBatchSize).toBe(8); // a request may still carry up to 8 rows
    const ps = [batcher.infer({ x: rows(0, 3) }), batcher.infer({ x: rows(5, 1) }), batcher.infer({ x: rows(7, 2) }), batcher.infer({ x: rows(1, 8) })];
    const res = await Promise.all(ps);
    expect(log.map((r) => r.dims[0])).toEqual([3, 1, 2, 8]);
    expect(res.map((r) => r.y!.dims)).toEqual([
      [3, 2],
      [1, 2],
      [2, 2],
      [8, 2],
    ]);
    expect(vals(res[2]!.y!)).toEqual([70, 70, 80, 80]);
    expect(await code(batcher.infer({ x: rows(0, 9) }))).toBe('ERR_BATCH_TOO_LARGE');
    expect(instances.every((i) => i.running === 0)).toBe(true);
    await batcher.close();
  });

  it('close({drain: true}) finishes the queue, then disposes instances; idempotent', async () => {
    const { instances, batcher, clock, log } = setup(2, { maxQueueDelayMicroseconds: 1_000_000, preferredBatchSize: [8] });
    const ps = [1, 2, 3].map((v) => batcher.infer({ x: rows(v) }));
    expect(log).toHaveLength(0); // waiting for the delay
    const closed = batcher.close();
    expect(batcher.close()).toBe(closed);
    await flush();
    expect(sizes(log)).toEqual([3]); // closing flushes at once
    let done = false;
    void closed.then(() => (done = true));
    await flush();
    expect(done).toBe(false);
    expect(instances[0]!.disposed).toBe(0);
    instances[0]!.release();
    await closed;
    expect((await Promise.all(ps)).map((r) => r.y!.data[0])).toEqual([10, 20, 30]);
    expect(instances.map((i) => i.disposed)).toEqual([1, 1]);
    expect(clock.pendingTimers).toBe(0);
    expect(await code(batcher.infer({ x: rows(0) }))).toBe('ERR_CLOSED');
  });

  it('close({drain: false}) rejects queued requests with ERR_CLOSED and lets running ones finish', async () => {
    const { instances, batcher } = setup(1, { priorityLevels: 2, defaultQueuePolicy: { defaultTimeoutMicroseconds: 10, timeoutAction: 'delay' } });
    const running = batcher.infer({ x: rows(0) });
    const queued = [batcher.infer({ x: rows(1) }), batcher.infer({ x: rows(2) }, { priority: 1 })];
    const codes = Promise.all(queued.map(code));
    const closed = batcher.close({ drain: false });
    expect(await codes).toEqual(['ERR_CLOSED', 'ERR_CLOSED']);
    instances[0]!.release();
    await closed;
    expect(vals((await running).y!)).toEqual([0, 0]);
    expect(instances[0]!.disposed).toBe(1);
    expect(batcher.statistics().pendingRequests).toBe(0);
  });
});

describe('DynamicBatcher: buffers, statistics, listeners', () => {
  it('copies outputs out of the backend buffers, which the next run overwrites', async () => {
    const { instances, batcher } = setup(1);
    const a = batcher.infer({ x: rows(1) });
    instances[0]!.release();
    const ra = await a;
    const b = batcher.infer({ x: rows(7) });
    instances[0]!.release();
    await b;
    expect(vals(ra.y!)).toEqual([10, 10]);
  });

  it('concatenates batches into a per-instance buffer that stops allocating in steady state', async () => {
    const { instances, batcher } = setup(1, { maxBatchSize: 8 });
    const round = async (n: number) => {
      await flush(); // the instance that answered the last round's batch takes a partial one again
      const ps = [batcher.infer({ x: rows(0) })];
      for (let i = 0; i < n; i++) ps.push(batcher.infer({ x: rows(i) }));
      instances[0]!.release();
      await flush();
      instances[0]!.release();
      return Promise.all(ps);
    };
    await round(8);
    const warm = instances[0]!.batches.allocations;
    expect(warm).toBe(1);
    for (let i = 0; i < 5; i++) {
      const res = await round(2 + i);
      expect(res.at(-1)!.y!.data[0]).toBe(10 * (1 + i));
    }
    expect(instances[0]!.batches.allocations).toBe(warm);
  });

  it('statistics() and listeners report Triton-style counts and durations', async () => {
    const { instances, batcher, clock } = setup(1, { maxQueueDelayMicroseconds: 100 });
    const reqs: BatcherRequestEvent[] = [];
    const batches: BatcherBatchEvent[] = [];
    const off = batcher.addListener({ onRequest: (e) => reqs.push(e), onBatch: (e) => batches.push(e) });
    const ps = [batcher.infer({ x: rows(0, 2) }), batcher.infer({ x: rows(2) })];
    clock.advance(100); // dispatch after 100 µs in the queue
    clock.advance(50);
    instances[0]!.release();
    await Promise.all(ps);
    await code(batcher.infer({ x: rows(0, 99) }));
    const s = batcher.statistics();
    expect(s.success.count).toBe(2);
    expect(s.fail.count).toBe(1);
    expect(s.queue).toEqual({ count: 2, ns: 200_000 });
    expect(s.computeInfer).toEqual({ count: 2, ns: 100_000 });
    expect(s.inferenceCount).toBe(3);
    expect(s.executionCount).toBe(1);
    expect(s.batchStats.map((b) => [b.batchSize, b.computeInfer.count, b.computeInfer.ns])).toEqual([[3, 1, 50_000]]);
    expect(s.lastInference).toBeGreaterThan(0);
    expect(batches).toEqual([
      { instance: 0, batchSize: 3, requests: 2, ok: true, computeInputMicroseconds: 0, computeInferMicroseconds: 50, computeOutputMicroseconds: 0 },
    ]);
    expect(reqs.map((r) => [r.status, r.items, r.queueMicroseconds, r.totalMicroseconds])).toEqual([
      ['success', 2, 100, 150],
      ['success', 1, 100, 150],
      ['fail', 0, 0, 0],
    ]);
    expect(reqs[2]!.code).toBe('ERR_BATCH_TOO_LARGE');
    off();
    await flush(); // the instance answered two requests: it takes partial batches again after a loop turn
    const p = batcher.infer({ x: rows(0) });
    clock.advance(100);
    instances[0]!.release();
    await p;
    expect(reqs).toHaveLength(3);
  });
});
