/**
 * ndarray (scijs/ndarray) views as tensor feeds. Session.run, DynamicBatcher.infer and the
 * backend instances call toTensorFeeds() on what they are given, so an ndarray works wherever a
 * Tensor does; Tensor.toNdarray() goes the other way for outputs.
 *
 * A view whose elements are contiguous in row-major order (what `ndarray(data, shape)` makes,
 * and `.lo()`/`.pick()` of the leading dimension keep) becomes a Tensor over the same memory: no
 * copy, so a view of pinned memory (HostBuffer.ndarray()) keeps its DMA path. Any other view
 * (transposed, stepped, sliced along an inner dimension) is copied once into a fresh row-major
 * array: the engines read dense row-major tensors only. isContiguous() tells which case a view
 * is. Shapes, strides and the offset are checked against the data before anything is read.
 */
import { TensorRtError } from './errors.js';
import { matchesArrayType, typedArrayConstructor, type DataType, type TypedArray } from './dtypes.js';
import { Tensor, formatShape, shapeSize } from './tensor.js';

/** ndarray's names for its element types (`view.dtype`). */
export type NdArrayDType =
  | 'int8'
  | 'int16'
  | 'int32'
  | 'uint8'
  | 'uint8_clamped'
  | 'uint16'
  | 'uint32'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'bigint64'
  | 'biguint64'
  | 'buffer'
  | 'array'
  | 'generic';

/**
 * What a tensor needs of an ndarray view. Any object with these fields is accepted (the ndarray
 * package's views have them), so tensorrt-node's types do not depend on @types/ndarray.
 */
export interface NdArrayLike {
  readonly data: unknown;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  readonly offset: number;
  /** ndarray's name of the element type; informative only (the data's class decides) */
  readonly dtype?: string;
}

/**
 * The tensor type a TypedArray holds when nothing else is said. Uint16Array (float16 or
 * bfloat16?) and the raw-byte types in a Uint8Array (bool, fp8, …) need an explicit type.
 */
function defaultType(a: TypedArray): DataType | undefined {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Uint8Array) return 'uint8'; // Buffer too
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  return undefined;
}

/** Is `x` an ndarray view (data, shape, stride, offset), as opposed to a Tensor or a device tensor? */
export function isNdArray(x: unknown): x is NdArrayLike {
  if (typeof x !== 'object' || x === null || x instanceof Tensor) return false;
  const v = x as Partial<NdArrayLike>;
  return Array.isArray(v.shape) && Array.isArray(v.stride) && typeof v.offset === 'number' && 'data' in v;
}

function checkGeometry(view: NdArrayLike, name: string): void {
  const { shape, stride, offset } = view;
  const where = `ndarray feed '${name}'`;
  if (shape.length !== stride.length) {
    throw new TensorRtError('ERR_INVALID_ARGUMENT', `${where}: shape ${formatShape(shape)} and stride ${formatShape(stride)} differ in length`, { tensor: name });
  }
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new TensorRtError('ERR_INVALID_ARGUMENT', `${where}: invalid dimension ${d} in shape ${formatShape(shape)}`, { tensor: name });
  }
  for (const s of stride) {
    if (!Number.isSafeInteger(s)) throw new TensorRtError('ERR_INVALID_ARGUMENT', `${where}: invalid stride ${s} in ${formatShape(stride)}`, { tensor: name });
  }
  if (!Number.isSafeInteger(offset) || offset < 0) throw new TensorRtError('ERR_INVALID_ARGUMENT', `${where}: invalid offset ${offset}`, { tensor: name });
}

/**
 * Are the view's elements one dense row-major run of its data? Dimensions of size 1 may have any
 * stride (they never step); an empty view is trivially contiguous.
 */
export function isContiguous(view: Pick<NdArrayLike, 'shape' | 'stride'>): boolean {
  const { shape, stride } = view;
  if (shape.some((d) => d === 0)) return true;
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d !== 1 && stride[i] !== expected) return false;
    expected *= d;
  }
  return true;
}

/** The lowest and highest data index the view reaches (size > 0). */
function reach(view: NdArrayLike): [number, number] {
  let lo = view.offset;
  let hi = view.offset;
  for (let i = 0; i < view.shape.length; i++) {
    const span = (view.shape[i]! - 1) * view.stride[i]!;
    if (span < 0) lo += span;
    else hi += span;
  }
  return [lo, hi];
}

/** Copies a strided view into a fresh row-major array of the same class. */
function gather(view: NdArrayLike, data: TypedArray, size: number): TypedArray {
  const C = data.constructor as new (n: number) => TypedArray;
  const out = new C(size);
  const { shape, stride } = view;
  const rank = shape.length;
  if (rank === 0) {
    out[0] = data[view.offset]!;
    return out;
  }
  const inner = shape[rank - 1]!;
  const innerStride = stride[rank - 1]!;
  const idx = new Array<number>(rank - 1).fill(0);
  let base = view.offset;
  const dst = out as unknown as { [i: number]: number | bigint };
  const src = data as unknown as { [i: number]: number | bigint };
  for (let o = 0; o < size; o += inner) {
    for (let j = 0, s = base; j < inner; j++, s += innerStride) dst[o + j] = src[s]!;
    // advance the outer multi-index (odometer), keeping base = offset + Σ idx[k]·stride[k]
    for (let k = rank - 2; k >= 0; k--) {
      if (++idx[k]! < shape[k]!) {
        base += stride[k]!;
        break;
      }
      base -= (shape[k]! - 1) * stride[k]!;
      idx[k] = 0;
    }
  }
  return out;
}

