/**
 * Building plans from ONNX models in Node: what `trtexec --onnx=model.onnx --saveEngine=model.plan`
 * does, through the builder and ONNX parser of the installed TensorRT (libnvinfer and
 * libnvonnxparser, loaded at run time as the runtime is). The build runs on a native thread of
 * its own, reports TensorRT's progress, and stops at its next step when the signal aborts.
 *
 * ```ts
 * const { plan } = await build({ onnx: 'model.onnx', fp16: true, saveEngine: 'model.plan',
 *   profiles: [{ input: { min: [1, 3, 224, 224], opt: [16, 3, 224, 224], max: [32, 3, 224, 224] } }] });
 * ```
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { loadNative, type NativeBuildEvent, type NativeBuildSpec, type NativeParserError } from '../native/binding.js';
import { TensorRtError, isTensorRtError, type ErrorCode } from '../errors.js';
import { dataTypeFromTrt, type DataType } from '../dtypes.js';
import { LogSeverity, type LogSeverityName, type ShapeRange } from './runtime.js';

/** What a build would use: the TensorRT library, its ONNX parser, the GPU. */
export interface BuilderInfo {
  /** TensorRT version of the loaded libnvinfer, e.g. '10.6.0' */
  tensorrtVersion: string;
  libraryPath: string;
  parserPath: string;
  parserVersion: string;
  /**
   * The builder resources (libnvinfer_builder_resource*.so.X.Y.Z) loaded from libnvinfer's folder
   * ahead of TensorRT's own search, which only looks on LD_LIBRARY_PATH and the system's folders.
   * Empty when none is there (the builder may still find one on its own search path).
   */
  builderResources: string[];
  device: { index: number; name: string; computeCapability: string };
}

/** TensorRT's IProgressMonitor as events: phases nest (parent names the enclosing phase). */
export type BuildProgressEvent =
  | { type: 'phaseStart'; phase: string; parent: string | null; steps: number }
  | { type: 'step'; phase: string; step: number }
  | { type: 'phaseEnd'; phase: string }
  /** something the build chose for you (e.g. a dynamic dimension without shapes set to 1) */
  | { type: 'warning'; message: string };

export type HardwareCompatibilityLevel = 'none' | 'ampere+';
export type ProfilingVerbosity = 'layer_names_only' | 'detailed' | 'none';

