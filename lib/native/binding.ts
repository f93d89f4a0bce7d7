/**
 * The typed description of what the native addon (build/Release/tensorrt_node.node) exports,
 * and its loader. Everything above this file talks to the addon only through these types.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TensorRtError, type ErrorCode } from '../errors.js';
import { chooseAddon, type AddonChoice } from './loader.js';

export interface NativeStream {
  readonly device: number;
  readonly pending: number;
  readonly disposed: boolean;
  readonly estimatedMicroseconds: number;
  readonly handle: bigint;
  /** The JS thread completes this stream's work through poll() (false once disposed). */
  readonly jsCompletion: boolean;
  synchronize(): Promise<void>;
  /** Settles completed work now (after spinning up to spinMicroseconds for some); returns the work still in flight. */
  poll(spinMicroseconds?: number): number;
  dispose(): void;
}

export interface NativeDeviceBuffer {
  readonly byteLength: number;
  readonly device: number;
  readonly disposed: boolean;
  readonly address: bigint;
  copyFrom(src: NativeDeviceBuffer | NativeHostBuffer | ArrayBufferView | ArrayBuffer, options: NativeCopyOptions): Promise<void>;
  copyTo(dst: NativeDeviceBuffer | NativeHostBuffer | ArrayBufferView | ArrayBuffer, options: NativeCopyOptions): Promise<void>;
  fill(byte: number, options: { stream: NativeStream }): Promise<void>;
  dispose(): void;
}

export interface NativeCopyOptions {
  stream: NativeStream;
  offset?: number;
  srcOffset?: number;
  dstOffset?: number;
  byteLength?: number;
}

export interface NativeHostBuffer {
  readonly buffer: ArrayBuffer;
  readonly byteLength: number;
  readonly disposed: boolean;
  dispose(): void;
}

export interface NativeRuntimeInfo {
  version: string;
  versionNumber: number;
  flavor: 'full' | 'lean' | 'dispatch';
  libraryPath: string;
  headerVersion: string;
  device: number;
}

export interface NativeTensorInfo {
  name: string;
  mode: 'input' | 'output';
  trtDataType: number;
  shape: number[];
  format: number;
  formatDescription: string;
  location: 'device' | 'host';
  isShapeTensor: boolean;
}

export type NativeProfile = Record<string, { min: number[]; opt: number[]; max: number[] }>;

export interface NativeEngine {
  readonly io: NativeTensorInfo[];
  readonly profiles: NativeProfile[];
  readonly deviceMemorySize: number;
  readonly name: string;
  readonly disposed: boolean;
  layerInformation(): string;
  dispose(): void;
}

export interface NativeRuntime {
  readonly info: NativeRuntimeInfo;
  deserialize(plan: string | ArrayBufferView | ArrayBuffer | NativeHostBuffer): NativeEngine;
  deserializeAsync(plan: string | ArrayBufferView | ArrayBuffer | NativeHostBuffer): Promise<NativeEngine>;
  setLogSeverity(severity: number): void;
  setLogger(fn: ((severity: number, message: string) => void) | undefined): void;
  dispose(): void;
}

export interface NativeBenchmarkResult {
  /** per iteration: host time from its launch to its completion being seen */
  latencyUs: Float64Array;
  /** per iteration: host time of its launch (enqueue) */
  enqueueUs: Float64Array;
  /** per iteration, from CUDA events; with overlap, h2d and d2h are 0 and computeUs spans the input copy to the output copy */
  h2dUs: Float64Array;
  computeUs: Float64Array;
  d2hUs: Float64Array;
  /** each iteration's GPU start and end, ms from the timeline mark (markTimingEpoch); empty without one */
  startMs: Float64Array;
  endMs: Float64Array;
  totalMs: number;
  /** iterations measured */
  iterations: number;
  cudaGraph: boolean;
  overlap: boolean;
  /** event timings that CUDA could not measure (read as NaN) */
  timingErrors: number;
}

/** One run(): shapes in, shapes out, which IO set. */
export interface NativeRunOptions {
  /** [rank, d0, d1, ...] per input in engine IO order; absent: the shapes of the last run (or setInputShape) */
  inputDims?: Int32Array | null;
  /** receives [rank, d0, d1, ...] per output, written when the run is launched (read it after it resolves) */
  outputDims?: Int32Array | null;
  /** IO set (default 0) */
  set?: number;
}

export interface NativeExecutionContext {
  readonly profile: number;
  readonly pending: number;
  readonly disposed: boolean;
  readonly ioSets: number;
  readonly graphCount: number;
  readonly graphLaunches: number;
  setInputShape(name: string, dims: readonly number[]): void;
  getTensorShape(name: string): number[];
  setTensorAddress(name: string, buffer: NativeDeviceBuffer | null, byteOffset?: number, set?: number): void;
  setHostStaging(name: string, buffer: NativeHostBuffer | null, byteOffset?: number, set?: number): void;
  setOptimizationProfile(index: number): void;
  setCudaGraph(enabled: boolean): void;
  setTiming(enabled: boolean, into?: Float64Array | null): void;
  /** Resolves with [h2d, compute, d2h] ms when timing is on, else undefined. */
  run(options?: NativeRunOptions): Promise<Float64Array | undefined>;
  stageInput(name: string, byteOffset: number, data: ArrayBufferView | ArrayBuffer, set?: number): void;
  truncateStaged(name: string, byteLength: number, set?: number): void;
  clearStaged(set?: number): void;
  benchmark(options: { iterations?: number; durationMs?: number; warmupMs?: number; cudaGraph?: boolean; overlap?: boolean }): Promise<NativeBenchmarkResult>;
  dispose(): void;
}

