/**
 * Protocol-independent handling of KServe v2 inference requests: turning wire tensors (JSON
 * data, raw bytes or typed gRPC contents) into Tensors checked against the model config, and
 * the model's answers back into wire form. Shared by the HTTP and gRPC front ends.
 */
import { TensorRtError, isTensorRtError } from '../errors.js';
import { byteLength, dataTypeFromKserve, kserveDataType, typedArrayConstructor, type DataType, type TypedArray } from '../dtypes.js';
import { Tensor, shapeSize, formatShape } from '../tensor.js';
import { CONFIG_LIMITS, dataTypeFromConfig, type ModelTensorConfig } from '../repository/config.js';
import type { LoadedModelVersion } from '../repository/repository.js';
import type { InferRequestOptions, ModelStatistics, DurationStat } from '../batcher/types.js';
import type { SharedMemoryRef, SystemSharedMemory } from './shared-memory.js';

export const SERVER_NAME = 'tensorrt-node';
export const SERVER_VERSION = '0.1.0';
export const SERVER_EXTENSIONS = ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics', 'schedule_policy', 'system_shared_memory'];

/** The extensions a server lists: system_shared_memory only while it is enabled. */
export function serverExtensions(shm: Pick<SystemSharedMemory, 'enabled'>): string[] {
  return shm.enabled ? SERVER_EXTENSIONS : SERVER_EXTENSIONS.filter((e) => e !== 'system_shared_memory');
}

export interface WireInput {
  name: string;
  datatype: string;
  shape: unknown;
  /** JSON data, flat or nested, row-major */
  json?: unknown;
  /** raw little-endian bytes */
  raw?: Uint8Array;
  /** typed contents (gRPC InferTensorContents, already the right field for the datatype) */
  typed?: ArrayLike<number | boolean | string | bigint>;
}

function bad(code: 'ERR_INVALID_ARGUMENT' | 'ERR_UNKNOWN_TENSOR' | 'ERR_MISSING_TENSOR' | 'ERR_DTYPE_MISMATCH' | 'ERR_SHAPE_MISMATCH' | 'ERR_BATCH_TOO_LARGE', msg: string): never {
  throw new TensorRtError(code, msg);
}

/**
 * How much structure one inference request may carry, checked before it is decoded into objects
 * (request-guards.ts: a scan of the protobuf wire format for gRPC, a count of the JSON's objects
 * and members for HTTP) and again, against the model, once decoded. A request of
 * 30 MB holding a million tiny inputs would otherwise become a million objects (1.5 GB and seconds
 * of the main thread) before any check could refuse it.
 */
export const REQUEST_LIMITS = Object.freeze({
  /** inputs, requested outputs and (gRPC) raw_input_contents entries, each */
  tensors: 1024,
  /** entries of one parameters map (the request's, an input's, an output's) */
  parameters: 64,
  /** all of the above together, parameters of every tensor included (gRPC: and bytes_contents entries) */
  entries: 4096,
  /** elements of one shape */
  rank: CONFIG_LIMITS.rank,
  /** objects in an HTTP request's JSON (data never holds objects) */
  jsonObjects: 8192,
  /** members of those objects together */
  jsonMembers: 32768,
});

/** The request's inputs and outputs fit the model: no more of each than it has (checked before they are turned into tensors). */
export function checkTensorCounts(model: LoadedModelVersion, inputs: number, outputs: number): void {
  if (inputs > model.config.input.length) bad('ERR_INVALID_ARGUMENT', `the request has ${inputs} inputs; model "${model.name}" has ${model.config.input.length}`);
  if (outputs > model.config.output.length) bad('ERR_INVALID_ARGUMENT', `the request asks for ${outputs} outputs; model "${model.name}" has ${model.config.output.length}`);
}

/** Integer types taken from JSON numbers or typed gRPC contents: their range (a value outside it is refused, never wrapped). */
const INT_RANGE: Partial<Record<DataType, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int32: [-2147483648, 2147483647],
};
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Shapes in metadata: the batch dimension shows as -1 when the model batches. */
export function fullShape(model: LoadedModelVersion, t: ModelTensorConfig): number[] {
  return model.config.max_batch_size > 0 ? [-1, ...t.dims] : [...t.dims];
}

