/**
 * Large gRPC request messages assembled into reusable, transferable buffers, for the front-end
 * threads (grpc-worker.ts).
 *
 * grpc-js (1.14, pinned) collects a message's DATA chunks as slices and Buffer.concat()s them
 * into a fresh buffer once the message is complete; protobufjs then decodes the tensor bytes
 * (raw_input_contents) as views into that buffer, and moveBytesOut() copies them into a buffer of
 * their own to transfer to the main thread: two copies of each tensor, and as much fresh memory
 * (page faults) and garbage, per call. Here a complete message of
 * POOLED_MIN_BYTES and more is concatenated into an ArrayBuffer from the thread's BufferPool (those
 * the main thread hands back) instead, and the tensor bytes are transferred in place when they sit
 * at an aligned offset: one copy, no fresh memory in steady traffic. The chunks are held as they
 * arrive, as grpc-js holds them: nothing is allocated for a message's announced size before its
 * bytes are there (a stalled client that announces 16 MiB and sends 5 bytes costs 5 bytes).
 *
 * The offset: the framed message starts `pad` bytes into its ArrayBuffer, so that the first
 * raw_input_contents entry (whose place depends on the request's header fields) lands 8-byte
 * aligned, as the main thread needs to use it in place (codec.ts copies unaligned bytes). `pad`
 * is learnt per message size: a misaligned first entry (copied out by moveBytesOut) sets the pad that
 * aligns it for the next message of that size, which for steady traffic (the same header each
 * time) is every later one.
 */
import type { BufferPool } from './grpc-bridge.js';
import { DECODER_NO_DATA, replaceStreamDecoderWrite, type StreamDecoderState } from './internals/grpc-js.js';

/** Messages from this size up go into pooled buffers; smaller ones as grpc-js does it. */
export const POOLED_MIN_BYTES = 64 * 1024;
/** ...and up to this size. */
export const POOLED_MAX_BYTES = 16 * 1024 * 1024;
/** Room before the framed message to align its tensor bytes (and spare room after it). */
const ALIGN = 8;

const NO_DATA = DECODER_NO_DATA;
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
 * grpc-js's StreamDecoder.write, with complete messages in [POOLED_MIN_BYTES, POOLED_MAX_BYTES]
 * concatenated into pooled buffers: the same results (framed messages: flag, 4-byte size, message)
 * and the same errors, in the same order.
 */
export function pooledWrite(messages: PooledMessages): (this: StreamDecoderState, data: Buffer) => Buffer[] {
  return function write(this: StreamDecoderState, data: Buffer): Buffer[] {
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
            } else {
              result.push(Buffer.concat([this.readCompressFlag, this.readPartialSize], 5));
              this.readState = NO_DATA;
            }
          }
          break;
        }
        case READING_MESSAGE: {
          const toRead = Math.min(data.length - readHead, this.readMessageRemaining);
          this.readPartialMessage.push(data.subarray(readHead, readHead + toRead));
          this.readMessageRemaining -= toRead;
          readHead += toRead;
          if (this.readMessageRemaining === 0) {
            const size = this.readMessageSize;
            const parts = [this.readCompressFlag, this.readPartialSize, ...this.readPartialMessage];
            if (size >= POOLED_MIN_BYTES && size <= POOLED_MAX_BYTES) {
              const target = messages.take(size + 5);
              let at = 0;
              for (const part of parts) at += part.copy(target, at);
              result.push(target);
            } else result.push(Buffer.concat(parts, size + 5));
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
 * StreamDecoder is not the one this was written against (internals/grpc-js.ts), e.g. after a
 * grpc-js upgrade: grpc-js then assembles messages itself, and moveBytesOut copies their tensor bytes.
 */
export function installPooledDecoder(messages: PooledMessages): boolean {
  return replaceStreamDecoderWrite(pooledWrite(messages));
}