export interface BuildOptions {
  /** The ONNX model: a file (external weights are found beside it) or its bytes. trtexec `--onnx`. */
  onnx: string | Uint8Array | ArrayBuffer;
  /**
   * Optimization profiles, each the shape range of the model's dynamic inputs by name (values for
   * a shape tensor). trtexec `--minShapes/--optShapes/--maxShapes`, several with `--profile`.
   * A dynamic input that a profile leaves out gets its dynamic dimensions set to 1, as trtexec does.
   */
  profiles?: Array<Record<string, ShapeRange>>;
  /**
   * The model repository's form of a profile: dimension 0 of every dynamic input ranges over
   * min/opt/max (the batch); other dynamic dimensions come from inputDims.
   */
  batchProfile?: { min: number; opt: number; max: number };
  /**
   * Shapes for dynamic inputs that no profile names (a model config's dims): without the batch
   * dimension when batchProfile is given, else the whole shape (a static profile).
   */
  inputDims?: Record<string, number[]>;
  /** trtexec `--fp16` */
  fp16?: boolean;
  /** trtexec `--bf16` */
  bf16?: boolean;
  /**
   * trtexec `--int8`. Without a calibrationCache and without Q/DQ layers in the model, every tensor
   * gets a placeholder range (trtexec's behaviour): fast, but the outputs are not accurate.
   */
  int8?: boolean;
  /** trtexec `--best`: fp16 + int8, and bf16 on GPUs of compute capability 8.0 and newer. */
  best?: boolean;
  /** INT8 calibration cache (trtexec `--calib=<file>`): a file or its bytes. Needs int8 or best. */
  calibrationCache?: string | Uint8Array | ArrayBuffer;
  /** Memory pool limits in bytes (trtexec `--memPoolSize`, which counts in MiB by default). */
  memoryPools?: { workspace?: number; tacticSharedMemory?: number };
  /**
   * trtexec `--timingCacheFile`: read when it exists, and the build's updated cache written back
   * (atomically: concurrent builds never leave a torn file; the last one to finish wins).
   */
  timingCacheFile?: string;
  /** 0..5 (trtexec `--builderOptimizationLevel`); TensorRT's default is 3. */
  builderOptimizationLevel?: number;
  /** Timing iterations per tactic (trtexec `--avgTiming`); default 8, trtexec's. */
  avgTimingIterations?: number;
  /** trtexec `--versionCompatible`: the plan runs on later TensorRT 10 versions' lean runtimes too. */
  versionCompatible?: boolean;
  /** trtexec `--excludeLeanRuntime` (with versionCompatible): the plan does not embed the lean runtime. */
  excludeLeanRuntime?: boolean;
  /** trtexec `--hardwareCompatibilityLevel`: 'ampere+' plans run on any GPU from Ampere on. */
  hardwareCompatibilityLevel?: HardwareCompatibilityLevel;
  /** TF32 for FP32 layers (default true; trtexec `--noTF32` turns it off). */
  tf32?: boolean;
  /** trtexec `--stronglyTyped`: the model's types decide precisions (no fp16/bf16/int8 flags then). */
  stronglyTyped?: boolean;
  /** How much of each layer the plan describes (trtexec `--profilingVerbosity`); default 'layer_names_only'. */
  profilingVerbosity?: ProfilingVerbosity;
  /** Also write the plan to this file (trtexec `--saveEngine`), atomically. */
  saveEngine?: string;
  /** CUDA device to build for (default 0). */
  device?: number;
  /** The libnvinfer to use instead of searching TENSORRT_LIB_DIR, LD_LIBRARY_PATH and standard paths. */
  libraryPath?: string;
  /** TensorRT messages at or above this severity reach onLog (default 'warning'). */
  logSeverity?: LogSeverityName;
  onLog?: (severity: LogSeverityName, message: string) => void;
  onProgress?: (event: BuildProgressEvent) => void;
  /** Cancels the build at TensorRT's next step: the promise rejects with ERR_ABORTED. */
  signal?: AbortSignal;
}

export interface BuiltTensor {
  name: string;
  mode: 'input' | 'output';
  dtype: DataType;
  /** the network's shape: -1 marks a dynamic dimension */
  shape: number[];
}

export interface BuildResult {
  /** the serialized plan (what `saveEngine` wrote) */
  plan: Buffer;
  io: BuiltTensor[];
  /** optimization profiles in the plan (0 for a model with static inputs) */
  profiles: number;
  warnings: string[];
  tensorrtVersion: string;
  device: { index: number; name: string; computeCapability: string };
  /** wall time of the build, ms */
  buildMs: number;
}

const SEVERITY_NAMES = Object.keys(LogSeverity) as LogSeverityName[];
const INT32_MAX = 2147483647;

function invalid(message: string, details?: Record<string, unknown>): TensorRtError {
  return new TensorRtError('ERR_INVALID_ARGUMENT', message, details);
}

function checkInt(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(`${what} must be an integer within ${min}..${max}, got ${String(v)}`);
  return v;
}

function checkBool(o: Record<string, unknown>, key: string): void {
  if (o[key] !== undefined && typeof o[key] !== 'boolean') throw invalid(`build option ${key} must be a boolean`);
}

function isBytes(v: unknown): v is Uint8Array | ArrayBuffer {
  return v instanceof Uint8Array || v instanceof ArrayBuffer;
}

/**
 * Checks options before anything is loaded; throws ERR_INVALID_ARGUMENT naming the option.
 * Exported for the CLI and the tests.
 */
