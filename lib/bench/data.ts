/**
 * Random input data for benchmarks. Never zeros: some kernels (and sparsity-aware hardware
 * paths) run faster on all-zero inputs, which would flatter the numbers.
 */
import type { DataType } from '../dtypes.js';

/** A small deterministic PRNG (mulberry32): the same seed gives the same data on every run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of `v` (round to nearest even; |v| small enough here to stay normal or subnormal). */
export function toFloat16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** bfloat16 bits of `v` (round to nearest even). */
export function toBfloat16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Fills `bytes` bytes at `byteOffset` of `buffer` with random values of `dtype`: floats uniform
 * in [-1, 1) excluding exact zero, integers in 1..7 (valid as small indices), bools 0/1, raw
 * types (fp8, int4, fp4, e8m0) random non-zero bytes.
 */
export function fillRandom(buffer: ArrayBuffer, dtype: DataType, byteOffset: number, bytes: number, seed = 1): void {
  const rnd = mulberry32(seed);
  const nonZero = (): number => {
    let v = rnd() * 2 - 1;
    if (v === 0) v = 0.5;
    return v;
  };
  switch (dtype) {
    case 'float32': {
      const a = new Float32Array(buffer, byteOffset, Math.floor(bytes / 4));
      for (let i = 0; i < a.length; i++) a[i] = nonZero();
      return;
    }
    case 'float16':
    case 'bfloat16': {
      const a = new Uint16Array(buffer, byteOffset, Math.floor(bytes / 2));
      const conv = dtype === 'float16' ? toFloat16Bits : toBfloat16Bits;
      for (let i = 0; i < a.length; i++) a[i] = conv(nonZero());
      return;
    }
    case 'int32': {
      const a = new Int32Array(buffer, byteOffset, Math.floor(bytes / 4));
      for (let i = 0; i < a.length; i++) a[i] = 1 + Math.floor(rnd() * 7);
      return;
    }
    case 'int64': {
      const a = new BigInt64Array(buffer, byteOffset, Math.floor(bytes / 8));
      for (let i = 0; i < a.length; i++) a[i] = BigInt(1 + Math.floor(rnd() * 7));
      return;
    }
    case 'int8':
    case 'uint8': {
      const a = new Uint8Array(buffer, byteOffset, bytes);
      for (let i = 0; i < a.length; i++) a[i] = 1 + Math.floor(rnd() * 7);
      return;
    }
    case 'bool': {
      const a = new Uint8Array(buffer, byteOffset, bytes);
      for (let i = 0; i < a.length; i++) a[i] = rnd() < 0.5 ? 0 : 1;
      return;
    }
    default: {
      const a = new Uint8Array(buffer, byteOffset, bytes);
      for (let i = 0; i < a.length; i++) a[i] = 1 + Math.floor(rnd() * 255);
    }
  }
}
