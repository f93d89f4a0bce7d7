/**
 * Batch formation: which queued requests form the next batch, and when it should go.
 * Triton's DynamicBatchScheduler (GetDynamicBatch), applied when an instance is free:
 *  - requests are taken in scheduling order; a request counts as its dimension 0 (k items);
 *    the batch is the longest prefix that fits maxBatchSize and whose requests share every
 *    non-batch dimension; a request that does not fit or does not match ends the batch (it
 *    starts a later one: no reordering, so no starvation);
 *  - if the prefix reaches a preferred batch size, the largest one reached is sent at once;
 *    if the next request would exceed the largest preferred size (or maxBatchSize when none is
 *    given) without an exact preferred size, the batch up to that point is sent at once;
 *  - otherwise the batch waits until its oldest request has waited maxQueueDelayMicroseconds
 *    (0: sent as soon as an instance is free), then everything pending (up to maxBatchSize,
 *    same shape) is sent.
 * Without batching (maxBatchSize 0, Triton's default scheduler) each request is a batch.
 */
import type { Pending } from './request.js';
import type { RequestQueues } from './request-queues.js';

export interface BatchPolicy {
  batching: boolean;
  maxBatchSize: number;
  preferred: ReadonlySet<number>;
  /** the largest preferred size, maxBatchSize when none is given */
  maxPreferred: number;
  delayUs: number;
  /**
   * One priority level, one shape and no preferred sizes: while less than a full batch is queued
   * and its oldest request is younger than the delay, the answer is known without a scan.
   */
  simpleQueue: boolean;
}

export interface Decision {
  batch?: Pending[];
  /** the batch reached the largest preferred size (maxBatchSize when none): nothing to wait for */
  full?: boolean;
  /** nothing to send yet: decide again at this time (µs) */
  wakeAt?: number;
}

/** The next batch for a free instance, or when to look again. `closing`: send what is there. */
export function formBatch(policy: BatchPolicy, queues: RequestQueues, now: number, closing: boolean): Decision {
  if (!policy.batching) {
    let head: Pending | undefined;
    queues.scan((r) => {
      head = r;
      return false;
    });
    return head === undefined ? {} : { batch: [head] };
  }
  if (policy.simpleQueue && queues.items < policy.maxBatchSize && policy.delayUs > 0 && !closing) {
    const head = queues.soleHead();
    if (head !== undefined && now - head.submitUs < policy.delayUs) return { wakeAt: head.submitUs + policy.delayUs };
  }
  const taken: Pending[] = [];
  let total = 0;
  let best = 0;
  let bestCount = 0;
  let sendNow = false;
  let oldest = Infinity;
  let key = '';
  queues.scan((r) => {
    if (taken.length === 0) {
      key = r.shapeKey;
    } else {
      if (total + r.items > policy.maxPreferred && best === 0) {
        best = total;
        bestCount = taken.length;
      }
      if (total + r.items > policy.maxBatchSize || r.shapeKey !== key) {
        sendNow = true;
        return false;
      }
    }
    taken.push(r);
    total += r.items;
    if (r.submitUs < oldest) oldest = r.submitUs;
    if (policy.preferred.has(total)) {
      best = total;
      bestCount = taken.length;
    }
    if (total >= policy.maxBatchSize) {
      sendNow = true;
      return false;
    }
    return true;
  });
  const exceeded = policy.delayUs > 0 && now - oldest >= policy.delayUs;
  if (best > 0 && !exceeded) return { batch: taken.slice(0, bestCount), full: best >= policy.maxPreferred };
  if (sendNow || total >= policy.maxPreferred || exceeded || policy.delayUs === 0 || closing) return { batch: taken, full: total >= policy.maxPreferred };
  return { wakeAt: oldest + policy.delayUs };
}
