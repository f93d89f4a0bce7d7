import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import * as net from 'node:net';
import { createHttpServer, startServer, type RunningServer } from '../../lib/server/index.js';
import { fromRaw } from '../../lib/server/codec.js';

const EXAMPLES = path.resolve(__dirname, '../../examples/models');
const MAX_BODY = 4 * 1024 * 1024;

let server: RunningServer;
let dir: string;
let base: string;
let metricsUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'trtn-http-'));
  cpSync(EXAMPLES, dir, { recursive: true });
  server = await startServer({
    modelRepository: dir,
    host: '127.0.0.1',
    httpPort: 0,
    grpcPort: false,
    metricsPort: 0,
    modelControlMode: 'explicit',
    loadModels: ['*'],
    maxBodyBytes: MAX_BODY,
    logger: { info() {}, warn() {}, error() {} },
  });
  base = `http://127.0.0.1:${server.httpPort}`;
  metricsUrl = `http://127.0.0.1:${server.metricsPort}/metrics`;
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function get(p: string): Promise<{ status: number; json: any }> {
  const r = await fetch(base + p);
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined };
}

async function post(p: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; json: any; headers: Headers; raw: Buffer }> {
  const r = await fetch(base + p, { method: 'POST', body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body), headers });
  const raw = Buffer.from(await r.arrayBuffer());
  let json: any;
  const hl = r.headers.get('inference-header-content-length');
  try {
    json = raw.length ? JSON.parse((hl ? raw.subarray(0, Number(hl)) : raw).toString()) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status, json, headers: r.headers, raw };
}

function binaryBody(header: unknown, blobs: Uint8Array[]): { body: Buffer; headers: Record<string, string> } {
  const h = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([h, ...blobs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(h.length) } };
}

const affineReq = (data: unknown, shape = [2, 4], extra: Record<string, unknown> = {}) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape, data }], ...extra });

describe('KServe v2 HTTP: server and model metadata', () => {
  it('answers curl-style health checks and server metadata', async () => {
    expect((await fetch(`${base}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${base}/v2/health/ready`)).status).toBe(200);
    const md = await get('/v2');
    expect(md.status).toBe(200);
    expect(md.json).toMatchObject({ name: 'tensorrt-node', extensions: expect.arrayContaining(['binary_tensor_data', 'model_repository', 'statistics']) });
  });

  it('serves model metadata with datatype strings and -1 batch dimension', async () => {
    const m = await get('/v2/models/classifier');
    expect(m.status).toBe(200);
    expect(m.json).toEqual({
      name: 'classifier',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
    });
    expect((await get('/v2/models/classifier/versions/1')).json.name).toBe('classifier');
    expect(await get('/v2/models/nope')).toMatchObject({ status: 404, json: { error: expect.stringMatching(/unknown model "nope"/) } });
    expect(await get('/v2/models/classifier/versions/9')).toMatchObject({ status: 404, json: { error: expect.stringMatching(/no version "9"/) } });
  });

  it('reports model readiness per model and version', async () => {
    expect((await fetch(`${base}/v2/models/affine/ready`)).status).toBe(200);
    expect((await fetch(`${base}/v2/models/affine/versions/1/ready`)).status).toBe(200);
    expect((await fetch(`${base}/v2/models/affine/versions/2/ready`)).status).toBe(404);
    expect((await fetch(`${base}/v2/models/zzz/ready`)).status).toBe(404);
  });

  it('returns the model config as JSON', async () => {
    const c = await get('/v2/models/classifier/config');
    expect(c.status).toBe(200);
    expect(c.json).toMatchObject({
      name: 'classifier',
      platform: 'onnxruntime_onnx',
      max_batch_size: 32,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [3, 224, 224] }],
      output: [{ name: 'logits', data_type: 'TYPE_FP32', dims: [10] }],
      dynamic_batching: { preferred_batch_size: [4, 8], max_queue_delay_microseconds: 2000 },
      instance_group: [{ count: 2, kind: 'KIND_CPU' }],
    });
    expect((await get('/v2/models/affine/versions/1/config')).json.max_batch_size).toBe(8);
  });

  it('answers unknown routes with a JSON 404', async () => {
    expect(await get('/v3/whatever')).toMatchObject({ status: 404, json: { error: expect.any(String) } });
  });
});

