/**
 * Triton's system shared-memory extension: a client on the same host registers a POSIX shm
 * object (key, offset, byte size) under a region name, then names the region in an inference
 * input's or output's parameters instead of sending the tensor bytes. Inputs are used in place
 * (a view of the mapping goes to the scheduler, no copy on the way in); outputs are written into
 * the region. This is what keeps large tensors off HTTP/2 framing and protobuf when client and
 * server share a machine.
 *
 * A region's mapping is released when nothing references it any more (the native ArrayBuffer's
 * finalizer unmaps it), so unregistering a region that a request in flight still reads is safe.
 */
import { TensorRtError } from '../errors.js';
import { loadNative } from '../native/binding.js';
import type { Tensor } from '../tensor.js';
import { typedArrayConstructor, viewAs, type DataType, type TypedArray } from '../dtypes.js';

export interface SharedMemoryRegionStatus {
  name: string;
  key: string;
  offset: number;
  byteSize: number;
  /** page-locked for the GPU: batches gathered from it are DMA'd, with no CPU copy */
  pinned: boolean;
}

interface Region extends SharedMemoryRegionStatus {
  bytes: Uint8Array;
  /** the shm object's size now, or -1 once an access to the mapping faulted (SharedMemoryMapping.size) */
  size: (() => number) | undefined;
  close: (() => void) | undefined;
}

/** What a SharedMemoryMapper returns. */
export interface SharedMemoryMapping {
  buffer: ArrayBuffer;
  pinned: boolean;
  /**
   * The shm object's size in bytes now, or -1 once an access to the mapping has faulted (the
   * object was truncated under it; the native mapper survives that, see native/src/shared_memory.h).
   * Checked before every use of the region. Absent: no check.
   */
  size?: () => number;
  /** Called when the region is unregistered: what size() needs may go (the mapping itself stays while views of it are in use). */
  close?: () => void;
}

/** Maps [offset, offset + byteSize) of the shm object `key`, page-locked if `pin` and possible; the native addon by default. */
export type SharedMemoryMapper = (key: string, offset: number, byteSize: number, pin: boolean) => SharedMemoryMapping;

export interface SystemSharedMemoryOptions {
  map?: SharedMemoryMapper;
  /**
   * Asked at each registration: page-lock the region for the GPU? Pinning needs (and, on a
   * machine with a GPU, creates) a CUDA context, so startServer() pins only while a TensorRT
   * model is loaded. Default: never.
   */
  pin?: () => boolean;
  /**
   * Is the extension on? A client that can register a region reads and writes, through
   * inference, any shm object the server's user can open, and sees and unregisters every other
   * client's regions (Triton's protocol has no notion of owner). Off, every register, status and
   * unregister call and every tensor naming a region is refused (400 / INVALID_ARGUMENT), and the
   * server's metadata does not list the extension. Default true here; startServer() turns it on
   * only for a server bound to a loopback address unless told otherwise (ServeOptions.systemSharedMemory),
   * and createHttpServer()/startGrpcServer() without a registry of their own use one that is off.
   */
  enabled?: boolean;
  /**
   * Only keys starting with one of these may be registered (a key and a prefix are compared with
   * one leading "/", which shm_open adds when it is missing). Default: every key.
   */
  keyPrefixes?: readonly string[];
  /** Most regions registered at once (each holds a mapping and a descriptor). Default 256. */
  maxRegions?: number;
}

/** Default SystemSharedMemoryOptions.maxRegions. */
export const DEFAULT_MAX_SHARED_MEMORY_REGIONS = 256;
/** Longest key (a POSIX shm name: NAME_MAX). */
const MAX_KEY_BYTES = 255;

/** A key as shm_open resolves it: with one leading "/". */
function withSlash(key: string): string {
  return key.startsWith('/') ? key : `/${key}`;
}

function bad(message: string): never {
  throw new TensorRtError('ERR_INVALID_ARGUMENT', message);
}

function isSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function badSize(v: unknown, what: string): never {
  bad(`${what} must be a non-negative integer, got ${JSON.stringify(v)}`);
}

