/**
 * A request as the batcher keeps it from submission until its outcome is delivered.
 */
import type { TensorRtError } from '../errors.js';
import type { TypedArray } from '../dtypes.js';
import type { Tensor } from '../tensor.js';
import type { InferResult } from './types.js';

export type RequestState = 'queued' | 'running' | 'done';

export type Outcome = { ok: true; value: InferResult } | { ok: false; error: TensorRtError };

export interface Pending {
  seq: number;
  inputs: Record<string, Tensor>;
  /** rows along dimension 0 (1 for models without a batch dimension) */
  items: number;
  shapeKey: string;
  /** 0-based priority level */
  level: number;
  submitUs: number;
  deadlineUs: number;
  /** timed out with timeoutAction 'delay': behind every request that is not */
  delayed: boolean;
  state: RequestState;
  outputs: readonly string[];
  /** caller's buffers for outputs (InferRequestOptions.outputBuffers), or undefined */
  outputBuffers: Record<string, TypedArray> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  resolve: (v: InferResult) => void;
  reject: (e: unknown) => void;
  dispatchUs: number;
  outcome: Outcome | undefined;
  settled: boolean;
  /** the instance whose next batch already holds this request (staged on arrival), or -1 */
  stagedOn: number;
}

/** What a settled request keeps of its inputs: nothing (the caller's tensors can be collected). */
export const NO_INPUTS: Record<string, Tensor> = Object.freeze({}) as Record<string, Tensor>;
