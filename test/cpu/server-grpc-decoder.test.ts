/**
 * lib/server/grpc-decoder.ts: large gRPC messages assembled into pooled buffers by the
 * front-end threads, and their tensor bytes moved to the main thread in place. The decoder is
 * checked against grpc-js's own StreamDecoder (the same framed messages and errors for any
 * chunking); installPooledDecoder is not called here (it patches grpc-js for the whole thread),
 * the front-end threads' end-to-end tests (server-grpc-workers.test.ts, 600 KB images) run it.
 */
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { POOLED_MIN_BYTES, PooledMessages, pooledWrite } from '../../lib/server/grpc-decoder.js';
import { BufferPool, bytesBackToBuffers, moveBytesOut } from '../../lib/server/grpc-bridge.js';

const req = createRequire(import.meta.url);
const { StreamDecoder } = req('@grpc/grpc-js/build/src/stream-decoder.js') as { StreamDecoder: new (max: number) => { write(b: Buffer): Buffer[] } };

/** A grpc-js decoder whose write is pooledWrite (the prototype is left alone). */
function pooledDecoder(messages: PooledMessages, max = -1): { write(b: Buffer): Buffer[] } {
  const d = new StreamDecoder(max);
  (d as unknown as { write: unknown }).write = pooledWrite(messages);
  return d;
}

const frame = (body: Buffer): Buffer => {
  const f = Buffer.alloc(body.length + 5);
  f.writeUInt32BE(body.length, 1);
  body.copy(f, 5);
  return f;
};

/** deterministic pseudo-random bytes and chunk sizes */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

describe('pooled gRPC message decoder', () => {
  it('yields the same framed messages as grpc-js for any chunking, large ones in pooled buffers', () => {
    const r = rng(7);
    const bodies = [0, 10, POOLED_MIN_BYTES - 1, POOLED_MIN_BYTES, 200_000, 3, 602_200].map((n) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256))));
    const stream = Buffer.concat(bodies.map(frame));
    for (const maxChunk of [1, 7, 16_384, 65_536, stream.length]) {
      const messages = new PooledMessages(new BufferPool(64 * 1024 * 1024));
      const ours = pooledDecoder(messages);
      const theirs = new StreamDecoder(-1);
      const got: Buffer[] = [];
      const want: Buffer[] = [];
      for (let at = 0; at < stream.length; ) {
        const n = maxChunk === 1 ? 1 : 1 + Math.floor(r() * maxChunk);
        const chunk = stream.subarray(at, at + n);
        got.push(...ours.write(chunk));
        want.push(...theirs.write(chunk));
        at += n;
      }
      expect(got.map((b) => b.toString('hex'))).toEqual(want.map((b) => b.toString('hex')));
      expect(got.map((b) => messages.has(b.buffer))).toEqual(bodies.map((b) => b.length >= POOLED_MIN_BYTES));
    }
  });

  it('refuses a message over the limit with grpc-js\'s error, before allocating it', () => {
    const messages = new PooledMessages(new BufferPool(1 << 20));
    const big = frame(Buffer.alloc(POOLED_MIN_BYTES + 10)).subarray(0, 5);
    const theirs = (() => {
      try {
        new StreamDecoder(POOLED_MIN_BYTES).write(big);
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(theirs).toMatch(/larger than max/);
    expect(() => pooledDecoder(messages, POOLED_MIN_BYTES).write(big)).toThrow(theirs);
  });

  it('allocates nothing for a large message before its bytes arrive (a client that announces 16 MiB and stalls holds what it sent)', () => {
    let taken = 0;
    const pool = new BufferPool(1 << 20);
    const messages = new PooledMessages(pool);
    const take = messages.take.bind(messages);
    messages.take = (size: number) => {
      taken += size;
      return take(size);
    };
    const decoder = pooledDecoder(messages);
    const body = Buffer.alloc(16 * 2 ** 20 - 64, 5);
    const framed = frame(body);
    expect(decoder.write(framed.subarray(0, 5 + 100))).toEqual([]);
    expect(taken).toBe(0);
    const [whole] = decoder.write(framed.subarray(5 + 100));
    expect(taken).toBe(body.length + 5);
    expect(whole!.equals(framed)).toBe(true);
    expect(messages.has(whole!.buffer)).toBe(true);
  });

  it('moves aligned tensor bytes in place, copies misaligned ones and aligns the next message of the size', () => {
    const pool = new BufferPool(64 * 1024 * 1024);
    const messages = new PooledMessages(pool);
    const header = 13; // bytes of the message before the tensor bytes (odd: misaligned at first)
    const tensor = 100_000;
    const decodeOne = () => {
      const body = Buffer.alloc(header + tensor, 1);
      body.fill(2, header);
      const [framed] = pooledDecoder(messages).write(frame(body));
      // what protobufjs gives: views into the framed message
      return { framed: framed!, request: { raw_input_contents: [framed!.subarray(5 + header)] } };
    };

    const first = decodeOne();
    const firstTransfer = moveBytesOut(first.request, 'raw_input_contents', pool, messages);
    expect(firstTransfer).toHaveLength(1);
    expect(firstTransfer[0]).not.toBe(first.framed.buffer); // misaligned: copied
    expect(firstTransfer[0]!.byteLength).toBe(tensor);

    const second = decodeOne();
    expect(second.request.raw_input_contents[0]!.byteOffset % 8).toBe(0);
    const transfer = moveBytesOut(second.request, 'raw_input_contents', pool, messages);
    expect(transfer).toEqual([second.framed.buffer]); // in place: the whole message's buffer
    const moved = second.request.raw_input_contents[0]!;
    expect(moved.byteLength).toBe(tensor);
    expect(moved.every((b) => b === 2)).toBe(true);

    // handed back by the main thread: reused for the next message of the size
    const returned = bytesBackToBuffers(second.request, 'raw_input_contents');
    expect(returned).toEqual([second.framed.buffer]);
    for (const ab of returned) pool.give(ab);
    expect(decodeOne().framed.buffer).toBe(second.framed.buffer);
  });

  it('transfers a buffer shared by several tensors once, and hands it back once', () => {
    const pool = new BufferPool(1 << 20);
    const messages = new PooledMessages(pool);
    const [framed] = pooledDecoder(messages).write(frame(Buffer.alloc(POOLED_MIN_BYTES + 64, 3)));
    const base = framed!.byteOffset + 8 - (framed!.byteOffset % 8);
    const request = { raw_input_contents: [Buffer.from(framed!.buffer, base, 16), Buffer.from(framed!.buffer, base + 24, 32), Buffer.from(framed!.buffer, base + 61, 3)] };
    const transfer = moveBytesOut(request, 'raw_input_contents', pool, messages);
    // two aligned views in place (one transfer), the misaligned third copied
    expect(transfer).toHaveLength(2);
    expect(transfer[0]).toBe(framed!.buffer);
    expect(transfer[1]!.byteLength).toBe(3);
    expect(bytesBackToBuffers(request, 'raw_input_contents')).toEqual(transfer);
    expect(request.raw_input_contents.map((b) => b.byteLength)).toEqual([16, 32, 3]);
  });
});
