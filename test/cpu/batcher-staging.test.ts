/**
 * stageOnArrival: requests copied to the free instance as they arrive (BackendInstance.stageInput),
 * and the batch then told how many of its leading parts are there already (stagedParts). The fake
 * keeps a "device" input per instance that only stageInput and runParts write, and runs the batch
 * from it: a wrong stagedParts (a request claimed staged that is not at its row) gives wrong
 * results or an error, never a passing test.
 */
import { describe, expect, it } from 'vitest';
import { DynamicBatcher } from '../../lib/batcher/dynamic-batcher.js';
import type { DynamicBatchingOptions } from '../../lib/batcher/types.js';
import type { GatheredInput, RunOptions } from '../../lib/backends/backend.js';
import { TensorRtError } from '../../lib/errors.js';
import { Tensor } from '../../lib/tensor.js';
import { FakeClock, code, flush, makeInstances, rows, type FakeInstance } from './batcher-helpers.js';

const F = 2; // features per row (rows() default)
const vals = (t: Tensor) => Array.from(t.data as Float32Array);

interface StagingLog {
  /** per runParts: instance, parts, stagedParts */
  runs: { instance: number; parts: number; staged: number }[];
  stageCalls: number;
}

/** Gives a FakeInstance a device input, stageInput and runParts that honour stagedParts. */
function withDevice(inst: FakeInstance, pinned: WeakSet<object>, log: StagingLog, maxBatch: number, opts: { failStage?: () => boolean } = {}) {
  const device = new Float32Array(maxBatch * F);
  let staged: Float32Array[] = [];
  let stagedEnd = 0;
  Object.assign(inst, {
    prefersParts: (data: Float32Array) => pinned.has(data),
    stageInput: (name: string, byteOffset: number, data: Float32Array) => {
      log.stageCalls++;
      if (name !== 'x') throw new TensorRtError('ERR_UNKNOWN_TENSOR', name);
      if (inst.running > 0) throw new TensorRtError('ERR_BUSY', 'a run is in flight');
      if (opts.failStage?.()) throw new TensorRtError('ERR_CUDA', 'staging failed');
      if (byteOffset !== 0 && byteOffset !== stagedEnd) throw new TensorRtError('ERR_INVALID_ARGUMENT', `out of order: ${byteOffset} after ${stagedEnd}`);
      if (byteOffset === 0) staged = [];
      device.set(data, byteOffset / 4);
      staged.push(data);
      stagedEnd = byteOffset + data.byteLength;
    },
    runParts: (inputs: Record<string, GatheredInput>, o?: RunOptions) => {
      const x = inputs.x!;
      const skip = o?.stagedParts ?? 0;
      log.runs.push({ instance: inst.index, parts: x.parts.length, staged: skip });
      let at = 0;
      for (let j = 0; j < x.parts.length; j++) {
        const p = x.parts[j] as Float32Array;
        if (j < skip) {
          if (staged[j] !== p) return Promise.reject(new TensorRtError('ERR_INVALID_ARGUMENT', `part ${j} is not the piece staged there`));
        } else {
          device.set(p, at);
        }
        at += p.length;
      }
      staged = [];
      stagedEnd = 0;
      return inst.run({ x: new Tensor('float32', device.slice(0, at), x.dims) });
    },
  });
}

function setup(n: number, options: Partial<DynamicBatchingOptions> = {}, extras: { stageOnArrival?: boolean; manual?: boolean; failStage?: () => boolean } = {}) {
  const clock = new FakeClock();
  const maxBatch = options.maxBatchSize ?? 8;
  const { log, instances } = makeInstances(n, clock, 64);
  const pinned = new WeakSet<object>();
  const staging: StagingLog = { runs: [], stageCalls: 0 };
  for (const i of instances) {
    i.manual = extras.manual ?? true;
    withDevice(i, pinned, staging, maxBatch, { failStage: extras.failStage });
  }
  const batcher = new DynamicBatcher(instances, { maxBatchSize: maxBatch, ...options }, { clock, ...(extras.stageOnArrival !== undefined ? { stageOnArrival: extras.stageOnArrival } : {}) });
  const pin = (t: Tensor) => (pinned.add(t.data), t);
  return { clock, log, instances, batcher, pin, staging };
}

