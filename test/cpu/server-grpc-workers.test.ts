/**
 * gRPC front-end threads (lib/server/grpc-front-ends.ts): calls forwarded from worker threads
 * to the main thread's handlers. The protocol itself is tested in both modes by
 * server-grpc.test.ts; here: many concurrent calls over several connections, errors through
 * the bridge, draining on close, and a front-end thread that dies. Runs the built worker entry
 * (dist/server/grpc-worker.js): `npm test` builds first; alone, run `npm run build:ts` first.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startGrpcServer, startServer, type GrpcFrontEnd, type RunningServer } from '../../lib/server/index.js';
import type { LoadedModelVersion } from '../../lib/repository/repository.js';
import { BufferPool, CALL_FIELDS, MessageBatcher, bytesBackToBuffers, moveBytesOut } from '../../lib/server/grpc-bridge.js';
import { createGrpcHandlers, flattenModelInferRequest } from '../../lib/server/grpc.js';
import { Tensor } from '../../lib/tensor.js';

const EXAMPLES = path.resolve(__dirname, '../../examples/models');
const PROTO = path.resolve(__dirname, '../../proto');
const quiet = { info() {}, warn() {}, error() {} };

let server: RunningServer; // serves gRPC on the main thread: the reference for the bridge
let dir: string;
const clients: any[] = [];
const frontEnds: GrpcFrontEnd[] = [];

const pkg = grpc.loadPackageDefinition(
  protoLoader.loadSync(path.join(PROTO, 'grpc_service.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO] }),
) as any;

/** a client on its own connection (grpc-js otherwise shares one subchannel between clients of a target) */
function connect(port: number): any {
  const c = new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  clients.push(c);
  return c;
}

function call(client: any, method: string, req: unknown): Promise<any> {
  return new Promise((resolve, reject) => {
    client[method](req, { deadline: Date.now() + 20_000 }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)));
  });
}