export function modelMetadata(model: LoadedModelVersion, versions: string[]): {
  name: string;
  versions: string[];
  platform: string;
  inputs: Array<{ name: string; datatype: string; shape: number[] }>;
  outputs: Array<{ name: string; datatype: string; shape: number[] }>;
} {
  const md = (t: ModelTensorConfig) => ({ name: t.name, datatype: t.data_type.replace(/^TYPE_/, ''), shape: fullShape(model, t) });
  return { name: model.name, versions, platform: model.config.platform, inputs: model.config.input.map(md), outputs: model.config.output.map(md) };
}

function flatten(v: unknown, out: unknown[], depth = 0): void {
  if (Array.isArray(v)) {
    if (depth > 32) bad('ERR_INVALID_ARGUMENT', 'tensor data is nested too deeply');
    for (const x of v) flatten(x, out, depth + 1);
  } else out.push(v);
}

function fromValues(dtype: DataType, name: string, values: ArrayLike<unknown>): TypedArray {
  const n = values.length;
  switch (dtype) {
    case 'float32': {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const x = values[i];
        if (typeof x !== 'number') bad('ERR_INVALID_ARGUMENT', `input "${name}": element ${i} (${JSON.stringify(x)}) is not a valid FP32 value`);
        a[i] = x;
        // a finite number past FP32's largest would become Infinity
        if (!Number.isFinite(a[i]!) && Number.isFinite(x)) bad('ERR_INVALID_ARGUMENT', `input "${name}": element ${i} (${x}) is out of range for FP32`);
      }
      return a;
    }
    case 'int8':
    case 'uint8':
    case 'int32': {
      const C = typedArrayConstructor(dtype);
      const a = new C(n) as Int32Array;
      const [lo, hi] = INT_RANGE[dtype]!;
      for (let i = 0; i < n; i++) {
        const x = values[i];
        if (typeof x !== 'number' || !Number.isInteger(x)) bad('ERR_INVALID_ARGUMENT', `input "${name}": element ${i} (${JSON.stringify(x)}) is not a valid ${kserveDataType(dtype)} value`);
        if (x < lo || x > hi) bad('ERR_INVALID_ARGUMENT', `input "${name}": element ${i} (${x}) is out of range for ${kserveDataType(dtype)} (${lo}..${hi})`);
        a[i] = x;
      }
      return a;
    }
    case 'int64': {
      const a = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const x = values[i];
        let v: bigint | undefined;
        if (typeof x === 'bigint') v = x;
        else if (typeof x === 'number' && Number.isInteger(x)) {
          // a JSON number (or a gRPC int64 read as a Number) past 2^53 has already lost its low digits
          if (!Number.isSafeInteger(x)) bad('ERR_INVALID_ARGUMENT', `input "${name}": element ${i} (${x}) is beyond ±2^53-1, where a number is not exact: send such INT64 values as strings or binary data`);
          v = BigInt(x);
        } else if (typeof x === 'string' && /^-?\d{1,20}$/.test(x)) v = BigInt(x);
        else bad('ERR_INVALID_ARGUMENT', `input "${name}": element ${i} (${JSON.stringify(x)}) is not a valid INT64 value`);
        if (v! < INT64_MIN || v! > INT64_MAX) bad('ERR_INVALID_ARGUMENT', `input "${name}": element ${i} (${String(x)}) is out of range for INT64`);
        a[i] = v!;
      }
      return a;
    }
    case 'bool': {
      const a = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const x = values[i];
        if (typeof x === 'boolean') a[i] = x ? 1 : 0;
        else if (x === 0 || x === 1) a[i] = x;
        else bad('ERR_INVALID_ARGUMENT', `input "${name}": element ${i} (${JSON.stringify(x)}) is not a valid BOOL value`);
      }
      return a;
    }
    default:
      return bad('ERR_INVALID_ARGUMENT', `input "${name}": ${kserveDataType(dtype)} data must be sent as binary (raw) data`);
  }
}

/**
 * View raw little-endian bytes as the data type's array. The bytes are the request's own (a
 * slice of the HTTP body or of the decoded gRPC message, which nothing else holds or reuses), so
 * when they sit at an offset aligned for the type they are used in place; otherwise they are
 * copied once into a fresh aligned buffer (uninitialised memory, every byte overwritten, so no
 * zero-fill and, for large tensors, memory malloc can recycle instead of new pages).
 */
