/**
 * Large gRPC request messages assembled straight into reusable, transferable buffers, for the
 * front-end threads (grpc-worker.ts).
 *
 * grpc-js (1.14, pinned) collects a message's DATA chunks as slices and Buffer.concat()s them
 * into a fresh buffer once the message is complete; protobufjs then decodes the tensor bytes
 * (raw_input_contents) as views into that buffer, and moveBytesOut() copied them once more
 * into a buffer of their own to transfer to the main thread. For a 600 KB image that was two
 * copies, 600 KB of fresh memory (page faults) and 600 KB of garbage per call. Here messages of
 * POOLED_MIN_BYTES and more are written, chunk by chunk, into an ArrayBuffer from the thread's
 * BufferPool (those the main thread hands back), and the tensor bytes are transferred in place
 * when they sit at an aligned offset: one copy, no fresh memory in steady traffic.
 *
 * The offset: the framed message starts `pad` bytes into its ArrayBuffer, so that the first
 * raw_input_contents entry (whose place depends on the request's header fields) lands 8-byte
 * aligned, as the main thread needs to use it in place (codec.ts copies unaligned bytes). `pad`
 * is learnt per message size: a misaligned first entry (copied, as before) sets the pad that
 * aligns it for the next message of that size, which for steady traffic (the same header each
 * time) is every later one.
 */
import { createRequire } from 'node:module';
import type { BufferPool } from './grpc-bridge.js';

/** Messages from this size up go into pooled buffers; smaller ones as grpc-js does it. */
export const POOLED_MIN_BYTES = 64 * 1024;
/** ...and up to this size (a larger announced size is not allocated before its bytes arrive). */
export const POOLED_MAX_BYTES = 16 * 1024 * 1024;
/** Room before the framed message to align its tensor bytes (and spare room after it). */
const ALIGN = 8;

/** The decoder state of grpc-js 1.14's StreamDecoder (build/src/stream-decoder.js), plus ours. */
interface DecoderState {
  readState: number;
  readCompressFlag: Buffer;
  readPartialSize: Buffer;
  readSizeRemaining: number;
  readMessageSize: number;
  readPartialMessage: Buffer[];
  readMessageRemaining: number;
  maxReadMessageLength: number;
  /** the pooled buffer being filled (a view of the framed message), or undefined */
  pooledTarget?: Buffer;
  pooledFilled?: number;
}

const NO_DATA = 0;
const READING_SIZE = 1;
const READING_MESSAGE = 2;

/** The ArrayBuffers that hold pooled messages, and the pad learnt for each size. */
export class PooledMessages {
  private readonly owned = new WeakSet<ArrayBuffer>();
  private readonly pads = new Map<number, number>();

  constructor(private readonly pool: BufferPool) {}

  /** A view of `size` bytes in a pooled buffer (the pad for its size before it). */
  take(size: number): Buffer {
    const total = size + 2 * ALIGN;
    const ab = this.pool.take(total) ?? (Buffer.allocUnsafeSlow(total).buffer as ArrayBuffer);
    this.owned.add(ab);
    return Buffer.from(ab, this.pads.get(total) ?? 0, size);
  }

  /** Whether `ab` holds a pooled message (its views may be transferred in place). */
  has(ab: ArrayBufferLike): boolean {
    return this.owned.has(ab as ArrayBuffer);
  }

  /**
   * Bytes of a pooled message at `byteOffset` in `ab` are not aligned: the next message of this
   * buffer's size starts further in by the difference (modulo ALIGN).
   */
  misaligned(ab: ArrayBufferLike, byteOffset: number): void {
    const pad = this.pads.get(ab.byteLength) ?? 0;
    this.pads.set(ab.byteLength, (pad + ALIGN - (byteOffset % ALIGN)) % ALIGN);
  }
}

/**
 * grpc-js's StreamDecoder.write with messages in [POOLED_MIN_BYTES, POOLED_MAX_BYTES] written
 * into pooled buffers as their chunks arrive: the same results (framed messages: flag, 4-byte
 * size, message) and the same errors, in the same order.
 */
