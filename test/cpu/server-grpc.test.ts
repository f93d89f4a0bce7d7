import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createGrpcServer, startServer, type RunningServer } from '../../lib/server/index.js';

// Worker mode runs the built front-end thread (dist/server/grpc-worker.js): `npm test` builds
// first; after changing lib/server, run `npm run build:ts` before running this file alone.
const EXAMPLES = path.resolve(__dirname, '../../examples/models');
const PROTO = path.resolve(__dirname, '../../proto');
const MAX_MESSAGE_BYTES = 2 * 1024 * 1024;

const f32 = (a: number[]) => Buffer.from(new Float32Array(a).buffer);
const readF32 = (b: Buffer) => Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));

describe.each([
  { mode: 'front-end threads', grpcWorkers: 2 },
  { mode: 'main thread', grpcWorkers: 0 },
])('KServe v2 gRPC ($mode)', ({ grpcWorkers }) => {
  let server: RunningServer;
  let dir: string;
  let client: any;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'trtn-grpc-'));
    cpSync(EXAMPLES, dir, { recursive: true });
    server = await startServer({
      modelRepository: dir,
      httpPort: false,
      grpcPort: 0,
      metricsPort: false,
      modelControlMode: 'explicit',
      loadModels: ['affine', 'classifier'],
      maxBodyBytes: MAX_MESSAGE_BYTES,
      grpcWorkers,
      logger: { info() {}, warn() {}, error() {} },
    });
    const def = protoLoader.loadSync(path.join(PROTO, 'grpc_service.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO] });
    const pkg = grpc.loadPackageDefinition(def) as any;
    client = new pkg.inference.GRPCInferenceService(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 4 * MAX_MESSAGE_BYTES });
  });

  afterAll(async () => {
    client?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function call(method: string, req: unknown): Promise<any> {
    return new Promise((resolve, reject) => {
      client[method](req, { deadline: Date.now() + 20_000 }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)));
    });
  }

  async function callError(method: string, req: unknown): Promise<grpc.ServiceError> {
    try {
      await call(method, req);
    } catch (e) {
      return e as grpc.ServiceError;
    }
    throw new Error(`${method} succeeded`);
  }

  it('answers liveness, readiness and server metadata', async () => {
    expect(await call('ServerLive', {})).toEqual({ live: true });
    expect(await call('ServerReady', {})).toEqual({ ready: true });
    expect(await call('ModelReady', { name: 'affine', version: '' })).toEqual({ ready: true });
    expect(await call('ModelReady', { name: 'affine', version: '2' })).toEqual({ ready: false });
    expect(await call('ModelReady', { name: 'nope' })).toEqual({ ready: false });
    expect(await call('ServerMetadata', {})).toMatchObject({ name: 'tensorrt-node', extensions: expect.arrayContaining(['model_repository']) });
  });

  it('serves model metadata and config', async () => {
    expect(await call('ModelMetadata', { name: 'classifier' })).toEqual({
      name: 'classifier',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
    });
    const { config } = await call('ModelConfig', { name: 'classifier', version: '1' });
    expect(config).toMatchObject({
      name: 'classifier',
      platform: 'onnxruntime_onnx',
      max_batch_size: 32,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [3, 224, 224] }],
      output: [{ name: 'logits', data_type: 'TYPE_FP32', dims: [10] }],
      dynamic_batching: { preferred_batch_size: [4, 8], max_queue_delay_microseconds: 2000 },
      instance_group: [{ count: 2, kind: 'KIND_CPU' }],
      version_policy: { latest: { num_versions: 1 } },
    });
    expect((await callError('ModelMetadata', { name: 'nope' })).code).toBe(grpc.status.NOT_FOUND);
    expect((await callError('ModelConfig', { name: 'affine', version: '4' })).code).toBe(grpc.status.NOT_FOUND);
  });

  it('infers with raw_input_contents and with typed contents', async () => {
    const raw = await call('ModelInfer', {
      model_name: 'affine',
      id: 'g1',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4] }],
      raw_input_contents: [f32([0, 1, 2, 3, 4, 5, 6, 7])],
    });
    expect(raw).toMatchObject({ model_name: 'affine', model_version: '1', id: 'g1', outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 4] }] });
    expect(readF32(raw.raw_output_contents[0])).toEqual([1, 3, 5, 7, 9, 11, 13, 15]);
    const typed = await call('ModelInfer', {
      model_name: 'affine',
      model_version: '1',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } }],
      outputs: [{ name: 'y' }],
    });
    expect(readF32(typed.raw_output_contents[0])).toEqual([3, 5, 7, 9]);
  });

  it('runs the classifier', async () => {
    const x = new Float32Array(3 * 224 * 224).fill(0.25);
    const r = await call('ModelInfer', { model_name: 'classifier', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }], raw_input_contents: [Buffer.from(x.buffer)] });
    expect(r.outputs[0].shape).toEqual([1, 10]);
    expect(readF32(r.raw_output_contents[0])).toHaveLength(10);
  });

  it.each([
    ['wrong datatype', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 4] }], raw_input_contents: [f32([1, 2, 3, 4])] }, grpc.status.INVALID_ARGUMENT, /does not match/],
    ['unknown datatype', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'NOPE', shape: [1, 4] }], raw_input_contents: [f32([1, 2, 3, 4])] }, grpc.status.INVALID_ARGUMENT, /unsupported datatype/],
    ['raw length lies', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32([1, 2, 3])] }, grpc.status.INVALID_ARGUMENT, /needs 16 bytes, got 12/],
    ['raw count differs', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32([1, 2, 3, 4]), f32([1])] }, grpc.status.INVALID_ARGUMENT, /2 entries for 1 inputs/],
    ['typed length', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [1] } }] }, grpc.status.INVALID_ARGUMENT, /needs 4 elements/],
    ['typed wrong field', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], contents: { int_contents: [1, 2, 3, 4] } }] }, grpc.status.INVALID_ARGUMENT, /int_contents/],
    ['batch too large', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [9, 4] }], raw_input_contents: [f32(new Array(36).fill(1))] }, grpc.status.INVALID_ARGUMENT, /max_batch_size/],
    ['unknown model', { model_name: 'nope', inputs: [] }, grpc.status.NOT_FOUND, /unknown model/],
    ['unknown output', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32([1, 2, 3, 4])], outputs: [{ name: 'q' }] }, grpc.status.INVALID_ARGUMENT, /unexpected inference output/],
  ])('rejects %s', async (_n, req, code, msg) => {
    const e = await callError('ModelInfer', req);
    expect(e.code).toBe(code);
    expect(e.details).toMatch(msg);
  });

  it('grants HTTP/2 receive windows large enough for big tensors (stream and connection)', async () => {
    // what a client sees of the server's windows: SETTINGS_INITIAL_WINDOW_SIZE and the connection window
    const session = http2.connect(`http://127.0.0.1:${server.grpcPort}`);
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('remoteSettings', () => resolve());
        session.once('error', reject);
      });
      await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve()))); // frames sent before the ack are in
      expect(session.remoteSettings.initialWindowSize).toBe(16 * 1024 * 1024);
      expect(session.state.remoteWindowSize).toBe(16 * 1024 * 1024);
    } finally {
      session.close();
    }
  });

  it('rejects a flow-control window out of range', () => {
    expect(() => createGrpcServer({ repository: server.repository, flowControlWindowBytes: 1000 })).toThrow(/flowControlWindowBytes/);
  });

  it('serves statistics and the repository extension', async () => {
    const s = await call('ModelStatistics', { name: 'affine' });
    expect(s.model_stats[0]).toMatchObject({ name: 'affine', version: '1' });
    expect(s.model_stats[0].inference_stats.success.count).toBeGreaterThanOrEqual(2);
    expect((await call('ModelStatistics', {})).model_stats).toHaveLength(2);
    expect((await call('RepositoryIndex', {})).models).toEqual([
      { name: 'affine', version: '1', state: 'READY', reason: '' },
      { name: 'classifier', version: '1', state: 'READY', reason: '' },
    ]);
    await call('RepositoryModelUnload', { model_name: 'affine' });
    expect(await call('ModelReady', { name: 'affine' })).toEqual({ ready: false });
    const e = await callError('ModelInfer', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32([1, 2, 3, 4])] });
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
    expect((await call('RepositoryIndex', { ready: true })).models.map((m: any) => m.name)).toEqual(['classifier']);
    await call('RepositoryModelLoad', { model_name: 'affine' });
    expect(await call('ModelReady', { name: 'affine' })).toEqual({ ready: true });
    expect((await callError('RepositoryModelLoad', { model_name: 'nope' })).code).toBe(grpc.status.NOT_FOUND);
  });

  it(`serves with ${grpcWorkers} front-end thread(s)`, () => {
    expect(server.grpcWorkers).toBe(grpcWorkers);
  });

  it('rejects a message over the size limit with RESOURCE_EXHAUSTED', async () => {
    const e = await callError('ModelInfer', {
      model_name: 'classifier',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3, 224, 224] }],
      raw_input_contents: [Buffer.alloc(MAX_MESSAGE_BYTES + 1024)],
    });
    expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(await call('ServerLive', {})).toEqual({ live: true });
  });
});