export interface CudaDeviceInfo {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  freeMemory: number;
  multiProcessorCount: number;
  /** Set when the device's properties or memory could not be read (the other fields are then empty or NaN). */
  error?: string;
}

export interface CudaInfo {
  driverVersion: number;
  runtimeVersion: number;
  devices: CudaDeviceInfo[];
}

/** The engine API: what lib/tensorrt wraps. */
export interface NativeEngineApi {
  Stream: new (options?: { device?: number; priority?: number; waitMode?: 'adaptive' | 'spin' | 'block'; spinMicroseconds?: number; jsCompletion?: boolean }) => NativeStream;
  DeviceBuffer: new (byteLength: number, options?: { device?: number }) => NativeDeviceBuffer;
  HostBuffer: new (byteLength: number) => NativeHostBuffer;
  Runtime: new (options?: {
    flavor?: string;
    libraryPath?: string;
    device?: number;
    logSeverity?: number;
    onLog?: (severity: number, message: string) => void;
    hostCodeAllowed?: boolean;
  }) => NativeRuntime;
  /** Not constructible from JS: Runtime.deserialize* make engines (a direct call throws ERR_INVALID_ARGUMENT). */
  Engine: new (...args: never[]) => NativeEngine;
  ExecutionContext: new (
    engine: NativeEngine,
    stream: NativeStream,
    options?: { profile?: number; deviceMemory?: NativeDeviceBuffer; ioSets?: number; maxGraphs?: number },
  ) => NativeExecutionContext;
  cudaInfo(): CudaInfo;
  /** Marks the time origin of timed runs' [start, end] on `device` (a diagnostic; see markTimingEpoch in tensorrt/cuda.ts). */
  markTimingEpoch(device: number): void;
}

/** OS utilities the server needs native code for (lib/server only): not part of the engine API. */
export interface NativeServerUtilities {
  /** A close-on-exec duplicate of a file descriptor (hands an accepted socket to a worker thread). */
  dupFd(fd: number): number;
  /**
   * An ArrayBuffer over [offset, offset + byteSize) of the POSIX shm object `key`, shared read-write,
   * page-locked for the GPU if `pin` and CUDA allows; unmapped when collected. `size()` is the
   * object's size now (-1 after an access faulted), `close()` drops its descriptor (server/shared-memory.ts).
   */
  mapSharedMemory(key: string, offset: number, byteSize: number, pin?: boolean): { buffer: ArrayBuffer; pinned: boolean; size(): number; close(): void };
}

/** The addon itself: how it reports errors, and what it was built from. */
export interface NativeAddonMeta {
  setErrorFactory(fn: (code: string, message: string) => Error): void;
  headerVersion: string;
  addonVersion: string;
  napiVersion: number;
}

/** Everything the addon exports (native/src/addon.cc). */
export interface NativeBinding extends NativeEngineApi, NativeServerUtilities, NativeAddonMeta {}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'tensorrt-node') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new TensorRtError('ERR_NATIVE_NOT_BUILT', 'cannot find the tensorrt-node package root');
    dir = up;
  }
}

let cached: NativeBinding | undefined;
let cachedChoice: AddonChoice | undefined;
let loadError: TensorRtError | undefined;

/**
 * Loads the addon once. Loading needs neither a GPU nor TensorRT; those are looked for at
 * first use (Runtime creation, allocations) and reported then. Which binary loads (a build from
 * source, or the prebuild for the TensorRT major installed here) is lib/native/loader.ts's
 * chooseAddon; `hint` (the first Runtime's options) lets an explicit libraryPath decide.
 */