export function fromRaw(dtype: DataType, bytes: Uint8Array): TypedArray {
  const C = typedArrayConstructor(dtype);
  const n = bytes.byteLength / C.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % C.BYTES_PER_ELEMENT === 0) return new C(bytes.buffer, bytes.byteOffset, n);
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  copy.set(bytes);
  return new C(copy.buffer, copy.byteOffset, n);
}

/** Check wire inputs against the model config and build the Tensors for scheduler.infer(). */
export function buildInputs(model: LoadedModelVersion, inputs: WireInput[]): Record<string, Tensor> {
  const cfg = model.config;
  const batching = cfg.max_batch_size > 0;
  const out: Record<string, Tensor> = {};
  let batch: number | undefined;
  for (const w of inputs) {
    if (typeof w.name !== 'string' || !w.name) bad('ERR_INVALID_ARGUMENT', 'every input needs a name');
    if (out[w.name]) bad('ERR_INVALID_ARGUMENT', `input "${w.name}" is given more than once`);
    const spec = cfg.input.find((i) => i.name === w.name);
    if (!spec) bad('ERR_UNKNOWN_TENSOR', `unexpected inference input "${w.name}" for model "${model.name}" (inputs: ${cfg.input.map((i) => i.name).join(', ')})`);
    if (typeof w.datatype !== 'string') bad('ERR_INVALID_ARGUMENT', `input "${w.name}": datatype must be a string`);
    const dtype = dataTypeFromKserve(w.datatype);
    if (!dtype) bad('ERR_INVALID_ARGUMENT', `input "${w.name}": unsupported datatype "${w.datatype}"`);
    const want = dataTypeFromConfig(spec!.data_type)!;
    if (dtype !== want) bad('ERR_DTYPE_MISMATCH', `input "${w.name}": datatype ${w.datatype} does not match the model's ${kserveDataType(want)}`);
    if (!Array.isArray(w.shape) || w.shape.length > REQUEST_LIMITS.rank || !w.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      bad('ERR_INVALID_ARGUMENT', `input "${w.name}": shape must be an array of at most ${REQUEST_LIMITS.rank} non-negative integers`);
    }
    const shape = w.shape as number[];
    const dims = spec!.dims;
    const rank = dims.length + (batching ? 1 : 0);
    if (shape.length !== rank) bad('ERR_SHAPE_MISMATCH', `input "${w.name}": shape ${formatShape(shape)} has rank ${shape.length}, the model expects ${formatShape(batching ? [-1, ...dims] : dims)}`);
    const rest = batching ? shape.slice(1) : shape;
    if (!rest.every((d, i) => dims[i] === -1 || dims[i] === d)) bad('ERR_SHAPE_MISMATCH', `input "${w.name}": shape ${formatShape(shape)} does not match the model's ${formatShape(batching ? [-1, ...dims] : dims)}`);
    if (batching) {
      const b = shape[0]!;
      if (b < 1) bad('ERR_SHAPE_MISMATCH', `input "${w.name}": batch size must be at least 1`);
      if (b > cfg.max_batch_size) bad('ERR_BATCH_TOO_LARGE', `input "${w.name}": batch size ${b} exceeds the model's max_batch_size ${cfg.max_batch_size}`);
      if (batch !== undefined && batch !== b) bad('ERR_SHAPE_MISMATCH', `input "${w.name}": batch size ${b} differs from the other inputs' ${batch}`);
      batch = b;
    }
    const count = shapeSize(shape);
    let data: TypedArray;
    const sources = [w.json !== undefined, w.raw !== undefined, w.typed !== undefined].filter(Boolean).length;
    if (sources === 0) bad('ERR_INVALID_ARGUMENT', `input "${w.name}" has no data`);
    if (sources > 1) bad('ERR_INVALID_ARGUMENT', `input "${w.name}" has data in more than one form`);
    if (w.raw !== undefined) {
      const need = byteLength(dtype!, count);
      if (w.raw.byteLength !== need) bad('ERR_SHAPE_MISMATCH', `input "${w.name}": shape ${formatShape(shape)} of ${w.datatype} needs ${need} bytes, got ${w.raw.byteLength}`);
      data = fromRaw(dtype!, w.raw);
    } else {
      let values: ArrayLike<unknown>;
      if (w.typed !== undefined) values = w.typed;
      else {
        const flat: unknown[] = [];
        flatten(w.json, flat);
        values = flat;
      }
      if (values.length !== count) bad('ERR_SHAPE_MISMATCH', `input "${w.name}": shape ${formatShape(shape)} needs ${count} elements, got ${values.length}`);
      data = fromValues(dtype!, w.name, values);
    }
    out[w.name] = new Tensor(dtype!, data, shape);
  }
  for (const spec of cfg.input) {
    if (!out[spec.name] && !spec.optional) bad('ERR_MISSING_TENSOR', `expected input "${spec.name}" for model "${model.name}" is missing`);
  }
  return out;
}