export function validateBuildOptions(options: BuildOptions): void {
  if (options === null || typeof options !== 'object') throw invalid('build(options): options must be an object');
  const o = options as unknown as Record<string, unknown>;
  if (typeof options.onnx === 'string') {
    if (options.onnx.trim() === '') throw invalid('build option onnx is an empty path');
  } else if (!isBytes(options.onnx)) {
    throw invalid('build option onnx must be a file path or the model bytes (Uint8Array / ArrayBuffer)');
  } else if (options.onnx.byteLength === 0) {
    throw invalid('build option onnx is empty (0 bytes)');
  }
  for (const k of ['fp16', 'bf16', 'int8', 'best', 'versionCompatible', 'excludeLeanRuntime', 'tf32', 'stronglyTyped']) checkBool(o, k);
  if (options.profiles !== undefined) {
    if (!Array.isArray(options.profiles)) throw invalid('build option profiles must be an array of { inputName: { min, opt, max } }');
    options.profiles.forEach((p, i) => {
      if (p === null || typeof p !== 'object' || Array.isArray(p)) throw invalid(`profile ${i} must be an object { inputName: { min, opt, max } }`);
      if (Object.keys(p).length === 0) throw invalid(`profile ${i} names no input`);
      for (const [name, r] of Object.entries(p)) checkRange(name, r, i);
    });
  }
  if (options.batchProfile !== undefined) {
    const b = options.batchProfile;
    if (b === null || typeof b !== 'object') throw invalid('build option batchProfile must be { min, opt, max }');
    checkInt(b.min, 'batchProfile.min', 1, INT32_MAX);
    checkInt(b.opt, 'batchProfile.opt', 1, INT32_MAX);
    checkInt(b.max, 'batchProfile.max', 1, INT32_MAX);
    if (!(b.min <= b.opt && b.opt <= b.max)) throw invalid(`batchProfile needs min <= opt <= max, got ${b.min}/${b.opt}/${b.max}`);
    if (options.profiles?.length) throw invalid('build options profiles and batchProfile exclude each other');
  }
  if (options.inputDims !== undefined) {
    for (const [name, dims] of Object.entries(options.inputDims)) {
      if (!Array.isArray(dims) || dims.length > 8) throw invalid(`inputDims of '${name}' must be an array of at most 8 dimensions`);
      dims.forEach((d, k) => checkInt(d, `inputDims of '${name}' [${k}]`, -1, INT32_MAX));
    }
  }
  const low = options.int8 === true || options.best === true;
  if (options.calibrationCache !== undefined) {
    if (typeof options.calibrationCache !== 'string' && !isBytes(options.calibrationCache)) throw invalid('build option calibrationCache must be a file path or bytes');
    if (!low) throw invalid('a calibration cache (--calib) needs int8 (or best)');
  }
  if (options.stronglyTyped && (options.fp16 || options.bf16 || options.int8 || options.best)) {
    throw invalid('a strongly typed network takes its precisions from the model: fp16, bf16, int8 and best do not apply (trtexec --stronglyTyped)');
  }
  if (options.memoryPools !== undefined) {
    if (options.memoryPools === null || typeof options.memoryPools !== 'object') throw invalid('build option memoryPools must be { workspace?, tacticSharedMemory? }');
    for (const [k, v] of Object.entries(options.memoryPools)) {
      if (k !== 'workspace' && k !== 'tacticSharedMemory') throw invalid(`unknown memory pool '${k}' (workspace, tacticSharedMemory)`);
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > Number.MAX_SAFE_INTEGER)) throw invalid(`memory pool ${k} must be a number of bytes >= 0, got ${String(v)}`);
    }
  }
  if (options.timingCacheFile !== undefined && (typeof options.timingCacheFile !== 'string' || options.timingCacheFile === '')) throw invalid('build option timingCacheFile must be a file path');
  if (options.saveEngine !== undefined && (typeof options.saveEngine !== 'string' || options.saveEngine === '')) throw invalid('build option saveEngine must be a file path');
  if (options.builderOptimizationLevel !== undefined) checkInt(options.builderOptimizationLevel, 'builderOptimizationLevel', 0, 5);
  if (options.avgTimingIterations !== undefined) checkInt(options.avgTimingIterations, 'avgTimingIterations', 1, INT32_MAX);
  if (options.excludeLeanRuntime && !options.versionCompatible) throw invalid('excludeLeanRuntime needs versionCompatible (a lean runtime is embedded only in version-compatible plans)');
  if (options.hardwareCompatibilityLevel !== undefined && !['none', 'ampere+'].includes(options.hardwareCompatibilityLevel)) {
    throw invalid(`hardwareCompatibilityLevel must be 'none' or 'ampere+', got '${String(options.hardwareCompatibilityLevel)}'`);
  }
  if (options.profilingVerbosity !== undefined && !['layer_names_only', 'detailed', 'none'].includes(options.profilingVerbosity)) {
    throw invalid(`profilingVerbosity must be 'layer_names_only', 'detailed' or 'none', got '${String(options.profilingVerbosity)}'`);
  }
  if (options.device !== undefined) checkInt(options.device, 'device', 0, INT32_MAX);
  if (options.libraryPath !== undefined && typeof options.libraryPath !== 'string') throw invalid('build option libraryPath must be a string');
  if (options.logSeverity !== undefined && !(options.logSeverity in LogSeverity)) throw invalid(`logSeverity must be one of ${SEVERITY_NAMES.join(', ')}`);
  if (options.onLog !== undefined && typeof options.onLog !== 'function') throw invalid('build option onLog must be a function');
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw invalid('build option onProgress must be a function');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalid('build option signal must be an AbortSignal');
}

