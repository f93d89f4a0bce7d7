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
}

/**
 * One batch, assembled by the instance that runs it. The batcher decides which requests form a
 * batch and when it runs; the instance decides how their data reaches the engine. It may start
 * moving each request's data the moment it is added (TensorRT: copy threads and DMA on the
 * instance's own input stream, while the rest of the batch is still arriving), or gather
 * everything at run() (ONNX Runtime: one concatenation).
 */
export interface BatchBuilder {
  /**
   * Appends one request: its rows follow those added before, along dimension 0 of every input.
   * The request's memory must stay unchanged until the batch settles or is abandoned. A throw
   * leaves the builder abandoned.
   */
  add(inputs: Record<string, Tensor>): void;
  /** Requests added so far. */
  readonly size: number;
  /** Keeps only the first `count` requests (the batch was formed shorter than what was added). */
  truncate(count: number): void;
  /**
   * Runs the batch of the requests added. The returned tensors may be views into buffers the
   * instance reuses: valid until the instance's next run() or batch run starts. Spends the builder.
   */
  run(options?: RunOptions): Promise<Record<string, Tensor>>;
  /** Forgets the requests added and spends the builder. Idempotent. */
  abandon(): void;
  /**
   * The batcher has copied what run() returned: the buffers behind it may be reused. Called
   * once after run() settles (the batcher calls it after a failed run too). Optional: an
   * instance whose outputs stay valid until its next run needs nothing here; one that runs
   * several batches at once (batchCapacity > 1) keeps each batch's outputs until this call.
   */
  done?(): void;
}

/** One model instance: one TensorRT execution context on its stream, or one ORT session. */
export interface BackendInstance {
  readonly kind: 'tensorrt' | 'onnxruntime' | (string & {});
  readonly signature: ModelSignature;
  /**
   * Batches the instance can hold at once, running or being assembled (default 1). An instance
   * of 2 (TensorRT: two IO sets) lets the batcher assemble the next batch while one runs, and
   * run it behind the first without waiting for it (two batches queued on the instance's stream).
   */
  readonly batchCapacity?: number;
  /**
   * Starts the assembly of a batch (within batchCapacity; throws ERR_BUSY beyond it). Optional:
   * the batcher concatenates requests on the JS thread and calls run() for an instance without it.
   */
  createBatch?(): BatchBuilder;
  /**
   * Run one batch given whole. The returned tensors may be views into buffers the instance
   * reuses: valid until this instance's next run starts. Callers copy what they keep.
   */
  run(feeds: Record<string, Tensor>, options?: RunOptions): Promise<Record<string, Tensor>>;
  /** Free everything; waits for a run in flight. Idempotent. */
  dispose(): Promise<void>;
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
