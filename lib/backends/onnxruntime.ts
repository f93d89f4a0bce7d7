/**
 * ONNX Runtime (CPU) backend over `onnxruntime-node`: one InferenceSession per instance.
 *
 * Signature: read from the session's input/output metadata. Symbolic or unknown dimensions
 * become -1. maxBatchSize:
 *   - if dimension 0 of some input or output is static (or a tensor is a scalar), the model has
 *     no batch dimension: maxBatchSize is 0, and `options.maxBatchSize > 0` is an ERR_CONFIG;
 *   - if dimension 0 is dynamic on every input and output, the model *may* batch along it; ONNX
 *     says nothing about how large, so the caller passes `options.maxBatchSize` (Triton's
 *     max_batch_size from config.pbtxt). Left out, it is 0: requests then carry the full shape
 *     (dimension 0 included) and run one by one.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { TensorRtError, isTensorRtError } from '../errors.js';
import { matchesArrayType, type DataType, type TypedArray } from '../dtypes.js';
import { Tensor } from '../tensor.js';
import { toTensorFeeds, type NdArrayLike } from '../ndarray.js';
import type { Backend, BackendCreateOptions, BackendInstance, BatchBuilder, ModelSignature, RunOptions, TensorSpec } from './backend.js';
import { ConcatBatches } from './concat-batch.js';

/** The onnxruntime-node versions this backend is tested with (package.json's peerDependencies). */
export const ONNXRUNTIME_NODE_RANGE = '^1.30.0';

// onnxruntime-node (and its 45 MB native library) is an optional peer dependency, loaded on
// first use: importing tensorrt-node for TensorRT alone neither pays for it nor needs it
// installed, and a user who needs it is told how to get it.
type Ort = typeof import('onnxruntime-node');
let ortModule: Promise<Ort> | undefined;
let ortLoaded: Ort | undefined;

/** Did loading fail because onnxruntime-node itself is not installed (not one of its own parts)? */
function isMissingOrt(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /['"]onnxruntime-node['"]/.test((e as Error).message ?? '');
}

async function loadOrt(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => (ortLoaded = ((m as { default?: Ort }).default?.InferenceSession ? (m as { default: Ort }).default : m)),
    (e: unknown) => {
      ortModule = undefined;
      if (isMissingOrt(e)) {
        throw new TensorRtError(
          'ERR_DEPENDENCY_MISSING',
          `the ONNX Runtime backend needs onnxruntime-node, an optional peer dependency of tensorrt-node that is not installed here. ` +
            `Install it next to tensorrt-node: npm install onnxruntime-node@${ONNXRUNTIME_NODE_RANGE} ` +
            '(on linux-x64 its install script downloads CUDA provider libraries from outside the npm registry; ' +
            'ONNXRUNTIME_NODE_INSTALL=skip keeps to the CPU libraries inside the package, which are all this backend uses)',
          { package: 'onnxruntime-node', range: ONNXRUNTIME_NODE_RANGE },
          { cause: e },
        );
      }
      throw new TensorRtError('ERR_BACKEND', `onnxruntime-node could not be loaded: ${e instanceof Error ? e.message : String(e)}`, { package: 'onnxruntime-node' }, { cause: e });
    },
  );
  return ortModule;
}

/**
 * Options passed to onnxruntime-node's InferenceSession.create (its SessionOptions; the common
 * ones are named here so that tensorrt-node's types need no onnxruntime-node installed).
 */
export interface OnnxRuntimeSessionOptions {
  executionProviders?: readonly (string | { readonly name: string; readonly [option: string]: unknown })[];
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
  executionMode?: 'sequential' | 'parallel';
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
  freeDimensionOverrides?: { readonly [dimensionName: string]: number };
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  logVerbosityLevel?: number;
  extra?: Record<string, unknown>;
  /** any other SessionOptions field of the installed onnxruntime-node */
  [option: string]: unknown;
}

/** What an OnnxRuntimeInstance uses of an onnxruntime-node InferenceSession. */
export interface OnnxRuntimeSessionHandle {
  readonly inputMetadata: readonly unknown[];
  readonly outputMetadata: readonly unknown[];
  run(feeds: Record<string, unknown>): Promise<Record<string, unknown>>;
  release(): Promise<void>;
}

