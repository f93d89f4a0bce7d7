/**
 * Runtime (a loaded TensorRT library) and Engine (a deserialized plan with its IO signature).
 */
import { loadNative, nativeAddonChoice, type NativeBinding, type NativeEngine, type NativeRuntime, type NativeRuntimeInfo } from '../native/binding.js';
import { findTensorRtLibraries, flavorsOf, notFoundMessage } from '../native/loader.js';
import { TensorRtError } from '../errors.js';
import { checkPlanVersion, readPlanFileHeader, readPlanFileHeaderAsync, readPlanHeader, versionRefusal, type PlanHeader } from './plan-header.js';
import { dataTypeFromTrt, type DataType } from '../dtypes.js';
import { ExecutionContext, type ExecutionContextOptions } from './context.js';

/** TensorRT's ILogger severities. */
export const LogSeverity = { internalError: 0, error: 1, warning: 2, info: 3, verbose: 4 } as const;
export type LogSeverityName = keyof typeof LogSeverity;

export interface RuntimeOptions {
  /** 'auto' tries full, then lean, then dispatch. */
  flavor?: 'auto' | 'full' | 'lean' | 'dispatch';
  /**
   * A specific library file to load instead of searching (TENSORRT_LIB_DIR, TENSORRT_ROOT/lib,
   * LD_LIBRARY_PATH, pip's tensorrt_libs, ld.so.cache, the usual install folders: lib/native/loader.ts).
   */
  libraryPath?: string;
  /** CUDA device ordinal (default 0). */
  device?: number;
  /** Messages at or above this severity reach onLog (default 'warning'). */
  logSeverity?: LogSeverityName;
  onLog?: (severity: LogSeverityName, message: string) => void;
  /** Allow plans that embed host code (version-compatible plans with the lean runtime inside). Default false. */
  hostCodeAllowed?: boolean;
}

export type RuntimeInfo = NativeRuntimeInfo;

const SEVERITY_NAMES = Object.keys(LogSeverity) as LogSeverityName[];

function severity(name: LogSeverityName | undefined): number {
  if (name === undefined) return LogSeverity.warning;
  if (!(name in LogSeverity)) throw new TensorRtError('ERR_INVALID_ARGUMENT', `logSeverity must be one of ${SEVERITY_NAMES.join(', ')}`);
  return LogSeverity[name];
}

export class Runtime {
  /** @internal */ readonly native: NativeRuntime;
  constructor(options: RuntimeOptions = {}) {
    const onLog = options.onLog;
    const flavor = options.flavor ?? 'auto';
    const binding = loadNative({ libraryPath: options.libraryPath, flavor });
    const create = (libraryPath: string | undefined) =>
      new binding.Runtime({
        flavor,
        libraryPath,
        device: options.device ?? 0,
        logSeverity: severity(options.logSeverity),
        onLog: onLog ? (s: number, m: string) => onLog(SEVERITY_NAMES[s] ?? 'verbose', m) : undefined,
        hostCodeAllowed: options.hostCodeAllowed ?? false,
      });
    this.native = options.libraryPath !== undefined || flavorsOf(flavor).length === 0 ? create(options.libraryPath) : openFound(binding, flavor, create);
  }
  /** Version, flavor and path of the loaded library. */
  get info(): RuntimeInfo {
    return this.native.info;
  }
  /**
   * Deserializes a plan (file path or bytes) on the calling thread. A missing file is
   * ERR_INVALID_ARGUMENT; bytes that are not a plan ERR_PLAN_INVALID; a plan of another
   * TensorRT version than the runtime ERR_TRT_VERSION naming both (from the plan's header:
   * before TensorRT sees a plan newer than the runtime, after it refused an older one).
   */
  deserialize(plan: string | ArrayBufferView | ArrayBuffer): Engine {
    const header = this.#checkHeader(typeof plan === 'string' ? readPlanFileHeader(plan) : plan, plan);
    try {
      return new Engine(this.native.deserialize(plan), this.native.info.device);
    } catch (e) {
      throw this.#explain(e, header, plan);
    }
  }
  /** Reads and deserializes a plan on a worker thread (checks as deserialize()). */
  async deserializeAsync(plan: string | ArrayBufferView | ArrayBuffer): Promise<Engine> {
    const header = this.#checkHeader(typeof plan === 'string' ? await readPlanFileHeaderAsync(plan) : plan, plan);
    try {
      return new Engine(await this.native.deserializeAsync(plan), this.native.info.device);
    } catch (e) {
      throw this.#explain(e, header, plan);
    }
  }
  #checkHeader(first: ArrayBufferView | ArrayBuffer, plan: string | ArrayBufferView | ArrayBuffer): PlanHeader | undefined {
    const source = typeof plan === 'string' ? `plan file '${plan}'` : 'the plan';
    const header = readPlanHeader(first);
    checkPlanVersion(header, this.native.info.version, this.native.info.libraryPath, source);
    return header;
  }
  /** TensorRT's refusal of a plan of another version, restated with both versions. */
  #explain(e: unknown, header: PlanHeader | undefined, plan: string | ArrayBufferView | ArrayBuffer): unknown {
    if (!(e instanceof TensorRtError) || (e.code !== 'ERR_TRT_VERSION' && e.code !== 'ERR_PLAN_INVALID')) return e;
    const source = typeof plan === 'string' ? `plan file '${plan}'` : 'the plan';
    return versionRefusal(header, this.native.info.version, this.native.info.libraryPath, e, source) ?? e;
  }
  setLogSeverity(s: LogSeverityName): void {
    this.native.setLogSeverity(severity(s));
  }
  /** Engines keep what they need of the runtime; dispose() only ends this handle. */
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Creates the native runtime from the libraries the search finds for the loaded addon's
 * TensorRT major, trying each until one loads, then the addon's own search (the dynamic
 * loader's, which may know a folder the search does not); ERR_TRT_NOT_FOUND lists every place once.
 */
