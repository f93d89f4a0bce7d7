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
  /** GrpcServerOptions.requestIdleTimeoutMs and firstCallTimeoutMs */
  timeouts: { requestIdleMs: number; firstCallMs: number };
}

export interface BridgedError {
  code: number;
  details: string;
}

/**
 * main thread → worker. Answers travel in batches: every call that completes while the main
 * thread runs one piece of work (a batch of inferences settling together, a batch of calls
 * failing validation) is answered by one message, not one each (MessageBatcher).
 */
export type ToWorker =
  /** an accepted connection: a descriptor the worker now owns */
  | { kind: 'connection'; fd: number }
  /**
   * `replies`: [id, ok, response-or-BridgedError] for each call answered; `returned`: the input
   * ArrayBuffers of the calls that succeeded, done with, for the worker to reuse (BufferPool)
   */
  | { kind: 'replies'; replies: unknown[]; returned: ArrayBuffer[] }
  /** stop taking calls, finish those in flight (forced after graceMs), then answer 'drained' */
  | { kind: 'drain'; graceMs: number };

/** worker → main thread */
export type FromWorker =
  | { kind: 'ready' }
  /**
   * calls, [id, method, request] for each: method is an index into GrpcWorkerData.methods; a
   * ModelInfer request has its parameters flattened (flattenModelInferRequest). Several calls
   * decoded close together share one message (MessageBatcher).
   */
  | { kind: 'calls'; calls: unknown[] }
  | { kind: 'connection-closed' }
  | { kind: 'drained' };

/** Entries per call in FromWorker 'calls' and per answer in ToWorker 'replies'. */
export const CALL_FIELDS = 3;

/**
 * Collects a thread's outgoing calls or answers and posts them as one message at `flush`: the
 * receiving thread then pays one wake-up, one event and one deserialization per batch instead of
 * per call; with hundreds of small calls per second, those per-message costs would be a large
 * part of the main thread's work per call. `schedule` arranges the flush (the main thread: process.nextTick, so everything
 * that settles in one macrotask and its microtasks goes together; a worker: setImmediate).
 */
export class MessageBatcher {
  private items: unknown[] = [];
  private transfer: ArrayBuffer[] = [];
  private returned: ArrayBuffer[] = [];
  private scheduled = false;
  private readonly flushBound = (): void => this.flush();

  constructor(
    /** `transfer`: every ArrayBuffer queued, `returned` among them those queued as returned */
    private readonly send: (items: unknown[], transfer: ArrayBuffer[], returned: ArrayBuffer[]) => void,
    private readonly schedule: (flush: () => void) => void,
  ) {}

  /**
   * Queue one entry of CALL_FIELDS values, the ArrayBuffers it refers to (`moved`, transferred
   * with it) and buffers handed back with it (`returned`, transferred too: the main thread's
   * input buffers for the worker's pool).
   */
  add(a: unknown, b: unknown, c: unknown, moved?: readonly ArrayBuffer[], returned?: readonly ArrayBuffer[]): void {
    this.items.push(a, b, c);
    if (moved !== undefined) for (const ab of moved) this.transfer.push(ab);
    if (returned !== undefined) {
      for (const ab of returned) {
        this.transfer.push(ab);
        this.returned.push(ab);
      }
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.flushBound);
    }
  }

  /** Post what is queued (nothing when empty). */
  flush(): void {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const { items, transfer, returned } = this;
    this.items = [];
    this.transfer = [];
    this.returned = [];
    this.send(items, transfer, returned);
  }
}

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

/** Stands for every empty byte array in moved messages: never transferred, and the same object each time (cloned once per message). */
const NO_BYTES = new Uint8Array(0);

/** Buffers whose views moveBytesOut may transfer in place (PooledMessages, grpc-decoder.ts). */
export interface InPlaceBuffers {
  has(ab: ArrayBufferLike): boolean;
  /** bytes at `byteOffset` of `ab` could not be moved in place: not 8-byte aligned */
  misaligned(ab: ArrayBufferLike, byteOffset: number): void;
}

/**
 * Replace `message[field]` (a list of byte arrays) with copies that own their whole ArrayBuffer,
 * and return those ArrayBuffers for postMessage's transfer list: the receiver then gets them
 * without a copy on its thread. A copy here is needed because the bytes are views into memory
 * the sender does not own alone (grpc-js's decoded message, Buffer's shared pool), and
 * transferring that would detach it under its other users. The copies go into buffers from
 * `pool` when it has one of the size, else into new ones (allocUnsafeSlow: no zero-fill, every
 * byte is overwritten, and never Buffer's shared pool). Bytes in a buffer of `inPlace` (a whole
 * request assembled by the front-end thread's decoder, used by nothing else once decoded) are
 * not copied when 8-byte aligned: their ArrayBuffer is transferred, once however many views it
 * holds.
 */
export function moveBytesOut(message: unknown, field: string, pool?: BufferPool, inPlace?: InPlaceBuffers): ArrayBuffer[] {
  const list = (message as Record<string, unknown> | null)?.[field];
  if (!Array.isArray(list)) return [];
  const transfer: ArrayBuffer[] = [];
  (message as Record<string, unknown>)[field] = list.map((bytes: Uint8Array) => {
    // nothing to move (an output written to shared memory): one shared empty array, cloned
    if (bytes.byteLength === 0) return NO_BYTES;
    if (inPlace?.has(bytes.buffer)) {
      if (bytes.byteOffset % 8 === 0) {
        if (!transfer.includes(bytes.buffer as ArrayBuffer)) transfer.push(bytes.buffer as ArrayBuffer);
        return bytes;
      }
      inPlace.misaligned(bytes.buffer, bytes.byteOffset);
    }
    const copy = new Uint8Array(pool?.take(bytes.byteLength) ?? (Buffer.allocUnsafeSlow(bytes.byteLength).buffer as ArrayBuffer));
    copy.set(bytes);
    transfer.push(copy.buffer);
    return copy;
  });
  return transfer;
}

/**
 * On the receiving side: turn the Uint8Arrays of `message[field]` back into Buffers (views, no
 * copy), as protobufjs and the handlers expect. Returns their ArrayBuffers, each once (several
 * views may share one, see moveBytesOut).
 */
export function bytesBackToBuffers(message: unknown, field: string): ArrayBuffer[] {
  const list = (message as Record<string, unknown> | null)?.[field];
  if (!Array.isArray(list)) return [];
  const buffers: ArrayBuffer[] = [];
  (message as Record<string, unknown>)[field] = list.map((b: Uint8Array) => {
    if (!buffers.includes(b.buffer as ArrayBuffer)) buffers.push(b.buffer as ArrayBuffer);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  });
  return buffers;
}
