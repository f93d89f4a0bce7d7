/**
 * What the batcher checks before a request is queued (its tensors against the model's
 * signature, the outputs it asks for, the buffers it brings) and the bounds of its options.
 */
import { TensorRtError } from '../errors.js';
import { byteLength, matchesArrayType, typedArrayConstructor, type TypedArray } from '../dtypes.js';
import { Tensor, formatShape, shapeSize } from '../tensor.js';
import type { ModelSignature, TensorSpec } from '../backends/backend.js';
import type { QueuePolicy } from './types.js';

/** Priority levels beyond this are refused: each level is a queue, built up front. */
export const MAX_PRIORITY_LEVELS = 1024;
/**
 * Delays and timeouts beyond this (µs) are refused: one ms under the longest timer Node arms
 * (2^31 - 1 ms), so that float µs arithmetic cannot round a timer past it. The repository's
 * config limit (CONFIG_LIMITS.timerMicroseconds) is this same number.
 */
export const MAX_MICROSECONDS = (2 ** 31 - 2) * 1000;
/** A queue bound beyond this is refused (requests hold their tensors while queued). */
export const MAX_QUEUE_SIZE = 1_000_000;

export function boundedInt(v: number | undefined, what: string, min: number, max: number): number {
  const x = v ?? min;
  if (!Number.isInteger(x) || x < min || x > max) throw new TensorRtError('ERR_CONFIG', `${what} must be an integer from ${min} to ${max}, got ${String(v)}`);
  return x;
}

export function resolvePolicy(p: QueuePolicy | undefined, base: Required<QueuePolicy>): Required<QueuePolicy> {
  const out: Required<QueuePolicy> = { ...base };
  if (p?.maxQueueSize !== undefined) out.maxQueueSize = boundedInt(p.maxQueueSize, 'maxQueueSize', 0, MAX_QUEUE_SIZE);
  if (p?.defaultTimeoutMicroseconds !== undefined) out.defaultTimeoutMicroseconds = boundedInt(p.defaultTimeoutMicroseconds, 'defaultTimeoutMicroseconds', 0, MAX_MICROSECONDS);
  if (p?.timeoutAction !== undefined) {
    if (p.timeoutAction !== 'reject' && p.timeoutAction !== 'delay') throw new TensorRtError('ERR_CONFIG', `timeoutAction must be 'reject' or 'delay'`);
    out.timeoutAction = p.timeoutAction;
  }
  if (p?.allowTimeoutOverride !== undefined) out.allowTimeoutOverride = !!p.allowTimeoutOverride;
  return out;
}

function shapeError(spec: TensorSpec, dims: readonly number[], why: string): TensorRtError {
  return new TensorRtError('ERR_SHAPE_MISMATCH', `input '${spec.name}' has shape ${formatShape(dims)}, the model wants ${formatShape(spec.shape)}: ${why}`, {
    tensor: spec.name,
    expected: [...spec.shape],
    actual: [...dims],
  });
}

export function describeValue(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? ((v as object).constructor?.name ?? 'object') : typeof v;
}

export interface ValidatedInputs {
  /** the request's rows along dimension 0 (1 for models without a batch dimension) */
  items: number;
  /** equal for requests whose non-batch dimensions agree (empty when the model fixes them all) */
  shapeKey: string;
}

export class RequestValidator {
  readonly inputSpecs: ReadonlyMap<string, TensorSpec>;
  readonly outputSpecs: ReadonlyMap<string, TensorSpec>;
  /** every output's name: the outputs of a request that names none (shared, never changed) */
  readonly allOutputs: readonly string[];
  /** some input has a dynamic dimension beyond dimension 0: requests need a shape key */
  readonly keyed: boolean;
  /** per output whose shape is fixed beyond the batch axis: the bytes one item of it takes */
  readonly #outputItemBytes = new Map<string, number>();

  /**
   * batching: requests are batched along dimension 0 (maxBatchSize > 0); sigMaxBatch: the
   * model's own limit on dimension 0 (0: no batch dimension), enforced even without batching.
   */
  constructor(
    signature: ModelSignature,
    readonly batching: boolean,
    readonly maxBatchSize: number,
    readonly sigMaxBatch: number,
  ) {
    this.inputSpecs = new Map(signature.inputs.map((s) => [s.name, s]));
    this.outputSpecs = new Map(signature.outputs.map((s) => [s.name, s]));
    this.allOutputs = Object.freeze(signature.outputs.map((s) => s.name));
    this.keyed = batching && signature.inputs.some((s) => s.shape.slice(1).some((d) => d < 0));
    for (const spec of signature.outputs) {
      const rest = batching || sigMaxBatch > 0 ? spec.shape.slice(1) : spec.shape;
      if (rest.every((d) => d >= 0)) this.#outputItemBytes.set(spec.name, byteLength(spec.dtype, shapeSize(rest)));
    }
  }

