export { Runtime, Engine, LogSeverity, type RuntimeOptions, type RuntimeInfo, type TensorInfo, type ShapeRange, type ProfileInfo, type LogSeverityName } from './runtime.js';
export { ExecutionContext, packDims, type ExecutionContextOptions, type BenchmarkOptions } from './context.js';
export { Stream, DeviceBuffer, HostBuffer, cudaInfo, isPinned, markTimingEpoch, type StreamOptions, type WaitMode, type CompletionMode, type CopyOptions } from './cuda.js';
export { Session, deviceTensor, type DeviceTensor, type SessionFeed, type SessionOptions, type SessionResult, type SessionDeviceResult } from './session.js';
export { inspectPlan, type PlanInspection } from './inspect.js';
export { probePlan, type ProbeOptions } from './probe.js';
export { checkInputShape } from './shapes.js';
export { build, builderInfo, type BuildOptions, type BuildResult, type BuildProgressEvent, type BuilderInfo, type BuiltTensor, type HardwareCompatibilityLevel, type ProfilingVerbosity } from './build.js';
export { loadNative, nativeAvailable, type CudaInfo, type CudaDeviceInfo, type NativeBenchmarkResult } from '../native/binding.js';
