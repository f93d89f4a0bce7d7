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
  latencyUs: Float64Array;
  enqueueUs: Float64Array;
  h2dUs: Float64Array;
  computeUs: Float64Array;
  d2hUs: Float64Array;
  /** each iteration's GPU start and end, ms from the timeline mark (markTimingEpoch); empty without one */
  startMs: Float64Array;
  endMs: Float64Array;
  totalMs: number;
  cudaGraph: boolean;
}

export interface NativeExecutionContext {
  readonly profile: number;
  readonly pending: number;
  readonly disposed: boolean;
  readonly graphCaptured: boolean;
  readonly graphCount: number;
  readonly graphLaunches: number;
  setInputShape(name: string, dims: readonly number[]): void;
  getTensorShape(name: string): number[];
  setTensorAddress(name: string, buffer: NativeDeviceBuffer | null, byteOffset?: number): void;
  setHostStaging(name: string, buffer: NativeHostBuffer | null, byteOffset?: number): void;
  setOptimizationProfile(index: number): void;
  setCudaGraph(enabled: boolean): void;
  setTiming(enabled: boolean, into?: Float64Array | null): void;
  /** Resolves with [h2d, compute, d2h] ms when timing is on, else undefined. */
  run(inputDims?: Int32Array | null, outputDims?: Int32Array | null, parts?: (ArrayBufferView[] | null)[] | null, stagedParts?: number): Promise<Float64Array | undefined>;
  stageInput(name: string, byteOffset: number, data: ArrayBufferView): void;
  benchmark(options: { iterations?: number; durationMs?: number; warmupMs?: number; cudaGraph?: boolean }): Promise<NativeBenchmarkResult>;
  dispose(): void;
}

export interface CudaDeviceInfo {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  freeMemory: number;
  multiProcessorCount: number;
}

export interface CudaInfo {
  driverVersion: number;
  runtimeVersion: number;
  devices: CudaDeviceInfo[];
}

export interface NativeBinding {
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
  ExecutionContext: new (engine: NativeEngine, stream: NativeStream, options?: { profile?: number; deviceMemory?: NativeDeviceBuffer }) => NativeExecutionContext;
  cudaInfo(): CudaInfo;
  /** Marks the time origin of timed runs' [start, end] on `device` (a diagnostic; see markTimingEpoch in tensorrt/cuda.ts). */
  markTimingEpoch(device: number): void;
  /** A close-on-exec duplicate of a file descriptor (hands an accepted socket to a worker thread). */
  dupFd(fd: number): number;
  /** An ArrayBuffer over [offset, offset + byteSize) of the POSIX shm object `key`, shared read-write, page-locked for the GPU if `pin` and CUDA allows; unmapped when collected. */
  mapSharedMemory(key: string, offset: number, byteSize: number, pin?: boolean): { buffer: ArrayBuffer; pinned: boolean };
  /** Tests only: the launch thread's segmented parallel copy on host memory; the segments handed over, in order, as [begin, end, ...]. */
  _copySegments(dst: Uint8Array, parts: Uint8Array[], segmentBytes: number): number[];
  setErrorFactory(fn: (code: string, message: string) => Error): void;
  headerVersion: string;
  addonVersion: string;
  napiVersion: number;
}

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
