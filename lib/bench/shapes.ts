/**
 * `--shapes name:AxBxC,name2:DxE` (trtexec's syntax) and the resolution of the shapes a bench
 * runs with: given shapes, else static shapes, else the profile's opt shape; `batch` overrides
 * dimension 0. Everything is checked against the engine and profile before any GPU work.
 */
import { TensorRtError } from '../errors.js';
import { formatShape } from '../tensor.js';
import { checkInputShape } from '../tensorrt/shapes.js';
import type { ProfileInfo, TensorInfo } from '../tensorrt/runtime.js';

/** Parses trtexec's `--shapes` value. Throws ERR_INVALID_ARGUMENT on malformed text. */
export function parseShapesSpec(spec: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  if (spec.trim() === '') throw new TensorRtError('ERR_INVALID_ARGUMENT', '--shapes is empty (expected name:AxBxC[,name:...])');
  for (const raw of spec.split(',')) {
    const part = raw.trim();
    const colon = part.lastIndexOf(':');
    if (colon <= 0) throw new TensorRtError('ERR_INVALID_ARGUMENT', `malformed --shapes entry "${part}" (expected name:AxBxC, e.g. input:32x3x224x224)`);
    let name = part.slice(0, colon).trim();
    // trtexec lets names with special characters be quoted: 'in:0':1x2
    if (name.length >= 2 && (name[0] === "'" || name[0] === '"') && name[name.length - 1] === name[0]) name = name.slice(1, -1);
    const dimsText = part.slice(colon + 1).trim();
    if (!/^\d+(x\d+)*$/.test(dimsText)) {
      throw new TensorRtError('ERR_INVALID_ARGUMENT', `malformed dimensions "${dimsText}" for '${name}' in --shapes (expected non-negative integers joined by x, e.g. 32x3x224x224)`);
    }
    if (Object.prototype.hasOwnProperty.call(out, name)) throw new TensorRtError('ERR_INVALID_ARGUMENT', `'${name}' appears twice in --shapes`);
    const dims = dimsText.split('x').map(Number);
    if (dims.some((d) => !Number.isSafeInteger(d) || d > 0x7fffffff)) throw new TensorRtError('ERR_INVALID_ARGUMENT', `dimension out of range in --shapes entry "${part}"`);
    out[name] = dims;
  }
  return out;
}

/** trtexec's text for shapes: name:AxBxC joined by commas. */
export function formatShapesSpec(shapes: Record<string, readonly number[]>): string {
  return Object.entries(shapes)
    .map(([n, d]) => `${/[,:\s'"]/.test(n) ? `'${n}'` : n}:${d.join('x')}`)
    .join(',');
}

export interface ResolveShapesOptions {
  /** explicit shapes by input name (from --shapes) */
  shapes?: Record<string, readonly number[]> | undefined;
  /** overrides dimension 0 of every input that has a dimension 0 (explicit shapes included) */
  batch?: number | undefined;
  /** profile index (for messages) */
  profile?: number;
}

/**
 * The shape of every input for a run: explicit, else static, else the profile's opt shape;
 * `batch` replaces dimension 0. Unknown names → ERR_UNKNOWN_TENSOR; wrong rank or static
 * dimension → ERR_SHAPE_MISMATCH; outside the profile → ERR_SHAPE_OUT_OF_PROFILE.
 */
export function resolveShapes(inputs: readonly TensorInfo[], outputs: readonly TensorInfo[], prof: ProfileInfo | undefined, options: ResolveShapesOptions = {}): Record<string, number[]> {
  const given = options.shapes ?? {};
  const names = new Set(inputs.map((t) => t.name));
  for (const n of Object.keys(given)) {
    if (!names.has(n)) {
      const isOutput = outputs.some((t) => t.name === n);
      throw new TensorRtError('ERR_UNKNOWN_TENSOR', `--shapes names '${n}', which is ${isOutput ? 'an output, not an input' : 'not an input of this engine'} (inputs: ${[...names].join(', ')})`, { tensor: n });
    }
  }
  if (options.batch !== undefined && (!Number.isInteger(options.batch) || options.batch < 1)) {
    throw new TensorRtError('ERR_INVALID_ARGUMENT', `batch must be a positive integer, got ${options.batch}`);
  }
  const profile = options.profile ?? 0;
  const out: Record<string, number[]> = {};
  for (const t of inputs) {
    const range = prof?.[t.name];
    let dims: number[];
    const g = given[t.name];
    if (g) dims = [...g];
    else if (t.shape.every((d) => d >= 0)) dims = [...t.shape];
    else if (range) dims = [...range.opt];
    else throw new TensorRtError('ERR_MISSING_TENSOR', `input '${t.name}' has dynamic dimensions ${formatShape(t.shape)} and no profile range; give its shape with --shapes`, { tensor: t.name });
    if (options.batch !== undefined && dims.length > 0) dims[0] = options.batch;
    checkInputShape(t, range, dims, profile);
    out[t.name] = dims;
  }
  return out;
}
