import ndarray from 'ndarray';
import { TensorRtError } from './errors.js';
import { byteLength, matchesArrayType, typedArrayConstructor, type DataType, type TypedArray } from './dtypes.js';

/** Number of elements of a shape (1 for a scalar). */
export function shapeSize(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function formatShape(dims: readonly number[]): string {
  return `[${dims.join(',')}]`;
}

/**
 * A host tensor: element type, dimensions and the TypedArray that holds it (row-major).
 * The data may be a view into a larger buffer (pinned memory, a batch); it is never copied here.
 */
export class Tensor {
  readonly type: DataType;
  readonly dims: readonly number[];
  readonly data: TypedArray;

  constructor(type: DataType, data: TypedArray, dims: readonly number[]) {
    if (!matchesArrayType(type, data)) {
      throw new TensorRtError('ERR_DTYPE_MISMATCH', `a ${type} tensor needs a ${typedArrayConstructor(type).name}, got ${data.constructor.name}`, {
        expected: typedArrayConstructor(type).name,
        actual: data.constructor.name,
      });
    }
    for (const d of dims) {
      if (!Number.isInteger(d) || d < 0) throw new TensorRtError('ERR_SHAPE_MISMATCH', `invalid dimension ${d} in ${formatShape(dims)}`);
    }
    const want = byteLength(type, shapeSize(dims));
    if (data.byteLength !== want) {
      throw new TensorRtError('ERR_SHAPE_MISMATCH', `shape ${formatShape(dims)} of ${type} needs ${want} bytes, data has ${data.byteLength}`, {
        dims: [...dims],
        expectedBytes: want,
        actualBytes: data.byteLength,
      });
    }
    this.type = type;
    this.data = data;
    this.dims = Object.freeze([...dims]);
  }

  get size(): number {
    return shapeSize(this.dims);
  }

  /**
   * An ndarray (scijs/ndarray) view of this tensor's data: same memory, no copy, row-major
   * strides. float16/bfloat16 data shows as uint16 bit patterns and bool/fp8 as uint8, as they
   * are stored. Packed 4-bit types (int4, fp4) have no element per value and cannot be viewed.
   */
  toNdarray(): ndarray.NdArray<ndarray.Data> {
    if (this.data.length !== this.size) {
      throw new TensorRtError('ERR_DTYPE_MISMATCH', `a ${this.type} tensor packs two values per byte and has no ndarray view`, { dtype: this.type });
    }
    return ndarray(this.data as ndarray.Data, [...this.dims]);
  }

  /** A zero-filled tensor of the given type and shape. */
  static zeros(type: DataType, dims: readonly number[]): Tensor {
    const C = typedArrayConstructor(type);
    const bytes = byteLength(type, shapeSize(dims));
    return new Tensor(type, new C(new ArrayBuffer(bytes)), dims);
  }
}
