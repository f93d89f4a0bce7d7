// The batcher's system clock: timers never fire early, sub-millisecond delays are honoured on
// event-loop turns instead of Node's whole-millisecond timers, and cancelling works in both
// stages (the coarse timer and the turns after it).
import { describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../lib/batcher/clock.js';

const fireAfter = (ms: number): Promise<number> =>
  new Promise((resolve) => {
    const t0 = performance.now();
    systemClock.setTimeout(() => resolve(performance.now() - t0), ms);
  });

describe('systemClock timers', () => {
  it('never fire before their delay, from 0 to 8 ms', async () => {
    for (const ms of [0, 0.05, 0.2, 0.5, 1, 1.5, 2.5, 3.5, 8]) {
      const waited = await fireAfter(ms);
      expect(waited, `${ms} ms`).toBeGreaterThanOrEqual(ms);
    }
  });

  it('a delay under 3 ms never goes through a Node timer (they round up to whole ms); a longer one does, 2 ms short', async () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    try {
      await fireAfter(0.5);
      await fireAfter(2.5);
      expect(spy).not.toHaveBeenCalled();
      await fireAfter(10);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0]![1]).toBe(8);
    } finally {
      spy.mockRestore();
    }
  });

  it('clearTimeout cancels in either stage: before the coarse timer fires and during the turns after it', async () => {
    let fired = 0;
    const early = systemClock.setTimeout(() => fired++, 10); // still on its coarse timer
    const late = systemClock.setTimeout(() => fired++, 0.5); // on loop turns at once
    systemClock.clearTimeout(early);
    systemClock.clearTimeout(late);
    // one that is on its turns after the coarse timer fired: cancel it from a timer set just after
    const mid = systemClock.setTimeout(() => fired++, 6);
    await new Promise((r) => setTimeout(r, 5)); // the coarse part (6 - 2 ms) has fired by now or soon
    systemClock.clearTimeout(mid);
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toBe(0);
  });

  it('a long delay keeps to its time too (coarse timer, then turns)', async () => {
    const waited = await fireAfter(30);
    expect(waited).toBeGreaterThanOrEqual(30);
  });
});