describe('KServe v2 HTTP: inference', () => {
  it('infers with flat and nested JSON data, echoing the id', async () => {
    const flat = await post('/v2/models/affine/infer', affineReq([0, 1, 2, 3, -1, -2, 0.5, 10], [2, 4], { id: 'req-1' }));
    expect(flat.status).toBe(200);
    expect(flat.json).toEqual({ model_name: 'affine', model_version: '1', id: 'req-1', outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 4], data: [1, 3, 5, 7, -1, -3, 2, 21] }] });
    const nested = await post('/v2/models/affine/versions/1/infer', affineReq([[0, 1, 2, 3], [-1, -2, 0.5, 10]]));
    expect(nested.json.outputs[0].data).toEqual([1, 3, 5, 7, -1, -3, 2, 21]);
  });

  it('accepts binary input and returns binary output when asked', async () => {
    const x = new Float32Array([1, 2, 3, 4]);
    const { body, headers } = binaryBody(
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } }], outputs: [{ name: 'y', parameters: { binary_data: true } }] },
      [new Uint8Array(x.buffer)],
    );
    const r = await post('/v2/models/affine/infer', body, headers);
    expect(r.status).toBe(200);
    const hl = Number(r.headers.get('inference-header-content-length'));
    expect(hl).toBeGreaterThan(0);
    expect(r.json.outputs[0]).toEqual({ name: 'y', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } });
    const y = new Float32Array(r.raw.buffer.slice(r.raw.byteOffset + hl, r.raw.byteOffset + hl + 16));
    expect(Array.from(y)).toEqual([3, 5, 7, 9]);
    // binary input, JSON output; and request-level binary_data_output
    const { body: b2, headers: h2 } = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } }] }, [new Uint8Array(x.buffer)]);
    const r2 = await post('/v2/models/affine/infer', b2, h2);
    expect(r2.json.outputs[0].data).toEqual([3, 5, 7, 9]);
    expect(r2.headers.get('content-type')).toMatch(/json/);
    const r3 = await post('/v2/models/affine/infer', affineReq([1, 2, 3, 4], [1, 4], { parameters: { binary_data_output: true } }));
    expect(r3.json.outputs[0].parameters).toEqual({ binary_data_size: 16 });
  });

  it('runs the classifier on a [1,3,224,224] binary input', async () => {
    const x = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i) * 0.5);
    const { body, headers } = binaryBody({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224], parameters: { binary_data_size: x.byteLength } }] }, [new Uint8Array(x.buffer)]);
    const r = await post('/v2/models/classifier/infer', body, headers);
    expect(r.status).toBe(200);
    expect(r.json.outputs[0].shape).toEqual([1, 10]);
    expect(r.json.outputs[0].data.every((v: number) => Number.isFinite(v))).toBe(true);
  });

  it('serves 64 concurrent requests correctly (bounded)', async () => {
    const rs = await Promise.all(
      Array.from({ length: 64 }, (_, i) => post('/v2/models/affine/infer', affineReq([i, i, i, i], [1, 4]))),
    );
    rs.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.json.outputs[0].data).toEqual([2 * i + 1, 2 * i + 1, 2 * i + 1, 2 * i + 1]);
    });
  });

  const BAD: Array<[string, () => Promise<{ status: number; json: any }>, number, RegExp]> = [
    ['malformed JSON', () => post('/v2/models/affine/infer', '{"inputs": [', { 'content-type': 'application/json' }), 400, /malformed JSON/],
    ['empty body', () => post('/v2/models/affine/infer', '', { 'content-type': 'application/json' }), 400, /empty/],
    ['no inputs array', () => post('/v2/models/affine/infer', { foo: 1 }), 400, /"inputs" array/],
    ['unknown datatype string', () => post('/v2/models/affine/infer', { inputs: [{ name: 'x', datatype: 'FP99', shape: [1, 4], data: [1, 2, 3, 4] }] }), 400, /unsupported datatype "FP99"/],
    ['wrong datatype', () => post('/v2/models/affine/infer', { inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 4], data: [1, 2, 3, 4] }] }), 400, /INT32 does not match the model's FP32/],
    ['shape/data length mismatch', () => post('/v2/models/affine/infer', affineReq([1, 2, 3], [1, 4])), 400, /needs 4 elements, got 3/],
    ['wrong rank', () => post('/v2/models/affine/infer', affineReq([1, 2, 3, 4], [4])), 400, /rank 1/],
    ['wrong inner dim', () => post('/v2/models/affine/infer', affineReq([1, 2, 3, 4, 5], [1, 5])), 400, /does not match/],
    ['batch over max_batch_size', () => post('/v2/models/affine/infer', affineReq(new Array(36).fill(0), [9, 4])), 400, /exceeds the model's max_batch_size 8/],
    ['non-numeric data', () => post('/v2/models/affine/infer', affineReq([1, 'a', 3, 4], [1, 4])), 400, /not a valid FP32/],
    ['unknown input', () => post('/v2/models/affine/infer', { inputs: [{ name: 'q', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }), 400, /unexpected inference input "q"/],
    ['missing input', () => post('/v2/models/affine/infer', { inputs: [] }), 400, /expected input "x"/],
    ['unknown output', () => post('/v2/models/affine/infer', affineReq([1, 2, 3, 4], [1, 4], { outputs: [{ name: 'zz' }] })), 400, /unexpected inference output "zz"/],
    ['unknown model', () => post('/v2/models/nope/infer', affineReq([1, 2, 3, 4], [1, 4])), 404, /unknown model/],
    ['unknown version', () => post('/v2/models/affine/versions/3/infer', affineReq([1, 2, 3, 4], [1, 4])), 404, /no version "3"/],
  ];
  it.each(BAD)('rejects %s', async (_name, send, status, msg) => {
    const r = await send();
    expect(r.status).toBe(status);
    expect(r.json.error).toMatch(msg);
  });

  it('rejects binary lengths that lie', async () => {
    const x = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
    const hdr = (size: number) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: size } }] });
    // binary_data_size larger than what follows
    let { body, headers } = binaryBody(hdr(32), [x]);
    expect(await post('/v2/models/affine/infer', body, headers)).toMatchObject({ status: 400, json: { error: expect.stringMatching(/exceeds the 16 bytes/) } });
    // binary_data_size smaller: leftover bytes
    ({ body, headers } = binaryBody(hdr(12), [x]));
    expect(await post('/v2/models/affine/infer', body, headers)).toMatchObject({ status: 400, json: { error: expect.stringMatching(/no input claims/) } });
    // binary_data_size consistent with the body but not with the shape
    ({ body, headers } = binaryBody(hdr(12), [x.subarray(0, 12)]));
    expect(await post('/v2/models/affine/infer', body, headers)).toMatchObject({ status: 400, json: { error: expect.stringMatching(/needs 16 bytes, got 12/) } });
    // header length beyond the body
    ({ body, headers } = binaryBody(hdr(16), [x]));
    headers['inference-header-content-length'] = String(body.length + 10);
    expect(await post('/v2/models/affine/infer', body, headers)).toMatchObject({ status: 400, json: { error: expect.stringMatching(/exceeds the body/) } });
    // header length cutting the JSON
    ({ body, headers } = binaryBody(hdr(16), [x]));
    headers['inference-header-content-length'] = '10';
    expect((await post('/v2/models/affine/infer', body, headers)).status).toBe(400);
    headers['inference-header-content-length'] = 'abc';
    expect((await post('/v2/models/affine/infer', body, headers)).status).toBe(400);
  });

  it('reads binary tensors at any header length (aligned in place or copied) and chunked bodies', async () => {
    const x = new Uint8Array(new Float32Array([0.5, -1, 2, 3.25]).buffer);
    for (let pad = 0; pad < 8; pad++) {
      // pad the JSON header with spaces: every residue of Inference-Header-Content-Length mod 8
      const { body, headers } = binaryBody({ id: 'p'.repeat(pad), inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } }], outputs: [{ name: 'y' }] }, [x]);
      const r = await post('/v2/models/affine/infer', body, headers);
      expect(r.status).toBe(200);
      expect(r.json.outputs[0].data).toEqual([2, -1, 5, 7.5]);
    }
    // Transfer-Encoding: chunked (no Content-Length): read as a list of chunks
    const { body, headers } = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } }] }, [x]);
    const chunked = (b: Buffer, step: number) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(`${base}/v2/models/affine/infer`, { method: 'POST', headers }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(parts).toString() }));
        });
        req.on('error', reject);
        for (let i = 0; i < b.length; i += step) req.write(b.subarray(i, i + step));
        req.end();
      });
    const r = await chunked(body, 7);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).outputs[0].data).toEqual([2, -1, 5, 7.5]);
    const big = await chunked(Buffer.alloc(MAX_BODY + 1024, 32), 65536);
    expect(big.status).toBe(413);
  });

  it('views raw bytes in place when aligned, copies them when not', () => {
    const buf = new ArrayBuffer(24);
    new Float32Array(buf).set([1, 2, 3, 4, 5, 6]);
    const aligned = fromRaw('float32', new Uint8Array(buf, 4, 16));
    expect(aligned.buffer).toBe(buf);
    expect(Array.from(aligned as Float32Array)).toEqual([2, 3, 4, 5]);
    const bytes = new Uint8Array(25);
    bytes.set(new Uint8Array(buf), 1);
    const copied = fromRaw('float32', bytes.subarray(1, 17));
    expect(copied.buffer).not.toBe(bytes.buffer);
    expect(copied.byteOffset % 4).toBe(0);
    expect(Array.from(copied as Float32Array)).toEqual([1, 2, 3, 4]);
  });

  it('answers 413 for a body over the limit', async () => {
    const r = await post('/v2/models/affine/infer', Buffer.alloc(MAX_BODY + 1024, 32), { 'content-type': 'application/json' });
    expect(r.status).toBe(413);
    expect(r.json.error).toBeTruthy();
  });

  it('keeps serving after all of that', async () => {
    expect((await fetch(`${base}/v2/health/ready`)).status).toBe(200);
    const r = await post('/v2/models/affine/infer', affineReq([1, 1, 1, 1], [1, 4]));
    expect(r.json.outputs[0].data).toEqual([3, 3, 3, 3]);
  });
});