export interface OnnxRuntimeCreateOptions extends BackendCreateOptions {
  /** Largest batch along dimension 0 (only for models whose dimension 0 is dynamic); default 0. */
  maxBatchSize?: number;
  /** ORT intra-op threads per session (default: ORT's choice, all cores). */
  intraOpNumThreads?: number;
  /** ORT inter-op threads per session. */
  interOpNumThreads?: number;
  /** Extra session options passed to InferenceSession.create (merged under the fields above). */
  sessionOptions?: OnnxRuntimeSessionOptions;
}

/** ORT type names that map onto our DataType (same names; the TypedArray classes agree). */
const ORT_TO_DTYPE: Record<string, DataType> = {
  float32: 'float32',
  float16: 'float16',
  int8: 'int8',
  uint8: 'uint8',
  int32: 'int32',
  int64: 'int64',
  bool: 'bool',
};

/** Map an ORT tensor type string to our DataType; ERR_DTYPE_MISMATCH for types we do not carry. */
export function dataTypeFromOrt(t: string): DataType {
  const d = ORT_TO_DTYPE[t];
  if (d === undefined) throw new TensorRtError('ERR_DTYPE_MISMATCH', `ONNX Runtime type '${t}' is not supported by tensorrt-node`, { ortType: t });
  return d;
}

/** ONNX Runtime's names of the tensor types this backend carries (the same names as ours). */
export type OrtTensorType = 'float32' | 'float16' | 'int8' | 'uint8' | 'int32' | 'int64' | 'bool';

/** Map our DataType to ORT's type string; ERR_DTYPE_MISMATCH where ORT has no equivalent. */
export function ortTypeFromDataType(t: DataType): OrtTensorType {
  if (ORT_TO_DTYPE[t] !== t) throw new TensorRtError('ERR_DTYPE_MISMATCH', `data type ${t} cannot be passed to ONNX Runtime`, { dtype: t });
  return t as OrtTensorType;
}