  inputs(inputs: Record<string, Tensor>): ValidatedInputs {
    if (inputs === null || typeof inputs !== 'object') throw new TensorRtError('ERR_INVALID_ARGUMENT', 'inputs must be an object of tensors');
    for (const name in inputs) {
      if (!this.inputSpecs.has(name)) throw new TensorRtError('ERR_UNKNOWN_TENSOR', `the model has no input named '${name}'`, { tensor: name });
    }
    let batch = -1;
    let key = '';
    const rowsMatter = this.batching || this.sigMaxBatch > 0;
    const from = rowsMatter ? 1 : 0;
    for (const spec of this.inputSpecs.values()) {
      const t = inputs[spec.name];
      if (t === undefined) throw new TensorRtError('ERR_MISSING_TENSOR', `input '${spec.name}' is required`, { tensor: spec.name });
      if (!(t instanceof Tensor)) throw new TensorRtError('ERR_INVALID_ARGUMENT', `input '${spec.name}' is not a Tensor`, { tensor: spec.name });
      if (t.type !== spec.dtype) throw new TensorRtError('ERR_DTYPE_MISMATCH', `input '${spec.name}' must be ${spec.dtype}, got ${t.type}`, { tensor: spec.name, expected: spec.dtype, actual: t.type });
      const dims = t.dims;
      if (dims.length !== spec.shape.length) throw shapeError(spec, dims, `rank ${dims.length} instead of ${spec.shape.length}`);
      for (let i = from; i < spec.shape.length; i++) {
        const want = spec.shape[i] as number;
        if (want >= 0 && dims[i] !== want) throw shapeError(spec, dims, `dimension ${i} is ${dims[i]}, not ${want}`);
      }
      if (rowsMatter) {
        const k = dims[0] as number;
        if (k < 1) throw shapeError(spec, dims, 'dimension 0 (batch) must be at least 1');
        if (batch === -1) batch = k;
        else if (k !== batch) throw shapeError(spec, dims, `dimension 0 (batch) is ${k} but another input has ${batch}`);
      }
      // Requests batch together only with equal non-batch dimensions; where every one of them is
      // fixed by the model, the checks above made them equal already.
      if (this.keyed) key += dims.length > 1 ? `${dims.slice(1).join(',')};` : ';';
    }
    const limit = this.batching ? this.maxBatchSize : this.sigMaxBatch;
    if (batch > limit && limit > 0) {
      throw new TensorRtError('ERR_BATCH_TOO_LARGE', `request carries ${batch} items, maxBatchSize is ${limit}`, { items: batch, maxBatchSize: limit });
    }
    return { items: batch > 0 ? batch : 1, shapeKey: key };
  }

  outputs(wanted: string[] | undefined): readonly string[] {
    if (wanted === undefined) return this.allOutputs;
    if (!Array.isArray(wanted)) throw new TensorRtError('ERR_INVALID_ARGUMENT', 'outputs must be an array of output names');
    for (const n of wanted) {
      if (typeof n !== 'string' || !this.outputSpecs.has(n)) throw new TensorRtError('ERR_UNKNOWN_TENSOR', `the model has no output named '${String(n)}'`, { tensor: String(n) });
    }
    return [...new Set(wanted)];
  }

  /**
   * Caller-provided output buffers: each names an output the request asked for, has the
   * output's element type, and (where the output's shape is fixed beyond dimension 0) room for
   * the request's rows. Outputs with dynamic dimensions are checked again when scattered.
   */
  outputBuffers(buffers: Record<string, TypedArray>, outputs: readonly string[], items: number): Record<string, TypedArray> {
    if (buffers === null || typeof buffers !== 'object') throw new TensorRtError('ERR_INVALID_ARGUMENT', 'outputBuffers must be an object of TypedArrays');
    for (const name in buffers) {
      const spec = this.outputSpecs.get(name);
      if (spec === undefined) throw new TensorRtError('ERR_UNKNOWN_TENSOR', `the model has no output named '${name}'`, { tensor: name });
      if (!outputs.includes(name)) throw new TensorRtError('ERR_INVALID_ARGUMENT', `a buffer is given for output '${name}', which the request does not ask for`, { tensor: name });
      const b = buffers[name] as TypedArray;
      if (!matchesArrayType(spec.dtype, b)) {
        const want = typedArrayConstructor(spec.dtype).name;
        throw new TensorRtError('ERR_DTYPE_MISMATCH', `the buffer for output '${name}' must be a ${want} (${spec.dtype}), got ${describeValue(b)}`, { tensor: name, expected: want, actual: describeValue(b) });
      }
      const itemBytes = this.#outputItemBytes.get(name);
      if (itemBytes !== undefined) {
        const need = itemBytes * (this.batching || this.sigMaxBatch > 0 ? items : 1);
        if (b.byteLength < need) {
          throw new TensorRtError('ERR_SHAPE_MISMATCH', `the buffer for output '${name}' holds ${b.byteLength} bytes; the request's output needs ${need}`, { tensor: name, expected: need, actual: b.byteLength });
        }
      }
    }
    return buffers;
  }
}
