/**
 * Public contract of the dynamic batcher (Triton's `dynamic_batching` semantics).
 * The repository and server layers depend on these types only.
 */
import type { Tensor } from '../tensor.js';
import type { NdArrayLike } from '../ndarray.js';
import type { TypedArray } from '../dtypes.js';
import type { ModelSignature } from '../backends/backend.js';

export interface QueuePolicy {
  /** Requests waiting beyond this are rejected with ERR_QUEUE_FULL; 0 = unbounded. */
  maxQueueSize?: number;
  /** Queue timeout per request in µs; 0 = none. */
  defaultTimeoutMicroseconds?: number;
  /** 'reject' fails a timed-out request with ERR_TIMEOUT; 'delay' keeps it but behind all others. */
  timeoutAction?: 'reject' | 'delay';
  /** May a request override defaultTimeoutMicroseconds with a shorter timeout? */
  allowTimeoutOverride?: boolean;
}

export interface DynamicBatchingOptions {
  /** Largest batch (sum of the requests' dimension 0) that one execution may carry. */
  maxBatchSize: number;
  /** Batch sizes the scheduler prefers to form; the largest reachable one wins. */
  preferredBatchSize?: number[];
  /** How long the oldest request may wait for a batch to fill. */
  maxQueueDelayMicroseconds?: number;
  /** Responses are delivered in request arrival order. */
  preserveOrdering?: boolean;
  /** Number of priority levels (1 = highest); 0 or 1 disables priorities. */
  priorityLevels?: number;
  /** Priority of a request that names none. */
  defaultPriorityLevel?: number;
  /** Queue policy for every level unless overridden. */
  defaultQueuePolicy?: QueuePolicy;
  /** Per-level overrides, keyed by priority level. */
  priorityQueuePolicy?: Record<number, QueuePolicy>;
}

export interface InferRequestOptions {
  /** 1 = highest; defaults to defaultPriorityLevel. */
  priority?: number;
  /** Queue timeout override in µs (honoured only where allowTimeoutOverride). */
  timeoutMicroseconds?: number;
  /** Abort while queued (rejects with ERR_ABORTED) or while running (the result is dropped). */
  signal?: AbortSignal;
  /** Output names wanted; default all. */
  outputs?: string[];
  /**
   * The caller's own buffers for outputs, by name (each a TypedArray of the output's type with
   * room for the request's rows): the batcher copies the request's slice of the batch output
   * into it and returns a Tensor over it, so a caller that reuses its buffers costs no
   * allocation per request. Outputs without a buffer get a new array.
   */
  outputBuffers?: Record<string, TypedArray>;
}

export type InferResult = Record<string, Tensor>;

/** Cumulative duration statistic, Triton style. */
export interface DurationStat {
  count: number;
  /** total nanoseconds */
  ns: number;
}

export interface BatchSizeStat {
  batchSize: number;
  computeInput: DurationStat;
  computeInfer: DurationStat;
  computeOutput: DurationStat;
}

/** Per-model statistics with the meanings of Triton's statistics extension. */
export interface ModelStatistics {
  /** requests completed successfully */
  success: DurationStat;
  /** requests failed (any reason, rejections at submission included) */
  fail: DurationStat;
  /** time requests waited in the queue */
  queue: DurationStat;
  /** gathering inputs (and host-to-device copies where the backend separates them) */
  computeInput: DurationStat;
  /** the backend's run() */
  computeInfer: DurationStat;
  /** scattering outputs back to requests */
  computeOutput: DurationStat;
  /** inferences performed (one per batch item, Triton's inference_count) */
  inferenceCount: number;
  /** backend executions (Triton's execution_count) */
  executionCount: number;
  /** last inference time, ms since epoch (0 if none) */
  lastInference: number;
  batchStats: BatchSizeStat[];
  /** requests currently queued, by priority level */
  pendingRequests: number;
}

/** What a scheduled model looks like to the repository and server. */
export interface InferenceScheduler {
  readonly signature: ModelSignature;
  infer(inputs: Record<string, Tensor | NdArrayLike>, options?: InferRequestOptions): Promise<InferResult>;
  statistics(): ModelStatistics;
  /**
   * Stop accepting requests. drain: true (default) finishes what is queued; false rejects it
   * with ERR_CLOSED. Resolves when no request is pending. Instances are disposed.
   */
  close(options?: { drain?: boolean }): Promise<void>;
}
