import { TensorRtError } from './errors.js';

/** Element types, named as onnxruntime-node names them where it has a name. */
export type DataType =
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'int8'
  | 'uint8'
  | 'int32'
  | 'int64'
  | 'bool'
  | 'fp8' // E4M3, raw bytes
  | 'int4' // packed two per byte, raw bytes
  | 'fp4' // packed two per byte, raw bytes
  | 'e8m0'; // raw bytes

export type TypedArray =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

interface DTypeInfo {
  /** TensorRT's nvinfer1::DataType value. */
  trt: number;
  /** KServe v2 / Triton datatype string. */
  kserve: string;
  /** bytes per element; fractional for packed 4-bit types */
  bytes: number;
  /** the TypedArray a tensor of this type is held in */
  array: { new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray; new (length: number): TypedArray; BYTES_PER_ELEMENT: number };
}

const INFO: Record<DataType, DTypeInfo> = {
  float32: { trt: 0, kserve: 'FP32', bytes: 4, array: Float32Array },
  float16: { trt: 1, kserve: 'FP16', bytes: 2, array: Uint16Array },
  int8: { trt: 2, kserve: 'INT8', bytes: 1, array: Int8Array },
  int32: { trt: 3, kserve: 'INT32', bytes: 4, array: Int32Array },
  bool: { trt: 4, kserve: 'BOOL', bytes: 1, array: Uint8Array },
  uint8: { trt: 5, kserve: 'UINT8', bytes: 1, array: Uint8Array },
  fp8: { trt: 6, kserve: 'FP8', bytes: 1, array: Uint8Array },
  bfloat16: { trt: 7, kserve: 'BF16', bytes: 2, array: Uint16Array },
  int64: { trt: 8, kserve: 'INT64', bytes: 8, array: BigInt64Array },
  int4: { trt: 9, kserve: 'INT4', bytes: 0.5, array: Uint8Array },
  fp4: { trt: 10, kserve: 'FP4', bytes: 0.5, array: Uint8Array },
  e8m0: { trt: 11, kserve: 'E8M0', bytes: 1, array: Uint8Array },
};

const BY_TRT = new Map<number, DataType>(Object.entries(INFO).map(([k, v]) => [v.trt, k as DataType]));
const BY_KSERVE = new Map<string, DataType>(Object.entries(INFO).map(([k, v]) => [v.kserve, k as DataType]));

export const DATA_TYPES = Object.keys(INFO) as DataType[];

export function isDataType(s: unknown): s is DataType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(INFO, s);
}

export function dataTypeFromTrt(v: number): DataType {
  const t = BY_TRT.get(v);
  if (t === undefined) throw new TensorRtError('ERR_DTYPE_MISMATCH', `TensorRT data type ${v} is not supported by this version of tensorrt-node`);
  return t;
}

export function trtDataType(t: DataType): number {
  return INFO[t].trt;
}

export function kserveDataType(t: DataType): string {
  return INFO[t].kserve;
}

export function dataTypeFromKserve(s: string): DataType | undefined {
  return BY_KSERVE.get(s);
}

/** Bytes per element (0.5 for packed 4-bit types). */
export function bytesPerElement(t: DataType): number {
  return INFO[t].bytes;
}

/** Bytes needed for `count` elements, rounding packed types up to a whole byte. */
export function byteLength(t: DataType, count: number): number {
  return Math.ceil(INFO[t].bytes * count);
}

export function typedArrayConstructor(t: DataType): DTypeInfo['array'] {
  return INFO[t].array;
}

/** Does `data` have the TypedArray class that holds `t`? */
export function matchesArrayType(t: DataType, data: TypedArray): boolean {
  return data instanceof INFO[t].array;
}

/** View `bytes` of `buffer` as the TypedArray of `t` (for raw-byte types, a Uint8Array). */
export function viewAs(t: DataType, buffer: ArrayBufferLike, byteOffset: number, bytes: number): TypedArray {
  const C = INFO[t].array;
  return new C(buffer, byteOffset, bytes / C.BYTES_PER_ELEMENT);
}