async function callError(client: any, method: string, req: unknown): Promise<grpc.ServiceError> {
  try {
    await call(client, method, req);
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error(`${method} succeeded`);
}

async function frontEnd(workers: number): Promise<GrpcFrontEnd> {
  const f = await startGrpcServer({ repository: server.repository, host: '127.0.0.1', port: 0, workers, logger: quiet });
  frontEnds.push(f);
  return f;
}

type Infer = LoadedModelVersion['scheduler']['infer'];

/** Replace model `name`'s scheduler.infer (as the handlers see it) by `wrap(infer)`; returns the undo. */
function patchInfer(name: string, wrap: (infer: Infer) => Infer): () => void {
  const repo = server.repository;
  const original = repo.getModel;
  repo.getModel = function (this: typeof repo, ...args: Parameters<typeof repo.getModel>): LoadedModelVersion {
    const m = original.apply(this, args);
    return m.name === name ? { ...m, scheduler: { ...m.scheduler, infer: wrap((...a) => m.scheduler.infer(...a)) } } : m;
  };
  return () => void (repo.getModel = original);
}

/**
 * Hold model `name`'s inferences until release(): the calls that reached it stay in flight for as
 * long as the test needs. Counts the calls that arrived and those whose inference has finished.
 */
function holdInferences(name: string): { arrived: () => number; finished: () => number; release: () => void; restore: () => void } {
  let arrived = 0;
  let finished = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const restore = patchInfer(name, (infer) => async (...a) => {
    arrived++;
    await gate;
    try {
      return await infer(...a);
    } finally {
      finished++;
    }
  });
  return { arrived: () => arrived, finished: () => finished, release, restore };
}

/** One turn of the event loop: what a settled promise queued (microtasks, process.nextTick) has run. */
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const affineRequest = (values: number[]) => ({
  model_name: 'affine',
  inputs: [{ name: 'x', datatype: 'FP32', shape: [values.length / 4, 4] }],
  raw_input_contents: [Buffer.from(new Float32Array(values).buffer)],
});
const readF32 = (b: Buffer) => Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'trtn-grpc-workers-'));
  cpSync(EXAMPLES, dir, { recursive: true });
  server = await startServer({ modelRepository: dir, httpPort: false, grpcPort: 0, grpcWorkers: 0, metricsPort: false, modelControlMode: 'explicit', loadModels: ['affine', 'classifier'], logger: quiet });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(frontEnds.splice(0).map((f) => f.close(1000)));
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gRPC front-end threads', () => {
  it('answers 200 concurrent ModelInfer calls over several connections as in-process does', async () => {
    const f = await frontEnd(2);
    expect(f.threads).toBe(2);
    const channels = Array.from({ length: 4 }, () => connect(f.port));
    const model = server.repository.getModel('classifier');
    const images = Array.from({ length: 5 }, (_, v) => Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => (((i * 7 + v * 13) % 64) - 32) / 8));
    const expected = await Promise.all(images.map(async (x) => Array.from((await model.scheduler.infer({ input: new Tensor('float32', x, [1, 3, 224, 224]) })).logits!.data as Float32Array)));
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, k) =>
        call(channels[k % channels.length], 'ModelInfer', {
          model_name: 'classifier',
          id: `r${k}`,
          inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }],
          raw_input_contents: [Buffer.from(images[k % images.length]!.buffer)],
        }),
      ),
    );
    results.forEach((r, k) => {
      expect(r.id).toBe(`r${k}`);
      const got = readF32(r.raw_output_contents[0]);
      const want = expected[k % images.length]!;
      expect(got).toHaveLength(10);
      // batched by the dynamic batcher with other requests: equal up to ONNX Runtime's batch-size rounding
      got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(want[i]!))));
    });
  });

  it('keeps the status codes and details of errors, as the main-thread server gives them', async () => {
    const f = await frontEnd(1);
    const viaThread = connect(f.port);
    const viaMain = connect(server.grpcPort!);
    const failing: Array<[string, unknown]> = [
      ['ModelInfer', { model_name: 'nope', inputs: [] }],
      ['ModelInfer', { ...affineRequest([1, 2, 3, 4]), inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 4] }] }],
      ['ModelInfer', { ...affineRequest([1, 2, 3, 4]), outputs: [{ name: 'q' }] }],
      ['ModelReady', { name: '' }],
      ['ModelConfig', { name: 'affine', version: '7' }],
      ['RepositoryModelLoad', { model_name: 'nope' }],
      ['RepositoryModelLoad', { model_name: 'affine', parameters: { config: { string_param: '{}' } } }],
    ];
    for (const [method, req] of failing) {
      const [a, b] = await Promise.all([callError(viaThread, method, req), callError(viaMain, method, req)]);
      expect({ method, code: a.code, details: a.details }).toEqual({ method, code: b.code, details: b.details });
      expect(a.code).not.toBe(grpc.status.INTERNAL);
    }
    // an error that is not a TensorRtError: INTERNAL, with its message
    const restore = patchInfer('affine', () => async () => Promise.reject(new Error('backend exploded')));
    try {
      const e = await callError(viaThread, 'ModelInfer', affineRequest([1, 2, 3, 4]));
      expect(e.code).toBe(grpc.status.INTERNAL);
      expect(e.details).toBe('backend exploded');
    } finally {
      restore();
    }
    expect(readF32((await call(viaThread, 'ModelInfer', affineRequest([0, 1, 2, 3]))).raw_output_contents[0])).toEqual([1, 3, 5, 7]);
  });

  it('close() lets the calls in flight finish, then refuses new connections', async () => {
    const f = await frontEnd(2);
    const channels = [connect(f.port), connect(f.port)];
    await Promise.all(channels.map((c) => call(c, 'ServerLive', {}))); // connected
    const held = holdInferences('affine');
    try {
      const inFlight = Array.from({ length: 20 }, (_, k) => call(channels[k % 2], 'ModelInfer', affineRequest([k, k, k, k])));
      await until('the calls to reach the scheduler', () => held.arrived() === 20);
      const closed = f.close(5000); // with every call held in flight
      await nextTurn();
      held.release();
      const results = await Promise.all(inFlight);
      results.forEach((r, k) => expect(readF32(r.raw_output_contents[0])).toEqual([2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1]));
      await closed;
      expect(f.workerThreads()).toHaveLength(0);
      const late = connect(f.port);
      expect((await callError(late, 'ServerLive', {})).code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      held.release();
      held.restore();
    }
  });

  it('survives a front-end thread that dies: its calls fail on the client, later calls succeed', async () => {
    const f = await frontEnd(2);
    const first = connect(f.port);
    await call(first, 'ServerLive', {}); // the first connection goes to the first thread (fewest connections, first in order)
    const [victim] = f.workerThreads();
    const held = holdInferences('affine');
    let pending: Promise<grpc.ServiceError>;
    try {
      pending = callError(first, 'ModelInfer', affineRequest([1, 2, 3, 4]));
      await until('the call to reach the scheduler', () => held.arrived() === 1);
      await victim!.terminate();
      const e = await pending;
      expect([grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.INTERNAL]).toContain(e.code);
      // the main thread then answers the dead thread's call (in the turn its inference ends): nothing may break
      held.release();
      await until("the dead thread's call to finish", () => held.finished() === 1);
      await nextTurn();
    } finally {
      held.release();
      held.restore();
    }
    await until('a replacement thread', () => f.threads === 2 && !f.workerThreads().includes(victim!));
    for (let k = 0; k < 4; k++) {
      const c = connect(f.port);
      expect(readF32((await call(c, 'ModelInfer', affineRequest([k, 0, 0, 0]))).raw_output_contents[0])).toEqual([2 * k + 1, 1, 1, 1]);
    }
    // the old client reconnects (grpc-js retries a broken connection on the next call)
    expect(await call(first, 'ServerLive', {})).toEqual({ live: true });
    expect(await call(connect(server.grpcPort!), 'ServerReady', {})).toEqual({ ready: true });
  });
});