function checkRange(name: string, r: unknown, profile: number): void {
  const where = `profile ${profile}, input '${name}'`;
  if (name === '') throw invalid(`profile ${profile} has an input without a name`, { profile });
  if (r === null || typeof r !== 'object') throw invalid(`${where}: expected { min, opt, max }`, { profile, tensor: name });
  const range = r as Record<string, unknown>;
  const dims: Record<string, number[]> = {};
  for (const k of ['min', 'opt', 'max']) {
    const v = range[k];
    if (!Array.isArray(v) || v.length > 64) throw invalid(`${where}: ${k} must be an array of dimensions`, { profile, tensor: name });
    v.forEach((d, i) => checkInt(d, `${where}: ${k}[${i}]`, 0, INT32_MAX));
    dims[k] = v as number[];
  }
  const { min, opt, max } = dims as { min: number[]; opt: number[]; max: number[] };
  if (min.length !== opt.length || opt.length !== max.length) {
    throw invalid(`${where}: min, opt and max have different ranks (${min.length}, ${opt.length}, ${max.length})`, { profile, tensor: name });
  }
  for (let i = 0; i < min.length; i++) {
    if (!(min[i]! <= opt[i]! && opt[i]! <= max[i]!)) {
      throw invalid(`${where}: dimension ${i} needs min <= opt <= max, got ${min[i]} / ${opt[i]} / ${max[i]} (${min.join('x')}, ${opt.join('x')}, ${max.join('x')})`, { profile, tensor: name, dimension: i });
    }
  }
}

/**
 * The TensorRT builder this process would use: loads libnvinfer (full) and the ONNX parser and
 * checks the device. Throws ERR_NATIVE_NOT_BUILT, ERR_TRT_NOT_FOUND, ERR_TRT_VERSION or ERR_CUDA_UNAVAILABLE.
 */
export function builderInfo(options: { libraryPath?: string; device?: number } = {}): BuilderInfo {
  if (options.device !== undefined) checkInt(options.device, 'device', 0, INT32_MAX);
  const spec: { libraryPath?: string; device?: number } = {};
  if (options.libraryPath !== undefined) spec.libraryPath = options.libraryPath;
  if (options.device !== undefined) spec.device = options.device;
  const i = loadNative().builderInfo(spec);
  return { tensorrtVersion: i.version, libraryPath: i.libraryPath, parserPath: i.parserPath, parserVersion: i.parserVersion, builderResources: i.builderResources, device: i.device };
}

async function readInput(what: string, p: string): Promise<Buffer> {
  try {
    return await fs.readFile(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw invalid(`cannot read the ${what} '${p}': ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message}`, { path: p });
  }
}

/**
 * Writes a file so that readers see the old content or the new, never a torn one: a temporary
 * file beside the target, flushed, then renamed over it.
 */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'wx', 0o644);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, file);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