describe('KServe v2 HTTP: inference answered past fastify\'s lifecycle', () => {
  /** the raw bytes of the answer(s) to `request` on one connection, Date masked */
  function raw(port: number, request: Buffer | string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('error', reject);
      s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1').replace(/Date: [^\r]*/g, 'Date: X')));
      s.write(request);
      setTimeout(() => s.end(), 300);
    });
  }

  it('answers byte for byte as the route does through fastify, which serves when the instance has hooks or parsers of its own', async () => {
    const json = JSON.stringify({ id: 'q', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] });
    const hdr = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } }], outputs: [{ name: 'y', parameters: { binary_data: true } }] });
    const bin = Buffer.concat([Buffer.from(hdr), Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)]);
    const requests: Array<Buffer | string> = [
      `POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\n\r\n${json}`,
      Buffer.concat([Buffer.from(`POST /v2/models/affine/versions/1/infer HTTP/1.1\r\nHost: x\r\nInference-Header-Content-Length: ${hdr.length}\r\nContent-Length: ${bin.length}\r\n\r\n`), bin]),
      `POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`,
      `POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`,
      `POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n{x}`,
      `POST /v2/models/nope/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ${json.length}\r\n\r\n${json}`,
      `POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n${json}`,
      `POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nInference-Header-Content-Length: abc\r\nContent-Length: ${json.length}\r\n\r\n${json}`,
      `POST /v2/models/aff%69ne/infer?x=1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${json.length}\r\n\r\n${json}`,
      `POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ${json.length}\r\n\r\n${json}POST /v2/models/affine/infer HTTP/1.0\r\nHost: x\r\nContent-Length: ${json.length}\r\n\r\n${json}`,
    ];
    const app = await createHttpServer({ repository: server.repository, maxBodyBytes: MAX_BODY, sharedMemory: server.sharedMemory });
    let hookRuns = 0;
    app.addHook('onResponse', async () => void hookRuns++); // an embedder's hook: the route then runs through fastify
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const port = (app.server.address() as net.AddressInfo).port;
      for (const request of requests) {
        const direct = await raw(server.httpPort!, request);
        expect(direct).toMatch(/^HTTP\/1\.1 (100 Continue\r\n\r\nHTTP\/1\.1 200|200|400|404|413) /);
        expect(await raw(port, request)).toBe(direct);
      }
      expect(hookRuns).toBeGreaterThanOrEqual(requests.length);
    } finally {
      await app.close();
    }
  });
});

