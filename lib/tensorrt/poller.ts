/**
 * The JS-thread poller of 'poll' streams (StreamOptions.completion): one chain of turns for all
 * of them, running only while one of them has work in flight. With a single stream in flight a
 * turn also spins in native code for up to spinMicros. While a stream is polled its watcher does
 * not wake the event loop, so the chain must go on until every polled stream reports nothing in
 * flight: a throw in one turn still schedules the next.
 *
 * A turn that delivered something is followed by the next one as a microtask: the Promise
 * reactions it queued run first (a caller that awaits one run and starts the next has submitted
 * it by then), and the next completion is collected without a whole event-loop iteration in
 * between (epoll_wait and the loop's phases: 1–3 µs, a large part of a small model's per-call
 * overhead). Such a stretch of microtask turns lasts at most stretchMicros; then, and after any
 * turn that delivered nothing, the next turn is a setImmediate, so timers and I/O still get the
 * thread at least that often.
 */

/** What the poller needs of a native stream. */
export interface Pollable {
  /** Work submitted and not yet delivered. */
  readonly pending: number;
  /** Settles what has completed (spinning up to spinMicros for it); returns the work left. */
  poll(spinMicros: number): number;
}

export interface PollerOptions {
  spinMicros?: number;
  stretchMicros?: number;
  /** performance.now() by default; tests inject a clock. */
  now?: () => number;
}

export class CompletionPoller {
  private readonly polled = new Set<Pollable>();
  private polling = false;
  private stretchStart = -Infinity; // ms: when the current stretch of turns left the event loop
  private readonly spinMicros: number;
  private readonly stretchMicros: number;
  private readonly now: () => number;
  private readonly turn = (): void => this.pollTurn();
  private readonly turnFromLoop = (): void => {
    this.stretchStart = this.now();
    this.pollTurn();
  };

  constructor(options: PollerOptions = {}) {
    this.spinMicros = options.spinMicros ?? 50;
    this.stretchMicros = options.stretchMicros ?? 200;
    this.now = options.now ?? (() => performance.now());
  }

  /** Called after work is submitted on s. */
  watch(s: Pollable): void {
    this.polled.add(s);
    if (this.polling) return;
    this.polling = true;
    // Submitted by the continuation of a delivered run (within a stretch): go on in microtasks;
    // otherwise the first turn comes after the loop has served its I/O.
    this.schedule(true);
  }

  /** Streams being polled (tests, diagnostics). */
  get size(): number {
    return this.polled.size;
  }

  private pollTurn(): void {
    let delivered = false;
    try {
      const spin = this.polled.size === 1 ? this.spinMicros : 0;
      for (const s of this.polled) {
        const before = s.pending;
        const left = s.poll(spin);
        if (left < before) delivered = true;
        if (left === 0) this.polled.delete(s);
      }
    } finally {
      if (this.polled.size === 0) this.polling = false;
      else this.schedule(delivered);
    }
  }

  private schedule(soon: boolean): void {
    if (soon && (this.now() - this.stretchStart) * 1000 < this.stretchMicros) queueMicrotask(this.turn);
    else setImmediate(this.turnFromLoop);
  }
}