describe('moving tensor bytes between threads', () => {
  it('copies raw bytes into buffers of their own (reused from the pool when it has the size), and back into Buffers', () => {
    const pool = new BufferPool(1000);
    const message = { raw_input_contents: [Buffer.from('abcdefgh').subarray(2, 6), new Uint8Array([9, 8, 7])] };
    const transfer = moveBytesOut(message, 'raw_input_contents', pool);
    expect(transfer.map((ab) => ab.byteLength)).toEqual([4, 3]); // whole ArrayBuffers: nothing else in them
    const back = bytesBackToBuffers(message, 'raw_input_contents');
    expect(back).toEqual(transfer);
    expect(message.raw_input_contents.every((b) => Buffer.isBuffer(b))).toBe(true);
    expect(message.raw_input_contents.map((b) => Buffer.from(b).toString('hex'))).toEqual(['63646566', '090807']);

    pool.give(transfer[0]!);
    const again = { raw_input_contents: [Buffer.from('wxyz')] };
    expect(moveBytesOut(again, 'raw_input_contents', pool)[0]).toBe(transfer[0]); // reused
    expect(Buffer.from(again.raw_input_contents[0]!).toString()).toBe('wxyz');
    pool.give(new ArrayBuffer(999));
    pool.give(new ArrayBuffer(4)); // over maxBytes: dropped
    expect(pool.take(4)).toBeUndefined();
    expect(pool.take(999)?.byteLength).toBe(999);
    expect(moveBytesOut({}, 'raw_input_contents')).toEqual([]);
    // empty arrays (outputs written to shared memory) are not transferred: one shared empty array stands for them
    const shmAnswer = { raw_output_contents: [Buffer.alloc(0), Buffer.from('ab'), new Uint8Array(0)] };
    expect(moveBytesOut(shmAnswer, 'raw_output_contents').map((ab) => ab.byteLength)).toEqual([2]);
    expect(shmAnswer.raw_output_contents[0]!.byteLength).toBe(0);
    expect(shmAnswer.raw_output_contents[2]).toBe(shmAnswer.raw_output_contents[0]);
  });

  it('batches calls or answers into one message per flush, with their transfer and returned buffers', () => {
    const sent: Array<{ items: unknown[]; transfer: ArrayBuffer[]; returned: ArrayBuffer[] }> = [];
    const flushes: Array<() => void> = [];
    const batcher = new MessageBatcher(
      (items, transfer, returned) => sent.push({ items, transfer, returned }),
      (flush) => flushes.push(flush),
    );
    const [a, b, c] = [new ArrayBuffer(1), new ArrayBuffer(2), new ArrayBuffer(3)];
    batcher.add(1, true, 'one', [a], [b]);
    batcher.add(2, false, 'two');
    batcher.add(3, true, 'three', [c]);
    expect(flushes).toHaveLength(1); // one flush scheduled for the three
    expect(sent).toHaveLength(0);
    flushes[0]!();
    expect(sent).toEqual([{ items: [1, true, 'one', 2, false, 'two', 3, true, 'three'], transfer: [a, b, c], returned: [b] }]);
    expect(sent[0]!.items.length / CALL_FIELDS).toBe(3);
    batcher.add(4, true, 'four');
    expect(flushes).toHaveLength(2); // a new batch, a new flush
    batcher.flush();
    flushes[1]!(); // nothing left: no empty message
    expect(sent.map((m) => m.items)).toEqual([[1, true, 'one', 2, false, 'two', 3, true, 'three'], [4, true, 'four']]);
  });
});

