// The JS-thread poller of 'poll' streams, against fake streams (no GPU needed): how its turns are
// chained (microtasks while they deliver, setImmediate otherwise), that the event loop still gets
// the thread, and that a throwing turn does not end the chain.
import { describe, expect, it } from 'vitest';
import { CompletionPoller, type Pollable } from '../../lib/tensorrt/poller.js';

/** A stream whose work completes after `turnsToComplete` polls; `run()` submits one piece. */
class FakeStream implements Pollable {
  private readonly work: { polls: number; resolve: () => void }[] = [];
  polls = 0;
  throwNext = false;
  constructor(
    private readonly poller: CompletionPoller,
    private readonly turnsToComplete = 1,
  ) {}
  get pending(): number {
    return this.work.length;
  }
  poll(_spin: number): number {
    this.polls++;
    if (this.throwNext) {
      this.throwNext = false;
      throw new Error('poll failed');
    }
    for (const w of this.work) w.polls++;
    while (this.work.length > 0 && this.work[0]!.polls >= this.turnsToComplete) this.work.shift()!.resolve();
    return this.work.length;
  }
  run(): Promise<void> {
    const p = new Promise<void>((resolve) => this.work.push({ polls: 0, resolve }));
    this.poller.watch(this);
    return p;
  }
}

/** n runs back to back, each awaited before the next is submitted (a JS inference loop). */
async function loop(s: FakeStream, n: number, done: { count: number }): Promise<void> {
  for (let i = 0; i < n; i++) {
    await s.run();
    done.count++;
  }
}

describe('CompletionPoller', () => {
  it('chains turns that deliver as microtasks: a run-await-run loop needs no event-loop turn between runs', async () => {
    const poller = new CompletionPoller({ now: () => 0 }); // the stretch never runs out
    const s = new FakeStream(poller);
    const done = { count: 0 };
    const finished = loop(s, 20, done);
    // queued after the poller's first turn (a setImmediate: nothing delivered yet)
    const seenByLoop = await new Promise<number>((r) => setImmediate(() => r(done.count)));
    expect(seenByLoop).toBe(20);
    await finished;
    expect(poller.size).toBe(0);
    expect(s.polls).toBe(20);
  });

  it('returns to the event loop once a stretch of microtask turns has lasted stretchMicros', async () => {
    let t = 0;
    // every clock read advances 30 µs: a stretch of 200 µs allows a few turns only
    const poller = new CompletionPoller({ stretchMicros: 200, now: () => (t += 0.03) });
    const s = new FakeStream(poller);
    const done = { count: 0 };
    const finished = loop(s, 50, done);
    const seen: number[] = [];
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        seen.push(done.count);
        if (done.count < 50) setImmediate(tick);
        else resolve();
      };
      setImmediate(tick);
    });
    await finished;
    expect(done.count).toBe(50);
    // the loop got the thread many times while the runs went on
    expect(seen.filter((c) => c > 0 && c < 50).length).toBeGreaterThan(5);
  });

  it('a turn that delivers nothing is followed by a setImmediate, not a microtask', async () => {
    const poller = new CompletionPoller({ now: () => 0 });
    const s = new FakeStream(poller, 5); // each run needs 5 polls
    const done = { count: 0 };
    const finished = loop(s, 3, done);
    await finished;
    expect(done.count).toBe(3);
    expect(s.polls).toBe(15);
    // one poll per event-loop turn while nothing completes
    const s2 = new FakeStream(poller, 3);
    const p = s2.run();
    const pollsAtTurn: number[] = [];
    for (let i = 0; i < 2; i++) await new Promise<void>((r) => setImmediate(() => (pollsAtTurn.push(s2.polls), r())));
    await p;
    expect(pollsAtTurn).toEqual([1, 2]);
  });

  it('a poll that throws still schedules the next turn, and the work is delivered', async () => {
    const poller = new CompletionPoller();
    const s = new FakeStream(poller, 2);
    s.throwNext = true;
    const errors: unknown[] = [];
    const onError = (e: unknown): void => void errors.push(e);
    process.on('uncaughtException', onError);
    try {
      await s.run();
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(errors).toHaveLength(1);
    expect(s.polls).toBeGreaterThanOrEqual(3);
    expect(poller.size).toBe(0);
  });

  it('several streams: each is polled until it has nothing in flight', async () => {
    const poller = new CompletionPoller();
    const a = new FakeStream(poller, 1);
    const b = new FakeStream(poller, 4);
    const done = { count: 0 };
    await Promise.all([loop(a, 10, done), loop(b, 3, done)]);
    expect(done.count).toBe(13);
    expect(poller.size).toBe(0);
  });
});