export function loadNative(hint: { libraryPath?: string; flavor?: string } = {}): NativeBinding {
  if (cached) return cached;
  if (loadError) throw loadError;
  const root = packageRoot();
  const require = createRequire(join(root, 'package.json'));
  const choice = chooseAddon(root, process.env, hint);
  const notBuilt = (why: string, cause?: unknown) =>
    new TensorRtError(
      'ERR_NATIVE_NOT_BUILT',
      `the tensorrt-node native addon could not be loaded (${why}). ` +
        `No prebuilt binary matches ${process.platform}-${process.arch} (Node-API ${process.versions.napi}); build it with ` +
        '`npm run build:native` (needs a C++ compiler; TensorRT and CUDA headers come from TENSORRT_ROOT/CUDA_PATH or are fetched). ' +
        'The ONNX Runtime backend works without it.',
      undefined,
      cause === undefined ? undefined : { cause },
    );
  if ('error' in choice) {
    loadError = notBuilt(choice.error);
    throw loadError;
  }
  let binding: NativeBinding;
  try {
    binding = require(choice.file) as NativeBinding;
  } catch (e) {
    loadError = notBuilt(`${choice.file}: ${(e as Error).message.split('\n')[0]}`, e);
    throw loadError;
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  if (binding.addonVersion !== pkg.version) {
    loadError = new TensorRtError(
      'ERR_NATIVE_NOT_BUILT',
      `the native addon ${choice.file} is version ${binding.addonVersion} but the package is ${pkg.version}: rebuild it with \`npm run build:native\``,
    );
    throw loadError;
  }
  binding.setErrorFactory((code, message) => new TensorRtError(code as ErrorCode, message));
  cached = binding;
  cachedChoice = choice;
  return binding;
}

/** The file of the native addon that loadNative() loads (for child processes), and why that one. */
export function nativeAddonChoice(): AddonChoice {
  if (cachedChoice) return cachedChoice;
  const choice = chooseAddon(packageRoot(), process.env);
  if ('error' in choice) throw new TensorRtError('ERR_NATIVE_NOT_BUILT', `the tensorrt-node native addon is missing: ${choice.error}`);
  return choice;
}

/** The file of the native addon that loadNative() loads (for child processes). */
export function nativeBinaryPath(): string {
  return nativeAddonChoice().file;
}

/** Whether the addon loads here (says nothing about GPUs or TensorRT). */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The plan builder (native/src/builder.cc): added to NativeBinding by declaration merging.

/** What a build would use: the full libnvinfer, the ONNX parser beside it, the GPU. */
export interface NativeBuilderInfo {
  version: string;
  versionNumber: number;
  libraryPath: string;
  parserPath: string;
  parserVersion: string;
  headerVersion: string;
  builderResources: string[];
  device: { index: number; name: string; computeCapability: string };
}

/** One input's shapes in one optimization profile (values, for a shape tensor). */
export interface NativeShapeRange {
  name: string;
  min: number[];
  opt: number[];
  max: number[];
}

/** Everything startBuild takes; numbers are checked again natively. */
export interface NativeBuildSpec {
  libraryPath?: string;
  device?: number;
  /** a file path (read on the build thread; external weights are found beside it) or the model's bytes */
  onnx: string | ArrayBufferView | ArrayBuffer;
  profiles?: NativeShapeRange[][];
  /** dimension 0 of every dynamic input that no profile names ranges over min/opt/max */
  batchProfile?: { min: number; opt: number; max: number };
  /** dynamic inputs that no profile names: their dims (without the batch dimension with batchProfile, else the whole shape) */
  inputDims?: Record<string, number[]>;
  fp16?: boolean;
  bf16?: boolean;
  int8?: boolean;
  noTF32?: boolean;
  stronglyTyped?: boolean;
  calibrationCache?: ArrayBufferView | ArrayBuffer;
  workspaceBytes?: number;
  tacticSharedMemoryBytes?: number;
  /** present (possibly empty): the build uses and returns a timing cache */
  timingCache?: ArrayBufferView | ArrayBuffer;
  builderOptimizationLevel?: number;
  avgTimingIterations?: number;
  versionCompatible?: boolean;
  excludeLeanRuntime?: boolean;
  /** nvinfer1::HardwareCompatibilityLevel: 0 none, 1 ampere+ */
  hardwareCompatibilityLevel?: number;
  /** nvinfer1::ProfilingVerbosity: 0 layer names only, 1 none, 2 detailed */
  profilingVerbosity?: number;
  logSeverity?: number;
  onLog?: (severity: number, message: string) => void;
}

export interface NativeParserError {
  /** nvonnxparser::ErrorCode without the k: 'UNSUPPORTED_NODE', 'INVALID_NODE', ... */
  code: string;
  description: string;
  /** index of the ONNX node, -1 when the error is not about one */
  node: number;
  nodeName: string;
  operator: string;
  localFunctions: string[];
}

export type NativeBuildEvent =
  | { type: 'phaseStart'; phase: string; parent: string | null; steps: number }
  | { type: 'step'; phase: string; step: number }
  | { type: 'phaseEnd'; phase: string }
  | { type: 'warning'; message: string }
  | { type: 'done'; plan: Buffer; timingCache: Buffer | null; io: { name: string; mode: 'input' | 'output'; trtDataType: number; shape: number[] }[]; profiles: number }
  | { type: 'error'; code: string; message: string; parserErrors: NativeParserError[] };

export interface NativeBinding {
  /** Loads the full libnvinfer and the ONNX parser and checks the device; throws ERR_TRT_NOT_FOUND, ERR_TRT_VERSION, ERR_CUDA_UNAVAILABLE. */
  builderInfo(options?: { libraryPath?: string; device?: number }): NativeBuilderInfo;
  /** Starts a build on its own thread; onEvent gets progress, then exactly one 'done' or 'error'. */
  startBuild(spec: NativeBuildSpec, onEvent: (event: NativeBuildEvent) => void): { cancel(): void };
}
