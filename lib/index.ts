/**
 * `tensorrt-node`: engines, sessions, tensors, buffers, errors, the dynamic batcher and the
 * backend interface. Importing it loads no server code and no server dependency (those are in
 * `tensorrt-node/server`), and not onnxruntime-node (OnnxRuntimeBackend loads it on first use).
 * test/cpu/package-entries.test.ts keeps it that way.
 *
 * Every name is listed on purpose: a new export is an API decision, not a side effect of a
 * module gaining one.
 */
export { TensorRtError, isTensorRtError, type ErrorCode } from './errors.js';
export {
  DATA_TYPES,
  isDataType,
  bytesPerElement,
  byteLength,
  typedArrayConstructor,
  matchesArrayType,
  viewAs,
  kserveDataType,
  dataTypeFromKserve,
  type DataType,
  type TypedArray,
} from './dtypes.js';
export { Tensor, shapeSize, formatShape } from './tensor.js';
export { toTensor, toTensorFeeds, isNdArray, isContiguous, type NdArrayLike, type NdArrayDType } from './ndarray.js';

// the backend seam
export type { Backend, BackendInstance, BackendCreateOptions, BatchBuilder, ModelSignature, TensorSpec, RunOptions } from './backends/backend.js';
export { TensorRtBackend, TensorRtInstance, TENSORRT_INSTANCE_DEFAULTS, type TensorRtCreateOptions } from './backends/tensorrt.js';
export { ConcatBatches } from './backends/concat-batch.js';
export { OnnxRuntimeBackend, OnnxRuntimeInstance, createOnnxRuntimeInstances, dataTypeFromOrt, ortTypeFromDataType, type OnnxRuntimeCreateOptions, type OnnxRuntimeSessionOptions } from './backends/onnxruntime.js';

// the dynamic batcher
export { DynamicBatcher, type BatcherListener, type BatcherRequestEvent, type BatcherBatchEvent, type DynamicBatcherExtras } from './batcher/dynamic-batcher.js';
export type { DynamicBatchingOptions, QueuePolicy, InferRequestOptions, InferResult, ModelStatistics, DurationStat, BatchSizeStat, InferenceScheduler } from './batcher/types.js';
export { systemClock, type BatcherClock, type TimerHandle } from './batcher/clock.js';

// TensorRT: runtime, engines, contexts, sessions, CUDA streams and buffers
export { Runtime, Engine, LogSeverity, type RuntimeOptions, type RuntimeInfo, type TensorInfo, type ShapeRange, type ProfileInfo, type LogSeverityName } from './tensorrt/runtime.js';
export { ExecutionContext, packDims, type ExecutionContextOptions, type BenchmarkOptions, type ContextRunOptions } from './tensorrt/context.js';
export { Stream, DeviceBuffer, HostBuffer, cudaInfo, isPinned, type StreamOptions, type WaitMode, type CompletionMode, type CopyOptions } from './tensorrt/cuda.js';
export { Session, deviceTensor, type DeviceTensor, type SessionFeed, type SessionOptions, type SessionResult, type SessionDeviceResult } from './tensorrt/session.js';
export { inspectPlan, type PlanInspection } from './tensorrt/inspect.js';
export { build, builderInfo, type BuildOptions, type BuildResult, type BuildProgressEvent, type BuilderInfo, type BuiltTensor, type HardwareCompatibilityLevel, type ProfilingVerbosity } from './tensorrt/build.js';
export { probePlan, type ProbeOptions } from './tensorrt/probe.js';
export { loadNative, nativeAvailable, type CudaInfo, type CudaDeviceInfo, type NativeBenchmarkResult } from './native/binding.js';
