/**
 * The messages between the main thread and a gRPC front-end worker thread (grpc-worker.ts,
 * started by grpc-front-ends.ts), and the moving of tensor bytes between them without a
 * structured-clone copy.
 */

/** workerData of a front-end thread. */
export interface GrpcWorkerData {
  protoDir: string;
  /** the methods to serve (the main thread's handler table); the proto's others answer UNIMPLEMENTED */
  methods: readonly string[];
  maxMessageBytes: number;
  flowControlWindowBytes: number;
}

export interface BridgedError {
  code: number;
  details: string;
}

/** main thread → worker */
export type ToWorker =
  /** an accepted connection: a descriptor the worker now owns */
  | { kind: 'connection'; fd: number }
  /** `returned`: the call's input ArrayBuffers, done with, for the worker to reuse (BufferPool) */
  | { kind: 'reply'; id: number; response: unknown; returned: ArrayBuffer[] }
  | { kind: 'reply'; id: number; error: BridgedError }
  /** stop taking calls, finish those in flight (forced after graceMs), then answer 'drained' */
  | { kind: 'drain'; graceMs: number };

/** worker → main thread */
export type FromWorker =
  | { kind: 'ready' }
  | { kind: 'call'; id: number; method: string; request: unknown }
  | { kind: 'connection-closed' }
  | { kind: 'drained' };

/** The request field of ModelInfer and the response field holding tensor bytes. */
export const RAW_INPUTS = 'raw_input_contents';
export const RAW_OUTPUTS = 'raw_output_contents';

/**
 * ArrayBuffers for moveBytesOut to copy into, by exact size: the main thread hands a call's input
 * buffers back once the call has succeeded, so that for steady traffic (same-sized tensors)
 * neither thread allocates and garbage-collects a new 600 KB buffer per call. Without it most of
 * the main thread's time per call went to the garbage collector, driven by that external memory.
 */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  take(size: number): ArrayBuffer | undefined {
    const list = this.free.get(size);
    const ab = list?.pop();
    if (ab) this.bytes -= size;
    return ab;
  }

  /** Keep `ab` for reuse unless that would exceed maxBytes (then the garbage collector has it). */
  give(ab: ArrayBuffer): void {
    if (ab.byteLength === 0 || this.bytes + ab.byteLength > this.maxBytes) return;
    let list = this.free.get(ab.byteLength);
    if (!list) this.free.set(ab.byteLength, (list = []));
    list.push(ab);
    this.bytes += ab.byteLength;
  }
}

/**
 * Replace `message[field]` (a list of byte arrays) with copies that own their whole ArrayBuffer,
 * and return those ArrayBuffers for postMessage's transfer list: the receiver then gets them
 * without a copy on its thread. A copy here is needed because the bytes are views into memory
 * the sender does not own alone (grpc-js's decoded message, Buffer's shared pool), and
 * transferring that would detach it under its other users. The copies go into buffers from
 * `pool` when it has one of the size, else into new ones (allocUnsafeSlow: no zero-fill, every
 * byte is overwritten, and never Buffer's shared pool).
 */
export function moveBytesOut(message: unknown, field: string, pool?: BufferPool): ArrayBuffer[] {
  const list = (message as Record<string, unknown> | null)?.[field];
  if (!Array.isArray(list)) return [];
  const transfer: ArrayBuffer[] = [];
  (message as Record<string, unknown>)[field] = list.map((bytes: Uint8Array) => {
    const copy = new Uint8Array(pool?.take(bytes.byteLength) ?? (Buffer.allocUnsafeSlow(bytes.byteLength).buffer as ArrayBuffer));
    copy.set(bytes);
    transfer.push(copy.buffer);
    return copy;
  });
  return transfer;
}

/**
 * On the receiving side: turn the Uint8Arrays of `message[field]` back into Buffers (views, no
 * copy), as protobufjs and the handlers expect. Returns their ArrayBuffers.
 */
export function bytesBackToBuffers(message: unknown, field: string): ArrayBuffer[] {
  const list = (message as Record<string, unknown> | null)?.[field];
  if (!Array.isArray(list)) return [];
  const buffers: ArrayBuffer[] = [];
  (message as Record<string, unknown>)[field] = list.map((b: Uint8Array) => {
    buffers.push(b.buffer as ArrayBuffer);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  });
  return buffers;
}
