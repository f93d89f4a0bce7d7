/**
 * tensorrt-node's own declaration of the ndarray (scijs/ndarray) view that HostBuffer.ndarray()
 * and Tensor.toNdarray() return. The published declaration files import it in place of the
 * 'ndarray' module's types (scripts/dts-ndarray.mjs rewrites the import after the declaration
 * build), so a TypeScript user needs neither @types/ndarray nor skipLibCheck. Inside this
 * repository the sources still type-check against @types/ndarray (a devDependency).
 */

/** Any array-like store an ndarray can view. */
export type Data<T = any> = ArrayLike<T> | GenericArray<T>;

/** ndarray's "generic" store: an object with get/set. */
export interface GenericArray<T> {
  get(index: number): T;
  set(index: number, value: T): void;
  readonly length: number;
}

/** The element type of a store. */
export type Value<D> = D extends ArrayLike<infer T> ? T : D extends GenericArray<infer T> ? T : never;

export interface NdArray<D extends Data = Data<number>> {
  data: D;
  shape: number[];
  stride: number[];
  offset: number;
  /** ndarray's name of the store's type: 'float32', 'uint16', 'bigint64', 'generic', … */
  dtype: string;
  size: number;
  order: number[];
  dimension: number;
  get(...index: number[]): Value<D>;
  /** set(i, j, …, value) */
  set(...indexThenValue: Array<number | bigint>): Value<D>;
  index(...index: number[]): number;
  lo(...index: number[]): NdArray<D>;
  hi(...index: number[]): NdArray<D>;
  step(...index: number[]): NdArray<D>;
  transpose(...axes: number[]): NdArray<D>;
  pick(...index: Array<number | null>): NdArray<D>;
  readonly T: NdArray<D>;
}