/** Output names asked for: all of the config's when none are named. */
export function requestedOutputs(model: LoadedModelVersion, names: string[] | undefined): string[] {
  if (!names || names.length === 0) return model.config.output.map((o) => o.name);
  const seen = new Set<string>();
  for (const n of names) {
    if (typeof n !== 'string' || !model.config.output.some((o) => o.name === n)) {
      bad('ERR_UNKNOWN_TENSOR', `unexpected inference output "${String(n)}" for model "${model.name}" (outputs: ${model.config.output.map((o) => o.name).join(', ')})`);
    }
    if (seen.has(n)) bad('ERR_INVALID_ARGUMENT', `output "${n}" is requested more than once`);
    seen.add(n);
  }
  return names;
}

/**
 * InferRequestOptions.outputBuffers for the requested outputs written to shared memory (`refs`):
 * views of their regions, so that the scheduler writes each output there instead of into an
 * array of its own that writeOutput would then copy. Only outputs whose size the model's
 * signature fixes (given the request's batch size) and whose region holds them at an aligned
 * offset get one, so that the scheduler's checks of these buffers cannot fail; the others are
 * left to writeOutput, which copies them into their regions. Undefined when none.
 */
export function sharedMemoryOutputBuffers(
  model: LoadedModelVersion,
  inputs: Record<string, Tensor>,
  refs: ReadonlyMap<string, SharedMemoryRef> | undefined,
  shm: SystemSharedMemory,
): Record<string, TypedArray> | undefined {
  if (refs === undefined) return undefined;
  const batching = model.config.max_batch_size > 0;
  let items = 1; // the request's batch size
  if (batching) {
    let first: Tensor | undefined;
    for (const name in inputs) {
      first = inputs[name];
      break;
    }
    if (first === undefined || first.dims.length === 0) return undefined;
    items = first.dims[0]!;
  }
  let buffers: Record<string, TypedArray> | undefined;
  for (const spec of model.signature.outputs) {
    const ref = refs.get(spec.name);
    if (ref === undefined) continue;
    // the bytes the scheduler copies for this request: a row's bytes times the batch size
    const row = batching ? spec.shape.slice(1) : spec.shape;
    if (row.some((d) => d < 0)) continue;
    const view = shm.outputView(ref, spec.dtype, byteLength(spec.dtype, shapeSize(row)) * items);
    if (view !== undefined) (buffers ??= {})[spec.name] = view;
  }
  return buffers;
}