/**
 * A feed as a Tensor: a Tensor is returned as it is; an ndarray view becomes a Tensor of its
 * shape, over the same memory when the view is contiguous, else over a row-major copy.
 * `dtype` names the tensor type where the data's class does not say it alone: 'bool', 'fp8' …
 * for Uint8Array data, 'float16' or 'bfloat16' for Uint16Array data.
 */
export function toTensor(feed: Tensor | NdArrayLike, name: string, dtype?: DataType): Tensor {
  if (feed instanceof Tensor) {
    if (dtype !== undefined && feed.type !== dtype) {
      throw new TensorRtError('ERR_DTYPE_MISMATCH', `feed '${name}' is a ${feed.type} tensor, ${dtype} asked`, { tensor: name, expected: dtype, actual: feed.type });
    }
    return feed;
  }
  if (!isNdArray(feed)) {
    throw new TensorRtError('ERR_INVALID_ARGUMENT', `feed '${name}' is neither a Tensor nor an ndarray view`, { tensor: name });
  }
  checkGeometry(feed, name);
  const data = feed.data;
  if (!ArrayBuffer.isView(data) || data instanceof DataView) {
    throw new TensorRtError(
      'ERR_DTYPE_MISMATCH',
      `ndarray feed '${name}' holds ${describeData(data)}; tensors need a TypedArray (e.g. ndarray(new Float32Array(values), shape))`,
      { tensor: name },
    );
  }
  // a Uint8ClampedArray holds the same bytes as a Uint8Array: viewed as one, not copied
  const typed: TypedArray = data instanceof Uint8ClampedArray ? new Uint8Array(data.buffer, data.byteOffset, data.length) : (data as TypedArray);
  const type = dtype ?? defaultType(typed);
  if (type === undefined) {
    const hint =
      typed instanceof Uint16Array
        ? "a Uint16Array holds float16 or bfloat16 bit patterns: say which with toTensor(view, name, 'float16')"
        : typed instanceof Float64Array
          ? 'convert it to a Float32Array first (no engine here takes float64)'
          : 'no tensor type holds it';
    throw new TensorRtError('ERR_DTYPE_MISMATCH', `ndarray feed '${name}' holds a ${typed.constructor.name}: ${hint}`, { tensor: name, dataClass: typed.constructor.name });
  }
  if (!matchesArrayType(type, typed)) {
    throw new TensorRtError('ERR_DTYPE_MISMATCH', `a ${type} tensor needs a ${typedArrayConstructor(type).name}, ndarray feed '${name}' holds a ${typed.constructor.name}`, {
      tensor: name,
      expected: typedArrayConstructor(type).name,
      actual: typed.constructor.name,
    });
  }
  const size = shapeSize(feed.shape);
  const dims = [...feed.shape];
  if (size === 0) return new Tensor(type, typed.subarray(0, 0), dims);
  const [lo, hi] = reach(feed);
  if (lo < 0 || hi >= typed.length) {
    throw new TensorRtError(
      'ERR_BUFFER_TOO_SMALL',
      `ndarray feed '${name}' (shape ${formatShape(feed.shape)}, stride ${formatShape(feed.stride)}, offset ${feed.offset}) reaches element ${lo < 0 ? lo : hi} of data with ${typed.length} elements`,
      { tensor: name, dataLength: typed.length },
    );
  }
  if (isContiguous(feed)) return new Tensor(type, typed.subarray(feed.offset, feed.offset + size), dims);
  return new Tensor(type, gather(feed, typed, size), dims);
}

/** Tensors (and anything else) pass through; every ndarray view becomes a Tensor (toTensor). Allocates only when there is an ndarray to convert. */
export function toTensorFeeds<F>(feeds: Readonly<Record<string, F | NdArrayLike>>): Record<string, F | Tensor> {
  let out: Record<string, F | Tensor> | undefined;
  for (const name in feeds) {
    const f = feeds[name];
    if (f instanceof Tensor || !isNdArray(f)) continue;
    out ??= { ...(feeds as Record<string, F | Tensor>) };
    out[name] = toTensor(f, name);
  }
  return out ?? (feeds as Record<string, F | Tensor>);
}

function describeData(d: unknown): string {
  if (Array.isArray(d)) return 'a plain Array';
  if (d instanceof DataView) return 'a DataView';
  return d === null ? 'null' : typeof d === 'object' ? `a ${(d as object).constructor?.name ?? 'generic'} object` : `a ${typeof d}`;
}
