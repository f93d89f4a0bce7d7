/**
 * Time source and timers of the batcher, injectable so tests can drive time by hand.
 */

/** Opaque timer handle returned by BatcherClock.setTimeout. */
export type TimerHandle = unknown;

export interface BatcherClock {
  /** Monotonic time in microseconds. */
  now(): number;
  /** Call `fn` after `ms` milliseconds (same contract as the global setTimeout). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Call `fn` after the current turn of the event loop; default: setImmediate. */
  defer?(fn: () => void): void;
}

/** The longest delay Node's timers take (2^31 - 1 ms); longer ones are re-armed when they fire. */
export const MAX_TIMER_MS = 2_147_483_647;

/** performance.now() in µs and the global timers. */
export const systemClock: BatcherClock = {
  now: () => performance.now() * 1000,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  defer: (fn) => {
    setImmediate(fn);
  },
};
