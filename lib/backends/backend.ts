/**
 * The seam between the serving layers (batcher, repository, server) and the engines that run
 * inference. The layers above never know which backend they drive.
 */
import type { DataType, TypedArray } from '../dtypes.js';
import type { Tensor } from '../tensor.js';

export interface TensorSpec {
  name: string;
  dtype: DataType;
  /**
   * Full shape as the backend sees it, batch dimension included when the model batches;
   * -1 marks a dynamic dimension.
   */
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /**
   * Largest batch along dimension 0 the instance accepts; 0 means the model has no batch
   * dimension (Triton's max_batch_size: 0) and requests run one by one.
   */
  maxBatchSize: number;
}

export interface RunOptions {
  /** Abort before the batch is started; a backend may ignore it once running. */
  signal?: AbortSignal;
  /**
   * runParts: the first `stagedParts` parts of every input were handed to stageInput already,
   * in this order from the start of the input, since the instance's last run: not copied again.
   */
  stagedParts?: number;
}

/** One model instance: one TensorRT execution context on its stream, or one ORT session. */
export interface BackendInstance {
  readonly kind: 'tensorrt' | 'onnxruntime' | (string & {});
  readonly signature: ModelSignature;
  /**
   * Run one batch. The returned tensors may be views into buffers the instance reuses: they
   * are valid until this instance's next run() starts. Callers copy what they keep.
   */
  run(feeds: Record<string, Tensor>, options?: RunOptions): Promise<Record<string, Tensor>>;
  /**
   * Optional: a reusable host buffer (pinned memory for TensorRT) of at least `byteLength`
   * bytes for input `name`, for the batcher to gather requests into without copying again.
   * Valid until the next call for the same name or the next run() completes.
   */
  inputStaging?(name: string, byteLength: number): TypedArray | undefined;
  /**
   * Optional: run one batch given as pieces (each request's data, in order) instead of one
   * contiguous tensor per input; the backend concatenates them itself (TensorRT: on its launch
   * thread, straight into pinned memory), which keeps the copy off the JS thread.
   */
  runParts?(inputs: Record<string, GatheredInput>, options?: RunOptions): Promise<Record<string, Tensor>>;
  /**
   * Optional: whether runParts is the better way for this piece of request data even when the
   * batcher gathers on the JS thread by default (TensorRT: pinned memory, which it DMAs to the
   * GPU with no CPU copy at all).
   */
  prefersParts?(data: TypedArray): boolean;
  /**
   * Optional, with runParts: start copying one request's data for input `name` to where the
   * instance's next batch reads it, at `byteOffset` (pieces in order from 0; 0 starts afresh),
   * while the rest of the batch is still arriving; the next runParts names how many of its
   * leading parts were staged (RunOptions.stagedParts). Only between runs (throws ERR_BUSY
   * while one is in flight) and only for data prefersParts accepts (TensorRT: pinned memory,
   * DMA'd four requests at a time). A staged piece that the next batch does not start with is simply copied
   * again by it.
   */
  stageInput?(name: string, byteOffset: number, data: TypedArray): void;
  /** Free everything; waits for a run in flight. Idempotent. */
  dispose(): Promise<void>;
}

/** An input given as the concatenation of `parts` along dimension 0. */
export interface GatheredInput {
  dtype: DataType;
  dims: number[];
  parts: TypedArray[];
}

export interface BackendCreateOptions {
  /** ordinal of the GPU (TensorRT); ignored by CPU backends */
  device?: number;
  /** optimization profile for TensorRT engines with several */
  profile?: number;
  /** TensorRT: replay CUDA graphs (Triton's optimization { cuda { graphs: true } }); CPU backends ignore it */
  cudaGraph?: boolean;
}

export interface Backend {
  readonly kind: string;
  /** can this backend load a model file with this name (e.g. model.plan, model.onnx)? */
  accepts(filename: string): boolean;
  createInstance(modelPath: string, options?: BackendCreateOptions): Promise<BackendInstance>;
}