function specsFrom(meta: readonly InferenceSession.ValueMetadata[], what: string, path: string): TensorSpec[] {
  return meta.map((m) => {
    if (!m.isTensor) throw new TensorRtError('ERR_DTYPE_MISMATCH', `${what} '${m.name}' of ${path} is not a tensor`, { tensor: m.name });
    return {
      name: m.name,
      dtype: dataTypeFromOrt(m.type),
      shape: m.shape.map((d) => (typeof d === 'number' && Number.isInteger(d) && d >= 0 ? d : -1)),
    };
  });
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class OnnxRuntimeInstance implements BackendInstance {
  readonly kind = 'onnxruntime';
  readonly signature: ModelSignature;
  private session: InferenceSession | undefined;
  private inFlight: Promise<unknown> = Promise.resolve();
  private disposing: Promise<void> | undefined;
  /** Batches are concatenated on the JS thread when they run. */
  private readonly batches: ConcatBatches;

  /** Use OnnxRuntimeBackend.createInstance / createOnnxRuntimeInstances. */
  constructor(session: OnnxRuntimeSessionHandle, signature: ModelSignature) {
    this.session = session as InferenceSession;
    this.signature = signature;
    this.batches = new ConcatBatches(signature, (feeds, options) => this.run(feeds, options));
  }

  createBatch(): BatchBuilder {
    return this.batches.create();
  }

  run(feeds: Record<string, Tensor | NdArrayLike>, options?: RunOptions): Promise<Record<string, Tensor>> {
    if (this.session === undefined || this.disposing !== undefined) {
      return Promise.reject(new TensorRtError('ERR_DISPOSED', 'onnxruntime instance was disposed'));
    }
    let tensors: Record<string, Tensor>;
    try {
      tensors = toTensorFeeds(feeds);
    } catch (e) {
      return Promise.reject(e);
    }
    const session = this.session;
    // Runs of one instance are serialized: the batcher never overlaps them, and dispose() waits.
    const p = this.inFlight.then(() => this.runNow(session, tensors, options));
    this.inFlight = p.catch(() => undefined);
    return p;
  }

  private async runNow(session: InferenceSession, feeds: Record<string, Tensor>, options?: RunOptions): Promise<Record<string, Tensor>> {
    if (options?.signal?.aborted) throw new TensorRtError('ERR_ABORTED', 'run aborted before it started');
    const ortFeeds: Record<string, OrtTensor> = {};
    try {
      for (const [name, t] of Object.entries(feeds)) {
        // Same TypedArray (possibly a view into a batch buffer): no copy.
        ortFeeds[name] = new ortLoaded!.Tensor(ortTypeFromDataType(t.type), t.data as OrtTensor.DataTypeMap[keyof OrtTensor.DataTypeMap] & TypedArray, [...t.dims]);
      }
    } catch (e) {
      if (isTensorRtError(e)) throw e;
      throw new TensorRtError('ERR_BACKEND', `onnxruntime: ${message(e)}`, undefined, { cause: e });
    }
    let out: InferenceSession.OnnxValueMapType;
    try {
      out = await session.run(ortFeeds);
    } catch (e) {
      throw new TensorRtError('ERR_BACKEND', `onnxruntime: ${message(e)}`, undefined, { cause: e });
    }
    const result: Record<string, Tensor> = {};
    for (const [name, v] of Object.entries(out)) {
      const t = v as OrtTensor;
      try {
        const dtype = dataTypeFromOrt(t.type);
        const data = t.data as unknown as TypedArray;
        if (!matchesArrayType(dtype, data)) throw new Error(`output '${name}' has ${data.constructor.name} data for type ${t.type}`);
        result[name] = new Tensor(dtype, data, t.dims.map(Number));
      } catch (e) {
        throw new TensorRtError('ERR_BACKEND', `onnxruntime: ${message(e)}`, { tensor: name }, { cause: e });
      }
    }
    return result;
  }

  dispose(): Promise<void> {
    if (this.disposing === undefined) {
      this.disposing = (async () => {
        await this.inFlight;
        const s = this.session;
        this.session = undefined;
        if (s !== undefined) await s.release();
      })();
    }
    return this.disposing;
  }
}

async function createInstance(modelPath: string, options: OnnxRuntimeCreateOptions = {}): Promise<OnnxRuntimeInstance> {
  const so = { executionProviders: ['cpu'], ...options.sessionOptions } as InferenceSession.SessionOptions;
  if (options.intraOpNumThreads !== undefined) so.intraOpNumThreads = options.intraOpNumThreads;
  if (options.interOpNumThreads !== undefined) so.interOpNumThreads = options.interOpNumThreads;
  const ort = await loadOrt(); // its own errors (not installed: ERR_DEPENDENCY_MISSING) pass as they are
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, so);
  } catch (e) {
    throw new TensorRtError('ERR_BACKEND', `onnxruntime could not load ${modelPath}: ${message(e)}`, { path: modelPath }, { cause: e });
  }
  try {
    const inputs = specsFrom(session.inputMetadata, 'input', modelPath);
    const outputs = specsFrom(session.outputMetadata, 'output', modelPath);
    const dynamicDim0 = [...inputs, ...outputs].every((s) => s.shape.length > 0 && s.shape[0] === -1);
    const want = options.maxBatchSize ?? 0;
    if (!Number.isInteger(want) || want < 0) throw new TensorRtError('ERR_CONFIG', `maxBatchSize must be a non-negative integer, got ${want}`);
    if (want > 0 && !dynamicDim0) {
      throw new TensorRtError('ERR_CONFIG', `${modelPath} has a static dimension 0 on some tensor, so it cannot batch (maxBatchSize ${want} asked)`, { path: modelPath });
    }
    return new OnnxRuntimeInstance(session, { inputs, outputs, maxBatchSize: want });
  } catch (e) {
    await session.release().catch(() => undefined);
    throw e;
  }
}

export class OnnxRuntimeBackend implements Backend {
  readonly kind = 'onnxruntime';
  private readonly defaults: OnnxRuntimeCreateOptions;

  /** `defaults` apply to every createInstance call, under the options given there. */
  constructor(defaults: OnnxRuntimeCreateOptions = {}) {
    this.defaults = defaults;
  }

  accepts(filename: string): boolean {
    return filename.toLowerCase().endsWith('.onnx');
  }

  createInstance(modelPath: string, options?: OnnxRuntimeCreateOptions): Promise<OnnxRuntimeInstance> {
    return createInstance(modelPath, { ...this.defaults, ...options });
  }
}

/** Create `count` independent instances (sessions) of one model; disposes those made if one fails. */
export async function createOnnxRuntimeInstances(modelPath: string, count: number, options: OnnxRuntimeCreateOptions = {}): Promise<OnnxRuntimeInstance[]> {
  if (!Number.isInteger(count) || count < 1) throw new TensorRtError('ERR_INVALID_ARGUMENT', `instance count must be a positive integer, got ${count}`);
  const made: OnnxRuntimeInstance[] = [];
  try {
    for (let i = 0; i < count; i++) made.push(await createInstance(modelPath, options));
  } catch (e) {
    await Promise.allSettled(made.map((m) => m.dispose()));
    throw e;
  }
  return made;
}
