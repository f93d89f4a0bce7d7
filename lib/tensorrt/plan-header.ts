/**
 * What a plan's first bytes say, read before TensorRT sees the plan.
 *
 * NVIDIA's own reader of this header is trtexec's `--getPlanVersionOnly`
 * (samples/common/sampleEngines.cpp, printPlanVersion, in the public NVIDIA/TensorRT repository
 * from 10.x through 11.x): a plan starts with the 32-bit tag 0x74727466 ('ftrt' in file order);
 * the next 32-bit word is the header layout, and in layout 0 bytes 24..27 are the TensorRT
 * version that built it: major, minor, patch, build (10.6.0.26 for this project's fixtures).
 * TensorRT itself refuses a blob without the tag ("plan->header.magicTag == rt::kPLAN_MAGIC_TAG"), so
 * bytes without it are left to TensorRT (and the addon's own size check) to refuse.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { TensorRtError } from '../errors.js';

/** Bytes read from the start of a plan: enough for the tag, the layout and the version. */
export const PLAN_HEADER_BYTES = 32;
const PLAN_TAG = 0x74727466;

export interface PlanVersion {
  major: number;
  minor: number;
  patch: number;
  build: number;
}

export interface PlanHeader {
  /** the header layout word (0 in every TensorRT 8.6 - 11.x plan seen); the version is known for 0 only */
  layout: number;
  /** the TensorRT version that built the plan, when the layout says where it is */
  version: PlanVersion | undefined;
}

export function planVersionString(v: PlanVersion): string {
  return `${v.major}.${v.minor}.${v.patch}.${v.build}`;
}

function view(plan: ArrayBufferView | ArrayBuffer): Uint8Array {
  return plan instanceof ArrayBuffer ? new Uint8Array(plan) : new Uint8Array(plan.buffer, plan.byteOffset, plan.byteLength);
}

/**
 * Parses a plan's first bytes: undefined when they do not start with the plan tag, or are too few
 * (TensorRT refuses those itself, safely: its first check is the same tag).
 */
export function readPlanHeader(plan: ArrayBufferView | ArrayBuffer): PlanHeader | undefined {
  const b = view(plan);
  if (b.byteLength < 28) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(0, true) !== PLAN_TAG) return undefined;
  const layout = dv.getUint32(4, true);
  return { layout, version: layout === 0 ? { major: b[24]!, minor: b[25]!, patch: b[26]!, build: b[27]! } : undefined };
}

function compare(a: PlanVersion, runtime: [number, number, number]): number {
  return a.major - runtime[0] || a.minor - runtime[1] || a.patch - runtime[2];
}

function runtimeTriple(runtimeVersion: string): [number, number, number] {
  const [a = 0, b = 0, c = 0] = runtimeVersion.split('.').map(Number);
  return [a, b, c];
}

/**
 * The refusal a plan gets before TensorRT sees it: one built by a newer TensorRT than the
 * runtime never loads (version compatibility only reaches forward). An older plan may be
 * version-compatible, which the header does not say: TensorRT decides those (versionRefusal
 * names both versions if it refuses).
 */
export function checkPlanVersion(header: PlanHeader | undefined, runtimeVersion: string, runtimeWhere: string, source = 'the plan'): void {
  const v = header?.version;
  if (!v || compare(v, runtimeTriple(runtimeVersion)) <= 0) return;
  throw new TensorRtError(
    'ERR_TRT_VERSION',
    `${source} was built by TensorRT ${planVersionString(v)}, newer than the TensorRT ${runtimeVersion} runtime at ${runtimeWhere}: ` +
      `a plan runs only on the TensorRT version that built it (or, built version-compatible, on later ones). ` +
      `Rebuild the plan with TensorRT ${runtimeVersion}, or load a TensorRT ${v.major}.${v.minor} runtime.`,
    { planVersion: planVersionString(v), runtimeVersion },
  );
}

/**
 * When TensorRT refused a plan of another version than the runtime: the same refusal as
 * ERR_TRT_VERSION, naming both versions and keeping TensorRT's own words. Undefined when the
 * versions match (the refusal had another cause) or the header says no version.
 */
export function versionRefusal(header: PlanHeader | undefined, runtimeVersion: string, runtimeWhere: string, cause: Error, source = 'the plan'): TensorRtError | undefined {
  const v = header?.version;
  if (!v || compare(v, runtimeTriple(runtimeVersion)) === 0) return undefined;
  return new TensorRtError(
    'ERR_TRT_VERSION',
    `${source} was built by TensorRT ${planVersionString(v)} and the runtime at ${runtimeWhere} is TensorRT ${runtimeVersion}: ` +
      `a plan runs only on the TensorRT version that built it, unless it was built version-compatible (and then only on later versions). ` +
      `Rebuild it with TensorRT ${runtimeVersion}. TensorRT said: ${cause.message}`,
    { planVersion: planVersionString(v), runtimeVersion },
    { cause },
  );
}

function fileError(path: string, e: NodeJS.ErrnoException): TensorRtError {
  const why = e.code === 'ENOENT' ? 'does not exist' : e.code === 'EACCES' ? 'is not readable (permission denied)' : e.code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read (${e.code ?? e.message})`;
  return new TensorRtError('ERR_INVALID_ARGUMENT', `plan file '${path}' ${why}`, { path, reason: e.code ?? 'EIO' }, { cause: e });
}

/**
 * The first bytes of a plan file; a missing, unreadable or non-regular file is refused with
 * ERR_INVALID_ARGUMENT (details.reason 'ENOENT', 'EACCES', 'EISDIR') before any TensorRT lookup.
 */
export function readPlanFileHeader(path: string): Uint8Array {
  let fd: number;
  try {
    if (statSync(path).isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
    fd = openSync(path, 'r');
  } catch (e) {
    throw fileError(path, e as NodeJS.ErrnoException);
  }
  try {
    const buf = new Uint8Array(PLAN_HEADER_BYTES);
    const n = readSync(fd, buf, 0, PLAN_HEADER_BYTES, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** readPlanFileHeader without blocking the event loop. */
export async function readPlanFileHeaderAsync(path: string): Promise<Uint8Array> {
  let fh;
  try {
    if ((await stat(path)).isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
    fh = await open(path, 'r');
  } catch (e) {
    throw fileError(path, e as NodeJS.ErrnoException);
  }
  try {
    const buf = new Uint8Array(PLAN_HEADER_BYTES);
    const { bytesRead } = await fh.read(buf, 0, PLAN_HEADER_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Checks that a plan file exists and is readable, before anything looks for TensorRT: call it
 * first where a plan path comes in (Session.create, inspect, the TensorRT backend).
 */
export function assertPlanFile(path: string): void {
  readPlanFileHeader(path);
}