/** Raw little-endian bytes of a tensor (a copy). */
export function tensorBytes(t: Tensor): Buffer {
  return Buffer.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

/**
 * The JSON text of an inference response. Non-finite FP32 values are written as Triton writes them
 * (its JSON writer's NaN/Infinity flag): the bare tokens NaN, Infinity and -Infinity, which
 * tritonclient (Python's json and rapidjson) reads back, where JSON.stringify would write null and
 * lose them. Strict JSON parsers (JSON.parse) refuse those tokens: such clients ask for binary outputs.
 */
export function inferResponseJson(head: Record<string, unknown>, outputs: Array<Record<string, unknown>>): string {
  const nonFinite = outputs.some((o) => Array.isArray(o.data) && o.data.some((v) => typeof v === 'number' && !Number.isFinite(v)));
  if (!nonFinite) return JSON.stringify({ ...head, outputs });
  const parts = outputs.map((o) => {
    if (!Array.isArray(o.data)) return JSON.stringify(o);
    const { data, ...meta } = o;
    const values = (data as unknown[]).map((v) => (typeof v !== 'number' || Number.isFinite(v) ? JSON.stringify(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity'));
    const rest = JSON.stringify(meta);
    return `${rest.slice(0, -1)}${rest.length > 2 ? ',' : ''}"data":[${values.join(',')}]}`;
  });
  const h = JSON.stringify(head);
  return `${h.slice(0, -1)}${h.length > 2 ? ',' : ''}"outputs":[${parts.join(',')}]}`;
}

/** JSON values of a tensor (flat, row-major). */
export function tensorJson(t: Tensor): Array<number | boolean> {
  switch (t.type) {
    case 'bool':
      return Array.from(t.data as Uint8Array, (x) => x !== 0);
    case 'int64':
      return Array.from(t.data as BigInt64Array, (x) => Number(x));
    case 'float32':
    case 'int8':
    case 'uint8':
    case 'int32':
      return Array.from(t.data as Float32Array);
    default:
      throw new TensorRtError('ERR_INVALID_ARGUMENT', `${kserveDataType(t.type)} outputs can only be returned as binary data (request binary_data: true)`);
  }
}

/** Request-level options from KServe parameters ("priority", "timeout" in µs). */
export function requestOptions(params: Record<string, unknown> | undefined, outputs: string[]): InferRequestOptions {
  const o: InferRequestOptions = { outputs };
  if (!params) return o;
  const num = (k: string): number | undefined => {
    const v = params[k];
    if (v === undefined) return undefined;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) bad('ERR_INVALID_ARGUMENT', `parameter "${k}" must be a non-negative integer`);
    return n as number;
  };
  const p = num('priority');
  if (p !== undefined && p > 0) o.priority = p;
  const t = num('timeout');
  // the batcher arms a timer for it: Node's timers go no further than 2^31-1 ms
  if (t !== undefined && t > CONFIG_LIMITS.timerMicroseconds) bad('ERR_INVALID_ARGUMENT', `parameter "timeout" ${t} µs exceeds the limit of ${CONFIG_LIMITS.timerMicroseconds} µs`);
  if (t !== undefined && t > 0) o.timeoutMicroseconds = t;
  return o;
}

// ---------------------------------------------------------------------------------------------
// errors

const BAD_REQUEST = new Set([
  'ERR_INVALID_ARGUMENT',
  'ERR_UNKNOWN_TENSOR',
  'ERR_MISSING_TENSOR',
  'ERR_DTYPE_MISMATCH',
  'ERR_SHAPE_MISMATCH',
  'ERR_SHAPE_OUT_OF_PROFILE',
  'ERR_BATCH_TOO_LARGE',
  'ERR_BUFFER_TOO_SMALL',
  'ERR_CONFIG',
]);
const UNAVAILABLE = new Set(['ERR_MODEL_NOT_READY', 'ERR_CLOSED', 'ERR_QUEUE_FULL', 'ERR_TIMEOUT', 'ERR_ABORTED', 'ERR_DISPOSED']);

export function httpStatusFor(e: unknown): number {
  if (isTensorRtError(e)) {
    if (e.code === 'ERR_MODEL_NOT_FOUND') return 404;
    if (BAD_REQUEST.has(e.code)) return 400;
    if (UNAVAILABLE.has(e.code)) return 503;
  }
  return 500;
}

/** gRPC status codes (numeric, as in @grpc/grpc-js status). */
export function grpcStatusFor(e: unknown): number {
  if (isTensorRtError(e)) {
    if (e.code === 'ERR_MODEL_NOT_FOUND') return 5; // NOT_FOUND
    if (BAD_REQUEST.has(e.code)) return 3; // INVALID_ARGUMENT
    if (UNAVAILABLE.has(e.code)) return 14; // UNAVAILABLE
  }
  return 13; // INTERNAL
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------
// statistics (Triton's statistics extension)

function dur(d: DurationStat): { count: number; ns: number } {
  return { count: d.count, ns: Math.round(d.ns) };
}

export function statisticsJson(name: string, version: number, s: ModelStatistics): Record<string, unknown> {
  return {
    name,
    version: String(version),
    last_inference: s.lastInference,
    inference_count: s.inferenceCount,
    execution_count: s.executionCount,
    inference_stats: {
      success: dur(s.success),
      fail: dur(s.fail),
      queue: dur(s.queue),
      compute_input: dur(s.computeInput),
      compute_infer: dur(s.computeInfer),
      compute_output: dur(s.computeOutput),
      cache_hit: { count: 0, ns: 0 },
      cache_miss: { count: 0, ns: 0 },
    },
    batch_stats: s.batchStats.map((b) => ({
      batch_size: b.batchSize,
      compute_input: dur(b.computeInput),
      compute_infer: dur(b.computeInfer),
      compute_output: dur(b.computeOutput),
    })),
  };
}

/** KServe datatype string of an output tensor. */
export function kserveOutputDatatype(t: Tensor): string {
  return kserveDataType(t.type);
}
