/**
 * Splitting a batch's outputs into each request's rows. The backend's outputs may be views of
 * buffers it reuses, so every request gets a copy: into its own output buffer where it gave one
 * (no allocation), else into a new array.
 */
import { TensorRtError } from '../errors.js';
import { byteLength, typedArrayConstructor, viewAs, type DataType, type TypedArray } from '../dtypes.js';
import { Tensor, formatShape, shapeSize } from '../tensor.js';
import type { InferResult } from './types.js';
import type { Pending } from './request.js';

/** A new array of `type` holding src[at, at + bytes). */
function copyOf(type: DataType, src: Uint8Array, at: number, bytes: number): TypedArray {
  const C = typedArrayConstructor(type);
  if ((src.byteOffset + at) % C.BYTES_PER_ELEMENT === 0 && bytes % C.BYTES_PER_ELEMENT === 0) {
    // element-aligned: one native copy
    return viewAs(type, src.buffer, src.byteOffset + at, bytes).slice();
  }
  const dst = new C(bytes / C.BYTES_PER_ELEMENT);
  new Uint8Array(dst.buffer).set(src.subarray(at, at + bytes));
  return dst;
}

/** Copies bytes into the caller's buffer; returns the view of them, or records why it cannot. */
function copyInto(own: TypedArray, data: TypedArray, at: number, bytes: number, type: DataType, name: string, r: Pending, failed: Map<Pending, TensorRtError>): TypedArray | undefined {
  if (own.byteLength < bytes) {
    failed.set(r, new TensorRtError('ERR_SHAPE_MISMATCH', `the buffer for output '${name}' holds ${own.byteLength} bytes; the request's output needs ${bytes}`, { tensor: name, expected: bytes, actual: own.byteLength }));
    return undefined;
  }
  const k = own.BYTES_PER_ELEMENT;
  if (own.constructor === data.constructor && at % k === 0 && bytes % k === 0) {
    (own as Uint8Array).set((data as Uint8Array).subarray(at / k, (at + bytes) / k)); // one view made, not two
  } else {
    new Uint8Array(own.buffer, own.byteOffset, bytes).set(new Uint8Array(data.buffer, data.byteOffset + at, bytes));
  }
  return own.byteLength === bytes ? own : viewAs(type, own.buffer, own.byteOffset, bytes);
}

/**
 * Every running request's results, sliced along dimension 0 (batching) or whole (one request
 * per batch). A request whose own buffer turns out too small for a dynamic output fails alone
 * (in `failed`); a backend output that is missing or has the wrong batch size throws.
 */
export function scatterOutputs(out: Record<string, Tensor>, batch: readonly Pending[], total: number, batching: boolean, failed: Map<Pending, TensorRtError>): Map<Pending, InferResult> {
  const results = new Map<Pending, InferResult>();
  for (const r of batch) results.set(r, {});
  const names = new Set<string>();
  for (const r of batch) for (const n of r.outputs) names.add(n);
  for (const name of names) {
    const t = out[name];
    if (!(t instanceof Tensor)) throw new TensorRtError('ERR_BACKEND', `backend returned no output '${name}'`, { tensor: name });
    const src = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (!batching) {
      let shared: TypedArray | undefined; // one copy for every request without its own buffer
      for (const r of batch) {
        if (!r.outputs.includes(name) || failed.has(r)) continue;
        const own = r.outputBuffers?.[name];
        let dst: TypedArray | undefined;
        if (own !== undefined) dst = copyInto(own, t.data, 0, src.byteLength, t.type, name, r, failed);
        else dst = shared ??= copyOf(t.type, src, 0, src.byteLength);
        if (dst !== undefined) (results.get(r) as InferResult)[name] = new Tensor(t.type, dst, t.dims);
      }
      continue;
    }
    if (t.dims.length === 0 || t.dims[0] !== total) {
      throw new TensorRtError('ERR_BACKEND', `backend output '${name}' has shape ${formatShape(t.dims)}, expected dimension 0 = ${total}`, { tensor: name });
    }
    const rest = t.dims.slice(1);
    const rowBytes = byteLength(t.type, shapeSize(rest));
    let at = 0;
    for (const r of batch) {
      const bytes = rowBytes * r.items;
      if (r.outputs.includes(name) && r.state === 'running' && !failed.has(r)) {
        const own = r.outputBuffers?.[name];
        const dst = own !== undefined ? copyInto(own, t.data, at, bytes, t.type, name, r, failed) : copyOf(t.type, src, at, bytes);
        if (dst !== undefined) (results.get(r) as InferResult)[name] = new Tensor(t.type, dst, [r.items, ...rest]);
      }
      at += bytes;
    }
  }
  return results;
}