function parserDetails(errors: NativeParserError[]): Record<string, unknown> {
  const first = errors.find((e) => e.node >= 0) ?? errors[0];
  const d: Record<string, unknown> = { parserErrors: errors };
  if (first && first.node >= 0) {
    d.node = first.node;
    d.nodeName = first.nodeName;
    d.operator = first.operator;
  }
  return d;
}

const KNOWN_CODES = new Set<string>([
  'ERR_TRT_NOT_FOUND', 'ERR_TRT_VERSION', 'ERR_CUDA_UNAVAILABLE', 'ERR_CUDA', 'ERR_OUT_OF_MEMORY', 'ERR_TRT', 'ERR_INVALID_ARGUMENT', 'ERR_UNKNOWN_TENSOR',
  'ERR_SHAPE_MISMATCH', 'ERR_DETACHED_BUFFER', 'ERR_ABORTED', 'ERR_CONFIG', 'ERR_ONNX_INVALID', 'ERR_ONNX_UNSUPPORTED', 'ERR_BUILD_FAILED',
]);

function errorFromNative(ev: { code: string; message: string; parserErrors: NativeParserError[] }, signal: AbortSignal | undefined): TensorRtError {
  const code = (KNOWN_CODES.has(ev.code) ? ev.code : 'ERR_TRT') as ErrorCode;
  const details = ev.parserErrors.length ? parserDetails(ev.parserErrors) : undefined;
  const cause = code === 'ERR_ABORTED' && signal?.aborted ? { cause: signal.reason as unknown } : undefined;
  return new TensorRtError(code, ev.message, details, cause);
}