describe('ModelInfer parameters flattened for the main thread', () => {
  it('replaces the parameters maps by their values, in place, and leaves what is not a request alone', () => {
    const p = (k: string, v: unknown) => ({ [k]: v, parameter_choice: k });
    const request = {
      model_name: 'm',
      parameters: { priority: p('int64_param', 2), flag: p('bool_param', true), unset: {} },
      inputs: [{ name: 'x', parameters: { shared_memory_region: p('string_param', 'r'), shared_memory_byte_size: p('int64_param', 16) } }, null],
      outputs: [{ name: 'y', parameters: undefined }],
    };
    flattenModelInferRequest(request);
    expect(request).toEqual({
      model_name: 'm',
      parameters: { priority: 2, flag: true, unset: undefined },
      inputs: [{ name: 'x', parameters: { shared_memory_region: 'r', shared_memory_byte_size: 16 } }, null],
      outputs: [{ name: 'y', parameters: {} }],
    });
    expect(() => flattenModelInferRequest(null)).not.toThrow();
    expect(() => flattenModelInferRequest({ inputs: 'no' })).not.toThrow();
  });

  it('createGrpcHandlers().ModelInfer leaves the caller\'s request as it is', async () => {
    const handlers = createGrpcHandlers(server.repository);
    const request = {
      model_name: 'affine',
      model_version: '',
      id: 'k',
      parameters: {},
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { unused: { string_param: 'u', parameter_choice: 'string_param' } }, contents: null }],
      outputs: [],
      raw_input_contents: [Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)],
    };
    const before = JSON.stringify(request);
    const res = (await handlers.ModelInfer(request)) as { id: string; raw_output_contents: Buffer[] };
    expect(res.id).toBe('k');
    expect(readF32(res.raw_output_contents[0]!)).toEqual([3, 5, 7, 9]);
    expect(JSON.stringify(request)).toBe(before);
    expect(request.inputs[0]!.parameters.unused).toEqual({ string_param: 'u', parameter_choice: 'string_param' });
  });
});
