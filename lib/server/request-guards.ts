/**
 * Checks of a request's structure made on its bytes, before it is decoded into objects: how many
 * inputs, outputs, parameters and shape elements a gRPC ModelInferRequest carries (a walk over the
 * protobuf wire format that skips tensor bytes without reading them), and how many objects and
 * members an HTTP request's JSON holds. A request that decodes into millions of objects costs
 * gigabytes and seconds of a thread before anything else could refuse it; these checks cost
 * microseconds for ordinary requests. The limits are codec.ts REQUEST_LIMITS.
 */
import { REQUEST_LIMITS } from './codec.js';

/** Why a request was refused before decoding (or why it could not be decoded at all). */
export class RequestRefused {
  constructor(readonly message: string) {}
}

const L = REQUEST_LIMITS;

// ---------------------------------------------------------------------------------------------
// JSON

/** Occurrences of `byte` in `text`, counted up to `stop` (then `stop`). */
function countByte(text: Uint8Array, byte: number, stop: number): number {
  const buf = Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  let n = 0;
  for (let at = buf.indexOf(byte); at !== -1 && n < stop; at = buf.indexOf(byte, at + 1)) n++;
  return n;
}

/**
 * A message saying which limit the JSON text exceeds (objects, or members of objects, outside
 * strings), or undefined when it is within them. The count of "{" and ":" bytes anywhere is a
 * bound from above found with memchr; only a text over the limits by that count is scanned byte
 * by byte, skipping strings.
 */
