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
}

/** performance.now() in µs and the global timers. */
export const systemClock: BatcherClock = {
  now: () => performance.now() * 1000,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
