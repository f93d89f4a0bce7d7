/**
 * One error class for the whole library. `code` is stable and documented; `message` carries
 * the underlying library's text (TensorRT, CUDA, ONNX Runtime) where there is one.
 */
export type ErrorCode =
  // loading and environment
  | 'ERR_TRT_NOT_FOUND' // no TensorRT library could be loaded
  | 'ERR_TRT_VERSION' // TensorRT library or plan of an unsupported version
  | 'ERR_CUDA_UNAVAILABLE' // no CUDA driver / no GPU
  | 'ERR_NATIVE_NOT_BUILT' // the .node addon is missing or does not load
  | 'ERR_DEPENDENCY_MISSING' // an optional package a feature needs is not installed (onnxruntime-node)
  | 'ERR_CUDA' // a CUDA runtime call failed
  | 'ERR_OUT_OF_MEMORY' // device or pinned allocation failed
  // plans and engines
  | 'ERR_PLAN_INVALID' // truncated, corrupt or foreign bytes
  | 'ERR_PLAN_HOST_CODE' // plan embeds host code and the runtime forbids it
  | 'ERR_PLAN_INCOMPATIBLE' // plan built for another GPU (compute capability / hardware compatibility)
  | 'ERR_TRT' // TensorRT reported an error
  // building plans from ONNX (details.parserErrors names the ONNX nodes)
  | 'ERR_ONNX_INVALID' // not a valid ONNX model, or a node TensorRT's parser finds malformed
  | 'ERR_ONNX_UNSUPPORTED' // a node or graph feature TensorRT cannot build
  | 'ERR_BUILD_FAILED' // the builder found no way to build the network
  // arguments and tensors
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_UNKNOWN_TENSOR' // a name that the model does not have
  | 'ERR_MISSING_TENSOR' // a required input was not given
  | 'ERR_DTYPE_MISMATCH'
  | 'ERR_SHAPE_MISMATCH' // wrong rank or a static dimension differs
  | 'ERR_SHAPE_OUT_OF_PROFILE' // dynamic dimension outside the active profile's min..max
  | 'ERR_BUFFER_TOO_SMALL'
  | 'ERR_DETACHED_BUFFER'
  | 'ERR_DISPOSED' // object used after dispose()
  | 'ERR_BUSY' // object still has work in flight and cannot be changed now
  // batching and serving
  | 'ERR_BATCH_TOO_LARGE'
  | 'ERR_QUEUE_FULL'
  | 'ERR_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_CLOSED'
  | 'ERR_BACKEND' // the backend failed to run a batch
  | 'ERR_MODEL_NOT_FOUND'
  | 'ERR_MODEL_NOT_READY'
  | 'ERR_CONFIG'; // a config.pbtxt or option that cannot be used

export class TensorRtError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable context (tensor name, expected/actual values, CUDA error name...). */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TensorRtError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

export function isTensorRtError(e: unknown, code?: ErrorCode): e is TensorRtError {
  return e instanceof TensorRtError && (code === undefined || e.code === code);
}