export function jsonStructureExcess(text: Uint8Array): string | undefined {
  if (countByte(text, 0x7b, L.jsonObjects + 1) <= L.jsonObjects && countByte(text, 0x3a, L.jsonMembers + 1) <= L.jsonMembers) return undefined;
  let objects = 0;
  let members = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text[i];
    if (c === 0x22) {
      // skip the string: up to the next quote that no backslash escapes
      for (i++; i < n; i++) {
        const d = text[i];
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b) {
      if (++objects > L.jsonObjects) return `the request's JSON holds more than ${L.jsonObjects} objects`;
    } else if (c === 0x3a) {
      if (++members > L.jsonMembers) return `the request's JSON holds more than ${L.jsonMembers} object members`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// protobuf wire format

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

class Malformed extends Error {}
/** A limit exceeded: ends the walk at once. */
class Excess extends Error {}
function over(message: string): never {
  throw new Excess(message);
}

/** A reader over [pos, end) of a message's bytes. */
class Wire {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Malformed('truncated varint');
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    throw new Malformed('varint longer than 10 bytes');
  }

  /** Skip a field's value of wire type `wt`; returns [start, end) of a length-delimited one. */
  skip(wt: number): [number, number] {
    switch (wt) {
      case VARINT:
        this.varint();
        return [0, 0];
      case FIXED64:
        this.pos += 8;
        break;
      case FIXED32:
        this.pos += 4;
        break;
      case LENGTH_DELIMITED: {
        const len = this.varint();
        const start = this.pos;
        this.pos += len;
        if (this.pos > this.end) throw new Malformed('a length-delimited field runs past the end of its message');
        return [start, this.pos];
      }
      default:
        throw new Malformed(`wire type ${wt} is not used by this protocol`);
    }
    if (this.pos > this.end) throw new Malformed('a field runs past the end of its message');
    return [0, 0];
  }

  /** Each field of the message: (field number, wire type, [start, end) when length-delimited). */
  fields(fn: (field: number, wt: number, start: number, end: number) => void): void {
    while (this.pos < this.end) {
      const tag = this.varint();
      const field = Math.floor(tag / 8);
      const wt = tag % 8;
      if (field === 0) throw new Malformed('field number 0');
      const [start, end] = this.skip(wt);
      fn(field, wt, start, end);
    }
  }
}

/** Elements of a repeated varint field given packed in [start, end): bytes without the continuation bit. */
function packedVarints(buf: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if (buf[i]! < 0x80) n++;
  return n;
}

// field numbers of grpc_service.proto
const REQ_PARAMETERS = 4;
const REQ_INPUTS = 5;
const REQ_OUTPUTS = 6;
const REQ_RAW_INPUTS = 7;
const INPUT_SHAPE = 3;
const INPUT_PARAMETERS = 4;
const INPUT_CONTENTS = 5;
const OUTPUT_PARAMETERS = 2;
const CONTENTS_BYTES = 8;

/**
 * Check a ModelInferRequest's bytes: throws Excess for a limit exceeded, Malformed for bytes that
 * are not a protobuf message.
 */
function checkModelInfer(buf: Uint8Array): void {
  let inputs = 0;
  let outputs = 0;
  let raw = 0;
  let params = 0;
  let entries = 0;
  const count = (): void => {
    if (++entries > L.entries) over(`the request carries more than ${L.entries} inputs, outputs, parameters and contents entries together`);
  };
  const wire = new Wire(buf, 0, buf.length);
  wire.fields((field, wt, start, end) => {
    if (wt !== LENGTH_DELIMITED) return;
    switch (field) {
      case REQ_PARAMETERS:
        if (++params > L.parameters) over(`the request has more than ${L.parameters} parameters`);
        count();
        break;
      case REQ_INPUTS: {
        if (++inputs > L.tensors) over(`the request has more than ${L.tensors} inputs`);
        count();
        let rank = 0;
        let inputParams = 0;
        new Wire(buf, start, end).fields((f, w, s, e) => {
          if (f === INPUT_SHAPE) {
            rank += w === LENGTH_DELIMITED ? packedVarints(buf, s, e) : 1;
            if (rank > L.rank) over(`input ${inputs - 1} has a shape of more than ${L.rank} dimensions`);
          } else if (f === INPUT_PARAMETERS && w === LENGTH_DELIMITED) {
            if (++inputParams > L.parameters) over(`input ${inputs - 1} has more than ${L.parameters} parameters`);
            count();
          } else if (f === INPUT_CONTENTS && w === LENGTH_DELIMITED) {
            // bytes_contents: one object per entry (the numeric fields are one array each)
            new Wire(buf, s, e).fields((cf, cw) => {
              if (cf === CONTENTS_BYTES && cw === LENGTH_DELIMITED) count();
            });
          }
        });
        break;
      }
      case REQ_OUTPUTS: {
        if (++outputs > L.tensors) over(`the request asks for more than ${L.tensors} outputs`);
        count();
        let outputParams = 0;
        new Wire(buf, start, end).fields((f, w) => {
          if (f === OUTPUT_PARAMETERS && w === LENGTH_DELIMITED) {
            if (++outputParams > L.parameters) over(`output ${outputs - 1} has more than ${L.parameters} parameters`);
            count();
          }
        });
        break;
      }
      case REQ_RAW_INPUTS:
        if (++raw > L.tensors) over(`the request has more than ${L.tensors} raw_input_contents entries`);
        count();
        break;
    }
  });
}

/** Check the top-level fields of any other request (its maps and repeated fields): throws Excess or Malformed. */
function checkFields(buf: Uint8Array): void {
  let n = 0;
  new Wire(buf, 0, buf.length).fields(() => {
    if (++n > L.entries) over(`the request has more than ${L.entries} fields`);
  });
}

/**
 * `deserialize` (proto-loader's, for the gRPC method `method`) guarded: the request's bytes are
 * checked against REQUEST_LIMITS first, and what fails that check or does not decode comes back as
 * a RequestRefused instead of a thrown error (which grpc-js would answer with INTERNAL and no
 * reason): the handlers answer it with INVALID_ARGUMENT and the message.
 */
export function guardedDeserializer(method: string, deserialize: (bytes: Buffer) => unknown): (bytes: Buffer) => unknown {
  const check = method === 'ModelInfer' ? checkModelInfer : checkFields;
  return (bytes: Buffer): unknown => {
    try {
      check(bytes);
    } catch (e) {
      if (e instanceof Excess) return new RequestRefused(e.message);
      if (e instanceof Malformed) return new RequestRefused(`malformed ${method} request message: ${e.message}`);
      throw e;
    }
    try {
      return deserialize(bytes);
    } catch (e) {
      return new RequestRefused(`malformed ${method} request message: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
}
