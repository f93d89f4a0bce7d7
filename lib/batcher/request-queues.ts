/**
 * The queues of queued requests: one FIFO per priority level, each with a second FIFO for
 * requests delayed by a 'delay' timeout, and one heap of deadlines. Scheduling order is
 * Triton's: level 1 first, FIFO inside a level, delayed requests after every other.
 */
import type { QueuePolicy } from './types.js';
import { LazyQueue, MinHeap } from './queue.js';
import type { Pending } from './request.js';

interface Level {
  policy: Required<QueuePolicy>;
  queue: LazyQueue<Pending>;
  delayed: LazyQueue<Pending>;
  count: number;
}

export class RequestQueues {
  readonly #levels: Level[];
  readonly #deadlines = new MinHeap<Pending>((r) => r.deadlineUs);
  /** queued requests */
  count = 0;
  /** rows (along the batch axis) of the queued requests */
  items = 0;

  constructor(policies: readonly Required<QueuePolicy>[]) {
    this.#levels = policies.map((policy) => ({
      policy,
      queue: new LazyQueue<Pending>((r) => r.state === 'queued' && !r.delayed),
      delayed: new LazyQueue<Pending>((r) => r.state === 'queued' && r.delayed),
      count: 0,
    }));
  }

  get levels(): number {
    return this.#levels.length;
  }

  policy(level: number): Required<QueuePolicy> {
    return (this.#levels[level] as Level).policy;
  }

  /** Requests queued at `level` (for maxQueueSize). */
  countAt(level: number): number {
    return (this.#levels[level] as Level).count;
  }

  push(r: Pending): void {
    const lv = this.#levels[r.level] as Level;
    lv.queue.push(r);
    lv.count++;
    this.count++;
    this.items += r.items;
    if (r.deadlineUs !== Infinity) this.#deadlines.push(r);
  }

  /** r leaves the queue (dispatched, aborted, timed out, dropped); its state becomes 'done' unless the caller sets another. */
  remove(r: Pending): void {
    const lv = this.#levels[r.level] as Level;
    lv.count--;
    this.count--;
    this.items -= r.items;
    r.state = 'done';
  }

  /** Visit queued requests in scheduling order until `fn` returns false. */
  scan(fn: (r: Pending) => boolean): void {
    for (const lv of this.#levels) if (!lv.queue.scan(fn)) return;
    for (const lv of this.#levels) if (!lv.delayed.scan(fn)) return;
  }

  /** The oldest request of the single level, when no request of it is delayed (the fast path). */
  soleHead(): Pending | undefined {
    const lv = this.#levels[0] as Level;
    return lv.delayed.peek() === undefined ? lv.queue.peek() : undefined;
  }

  /**
   * Requests whose deadline has passed: each is handed to onTimeout, which either moves it
   * behind the others (delay) or takes it out of the queue (reject).
   */
  expire(now: number, onTimeout: (r: Pending, action: 'reject' | 'delay') => void): void {
    for (;;) {
      const r = this.#deadlines.peek();
      if (r === undefined || r.deadlineUs > now) break;
      this.#deadlines.pop();
      if (r.state !== 'queued' || r.delayed) continue;
      const lv = this.#levels[r.level] as Level;
      if (lv.policy.timeoutAction === 'delay') {
        r.delayed = true;
        lv.delayed.push(r);
        onTimeout(r, 'delay');
      } else {
        onTimeout(r, 'reject');
      }
    }
  }

  /** The earliest deadline of a queued request not yet delayed, or Infinity. */
  nextDeadline(): number {
    for (;;) {
      const r = this.#deadlines.peek();
      if (r === undefined) return Infinity;
      if (r.state === 'queued' && !r.delayed) return r.deadlineUs;
      this.#deadlines.pop();
    }
  }

  /** Every queued request, in scheduling order; the queues are emptied of them. */
  drain(): Pending[] {
    const out: Pending[] = [];
    for (const lv of this.#levels) out.push(...lv.queue.drain(), ...lv.delayed.drain());
    return out.filter((r) => r.state === 'queued');
  }
}
