/**
 * Shared by the GPU suite: finds the fixture engines and their references, and decides whether
 * this machine can run the suite. Without a GPU the suite is skipped with the reason in the
 * test names; with TRTNODE_REQUIRE_GPU=1 (npm run test:gpu) a missing GPU is a failure.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Tensor } from '../../lib/tensor.js';
import type { DataType } from '../../lib/dtypes.js';
import { typedArrayConstructor } from '../../lib/dtypes.js';
import { loadNative } from '../../lib/native/binding.js';
import { expect } from 'vitest';
import { isTensorRtError } from '../../lib/errors.js';

/** Folder with manifest.json, engines/, refs/ (what tools/fixtures/build_fixtures.py writes). */
export const FIXTURES = resolve(process.env.TRTNODE_FIXTURES ?? 'fixtures/gpu');

export interface RefTensor {
  dtype: string;
  shape: number[];
  file: string;
}
export interface EngineManifest {
  plan: string;
  sha256: string;
  io: { name: string; mode: string; dtype: string; shape: number[] }[];
  profiles: Record<string, { min: number[]; opt: number[]; max: number[] }>[];
  refs: Record<string, { inputs: Record<string, RefTensor>; outputs: Record<string, RefTensor> }>;
}
export interface Manifest {
  tensorrt_version: string;
  gpu: string;
  compute_capability: string;
  engines: Record<string, EngineManifest>;
}

const NUMPY: Record<string, DataType> = { float32: 'float32', float16: 'float16', int32: 'int32', int64: 'int64', bool: 'bool', uint8: 'uint8', int8: 'int8' };

function probe(): { ready: boolean; reason: string; manifest?: Manifest } {
  const manifestPath = join(FIXTURES, 'manifest.json');
  try {
    const n = loadNative();
    const info = n.cudaInfo();
    if (info.devices.length === 0) return { ready: false, reason: 'no CUDA device' };
    const rt = new n.Runtime({});
    rt.dispose();
  } catch (e) {
    return { ready: false, reason: `${(e as { code?: string }).code ?? 'ERR'}: ${(e as Error).message.split('\n')[0]}` };
  }
  if (!existsSync(manifestPath)) return { ready: false, reason: `no fixture engines at ${FIXTURES} (tools/gpu-host/README)` };
  return { ready: true, reason: '', manifest: JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest };
}

const p = probe();
if (!p.ready && process.env.TRTNODE_REQUIRE_GPU === '1') {
  throw new Error(`the GPU suite cannot run here: ${p.reason}`);
}
if (!p.ready) console.warn(`GPU suite skipped on this machine: ${p.reason}`);
export const GPU_READY = p.ready;
/** Put in describe() names so a skipped suite says why. */
export const SKIP_REASON = p.ready ? '' : ` [skipped: ${p.reason}]`;
export const manifest = p.manifest as Manifest;

export function plan(name: string): string {
  return join(FIXTURES, 'engines', `${name}.plan`);
}

export function ref(t: RefTensor): Tensor {
  const dtype = NUMPY[t.dtype];
  if (!dtype) throw new Error(`unsupported reference dtype ${t.dtype}`);
  const bytes = readFileSync(join(FIXTURES, t.file));
  const C = typedArrayConstructor(dtype);
  const ab = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(ab).set(bytes);
  return new Tensor(dtype, new C(ab), t.shape);
}

export function refCase(engine: string, c: string): { inputs: Record<string, Tensor>; outputs: Record<string, Tensor> } {
  // references belong to the ONNX model; any engine built from it carries them
  const e = manifest.engines[engine] ?? Object.values(manifest.engines).find((x) => (x as EngineManifest & { onnx?: string }).onnx === `onnx/${engine}.onnx`);
  if (!e) throw new Error(`fixture ${engine} is not in the manifest`);
  const r = e.refs[c];
  if (!r) throw new Error(`fixture ${engine} has no reference case ${c}`);
  const m = (x: Record<string, RefTensor>) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, ref(v)]));
  return { inputs: m(r.inputs), outputs: m(r.outputs) };
}

/** float16 bits → number */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** ‖a − b‖ / ‖b‖ over float data (NaN never passes). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    num += d * d;
    den += b[i]! * b[i]!;
  }
  const r = Math.sqrt(num) / Math.sqrt(den || 1);
  return Number.isNaN(r) ? Infinity : r;
}

/** Rows [from, to) along dimension 0 of a float32 tensor, copied. */
export function rows(t: Tensor, from: number, to: number): Tensor {
  const per = t.size / t.dims[0]!;
  const C = typedArrayConstructor(t.type);
  const data = new C(t.data.buffer.slice(t.data.byteOffset + from * per * C.BYTES_PER_ELEMENT, t.data.byteOffset + to * per * C.BYTES_PER_ELEMENT));
  return new Tensor(t.type, data, [to - from, ...t.dims.slice(1)]);
}

/** f() must throw a TensorRtError with this code. */
export function expectCode(f: () => unknown, code: string): void {
  try {
    f();
  } catch (e) {
    expect(isTensorRtError(e), String(e)).toBe(true);
    expect((e as { code: string }).code, (e as Error).message).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

/** p must reject with a TensorRtError with this code. */
export async function expectRejectCode(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect(isTensorRtError(e), String(e)).toBe(true);
    expect((e as { code: string }).code, (e as Error).message).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, the call succeeded`);
}