describe('KServe v2 HTTP: repository, statistics and metrics', () => {
  it('reports statistics per model', async () => {
    const s = await get('/v2/models/affine/stats');
    expect(s.status).toBe(200);
    const st = s.json.model_stats[0];
    expect(st).toMatchObject({ name: 'affine', version: '1' });
    expect(st.inference_stats.success.count).toBeGreaterThan(64);
    expect(st.inference_count).toBeGreaterThanOrEqual(st.inference_stats.success.count);
    expect(st.execution_count).toBeGreaterThan(0);
    expect(st.execution_count).toBeLessThanOrEqual(st.inference_count);
    expect(st.last_inference).toBeGreaterThan(0);
    expect(Array.isArray(st.batch_stats)).toBe(true);
    expect((await get('/v2/models/stats')).json.model_stats.map((m: any) => m.name).sort()).toEqual(['affine', 'classifier']);
    expect((await get('/v2/models/nope/stats')).status).toBe(404);
  });

  it('exposes Triton-named Prometheus metrics computed from the statistics', async () => {
    const stats = (await get('/v2/models/affine/stats')).json.model_stats[0];
    const text = await (await fetch(metricsUrl)).text();
    for (const n of [
      'nv_inference_request_success',
      'nv_inference_request_failure',
      'nv_inference_count',
      'nv_inference_exec_count',
      'nv_inference_request_duration_us',
      'nv_inference_queue_duration_us',
      'nv_inference_compute_input_duration_us',
      'nv_inference_compute_infer_duration_us',
      'nv_inference_compute_output_duration_us',
      'nv_inference_pending_request_count',
    ]) {
      expect(text).toContain(`# HELP ${n} `);
    }
    expect(text).toContain('# TYPE nv_inference_request_success counter');
    expect(text).toContain('# TYPE nv_inference_pending_request_count gauge');
    expect(text).not.toContain('nv_gpu_memory_used_bytes');
    const value = (n: string) => Number(new RegExp(`^${n}\\{model="affine",version="1"\\} (\\d+)`, 'm').exec(text)?.[1]);
    expect(value('nv_inference_request_success')).toBe(stats.inference_stats.success.count);
    expect(value('nv_inference_count')).toBe(stats.inference_count);
    expect(value('nv_inference_exec_count')).toBe(stats.execution_count);
    // scraping twice counts nothing twice
    const again = await (await fetch(metricsUrl)).text();
    expect(new RegExp(`^nv_inference_request_success\\{model="affine",version="1"\\} ${value('nv_inference_request_success')}$`, 'm').test(again)).toBe(true);
    expect((await fetch(metricsUrl.replace('/metrics', '/other'))).status).toBe(404);
  });

  it('indexes the repository and loads/unloads models explicitly', async () => {
    const idx = await post('/v2/repository/index', {});
    expect(idx.status).toBe(200);
    expect(idx.json).toEqual([
      { name: 'affine', version: '1', state: 'READY', reason: '' },
      { name: 'classifier', version: '1', state: 'READY', reason: '' },
    ]);
    expect((await post('/v2/repository/models/affine/unload', '', {})).status).toBe(200);
    expect((await fetch(`${base}/v2/models/affine/ready`)).status).toBe(503);
    expect(await post('/v2/models/affine/infer', affineReq([1, 2, 3, 4], [1, 4]))).toMatchObject({ status: 503, json: { error: expect.stringMatching(/not ready/) } });
    expect((await post('/v2/repository/index', { ready: true })).json.map((e: any) => e.name)).toEqual(['classifier']);
    expect((await post('/v2/repository/index', {})).json.find((e: any) => e.name === 'affine')).toMatchObject({ state: 'UNAVAILABLE', reason: 'unloaded' });
    expect((await post('/v2/repository/models/affine/load', {})).status).toBe(200);
    expect((await fetch(`${base}/v2/models/affine/ready`)).status).toBe(200);
    expect((await post('/v2/models/affine/infer', affineReq([1, 2, 3, 4], [1, 4]))).json.outputs[0].data).toEqual([3, 5, 7, 9]);
    expect(await post('/v2/repository/models/nope/load', {})).toMatchObject({ status: 404, json: { error: expect.stringMatching(/not found/) } });
    expect((await post('/v2/repository/models/affine/load', '{bad', { 'content-type': 'application/json' })).status).toBe(400);
    expect((await post('/v2/repository/models/affine/load', { parameters: { config: '{}' } })).status).toBe(400);
  });
});
