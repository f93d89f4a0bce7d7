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
  | { kind: 'reply'; id: number; response: unknown }
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
 * Replace `message[field]` (a list of byte arrays) with copies that own their whole ArrayBuffer,
 * and return those ArrayBuffers for postMessage's transfer list: the receiver then gets them
 * without a copy on its thread. A copy here is needed because the bytes are views into memory
 * the sender does not own alone (grpc-js's decoded message, Buffer's shared pool), and
 * transferring that would detach it under its other users. allocUnsafeSlow: no zero-fill (every
 * byte is overwritten) and never the pool.
 */
export function moveBytesOut(message: unknown, field: string): ArrayBuffer[] {
  const list = (message as Record<string, unknown> | null)?.[field];
  if (!Array.isArray(list)) return [];
  const transfer: ArrayBuffer[] = [];
  (message as Record<string, unknown>)[field] = list.map((bytes: Uint8Array) => {
    const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
    copy.set(bytes);
    transfer.push(copy.buffer as ArrayBuffer);
    return new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength);
  });
  return transfer;
}

/** On the receiving side: turn the Uint8Arrays of `message[field]` back into Buffers (views, no copy), as protobufjs and the handlers expect. */
export function bytesBackToBuffers(message: unknown, field: string): void {
  const list = (message as Record<string, unknown> | null)?.[field];
  if (!Array.isArray(list)) return;
  (message as Record<string, unknown>)[field] = list.map((b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
