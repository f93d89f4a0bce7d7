/**
 * Triton-style cumulative statistics of one scheduled model.
 */
import type { BatchSizeStat, DurationStat, ModelStatistics } from './types.js';

function stat(): DurationStat {
  return { count: 0, ns: 0 };
}

function add(s: DurationStat, count: number, us: number): void {
  s.count += count;
  s.ns += Math.round(us * 1000);
}

/**
 * Meanings follow Triton's statistics extension: `success`, `queue`, `computeInput`,
 * `computeInfer` and `computeOutput` count successful requests, each charged the full duration
 * of its batch's phases; `fail` counts failed requests (rejections at submission included);
 * `batchStats` counts executions per batch size (items).
 */
export class StatsCollector {
  private readonly success = stat();
  private readonly fail = stat();
  private readonly queue = stat();
  private readonly computeInput = stat();
  private readonly computeInfer = stat();
  private readonly computeOutput = stat();
  private inferenceCount = 0;
  private executionCount = 0;
  private lastInference = 0;
  private readonly batches = new Map<number, BatchSizeStat>();

  requestSucceeded(totalUs: number, queueUs: number, inputUs: number, inferUs: number, outputUs: number): void {
    add(this.success, 1, totalUs);
    add(this.queue, 1, queueUs);
    add(this.computeInput, 1, inputUs);
    add(this.computeInfer, 1, inferUs);
    add(this.computeOutput, 1, outputUs);
  }

  requestFailed(totalUs: number): void {
    add(this.fail, 1, totalUs);
  }

  /** One backend execution of `items` batch items (counted whether or not it succeeded). */
  execution(items: number, inputUs: number, inferUs: number, outputUs: number, ok: boolean): void {
    this.executionCount++;
    if (!ok) return;
    this.inferenceCount += items;
    this.lastInference = Date.now();
    let b = this.batches.get(items);
    if (b === undefined) {
      b = { batchSize: items, computeInput: stat(), computeInfer: stat(), computeOutput: stat() };
      this.batches.set(items, b);
    }
    add(b.computeInput, 1, inputUs);
    add(b.computeInfer, 1, inferUs);
    add(b.computeOutput, 1, outputUs);
  }

  snapshot(pendingRequests: number): ModelStatistics {
    const c = (s: DurationStat): DurationStat => ({ count: s.count, ns: s.ns });
    return {
      success: c(this.success),
      fail: c(this.fail),
      queue: c(this.queue),
      computeInput: c(this.computeInput),
      computeInfer: c(this.computeInfer),
      computeOutput: c(this.computeOutput),
      inferenceCount: this.inferenceCount,
      executionCount: this.executionCount,
      lastInference: this.lastInference,
      batchStats: [...this.batches.values()]
        .sort((a, b) => a.batchSize - b.batchSize)
        .map((b) => ({ batchSize: b.batchSize, computeInput: c(b.computeInput), computeInfer: c(b.computeInfer), computeOutput: c(b.computeOutput) })),
      pendingRequests,
    };
  }
}