function openFound(binding: NativeBinding, flavor: string, create: (libraryPath: string | undefined) => NativeRuntime): NativeRuntime {
  const major = Number(binding.headerVersion.split('.')[0]);
  const search = findTensorRtLibraries(flavor, [major]);
  const failures: string[] = [];
  const reasons = (e: TensorRtError) => e.message.split('\n').filter((l) => l.startsWith('  - ')).map((l) => l.slice(4));
  for (const hit of search.hits) {
    try {
      return create(hit.path);
    } catch (e) {
      // a file that does not load (not TensorRT, another architecture, a missing dependency): next
      if (!(e instanceof TensorRtError) || e.code !== 'ERR_TRT_NOT_FOUND') throw e;
      failures.push(`${reasons(e)[0] ?? e.message} (${hit.origin})`);
    }
  }
  try {
    return create(undefined);
  } catch (e) {
    if (!(e instanceof TensorRtError) || e.code !== 'ERR_TRT_NOT_FOUND') throw e;
    // what only the dynamic loader's search adds: the bare sonames it was asked for
    for (const r of reasons(e)) if (/^libnvinfer[\w]*\.so\.\d+: /.test(r)) failures.push(`${r} (the dynamic loader's search)`);
  }
  const other = findTensorRtLibraries(flavor, [10, 11].filter((m) => m !== major)).hits[0];
  let note = '';
  if (other) {
    const loaded = nativeAddonChoice();
    note =
      `\nFound ${other.path} (TensorRT ${other.major}, ${other.origin}), but the tensorrt-node binary loaded, ${loaded.file} (${loaded.reason}), ` +
      `is built for TensorRT ${major} (${binding.headerVersion} headers): an installed package picks its binary from the TensorRT it finds when the addon first loads. ` +
      `Point TENSORRT_LIB_DIR at a TensorRT ${major} install, or load a binary built for TensorRT ${other.major} (TRTNODE_ADDON=<file>).`;
  }
  throw new TensorRtError('ERR_TRT_NOT_FOUND', notFoundMessage(flavor, search, failures) + note);
}

export interface TensorInfo {
  name: string;
  mode: 'input' | 'output';
  dtype: DataType;
  /** -1 marks a dynamic dimension. */
  shape: number[];
  formatDescription: string;
  location: 'device' | 'host';
  isShapeTensor: boolean;
}

export interface ShapeRange {
  min: number[];
  opt: number[];
  max: number[];
}

/** One optimization profile: the shape range of every input. */
export type ProfileInfo = Record<string, ShapeRange>;

export class Engine {
  /** @internal */ readonly native: NativeEngine;
  readonly io: readonly TensorInfo[];
  readonly profiles: readonly ProfileInfo[];
  readonly deviceMemorySize: number;
  /** CUDA device the engine lives on. */
  readonly device: number;

  /** @internal */
  constructor(native: NativeEngine, device: number) {
    this.native = native;
    this.device = device;
    this.io = Object.freeze(
      native.io.map((t) => {
        let dtype: DataType;
        try {
          dtype = dataTypeFromTrt(t.trtDataType);
        } catch {
          throw new TensorRtError('ERR_DTYPE_MISMATCH', `tensor '${t.name}' has TensorRT data type ${t.trtDataType}, unknown to this version of tensorrt-node`);
        }
        return Object.freeze({ name: t.name, mode: t.mode, dtype, shape: t.shape, formatDescription: t.formatDescription, location: t.location, isShapeTensor: t.isShapeTensor });
      }),
    );
    this.profiles = Object.freeze(native.profiles);
    this.deviceMemorySize = native.deviceMemorySize;
  }

  get inputs(): TensorInfo[] {
    return this.io.filter((t) => t.mode === 'input');
  }
  get outputs(): TensorInfo[] {
    return this.io.filter((t) => t.mode === 'output');
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  tensor(name: string): TensorInfo {
    const t = this.io.find((x) => x.name === name);
    if (!t) throw new TensorRtError('ERR_UNKNOWN_TENSOR', `the engine has no tensor named '${name}' (it has ${this.io.map((x) => x.name).join(', ')})`);
    return t;
  }
  /** Per-layer information from TensorRT's engine inspector (parsed JSON). */
  layerInformation(): unknown {
    return JSON.parse(this.native.layerInformation());
  }
  createContext(options: ExecutionContextOptions = {}): ExecutionContext {
    return new ExecutionContext(this, options);
  }
  /** Disposes the engine and its contexts; memory goes once the work in flight completes. */
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