describe('DynamicBatcher: staging requests on arrival (stageInput)', () => {
  it('requests arriving at an idle instance are copied as they come, and the batch skips them', async () => {
    const { clock, instances, batcher, pin, staging } = setup(2, { maxQueueDelayMicroseconds: 100 });
    const ps = [0, 1, 2].map((i) => batcher.infer({ x: pin(rows(i)) }));
    expect(staging.stageCalls).toBe(3);
    clock.advance(100);
    await flush();
    expect(staging.runs).toEqual([{ instance: 0, parts: 3, staged: 3 }]);
    instances[0]!.release();
    const res = await Promise.all(ps);
    res.forEach((r, i) => expect(vals(r.y!)).toEqual([i * 10, i * 10]));
    await batcher.close();
  });

  it('a full batch goes at once with every request staged; the next arrivals stage on the other instance', async () => {
    const { instances, batcher, pin, staging } = setup(2, { maxBatchSize: 4, maxQueueDelayMicroseconds: 1000 });
    const first = [0, 1, 2, 3].map((i) => batcher.infer({ x: pin(rows(i)) }));
    await flush();
    const second = [4, 5].map((i) => batcher.infer({ x: pin(rows(i)) }));
    expect(staging.runs).toEqual([{ instance: 0, parts: 4, staged: 4 }]);
    expect(staging.stageCalls).toBe(6);
    const third = [6, 7].map((i) => batcher.infer({ x: pin(rows(i)) }));
    await flush();
    expect(staging.runs[1]).toEqual({ instance: 1, parts: 4, staged: 4 });
    instances[0]!.release();
    instances[1]!.release();
    const res = await Promise.all([...first, ...second, ...third]);
    res.forEach((r, i) => expect(vals(r.y!)).toEqual([i * 10, i * 10]));
    await batcher.close();
  });

  it('requests that queued while every instance was busy are not staged, nor is anything after them', async () => {
    const { clock, instances, batcher, pin, staging } = setup(1, { maxBatchSize: 4, maxQueueDelayMicroseconds: 100 });
    const a = batcher.infer({ x: pin(rows(0)) });
    clock.advance(100);
    await flush();
    expect(staging.runs).toEqual([{ instance: 0, parts: 1, staged: 1 }]);
    const queued = [1, 2].map((i) => batcher.infer({ x: pin(rows(i)) }));
    expect(staging.stageCalls).toBe(1); // the instance is busy
    instances[0]!.release();
    await a;
    await flush();
    // the queued pair's batch waits for the delay; a third arrival joins unstaged
    const late = batcher.infer({ x: pin(rows(3)) });
    expect(staging.stageCalls).toBe(1);
    clock.advance(100);
    await flush();
    expect(staging.runs[1]).toEqual({ instance: 0, parts: 3, staged: 0 });
    instances[0]!.release();
    const res = await Promise.all([...queued, late]);
    res.forEach((r, i) => expect(vals(r.y!)).toEqual([(i + 1) * 10, (i + 1) * 10]));
    await batcher.close();
  });

  it('aborting a staged request forgets the staging: its batch copies everything', async () => {
    const { clock, instances, batcher, pin, staging } = setup(1, { maxQueueDelayMicroseconds: 100 });
    const ac = new AbortController();
    const a = batcher.infer({ x: pin(rows(0)) });
    const b = batcher.infer({ x: pin(rows(1)) }, { signal: ac.signal });
    ac.abort();
    const c = batcher.infer({ x: pin(rows(2)) });
    expect(await code(b)).toBe('ERR_ABORTED');
    clock.advance(100);
    await flush();
    expect(staging.runs).toEqual([{ instance: 0, parts: 2, staged: 0 }]);
    instances[0]!.release();
    expect(vals((await a).y!)).toEqual([0, 0]);
    expect(vals((await c).y!)).toEqual([20, 20]);
    await batcher.close();
  });

  it('a request of higher priority is not staged behind lower ones, and its batch copies everything', async () => {
    const { clock, instances, batcher, pin, staging } = setup(1, { maxQueueDelayMicroseconds: 100, priorityLevels: 2, defaultPriorityLevel: 2 });
    const low = [0, 1].map((i) => batcher.infer({ x: pin(rows(i)) }));
    const high = batcher.infer({ x: pin(rows(9)) }, { priority: 1 });
    expect(staging.stageCalls).toBe(2);
    clock.advance(100);
    await flush();
    expect(staging.runs).toEqual([{ instance: 0, parts: 3, staged: 0 }]);
    instances[0]!.release();
    expect(vals((await high).y!)).toEqual([90, 90]);
    expect((await Promise.all(low)).map((r) => vals(r.y!))).toEqual([
      [0, 0],
      [10, 10],
    ]);
    await batcher.close();
  });

  it('a batch cut at a preferred size skips the staged requests it starts with; the one left is copied by its own batch', async () => {
    const { clock, log, instances, batcher, pin, staging } = setup(1, { maxBatchSize: 8, preferredBatchSize: [3], maxQueueDelayMicroseconds: 100 });
    // a and b carry 2 rows each: with b the batch would pass the preferred 3, so a goes alone, at once
    const a = batcher.infer({ x: pin(rows(0, 2)) });
    const b = batcher.infer({ x: pin(rows(2, 2)) });
    expect(staging.stageCalls).toBe(2);
    await flush();
    expect(staging.runs).toEqual([{ instance: 0, parts: 1, staged: 1 }]);
    instances[0]!.release();
    expect(vals((await a).y!)).toEqual([0, 0, 10, 10]);
    clock.advance(100);
    await flush();
    // b was staged at rows 2-3 of a's batch: its own batch (one request) copies it again
    expect(staging.runs).toHaveLength(1);
    expect(log.map((r) => r.dims)).toEqual([
      [2, 2],
      [2, 2],
    ]);
    instances[0]!.release();
    expect(vals((await b).y!)).toEqual([20, 20, 30, 30]);
    await batcher.close();
  });

  it('a staging copy that fails leaves the batch to copy everything', async () => {
    let fail = false;
    const { clock, instances, batcher, pin, staging } = setup(1, { maxQueueDelayMicroseconds: 100 }, { failStage: () => fail });
    const a = batcher.infer({ x: pin(rows(0)) });
    fail = true;
    const b = batcher.infer({ x: pin(rows(1)) });
    fail = false;
    const c = batcher.infer({ x: pin(rows(2)) }); // not staged: the queue ahead of it is not all staged
    expect(staging.stageCalls).toBe(2);
    clock.advance(100);
    await flush();
    expect(staging.runs).toEqual([{ instance: 0, parts: 3, staged: 0 }]);
    instances[0]!.release();
    expect((await Promise.all([a, b, c])).map((r) => vals(r.y!))).toEqual([
      [0, 0],
      [10, 10],
      [20, 20],
    ]);
    await batcher.close();
  });

  it('stageOnArrival: false, or data the instance does not prefer (not pinned): nothing is staged', async () => {
    for (const stageOnArrival of [false, true]) {
      const { clock, instances, batcher, pin, staging } = setup(1, { maxQueueDelayMicroseconds: 100 }, { stageOnArrival });
      const ps = stageOnArrival ? [batcher.infer({ x: rows(0) }), batcher.infer({ x: rows(1) })] : [batcher.infer({ x: pin(rows(0)) }), batcher.infer({ x: pin(rows(1)) })];
      clock.advance(100);
      await flush();
      expect(staging.stageCalls).toBe(0);
      instances[0]!.release();
      expect((await Promise.all(ps)).map((r) => vals(r.y!))).toEqual([
        [0, 0],
        [10, 10],
      ]);
      await batcher.close();
    }
  });

  it('many callers with mixed sizes, priorities and aborts on 2 instances: every result is its own', async () => {
    const { batcher, pin, staging } = setup(2, { maxBatchSize: 8, maxQueueDelayMicroseconds: 0, priorityLevels: 2, defaultPriorityLevel: 2 }, { manual: false });
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
        const t = rand() < 0.9 ? pin(rows(base, items)) : rows(base, items);
        const ac = new AbortController();
        const p = batcher.infer({ x: t }, { signal: ac.signal, ...(rand() < 0.1 ? { priority: 1 } : {}) });
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
    // staging happened, and some batches started with staged requests
    expect(staging.stageCalls).toBeGreaterThan(0);
    expect(staging.runs.some((r) => r.staged > 0)).toBe(true);
    await batcher.close();
  });
});