/**
 * Builds a plan from an ONNX model. Resolves with the plan's bytes (and writes saveEngine and
 * timingCacheFile when given); rejects with a TensorRtError: ERR_INVALID_ARGUMENT for options,
 * ERR_TRT_NOT_FOUND / ERR_CUDA_UNAVAILABLE for what is missing, ERR_ONNX_INVALID or
 * ERR_ONNX_UNSUPPORTED naming the ONNX node (details.parserErrors), ERR_UNKNOWN_TENSOR or
 * ERR_SHAPE_MISMATCH for profiles that do not fit the model, ERR_BUILD_FAILED, ERR_ABORTED.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  validateBuildOptions(options);
  const signal = options.signal;
  const aborted = (): TensorRtError => new TensorRtError('ERR_ABORTED', 'the build was cancelled', undefined, { cause: signal?.reason as unknown });
  if (signal?.aborted) throw aborted();

  // files first: a wrong path is the caller's, whatever the machine has
  if (typeof options.onnx === 'string') {
    const st = await fs.stat(options.onnx).catch(() => undefined);
    if (!st) throw invalid(`no such ONNX model: '${options.onnx}'`, { path: options.onnx });
    if (!st.isFile()) throw invalid(`the ONNX model '${options.onnx}' is not a file`, { path: options.onnx });
  }
  const calibration = typeof options.calibrationCache === 'string' ? await readInput('calibration cache', options.calibrationCache) : options.calibrationCache;
  if (calibration !== undefined && calibration.byteLength === 0) throw invalid('the calibration cache is empty (0 bytes)');
  let timingCache: Buffer | undefined;
  if (options.timingCacheFile !== undefined) {
    try {
      timingCache = await fs.readFile(options.timingCacheFile);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw invalid(`cannot read the timing cache '${options.timingCacheFile}': ${(e as Error).message}`);
      timingCache = Buffer.alloc(0); // trtexec starts an empty one and writes it after the build
    }
  }
  if (signal?.aborted) throw aborted();

  const native = loadNative();
  const info = builderInfo({ ...(options.libraryPath !== undefined ? { libraryPath: options.libraryPath } : {}), device: options.device ?? 0 });
  const [major, minor] = info.device.computeCapability.split('.').map(Number) as [number, number];
  const best = options.best === true;
  const spec: NativeBuildSpec = {
    device: options.device ?? 0,
    onnx: typeof options.onnx === 'string' ? path.resolve(options.onnx) : options.onnx,
    fp16: options.fp16 === true || best,
    int8: options.int8 === true || best,
    // BF16 kernels exist from Ampere (compute capability 8.0) on; --best asks for them only there, as trtexec does
    bf16: options.bf16 === true || (best && major * 10 + minor >= 80),
    noTF32: options.tf32 === false,
    stronglyTyped: options.stronglyTyped === true,
    avgTimingIterations: options.avgTimingIterations ?? 8,
    versionCompatible: options.versionCompatible === true,
    excludeLeanRuntime: options.excludeLeanRuntime === true,
    hardwareCompatibilityLevel: options.hardwareCompatibilityLevel === 'ampere+' ? 1 : 0,
    profilingVerbosity: { layer_names_only: 0, none: 1, detailed: 2 }[options.profilingVerbosity ?? 'layer_names_only'],
    logSeverity: LogSeverity[options.logSeverity ?? 'warning'],
  };
  if (options.libraryPath !== undefined) spec.libraryPath = options.libraryPath;
  if (options.profiles) spec.profiles = options.profiles.map((p) => Object.entries(p).map(([name, r]) => ({ name, min: [...r.min], opt: [...r.opt], max: [...r.max] })));
  if (options.batchProfile) spec.batchProfile = { ...options.batchProfile };
  if (options.inputDims) spec.inputDims = options.inputDims;
  if (calibration !== undefined) spec.calibrationCache = calibration;
  if (options.memoryPools?.workspace !== undefined) spec.workspaceBytes = Math.floor(options.memoryPools.workspace);
  if (options.memoryPools?.tacticSharedMemory !== undefined) spec.tacticSharedMemoryBytes = Math.floor(options.memoryPools.tacticSharedMemory);
  if (timingCache !== undefined) spec.timingCache = timingCache;
  if (options.builderOptimizationLevel !== undefined) spec.builderOptimizationLevel = options.builderOptimizationLevel;
  const onLog = options.onLog;
  if (onLog) spec.onLog = (s: number, m: string) => onLog(SEVERITY_NAMES[s] ?? 'verbose', m);

  const warnings: string[] = [];
  const onProgress = options.onProgress;
  const report = (e: BuildProgressEvent): void => {
    if (!onProgress) return;
    try {
      onProgress(e);
    } catch {
      // a throwing progress callback must not lose the build's result
    }
  };
  const started = performance.now();
  const done = await new Promise<Extract<NativeBuildEvent, { type: 'done' }>>((resolve, reject) => {
    let onAbort: (() => void) | undefined;
    const settle = (): void => {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    };
    const handle = native.startBuild(spec, (ev) => {
      switch (ev.type) {
        case 'done':
          settle();
          resolve(ev);
          break;
        case 'error':
          settle();
          reject(errorFromNative(ev, signal));
          break;
        case 'warning':
          warnings.push(ev.message);
          report(ev);
          break;
        default:
          report(ev);
      }
    });
    if (signal) {
      onAbort = () => handle.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) handle.cancel();
    }
  });
  const buildMs = performance.now() - started;

  const io: BuiltTensor[] = done.io.map((t) => {
    let dtype: DataType;
    try {
      dtype = dataTypeFromTrt(t.trtDataType);
    } catch {
      throw new TensorRtError('ERR_DTYPE_MISMATCH', `tensor '${t.name}' has TensorRT data type ${t.trtDataType}, unknown to this version of tensorrt-node`);
    }
    return { name: t.name, mode: t.mode, dtype, shape: t.shape };
  });
  if (options.timingCacheFile !== undefined && done.timingCache) await writeFileAtomic(options.timingCacheFile, done.timingCache);
  if (options.saveEngine !== undefined) await writeFileAtomic(options.saveEngine, done.plan);
  return { plan: done.plan, io, profiles: done.profiles, warnings, tensorrtVersion: info.tensorrtVersion, device: info.device, buildMs };
}

/** Whether an error means that this machine cannot build plans at all (no TensorRT, no GPU, no addon). */
export function isBuilderUnavailable(e: unknown): boolean {
  return isTensorRtError(e) && ['ERR_TRT_NOT_FOUND', 'ERR_TRT_VERSION', 'ERR_CUDA_UNAVAILABLE', 'ERR_NATIVE_NOT_BUILT'].includes(e.code);
}
