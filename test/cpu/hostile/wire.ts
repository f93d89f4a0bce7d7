/**
 * Protobuf wire-format encoding for the hostile suite: requests built byte by byte (what a hostile
 * client sends need not be what a generated client would build), and tiny ONNX models (an
 * Identity of any element type) written without the onnx package.
 */

/** A varint. */
export function varint(n: number | bigint): Buffer {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

/** A length-delimited field (strings, bytes, messages, packed lists). */
export function field(num: number, value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([varint(num * 8 + 2), varint(bytes.length), bytes]);
}

/** A varint field. */
export function intField(num: number, value: number | bigint): Buffer {
  return Buffer.concat([varint(num * 8), varint(value)]);
}

/** A packed repeated varint field. */
export function packed(num: number, values: Array<number | bigint>): Buffer {
  return field(num, Buffer.concat(values.map((v) => varint(v))));
}

/** `count` copies of `piece`, concatenated (large messages built fast). */
export function repeat(piece: Buffer, count: number): Buffer {
  const out = Buffer.allocUnsafe(piece.length * count);
  for (let i = 0; i < count; i++) piece.copy(out, i * piece.length);
  return out;
}

// grpc_service.proto field numbers
/** InferInputTensor { name, datatype, shape } */
export function inferInput(name: string, datatype: string, shape: number[], extra: Buffer[] = []): Buffer {
  return Buffer.concat([field(1, name), field(2, datatype), packed(3, shape), ...extra]);
}

/** InferParameter { int64_param } as a map entry of `key` */
export function parameterEntry(key: string, value: number): Buffer {
  return Buffer.concat([field(1, key), field(2, intField(2, value))]);
}

/** ModelInferRequest { model_name, inputs, outputs, parameters, raw_input_contents } from encoded parts. */
export function modelInferRequest(parts: { model: string; inputs?: Buffer[]; outputs?: Buffer[]; parameters?: Buffer[]; raw?: Buffer[]; tail?: Buffer }): Buffer {
  return Buffer.concat([
    field(1, parts.model),
    ...(parts.parameters ?? []).map((p) => field(4, p)),
    ...(parts.inputs ?? []).map((i) => field(5, i)),
    ...(parts.outputs ?? []).map((o) => field(6, o)),
    ...(parts.raw ?? []).map((r) => field(7, r)),
    parts.tail ?? Buffer.alloc(0),
  ]);
}

/** ONNX TensorProto.DataType values */
export const ONNX_TYPES = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7 } as const;

/** An ONNX model: y = Identity(x), both of `elemType` and shape `dims` (opset 13, IR 8). */
export function onnxIdentity(elemType: number, dims: number[]): Buffer {
  const shape = Buffer.concat(dims.map((d) => field(1, intField(1, d))));
  const type = field(1, Buffer.concat([intField(1, elemType), field(2, shape)]));
  const valueInfo = (name: string): Buffer => Buffer.concat([field(1, name), field(2, type)]);
  const node = Buffer.concat([field(1, 'x'), field(2, 'y'), field(3, 'identity'), field(4, 'Identity')]);
  const graph = Buffer.concat([field(1, node), field(2, 'g'), field(11, valueInfo('x')), field(12, valueInfo('y'))]);
  return Buffer.concat([intField(1, 8), field(7, graph), field(8, Buffer.concat([field(1, ''), intField(2, 13)]))]);
}