function checkSize(v: unknown, what: string): number {
  return isSize(v) ? v : badSize(v, what);
}

/**
 * What an error message names: `input "x"` or `output "y"` (what, name), or `what` alone. Built
 * only when there is a message to give: these checks run for every tensor of every request.
 */
function label(what: string, name: string | undefined): string {
  return name === undefined ? what : `${what} "${name}"`;
}

/** The regions registered with one server (HTTP and gRPC share it). */
export class SystemSharedMemory {
  readonly #regions = new Map<string, Region>();
  readonly #map: SharedMemoryMapper;
  readonly #pin: () => boolean;
  readonly #prefixes: readonly string[] | undefined;
  readonly #maxRegions: number;
  /** Is the extension on (SystemSharedMemoryOptions.enabled)? */
  readonly enabled: boolean;

  constructor(options: SystemSharedMemoryOptions = {}) {
    this.#map = options.map ?? ((key, offset, byteSize, pin) => loadNative().mapSharedMemory(key, offset, byteSize, pin));
    this.#pin = options.pin ?? (() => false);
    this.enabled = options.enabled ?? true;
    if (options.keyPrefixes !== undefined) {
      if (!Array.isArray(options.keyPrefixes) || !options.keyPrefixes.every((p) => typeof p === 'string' && p !== '' && !p.includes('\0'))) {
        throw new TensorRtError('ERR_INVALID_ARGUMENT', 'keyPrefixes must be a list of non-empty strings');
      }
      this.#prefixes = options.keyPrefixes.map(withSlash);
    }
    this.#maxRegions = options.maxRegions ?? DEFAULT_MAX_SHARED_MEMORY_REGIONS;
    if (!Number.isSafeInteger(this.#maxRegions) || this.#maxRegions < 1) throw new TensorRtError('ERR_INVALID_ARGUMENT', `maxRegions must be a positive integer, got ${String(options.maxRegions)}`);
  }

  /** ERR_INVALID_ARGUMENT when the extension is off. */
  #checkEnabled(): void {
    if (!this.enabled) bad('the system shared-memory extension is disabled on this server');
  }

  /**
   * Register `name` for [offset, offset + byteSize) of the shm object `key`. ERR_INVALID_ARGUMENT
   * when the extension is off, the key is not a shm name this server allows, the name is taken,
   * there are maxRegions regions already, or the object cannot be mapped.
   */
  register(name: string, key: string, offset: number, byteSize: number): void {
    this.#checkEnabled();
    if (typeof name !== 'string' || name === '') bad('a shared memory region needs a name');
    if (typeof key !== 'string' || key === '') bad(`shared memory region '${name}' needs a key`);
    // a NUL would end the name that shm_open sees: another object than the one named
    if (key.includes('\0') || key.indexOf('/', 1) !== -1 || Buffer.byteLength(key) > MAX_KEY_BYTES) {
      bad(`shared memory region '${name}': key ${JSON.stringify(key)} is not a POSIX shm name (one path component of at most ${MAX_KEY_BYTES} bytes, no NUL)`);
    }
    if (this.#prefixes !== undefined && !this.#prefixes.some((p) => withSlash(key).startsWith(p))) bad(`shared memory region '${name}': key '${key}' is not one this server allows`);
    checkSize(offset, 'offset');
    if (checkSize(byteSize, 'byte_size') === 0) bad(`shared memory region '${name}': byte_size must be at least 1`);
    if (this.#regions.has(name)) bad(`shared memory region '${name}' is already registered`);
    if (this.#regions.size >= this.#maxRegions) bad(`shared memory region '${name}': ${this.#maxRegions} regions are registered, the most this server keeps; unregister some first`);
    const { buffer, pinned, size, close } = this.#map(key, offset, byteSize, this.#pin());
    this.#regions.set(name, { name, key, offset, byteSize, pinned, bytes: new Uint8Array(buffer), size, close });
  }

  /** Unregister one region, or every region when `name` is empty or absent. Unknown names are not an error (as in Triton). */
  unregister(name?: string): void {
    this.#checkEnabled();
    for (const r of name ? [this.#regions.get(name)] : [...this.#regions.values()]) {
      if (r === undefined) continue;
      this.#regions.delete(r.name);
      r.close?.();
    }
  }

  /** Status of one region (ERR_INVALID_ARGUMENT if it is not registered) or of all. */
  status(name?: string): SharedMemoryRegionStatus[] {
    this.#checkEnabled();
    const list = name ? [this.#regions.get(name) ?? bad(`unable to find system shared memory region: '${name}'`)] : [...this.#regions.values()];
    return list.map(({ name: n, key, offset, byteSize, pinned }) => ({ name: n, key, offset, byteSize, pinned }));
  }

  /**
   * The region's object still holds the registered range and no access to it has faulted:
   * checked before each use (the client may truncate the object at any time) and after a request
   * that used the region. ERR_INVALID_ARGUMENT otherwise; the region stays registered but unusable.
   */
  #checkIntact(r: Region, subject: string): void {
    if (r.size === undefined) return;
    const now = r.size();
    if (now < 0) bad(`${subject}: shared memory region '${r.name}' (key '${r.key}') was truncated while in use; unregister it`);
    if (now < r.offset + r.byteSize) bad(`${subject}: shared memory region '${r.name}' (key '${r.key}') needs ${r.offset + r.byteSize} bytes of its object, which now holds ${now}; unregister it`);
  }

  /**
   * After a request that used these regions (SharedMemoryRef.region names): ERR_INVALID_ARGUMENT
   * when one was truncated meanwhile (what was read from it or written to it is then not the
   * client's data).
   */
  checkAfterUse(regions: Iterable<string>): void {
    for (const name of regions) {
      const r = this.#regions.get(name);
      if (r !== undefined) this.#checkIntact(r, 'the request');
    }
  }

  /** The bytes [offset, offset + byteSize) of a registered region: a view of the mapping, no copy. */
  view(name: string, offset: number, byteSize: number, what: string): Uint8Array {
    return this.#view(name, offset, byteSize, what, undefined);
  }

  /** view(), the message's subject given as label(what, tensor) */
  #view(name: string, offset: number, byteSize: number, what: string, tensor: string | undefined): Uint8Array {
    this.#checkEnabled();
    const r = this.#regions.get(name) ?? bad(`${label(what, tensor)}: unable to find system shared memory region: '${name}'`);
    if (!isSize(offset)) badSize(offset, `${label(what, tensor)}: shared_memory_offset`);
    if (!isSize(byteSize)) badSize(byteSize, `${label(what, tensor)}: shared_memory_byte_size`);
    if (offset + byteSize > r.byteSize) bad(`${label(what, tensor)}: shared_memory_offset ${offset} + shared_memory_byte_size ${byteSize} exceeds region '${name}' of ${r.byteSize} bytes`);
    this.#checkIntact(r, label(what, tensor));
    return r.bytes.subarray(offset, offset + byteSize);
  }

  /**
   * The bytes of an input whose parameters name a region (a view, no copy); undefined when they
   * name none. The region's name is added to `used` (for checkAfterUse).
   */
  inputBytes(params: Record<string, unknown> | undefined, name: string, used?: Set<string>): Uint8Array | undefined {
    if (params === undefined) return undefined;
    const ref = sharedMemoryRef(params, 'input', name);
    if (ref === undefined) return undefined;
    used?.add(ref.region);
    return this.#view(ref.region, ref.offset, ref.byteSize, 'input', name);
  }

  /**
   * A requested output's region from its parameters (undefined: none), checked now, so that an
   * unknown region or a range beyond it fails the request before inference.
   */
  outputRef(params: Record<string, unknown> | undefined, name: string): SharedMemoryRef | undefined {
    if (params === undefined) return undefined;
    const ref = sharedMemoryRef(params, 'output', name);
    if (ref) this.#view(ref.region, ref.offset, ref.byteSize, 'output', name);
    return ref;
  }

  /**
   * The first `bytes` bytes of an output's region as a `dtype` array, for the scheduler to write
   * the output into (InferRequestOptions.outputBuffers: no array allocated and copied per
   * request); undefined when the region (as checked by outputRef) is smaller or not aligned for
   * `dtype`, or no longer registered: writeOutput then copies, or fails, as it says.
   */
  outputView(ref: SharedMemoryRef, dtype: DataType, bytes: number): TypedArray | undefined {
    const r = this.#regions.get(ref.region);
    if (r === undefined || bytes > ref.byteSize || ref.offset + ref.byteSize > r.byteSize) return undefined;
    this.#checkIntact(r, `output region '${ref.region}'`);
    const at = r.bytes.byteOffset + ref.offset;
    const size = typedArrayConstructor(dtype).BYTES_PER_ELEMENT;
    if (at % size !== 0 || bytes % size !== 0) return undefined;
    return viewAs(dtype, r.bytes.buffer, at, bytes);
  }

  /**
   * Write an output tensor's bytes into its region (nothing to copy when the scheduler wrote them
   * there, into an outputView); returns how many. ERR_BUFFER_TOO_SMALL when they do not fit.
   */
  writeOutput(ref: SharedMemoryRef, name: string, t: Tensor): number {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const target = this.#view(ref.region, ref.offset, ref.byteSize, 'output', name);
    if (bytes.byteLength > target.byteLength) {
      throw new TensorRtError('ERR_BUFFER_TOO_SMALL', `output "${name}" is ${bytes.byteLength} bytes; its shared memory (region '${ref.region}', byte_size ${ref.byteSize}) holds ${target.byteLength}`);
    }
    if (bytes.buffer !== target.buffer || bytes.byteOffset !== target.byteOffset) target.set(bytes);
    return bytes.byteLength;
  }

  get size(): number {
    return this.#regions.size;
  }
}

/** A tensor's shared-memory reference, from its KServe parameters (undefined: none). */
export interface SharedMemoryRef {
  region: string;
  offset: number;
  byteSize: number;
}

function intParam(v: unknown, what: string, tensor: string, field: string): number {
  // int64 parameters arrive as numbers (JSON, proto-loader longs: Number) or digit strings
  if (isSize(v)) return v;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return isSize(n) ? n : badSize(n, `${label(what, tensor)}: ${field}`);
}

/**
 * The shared-memory parameters of an input or requested output: shared_memory_region (string),
 * shared_memory_byte_size (integer, required with a region) and shared_memory_offset (default 0).
 */
function sharedMemoryRef(params: Record<string, unknown> | undefined, what: string, tensor: string): SharedMemoryRef | undefined {
  const region = params?.shared_memory_region;
  if (region === undefined) {
    if (params?.shared_memory_byte_size !== undefined || params?.shared_memory_offset !== undefined) bad(`${label(what, tensor)}: shared_memory_byte_size/offset given without shared_memory_region`);
    return undefined;
  }
  if (typeof region !== 'string' || region === '') bad(`${label(what, tensor)}: shared_memory_region must be a region name`);
  if (params!.shared_memory_byte_size === undefined) bad(`${label(what, tensor)}: shared_memory_byte_size is required with shared_memory_region`);
  return {
    region,
    byteSize: intParam(params!.shared_memory_byte_size, what, tensor, 'shared_memory_byte_size'),
    offset: params!.shared_memory_offset === undefined ? 0 : intParam(params!.shared_memory_offset, what, tensor, 'shared_memory_offset'),
  };
}

/** CUDA shared memory is not supported: a status query for a region names one that cannot exist */
export function noCudaRegion(name: string): TensorRtError {
  return new TensorRtError('ERR_INVALID_ARGUMENT', `unable to find cuda shared memory region: '${name}'`);
}

/** ... and registering one fails */
export function cudaShmUnsupported(name: string): TensorRtError {
  return new TensorRtError('ERR_INVALID_ARGUMENT', `failed to register CUDA shared memory region: '${name}', CUDA shared memory is not supported by this server (use system shared memory)`);
}