export function pooledWrite(messages: PooledMessages): (this: DecoderState, data: Buffer) => Buffer[] {
  return function write(this: DecoderState, data: Buffer): Buffer[] {
    let readHead = 0;
    const result: Buffer[] = [];
    while (readHead < data.length) {
      switch (this.readState) {
        case NO_DATA:
          this.readCompressFlag = data.subarray(readHead, readHead + 1);
          readHead += 1;
          this.readState = READING_SIZE;
          this.readPartialSize.fill(0);
          this.readSizeRemaining = 4;
          this.readMessageSize = 0;
          this.readMessageRemaining = 0;
          this.readPartialMessage = [];
          this.pooledTarget = undefined;
          break;
        case READING_SIZE: {
          const toRead = Math.min(data.length - readHead, this.readSizeRemaining);
          data.copy(this.readPartialSize, 4 - this.readSizeRemaining, readHead, readHead + toRead);
          this.readSizeRemaining -= toRead;
          readHead += toRead;
          if (this.readSizeRemaining === 0) {
            const size = this.readPartialSize.readUInt32BE(0);
            this.readMessageSize = size;
            if (this.maxReadMessageLength !== -1 && size > this.maxReadMessageLength) {
              throw new Error(`Received message larger than max (${size} vs ${this.maxReadMessageLength})`);
            }
            this.readMessageRemaining = size;
            if (size > 0) {
              this.readState = READING_MESSAGE;
              if (size >= POOLED_MIN_BYTES && size <= POOLED_MAX_BYTES) {
                const target = messages.take(size + 5);
                target[0] = this.readCompressFlag[0]!;
                this.readPartialSize.copy(target, 1);
                this.pooledTarget = target;
                this.pooledFilled = 5;
              }
            } else {
              result.push(Buffer.concat([this.readCompressFlag, this.readPartialSize], 5));
              this.readState = NO_DATA;
            }
          }
          break;
        }
        case READING_MESSAGE: {
          const toRead = Math.min(data.length - readHead, this.readMessageRemaining);
          const target = this.pooledTarget;
          if (target) {
            data.copy(target, this.pooledFilled, readHead, readHead + toRead);
            this.pooledFilled! += toRead;
          } else this.readPartialMessage.push(data.subarray(readHead, readHead + toRead));
          this.readMessageRemaining -= toRead;
          readHead += toRead;
          if (this.readMessageRemaining === 0) {
            result.push(target ?? Buffer.concat([this.readCompressFlag, this.readPartialSize, ...this.readPartialMessage], this.readMessageSize + 5));
            this.pooledTarget = undefined;
            this.readPartialMessage = [];
            this.readState = NO_DATA;
          }
          break;
        }
        default:
          throw new Error('Unexpected read state');
      }
    }
    return result;
  };
}

/**
 * Make this thread's grpc-js assemble large messages with pooledWrite (every StreamDecoder of
 * the thread's grpc-js, server and client side). Returns false, changing nothing, when grpc-js's
 * StreamDecoder is not the one this was written against (its module moved, or a decoder lacks
 * the expected state), e.g. after a grpc-js upgrade: messages are then assembled as before.
 */
export function installPooledDecoder(messages: PooledMessages): boolean {
  let decoderClass: { prototype: { write?: unknown } } & (new (max: number) => DecoderState);
  try {
    const req = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
    decoderClass = (req('@grpc/grpc-js/build/src/stream-decoder.js') as { StreamDecoder: typeof decoderClass }).StreamDecoder;
    const probe = new decoderClass(-1);
    const fields: Array<keyof DecoderState> = ['readState', 'readCompressFlag', 'readPartialSize', 'readSizeRemaining', 'readMessageSize', 'readPartialMessage', 'readMessageRemaining', 'maxReadMessageLength'];
    if (typeof decoderClass.prototype.write !== 'function' || fields.some((f) => !(f in probe)) || probe.readState !== NO_DATA) return false;
  } catch {
    return false;
  }
  decoderClass.prototype.write = pooledWrite(messages);
  return true;
}
