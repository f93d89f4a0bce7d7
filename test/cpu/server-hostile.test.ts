// The server against a hostile client (issue 19): every case of the issue and the ones that
// already passed, over HTTP and gRPC, against `startServer` in a child process on the CPU backend
// (a copy of examples/models plus generated models and broken configs). Each case asserts the
// protocol's status and a message, then that the server still answers a correct inference over
// both protocols; the amplification cases measure the server's peak RSS, and at the end its RSS
// (after garbage collection) must be back near where it started. The counts go in one summary line
// (cases tried, clear errors, crashes, hangs, requests lost, peak RSS).
//
// The child runs the built package (dist/): `npm test` builds first; after changing lib/, run
// `npm run build:ts` before running this file alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, cpSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ChildServer, GrpcClients, Tally, httpRequest, rawHttp, revealsPath, stalledGrpcCall, type Outcome } from './hostile/harness.js';
import { ONNX_TYPES, field, inferInput, intField, modelInferRequest, onnxIdentity, packed, parameterEntry, repeat, varint } from './hostile/wire.js';

const EXAMPLES = path.resolve(__dirname, '../../examples/models');
const HAVE_SHM = existsSync('/dev/shm');
const MAX_BODY = 64 * 2 ** 20;
/** the server's timeouts for slow clients, small so that the stalls below end soon */
const HEADERS_TIMEOUT_MS = 1000;
const BODY_IDLE_MS = 1000;
/** the longest delay or timeout accepted: 2^31-2 ms (Node's timers go to 2^31-1 ms) */
const TIMER_MAX_US = (2 ** 31 - 2) * 1000;
const S = grpc.status;

const tally = new Tally();
let root: string;
let repo: string;
let server: ChildServer;
let clients: GrpcClients;

const f32 = (a: number[]): Buffer => Buffer.from(new Float32Array(a).buffer);
const readF32 = (b: Buffer): number[] => Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
const json = (v: unknown): string => JSON.stringify(v);

function model(name: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(repo, name, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
}

/** the affine example (y = 2x + 1 on FP32 [-1, 4], max_batch_size 8) under another name, with `extra` config text */
function affineCopy(name: string, extra: string): void {
  const config = readFileSync(path.join(EXAMPLES, 'affine', 'config.pbtxt'), 'utf8').replace('name: "affine"', `name: "${name}"`);
  model(name, { 'config.pbtxt': `${config}\n${extra}\n`, '1/model.onnx': readFileSync(path.join(EXAMPLES, 'affine', '1', 'model.onnx')) });
}

function serverOptions(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    modelRepository: repo,
    host: '127.0.0.1',
    httpPort: 0,
    grpcPort: 0,
    metricsPort: false,
    modelControlMode: 'explicit',
    loadModels: ['affine', 'i8', 'u8', 'i32', 'i64', 'f32', 'slow'],
    grpcWorkers: 1,
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    requestTimeoutMs: 10_000,
    bodyIdleTimeoutMs: BODY_IDLE_MS,
    systemSharedMemory: 'on',
    sharedMemoryKeyPrefixes: [`/trtn-hostile-${process.pid}-`],
    sharedMemoryMaxRegions: 8,
    ...extra,
  };
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'trtn-hostile-'));
  repo = path.join(root, 'repo');
  cpSync(path.join(EXAMPLES, 'affine'), path.join(repo, 'affine'), { recursive: true });
  const affineOnnx = readFileSync(path.join(EXAMPLES, 'affine', '1', 'model.onnx'));
  // a model outside the repository, and one without a config (loadable once, under its name only)
  mkdirSync(path.join(root, 'outside', 'x', '1'), { recursive: true });
  writeFileSync(path.join(root, 'outside', 'x', '1', 'model.onnx'), affineOnnx);
  model('noconf', { '1/model.onnx': affineOnnx });
  // identities of each integer type and FP32, shape [2, 3], no batching
  for (const [name, type] of [['i8', ONNX_TYPES.INT8], ['u8', ONNX_TYPES.UINT8], ['i32', ONNX_TYPES.INT32], ['i64', ONNX_TYPES.INT64], ['f32', ONNX_TYPES.FLOAT]] as const) {
    model(name, { '1/model.onnx': onnxIdentity(type, [2, 3]) });
  }
  // configs a load must refuse, and the boundary ones it must accept
  affineCopy('prio_huge', 'dynamic_batching { priority_levels: 4294967295 }');
  affineCopy('delay_huge', `dynamic_batching { max_queue_delay_microseconds: ${2 ** 31 * 1000} }`);
  affineCopy('timeout_huge', `dynamic_batching { default_queue_policy { default_timeout_microseconds: ${TIMER_MAX_US + 1} } }`);
  affineCopy('delay_max', `dynamic_batching { max_queue_delay_microseconds: ${TIMER_MAX_US} default_queue_policy { default_timeout_microseconds: ${TIMER_MAX_US} allow_timeout_override: true } }`);
  affineCopy('count_huge', 'instance_group [{ count: 1000, kind: KIND_CPU }]');
  affineCopy('dims_huge', 'input [{ name: "x", data_type: TYPE_FP32, dims: [ 4294967296 ] }]');
  affineCopy('many', 'instance_group [{ count: 16, kind: KIND_CPU }]');
  affineCopy('racer', '');
  // answers after 2.5 x the body idle timeout: a request waiting for its answer is not stalled
  affineCopy('slow', `dynamic_batching { max_queue_delay_microseconds: ${BODY_IDLE_MS * 2500} }`);
  model('bad_syntax', { 'config.pbtxt': 'name: "bad_syntax"\nmax_batch_size: {\n', '1/model.onnx': affineOnnx });
  model('big_config', { 'config.pbtxt': `name: "big_config"\n${'# padding\n'.repeat(120_000)}`, '1/model.onnx': affineOnnx });

  server = await ChildServer.start(serverOptions());
  clients = new GrpcClients(server.grpcPort);
  // warm up both protocols, then the RSS the cases start from
  for (let i = 0; i < 20; i++) await alive('warm-up', false);
  const m = await server.memoryUsage(true);
  tally.rssBaseline = m.rss;
  tally.jsBaseline = m.heapUsed + m.external;
}, 120_000);

afterAll(async () => {
  if (server && !server.exited && tally.rssAfter === 0) {
    const m = await server.memoryUsage(true);
    tally.rssAfter = m.rss;
    tally.jsAfter = m.heapUsed + m.external;
  }
  // eslint-disable-next-line no-console
  console.log(tally.summary());
  clients?.close();
  await server?.close();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

// ---------------------------------------------------------------------------------------------
// verdicts

/** Does the server still answer a correct inference over HTTP and over gRPC? */
async function alive(after: string, count = true): Promise<void> {
  if (server.exited) {
    tally.crashes++;
    throw new Error(`the server died after "${after}" (${json(server.exited)}): ${server.stderr.slice(-1000)}`);
  }
  const x = [Math.random(), 2, -3, 4];
  const h = await httpRequest(server.httpPort, { method: 'POST', path: '/v2/models/affine/infer', body: json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: x }] }), timeoutMs: 10_000 });
  const g = await clients.call('ModelInfer', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32(x)] }, 10_000);
  const want = x.map((v) => Math.fround(2 * Math.fround(v) + 1));
  const httpOk = h.status === 200 && json(h.json?.outputs?.[0]?.data) === json(want);
  const grpcOk = g.code === 0 && json(readF32(g.json.raw_output_contents[0])) === json(want);
  if (count) tally.served += (httpOk ? 1 : 0) + (grpcOk ? 1 : 0);
  if (!httpOk || !grpcOk) {
    tally.failures.push(`no correct inference after "${after}" (HTTP ${h.status ?? h.broken ?? 'hung'}, gRPC ${g.code ?? g.broken ?? 'hung'})`);
    throw new Error(`the server no longer answers a correct inference after "${after}": HTTP ${json(h)}, gRPC ${json({ code: g.code, message: g.message, broken: g.broken })}`);
  }
}

function describeOutcome(o: Outcome): string {
  if (o.hung) return 'no answer (hung)';
  if (o.broken) return `connection broken: ${o.broken}`;
  return o.status !== undefined ? `HTTP ${o.status} ${o.body?.toString().slice(0, 200)}` : `gRPC ${o.code} ${o.message}`;
}

/**
 * A refusal as the protocol says it: HTTP `status` with a {"error": "..."} body, or gRPC `code`
 * with details; the message matches `message` and names no absolute path of the server's.
 */
function refused(name: string, o: Outcome, want: { status?: number | number[]; code?: number | number[]; message?: RegExp }): void {
  tally.tried++;
  const statuses = want.status === undefined ? [] : ([] as number[]).concat(want.status);
  const codes = want.code === undefined ? [] : ([] as number[]).concat(want.code);
  const statusOk = o.status !== undefined ? statuses.includes(o.status) && o.errorShape === true : o.code !== undefined && codes.includes(o.code);
  const messageOk = typeof o.message === 'string' && o.message.length > 0 && (want.message === undefined || want.message.test(o.message)) && !revealsPath(o.message, root);
  if (o.hung) tally.hangs++;
  else if (o.broken) tally.lost++;
  else if (statusOk && messageOk) tally.clearErrors++;
  if (!(statusOk && messageOk)) tally.failures.push(`${name}: ${describeOutcome(o)}`);
  expect({ case: name, outcome: describeOutcome(o), statusOk, messageOk }).toEqual({ case: name, outcome: describeOutcome(o), statusOk: true, messageOk: true });
}

/** Served with success (HTTP 200, gRPC OK), `check` passing on the answer. */
function served(name: string, o: Outcome, check?: (o: Outcome) => void): void {
  tally.tried++;
  const ok = o.status === 200 || o.code === 0;
  if (o.hung) tally.hangs++;
  else if (o.broken) tally.lost++;
  else if (ok) tally.served++;
  if (!ok) tally.failures.push(`${name}: ${describeOutcome(o)}`);
  expect({ case: name, outcome: ok ? 'served' : describeOutcome(o) }).toEqual({ case: name, outcome: 'served' });
  check?.(o);
}

const post = (p: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 20_000): Promise<Outcome> =>
  httpRequest(server.httpPort, { method: 'POST', path: p, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : json(body), timeoutMs });
const get = (p: string): Promise<Outcome> => httpRequest(server.httpPort, { path: p });

/**
 * The heaviest cases once more (amplification, long and stalled bodies and messages), for the last
 * test: refused as the first time.
 */
async function heavyRound(): Promise<void> {
  const inputs = modelInferRequest({ model: 'affine', tail: repeat(field(5, inferInput('x', 'FP32', [1, 4])), 1_000_000) });
  for (const o of await Promise.all([0, 1, 2, 3].map(() => clients.callRaw('ModelInfer', inputs)))) refused('again: gRPC 1M inputs, 4 at once', o, { code: S.INVALID_ARGUMENT });
  const input = json({ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] });
  refused('again: HTTP 500k inputs', await post('/v2/models/affine/infer', `{"inputs":[${new Array(500_000).fill(input).join(',')}]}`), { status: 400 });
  refused('again: HTTP chunked body over the limit', await post('/v2/models/affine/infer', Buffer.alloc(MAX_BODY + 1, 0x20), { 'transfer-encoding': 'chunked' }), { status: 413 });
  const head = `POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MAX_BODY}\r\n\r\n${' '.repeat(1024)}`;
  const announced = Promise.all(Array.from({ length: 100 }, () => rawHttp(server.httpPort, [head], { keepOpen: true, timeoutMs: 15_000 })));
  const stalled = await Promise.all(Array.from({ length: 50 }, () => stalledGrpcCall(server.grpcPort, 16 * 2 ** 20 - 64, 100, 15_000)));
  for (const o of await announced) refused('again: HTTP 64 MiB announced, 1 KB sent', o, { status: 408 });
  for (const c of stalled) {
    refused('again: gRPC stalled message', await c.ended, { code: S.DEADLINE_EXCEEDED });
    c.session.destroy();
  }
  await alive('the second round');
}

// ---------------------------------------------------------------------------------------------

describe('1. model names: one directory of the repository, nothing else', () => {
  it('HTTP load and unload refuse paths out of the repository, aliases, empty and NUL names, without revealing the repository path', async () => {
    for (const name of ['..%2Foutside%2Fx', '..%2F..%2Fetc', '%2E%2E%2Foutside%2Fx', 'noconf%2F.', 'noconf%2F.%2F.', '%2E%2E', '.', 'a%5Cb', '%2Fetc', 'x%00y']) {
      refused(`HTTP load ${name}`, await post(`/v2/repository/models/${name}/load`), { status: 400, message: /model name/ });
      await alive(`HTTP load ${name}`);
    }
    refused('HTTP unload ..%2Foutside%2Fx', await post('/v2/repository/models/..%2Foutside%2Fx/unload'), { status: 400, message: /model name/ });
    refused('HTTP load with an empty name', await post('/v2/repository/models//load'), { status: [400, 404] });
    refused('HTTP load of a name not in the repository', await post('/v2/repository/models/nope/load'), { status: 404, message: /"nope" was not found in the model repository/ });
    refused('HTTP load ..%2F..%2Fetc reveals nothing', await post('/v2/repository/models/..%2F..%2Fetc/load'), { status: 400 });
    await alive('HTTP path traversal');
    // what was refused is not served, and the index lists directory names only
    expect((await get('/v2/models/..%2Foutside%2Fx')).status).toBe(404);
    served('HTTP load noconf (its own name)', await post('/v2/repository/models/noconf/load'));
    const index = await post('/v2/repository/index', {});
    expect(index.status).toBe(200);
    const names = (index.json as Array<{ name: string }>).map((e) => e.name);
    expect(names.filter((n) => n === '' || n.includes('/') || n.includes('.'))).toEqual([]);
    expect(names.filter((n) => n === 'noconf')).toEqual(['noconf']);
  });

  it('gRPC RepositoryModelLoad and Unload refuse the same names', async () => {
    for (const name of ['../outside/x', '../../etc', 'noconf/.', 'noconf/./.', '..', '', '/etc', 'a\\b', 'x\0y']) {
      refused(`gRPC load ${json(name)}`, await clients.call('RepositoryModelLoad', { model_name: name }), { code: S.INVALID_ARGUMENT, message: /model name/ });
    }
    refused('gRPC unload ../outside/x', await clients.call('RepositoryModelUnload', { model_name: '../outside/x' }), { code: S.INVALID_ARGUMENT, message: /model name/ });
    refused('gRPC load of a name not in the repository', await clients.call('RepositoryModelLoad', { model_name: 'nope' }), { code: S.NOT_FOUND, message: /was not found in the model repository/ });
    await alive('gRPC path traversal');
    const index = await clients.call('RepositoryIndex', {});
    expect(index.json.models.filter((m: { name: string }) => m.name === '' || m.name.includes('/'))).toEqual([]);
  });
});

describe('2. numeric config fields are bounded: a config cannot freeze or kill the server', () => {
  it('refuses priority_levels 4294967295, 1000 instances, a 2^32 dimension, an oversized or malformed config (HTTP and gRPC)', async () => {
    const cases: Array<[string, RegExp]> = [
      ['prio_huge', /priority_levels 4294967295 exceeds the limit of 1024/],
      ['count_huge', /instance_group.count 1000 exceeds the limit of 128/],
      ['dims_huge', /invalid dimension 4294967296/],
      ['big_config', /config.pbtxt is \d+ bytes; the limit is 1048576/],
      ['bad_syntax', /bad_syntax\/config.pbtxt:3:1/],
    ];
    for (const [name, message] of cases) {
      refused(`HTTP load ${name}`, await post(`/v2/repository/models/${name}/load`), { status: 400, message });
      await alive(`HTTP load ${name}`);
      refused(`gRPC load ${name}`, await clients.call('RepositoryModelLoad', { model_name: name }), { code: S.INVALID_ARGUMENT, message });
      await alive(`gRPC load ${name}`);
    }
  });

  it('starts with such a model in the repository (control mode none): the others serve, it reports why it is not', async () => {
    const other = await ChildServer.start({ ...serverOptions({ modelControlMode: 'none', grpcPort: false }), loadModels: undefined }, 30_000);
    try {
      tally.tried++;
      const r = await httpRequest(other.httpPort, { method: 'POST', path: '/v2/models/affine/infer', body: json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }) });
      expect(r.json?.outputs?.[0]?.data).toEqual([3, 5, 7, 9]);
      const index = await httpRequest(other.httpPort, { method: 'POST', path: '/v2/repository/index', body: '{}' });
      expect((index.json as Array<{ name: string; reason?: string }>).find((e) => e.name === 'prio_huge')?.reason).toMatch(/priority_levels 4294967295 exceeds the limit/);
      tally.served++;
    } finally {
      await other.close();
    }
  }, 60_000);
});

describe('3. timers: delays and timeouts past 2^31-1 ms are refused, the boundary serves', () => {
  it('refuses max_queue_delay and default_timeout past the limit; serves a model and a request timeout at it, with no timer overflow', async () => {
    refused('HTTP load delay_huge', await post('/v2/repository/models/delay_huge/load'), { status: 400, message: /max_queue_delay_microseconds 2147483648000 exceeds the limit of 2147483646000/ });
    refused('gRPC load timeout_huge', await clients.call('RepositoryModelLoad', { model_name: 'timeout_huge' }), { code: S.INVALID_ARGUMENT, message: /default_timeout_microseconds 2147483646001 exceeds the limit/ });
    served('HTTP load delay_max', await post('/v2/repository/models/delay_max/load'));
    // a full batch (max_batch_size 8) runs at once, whatever the delay
    const batch = Array.from({ length: 32 }, (_, i) => i);
    const req = (timeout?: number) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [8, 4], data: batch }], ...(timeout === undefined ? {} : { parameters: { timeout } }) });
    const want = batch.map((v) => 2 * v + 1);
    served('HTTP infer delay_max', await post('/v2/models/delay_max/infer', req()), (o) => expect(o.json.outputs[0].data).toEqual(want));
    served('HTTP infer with timeout at the limit', await post('/v2/models/delay_max/infer', req(TIMER_MAX_US)), (o) => expect(o.json.outputs[0].data).toEqual(want));
    refused('HTTP infer with timeout past the limit', await post('/v2/models/delay_max/infer', req(TIMER_MAX_US + 1)), { status: 400, message: /parameter "timeout" 2147483646001 µs exceeds the limit/ });
    refused('gRPC infer with timeout past the limit', await clients.call('ModelInfer', { model_name: 'delay_max', parameters: { timeout: { int64_param: TIMER_MAX_US + 1 } }, inputs: [{ name: 'x', datatype: 'FP32', shape: [8, 4] }], raw_input_contents: [f32(batch)] }), { code: S.INVALID_ARGUMENT, message: /timeout/ });
    await alive('timers');
    expect(server.stderr).not.toMatch(/TimeoutOverflowWarning/);
  });
});

describe.skipIf(!HAVE_SHM)('4. system shared memory: truncated objects, keys outside the allow-list, NUL keys', () => {
  const key = (tag: string): string => `/trtn-hostile-${process.pid}-${tag}`;
  function shm(k: string, size: number): { fd: number; remove(): void } {
    const fd = openSync(`/dev/shm${k}`, 'w+');
    ftruncateSync(fd, size);
    return { fd, remove: () => (closeSync(fd), unlinkSync(`/dev/shm${k}`)) };
  }
  const shmInput = (region: string) => ({ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { shared_memory_region: region, shared_memory_byte_size: 16 } });

  it('answers a request on a region whose object was truncated with an error, over HTTP and gRPC, and survives', async () => {
    const s = shm(key('trunc'), 4096);
    try {
      writeSync(s.fd, f32([1, 2, 3, 4]), 0, 16, 0);
      served('HTTP register', await post('/v2/systemsharedmemory/region/trunc/register', { key: key('trunc'), offset: 0, byte_size: 4096 }));
      served('HTTP infer from the region', await post('/v2/models/affine/infer', { inputs: [shmInput('trunc')] }), (o) => expect(o.json.outputs[0].data).toEqual([3, 5, 7, 9]));
      ftruncateSync(s.fd, 0);
      refused('HTTP infer from a truncated region', await post('/v2/models/affine/infer', { inputs: [shmInput('trunc')] }), { status: 400, message: /region 'trunc' .*now holds 0/ });
      await alive('HTTP truncated region');
      refused('gRPC infer from a truncated region', await clients.call('ModelInfer', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { shared_memory_region: { string_param: 'trunc' }, shared_memory_byte_size: { int64_param: 16 } } }] }), { code: S.INVALID_ARGUMENT, message: /now holds 0/ });
      await alive('gRPC truncated region');
      served('HTTP unregister', await post('/v2/systemsharedmemory/region/trunc/unregister'));
    } finally {
      s.remove();
    }
  });

  it('refuses keys outside the allow-list, keys with NUL, and regions past the limit (HTTP and gRPC)', async () => {
    const victim = `/trtn-victim-${process.pid}`;
    const v = shm(victim, 4096);
    const nul = shm(key('nul'), 4096);
    const many: Array<{ remove(): void }> = [];
    try {
      refused('HTTP register a key outside the allow-list', await post('/v2/systemsharedmemory/region/v/register', { key: victim, offset: 0, byte_size: 16 }), { status: 400, message: /is not one this server allows/ });
      refused('gRPC register a key outside the allow-list', await clients.call('SystemSharedMemoryRegister', { name: 'v', key: victim, offset: 0, byte_size: 16 }), { code: S.INVALID_ARGUMENT, message: /is not one this server allows/ });
      refused('HTTP register a key with NUL', await post('/v2/systemsharedmemory/region/n/register', { key: `${key('nul')}\u0000tail`, offset: 0, byte_size: 16 }), { status: 400, message: /no NUL/ });
      refused('gRPC register a key with NUL', await clients.call('SystemSharedMemoryRegister', { name: 'n', key: `${key('nul')}\u0000tail`, offset: 0, byte_size: 16 }), { code: S.INVALID_ARGUMENT, message: /no NUL/ });
      await alive('shm keys');
      for (let i = 0; i < 8; i++) {
        many.push(shm(key(`m${i}`), 4096));
        served(`HTTP register region ${i}`, await post(`/v2/systemsharedmemory/region/m${i}/register`, { key: key(`m${i}`), offset: 0, byte_size: 64 }));
      }
      many.push(shm(key('m8'), 4096));
      refused('HTTP register past the region limit', await post('/v2/systemsharedmemory/region/m8/register', { key: key('m8'), offset: 0, byte_size: 64 }), { status: 400, message: /8 regions are registered/ });
      served('HTTP unregister all', await post('/v2/systemsharedmemory/unregister'));
      await alive('shm region limit');
    } finally {
      v.remove();
      nul.remove();
      for (const m of many) m.remove();
    }
  });
});

describe('5. amplification: requests of a million tensors or parameters are refused before they are decoded', () => {
  /** run `send`, measure the server's peak RSS over the RSS before, keep the largest */
  async function measured<T>(send: () => Promise<T>): Promise<T> {
    await server.memoryUsage(true);
    const before = server.proc().rss;
    server.resetPeak();
    const result = await send();
    const rise = server.proc().peak - before;
    if (rise > tally.amplificationPeak) {
      tally.amplificationPeak = rise;
      tally.amplificationBaseline = before;
    }
    // a refusal costs about the request's bytes (received, then assembled once), not the objects it describes
    expect(rise).toBeLessThan(200 * 2 ** 20);
    return result;
  }
  const million = 1_000_000;

  it('gRPC: 1M inputs, 1M parameters, 1M outputs, a 1M-dimension shape, 4 such calls at once', async () => {
    const inputs = modelInferRequest({ model: 'affine', tail: repeat(field(5, inferInput('x', 'FP32', [1, 4])), million) });
    refused('gRPC 1M inputs', await measured(() => clients.callRaw('ModelInfer', inputs)), { code: S.INVALID_ARGUMENT, message: /more than 1024 inputs/ });
    await alive('gRPC 1M inputs');
    const params = modelInferRequest({ model: 'affine', inputs: [inferInput('x', 'FP32', [1, 4])], raw: [f32([1, 2, 3, 4])], tail: repeat(field(4, parameterEntry('p', 1)), million) });
    refused('gRPC 1M parameters', await measured(() => clients.callRaw('ModelInfer', params)), { code: S.INVALID_ARGUMENT, message: /more than 64 parameters/ });
    await alive('gRPC 1M parameters');
    const outputs = modelInferRequest({ model: 'affine', inputs: [inferInput('x', 'FP32', [1, 4])], raw: [f32([1, 2, 3, 4])], tail: repeat(field(6, field(1, 'y')), million) });
    refused('gRPC 1M outputs', await measured(() => clients.callRaw('ModelInfer', outputs)), { code: S.INVALID_ARGUMENT, message: /more than 1024 outputs/ });
    await alive('gRPC 1M outputs');
    const shape = modelInferRequest({ model: 'affine', inputs: [Buffer.concat([field(1, 'x'), field(2, 'FP32'), packed(3, new Array(million).fill(1))])], raw: [f32([1, 2, 3, 4])] });
    refused('gRPC 1M-dimension shape', await measured(() => clients.callRaw('ModelInfer', shape)), { code: S.INVALID_ARGUMENT, message: /more than 32 dimensions/ });
    await alive('gRPC 1M-dimension shape');
    const four = await measured(() => Promise.all([0, 1, 2, 3].map(() => clients.callRaw('ModelInfer', inputs))));
    for (const o of four) refused('gRPC 1M inputs, 4 at once', o, { code: S.INVALID_ARGUMENT, message: /more than 1024 inputs/ });
    await alive('gRPC 4 x 1M inputs');
  }, 120_000);

  it('HTTP: 500k inputs, 1M parameters, per-model input counts', async () => {
    const input = json({ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] });
    const inputs = `{"inputs":[${new Array(500_000).fill(input).join(',')}]}`;
    refused('HTTP 500k inputs', await measured(() => post('/v2/models/affine/infer', inputs)), { status: 400, message: /more than 8192 objects/ });
    await alive('HTTP 500k inputs');
    const members = Array.from({ length: million }, (_, i) => `"p${i}":1`).join(',');
    const params = `{"inputs":[${input}],"parameters":{${members}}}`;
    refused('HTTP 1M parameters', await measured(() => post('/v2/models/affine/infer', params)), { status: 400, message: /more than 32768 object members/ });
    await alive('HTTP 1M parameters');
    refused('HTTP 2 inputs for a 1-input model', await post('/v2/models/affine/infer', `{"inputs":[${input},${input}]}`), { status: 400, message: /the request has 2 inputs; model "affine" has 1/ });
    refused('HTTP 65 parameters', await post('/v2/models/affine/infer', { inputs: [JSON.parse(input)], parameters: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`p${i}`, 1])) }), { status: 400, message: /more than 64 parameters/ });
    refused('gRPC 2 inputs for a 1-input model', await clients.call('ModelInfer', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }, { name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32([1, 2, 3, 4]), f32([1, 2, 3, 4])] }), { code: S.INVALID_ARGUMENT, message: /the request has 2 inputs/ });
    await alive('per-model input counts');
  }, 120_000);
});

describe('6. slow and stalled clients', () => {
  it('HTTP: a stalled chunked body gets 408, unfinished headers get 408, impossible lengths 413 at once', async () => {
    const head = (extra: string) => `POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extra}\r\n`;
    refused('HTTP stalled chunked body', await rawHttp(server.httpPort, [head('Transfer-Encoding: chunked\r\n'), '5\r\n{"inp\r\n'], { keepOpen: true, timeoutMs: 10_000 }), { status: 408, message: /no data for 1000 ms/ });
    refused('HTTP unfinished headers', await rawHttp(server.httpPort, ['POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\n'], { keepOpen: true, timeoutMs: 10_000 }), { status: 408, message: /timed out/ });
    for (const length of [String(MAX_BODY + 1), String(2 ** 53 + 2), '1152921504606846976', '18446744073709551615']) {
      refused(`HTTP Content-Length ${length}`, await rawHttp(server.httpPort, [head(`Content-Length: ${length}\r\n`)], { keepOpen: true, timeoutMs: 10_000 }), { status: 413, message: /Content-Length \d+ exceeds the limit of 67108864 bytes/ });
    }
    refused('HTTP chunked body over the limit', await post('/v2/models/affine/infer', Buffer.alloc(MAX_BODY + 1, 0x20), { 'transfer-encoding': 'chunked' }), { status: 413, message: /too large/ });
    await alive('HTTP slow clients');
  }, 60_000);

  it('a request that waits longer than the idle timeouts for its answer is served (HTTP and gRPC)', async () => {
    const [h, g] = await Promise.all([
      post('/v2/models/slow/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }),
      clients.call('ModelInfer', { model_name: 'slow', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32([1, 2, 3, 4])] }),
    ]);
    served('HTTP request answered after 2.5 s', h, (o) => expect(o.json.outputs[0].data).toEqual([3, 5, 7, 9]));
    served('gRPC request answered after 2.5 s', g, (o) => expect(readF32(o.json.raw_output_contents[0])).toEqual([3, 5, 7, 9]));
  }, 60_000);

  it('connections that never send anything are closed: HTTP with 408 (header timeout), gRPC when no call starts in that time', async () => {
    const silent = (port: number): Promise<{ closed: boolean; data: Buffer }> =>
      new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        const chunks: Buffer[] = [];
        const timer = setTimeout(() => {
          socket.destroy();
          resolve({ closed: false, data: Buffer.concat(chunks) });
        }, 15_000);
        socket.on('data', (d: Buffer) => chunks.push(d));
        socket.on('error', () => {});
        socket.on('close', () => {
          clearTimeout(timer);
          resolve({ closed: true, data: Buffer.concat(chunks) });
        });
      });
    const [h, g] = await Promise.all([silent(server.httpPort), silent(server.grpcPort)]);
    tally.tried += 2;
    // HTTP: a 408 in the protocol's shape; gRPC: closed (after the server's HTTP/2 SETTINGS)
    const httpOk = h.closed && /^HTTP\/1\.1 408 [^]*\r\n\r\n\{"error":"[^"]+"\}$/.test(h.data.toString());
    const grpcOk = g.closed && g.data.length > 0 && g.data[3] === 4;
    tally.clearErrors += (httpOk ? 1 : 0) + (grpcOk ? 1 : 0);
    if (!h.closed || !g.closed) tally.hangs += (h.closed ? 0 : 1) + (g.closed ? 0 : 1);
    expect({ httpOk, grpcOk }).toEqual({ httpOk: true, grpcOk: true });
    await alive('silent connections');
  }, 60_000);

  it('HTTP: 100 connections announcing 64 MiB and sending 1 KB allocate nothing for the announcement, and all get 408', async () => {
    await server.memoryUsage(true);
    const before = (await server.memoryUsage()).arrayBuffers;
    const head = `POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MAX_BODY}\r\n\r\n${' '.repeat(1024)}`;
    const pending = Array.from({ length: 100 }, () => rawHttp(server.httpPort, [head], { keepOpen: true, timeoutMs: 15_000 }));
    await new Promise((r) => setTimeout(r, BODY_IDLE_MS / 2));
    const during = (await server.memoryUsage()).arrayBuffers;
    expect(during - before).toBeLessThan(64 * 2 ** 20);
    for (const o of await Promise.all(pending)) refused('HTTP 64 MiB announced, 1 KB sent', o, { status: 408, message: /no data for 1000 ms/ });
    await alive('HTTP announced lengths');
  }, 60_000);

  it('gRPC: a message that stops arriving ends with DEADLINE_EXCEEDED; 50 of them announcing 16 MiB do not grow the server by that', async () => {
    // the front-end thread assembles messages: the process's virtual size shows what it allocates
    const before = server.proc().virtual;
    const calls = await Promise.all(Array.from({ length: 50 }, () => stalledGrpcCall(server.grpcPort, 16 * 2 ** 20 - 64, 100, 15_000)));
    await new Promise((r) => setTimeout(r, BODY_IDLE_MS / 2));
    expect(server.proc().virtual - before).toBeLessThan(400 * 2 ** 20);
    for (const c of calls) {
      refused('gRPC stalled message', await c.ended, { code: S.DEADLINE_EXCEEDED, message: /stopped arriving: no data for 1000 ms/ });
      c.session.destroy();
    }
    await alive('gRPC stalled messages');
  }, 60_000);
});

describe('7. integers out of range are refused, never wrapped', () => {
  it('HTTP JSON and gRPC typed contents for INT8, UINT8, INT32, INT64', async () => {
    const req = (m: string, datatype: string, data: unknown[]) => post(`/v2/models/${m}/infer`, { inputs: [{ name: 'x', datatype, shape: [2, 3], data }] });
    const cases: Array<[string, string, unknown[], RegExp]> = [
      ['i32', 'INT32', [1099511627776, 0, 0, 0, 0, 0], /1099511627776\) is out of range for INT32/],
      ['i32', 'INT32', [2147483648, 0, 0, 0, 0, 0], /out of range for INT32/],
      ['i8', 'INT8', [200, 0, 0, 0, 0, 0], /200\) is out of range for INT8 \(-128..127\)/],
      ['i8', 'INT8', [-129, 0, 0, 0, 0, 0], /out of range for INT8/],
      ['u8', 'UINT8', [-1, 0, 0, 0, 0, 0], /out of range for UINT8/],
      ['u8', 'UINT8', [256, 0, 0, 0, 0, 0], /out of range for UINT8/],
      ['i64', 'INT64', ['9223372036854775808', 0, 0, 0, 0, 0], /out of range for INT64/],
      ['i64', 'INT64', [9007199254740993, 0, 0, 0, 0, 0], /beyond ±2\^53-1/],
    ];
    for (const [m, dt, data, message] of cases) refused(`HTTP ${dt} ${json(data[0])}`, await req(m, dt, data), { status: 400, message });
    const edges: Array<[string, string, unknown[], unknown[]]> = [
      ['i8', 'INT8', [127, -128, 0, 1, -1, 5], [127, -128, 0, 1, -1, 5]],
      ['u8', 'UINT8', [255, 0, 1, 2, 3, 4], [255, 0, 1, 2, 3, 4]],
      ['i32', 'INT32', [2147483647, -2147483648, 0, 1, -1, 7], [2147483647, -2147483648, 0, 1, -1, 7]],
      ['i64', 'INT64', ['-9223372036854775808', 9007199254740991, 0, 1, -1, 7], [-9223372036854775808, 9007199254740991, 0, 1, -1, 7]],
    ];
    for (const [m, dt, data, out] of edges) served(`HTTP ${dt} at its limits`, await req(m, dt, data), (o) => expect(o.json.outputs[0].data).toEqual(out));
    const typed = (m: string, datatype: string, contents: Record<string, number[]>) => clients.call('ModelInfer', { model_name: m, inputs: [{ name: 'x', datatype, shape: [2, 3], contents }] });
    refused('gRPC INT8 int_contents 300', await typed('i8', 'INT8', { int_contents: [300, 0, 0, 0, 0, 0] }), { code: S.INVALID_ARGUMENT, message: /out of range for INT8/ });
    refused('gRPC UINT8 uint_contents 256', await typed('u8', 'UINT8', { uint_contents: [256, 0, 0, 0, 0, 0] }), { code: S.INVALID_ARGUMENT, message: /out of range for UINT8/ });
    served('gRPC INT8 int_contents at its limits', await typed('i8', 'INT8', { int_contents: [127, -128, 0, 1, 2, 3] }), (o) => expect([...new Int8Array(Uint8Array.from(o.json.raw_output_contents[0]).buffer)]).toEqual([127, -128, 0, 1, 2, 3]));
    await alive('integer ranges');
  });
});

describe('8. instance_group count: bounded, and loads and unloads do not stall the other models', () => {
  it('serves another model while a model of 16 instances loads and unloads', async () => {
    // ONNX Runtime creates and releases sessions on libuv's pool, which inferences use too
    const during = async (op: () => Promise<Outcome>): Promise<{ op: Outcome; served: number }> => {
      let done = false;
      let servedDuring = 0;
      const pinging = (async () => {
        while (!done) {
          const r = await httpRequest(server.httpPort, { method: 'POST', path: '/v2/models/affine/infer', body: json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }) });
          if (!done && r.status === 200) servedDuring++;
        }
      })();
      const result = await op();
      done = true;
      await pinging;
      return { op: result, served: servedDuring };
    };
    const load = await during(() => post('/v2/repository/models/many/load'));
    served('HTTP load many (16 instances)', load.op);
    const unload = await during(() => post('/v2/repository/models/many/unload'));
    served('HTTP unload many', unload.op);
    expect({ servedDuringLoad: load.served >= 2, servedDuringUnload: unload.served >= 2 }).toEqual({ servedDuringLoad: true, servedDuringUnload: true });
    await alive('instances');
  }, 120_000);
});

describe('9. minor: non-finite outputs, version names, framework error bodies', () => {
  it("NaN and ±Infinity outputs come back as Triton writes them (NaN, Infinity, -Infinity), not null", async () => {
    const header = json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], parameters: { binary_data_size: 24 } }] });
    const body = Buffer.concat([Buffer.from(header), f32([NaN, Infinity, -Infinity, 1.5, 0, -2])]);
    const o = await post('/v2/models/f32/infer', body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) });
    served('HTTP NaN and Infinity outputs', o, (r) => expect(r.body!.toString()).toContain('"data":[NaN,Infinity,-Infinity,1.5,0,-2]'));
  });

  it('version "01" (or "+1", "1.0") is not version 1', async () => {
    for (const v of ['01', '+1', '1.0', '001']) {
      refused(`HTTP version ${v}`, await get(`/v2/models/affine/versions/${v}`), { status: 404, message: /has no version/ });
      refused(`HTTP infer version ${v}`, await post(`/v2/models/affine/versions/${v}/infer`, { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }), { status: 404, message: /has no version/ });
      refused(`gRPC version ${v}`, await clients.call('ModelMetadata', { name: 'affine', version: v }), { code: S.NOT_FOUND, message: /has no version/ });
    }
    served('HTTP version 1', await get('/v2/models/affine/versions/1'));
    await alive('versions');
  });

  it("fastify's own answers (bad %-encoding, 431, malformed requests) are in the protocol's {\"error\": ...} shape", async () => {
    refused('HTTP bad %-encoding', await get('/v2/models/%E0%A4%A/ready'), { status: 400, message: /malformed URL/ });
    refused('HTTP headers over 16 KB', await httpRequest(server.httpPort, { path: '/v2/health/ready', headers: { 'x-big': 'a'.repeat(20_000) } }), { status: 431, message: /header fields too large/ });
    refused('HTTP malformed request line', await rawHttp(server.httpPort, ['BLAH / HTTP/9.9\r\n\r\n']), { status: 400, message: /malformed HTTP request/ });
    refused('HTTP unknown route', await get('/v3/nothing'), { status: 404, message: /no route/ });
    await alive('framework errors');
  });
});

describe('gRPC served on the main thread (grpcWorkers: 0): the same guards', () => {
  it('refuses 1M inputs and malformed bytes, ends a stalled message and a silent connection', async () => {
    const main = await ChildServer.start(serverOptions({ grpcWorkers: 0, httpPort: false, loadModels: ['affine'] }), 30_000);
    const c = new GrpcClients(main.grpcPort);
    try {
      const inputs = modelInferRequest({ model: 'affine', tail: repeat(field(5, inferInput('x', 'FP32', [1, 4])), 1_000_000) });
      refused('main thread: gRPC 1M inputs', await c.callRaw('ModelInfer', inputs), { code: S.INVALID_ARGUMENT, message: /more than 1024 inputs/ });
      refused('main thread: gRPC random bytes', await c.callRaw('ModelInfer', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3])), { code: S.INVALID_ARGUMENT, message: /malformed ModelInfer request/ });
      const stalled = await stalledGrpcCall(main.grpcPort, 16 * 2 ** 20 - 64, 100, 15_000);
      refused('main thread: gRPC stalled message', await stalled.ended, { code: S.DEADLINE_EXCEEDED, message: /stopped arriving/ });
      stalled.session.destroy();
      const closed = await new Promise<boolean>((resolve) => {
        const socket = net.connect(main.grpcPort, '127.0.0.1');
        const timer = setTimeout(() => (socket.destroy(), resolve(false)), 15_000);
        socket.resume(); // read, so that the server's end of the connection is seen
        socket.on('error', () => {});
        socket.on('close', () => (clearTimeout(timer), resolve(true)));
      });
      tally.tried++;
      if (closed) tally.clearErrors++;
      else tally.hangs++;
      expect(closed).toBe(true);
      served('main thread: gRPC infer afterwards', await c.call('ModelInfer', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32([1, 2, 3, 4])] }), (o) =>
        expect(readF32(o.json.raw_output_contents[0])).toEqual([3, 5, 7, 9]),
      );
      if (main.exited) tally.crashes++;
    } finally {
      c.close();
      await main.close();
    }
  }, 60_000);
});

describe('what already held: lying lengths, malformed bodies and messages, oversized bodies, load/unload racing traffic', () => {
  it('HTTP: lying binary lengths and malformed JSON', async () => {
    const header = json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } }] });
    const bin = (h: string, blob: Buffer, hl = String(h.length)) => post('/v2/models/affine/infer', Buffer.concat([Buffer.from(h), blob]), { 'content-type': 'application/octet-stream', 'inference-header-content-length': hl });
    refused('HTTP header length past the body', await bin(header, f32([1, 2, 3, 4]), '999999'), { status: 400, message: /exceeds the body/ });
    refused('HTTP binary_data_size past the body', await bin(header, f32([1, 2])), { status: 400, message: /exceeds the 8 bytes/ });
    refused('HTTP unclaimed binary bytes', await bin(header, f32([1, 2, 3, 4, 5])), { status: 400, message: /no input claims/ });
    refused('HTTP header length not a number', await bin(header, f32([1, 2, 3, 4]), '-5'), { status: 400, message: /non-negative integer/ });
    refused('HTTP binary size not matching the shape', await bin(json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 12 } }] }), f32([1, 2, 3])), { status: 400, message: /needs 16 bytes, got 12/ });
    refused('HTTP malformed JSON', await post('/v2/models/affine/infer', '{"inputs": ['), { status: 400, message: /malformed JSON/ });
    refused('HTTP JSON nested 100000 deep', await post('/v2/models/affine/infer', `{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`), { status: 400 });
    refused('HTTP wrong types', await post('/v2/models/affine/infer', { inputs: [{ name: 7, datatype: ['FP32'], shape: 'x', data: {} }] }), { status: 400 });
    refused('HTTP Content-Length larger than the body', await rawHttp(server.httpPort, ['POST /v2/models/affine/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}'], { keepOpen: true, timeoutMs: 10_000 }), { status: 408 });
    await alive('HTTP lying lengths');
  });

  it('gRPC: malformed protobuf, lying raw_input_contents, oversized messages', async () => {
    refused('gRPC random bytes', await clients.callRaw('ModelInfer', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3])), { code: S.INVALID_ARGUMENT, message: /malformed ModelInfer request/ });
    refused('gRPC truncated length', await clients.callRaw('ModelInfer', Buffer.concat([field(1, 'affine'), varint(5 * 8 + 2), varint(1000), Buffer.from('x')])), { code: S.INVALID_ARGUMENT, message: /malformed/ });
    refused('gRPC group wire type', await clients.callRaw('ModelInfer', Buffer.from([0x0b, 0x0c])), { code: S.INVALID_ARGUMENT, message: /malformed/ });
    refused('gRPC malformed RepositoryIndex', await clients.callRaw('RepositoryIndex', Buffer.from([0x08])), { code: S.INVALID_ARGUMENT, message: /malformed RepositoryIndex request/ });
    refused('gRPC raw bytes shorter than the shape', await clients.call('ModelInfer', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32([1, 2])] }), { code: S.INVALID_ARGUMENT, message: /needs 16 bytes, got 8/ });
    refused('gRPC more raw entries than inputs', await clients.call('ModelInfer', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32([1, 2, 3, 4]), f32([1])] }), { code: S.INVALID_ARGUMENT, message: /raw_input_contents has 2 entries/ });
    refused('gRPC message over the limit', await clients.callRaw('ModelInfer', modelInferRequest({ model: 'affine', raw: [Buffer.alloc(MAX_BODY + 16)] })), { code: S.RESOURCE_EXHAUSTED, message: /larger than max/ });
    refused('gRPC int64 shape of 2^63', await clients.callRaw('ModelInfer', modelInferRequest({ model: 'affine', inputs: [Buffer.concat([field(1, 'x'), field(2, 'FP32'), packed(3, [2n ** 63n, 4])])], raw: [f32([1, 2, 3, 4])] })), { code: S.INVALID_ARGUMENT });
    await alive('gRPC malformed');
  });

  it('load and unload racing traffic: every request answered, the other models untouched', async () => {
    let stop = false;
    const answers = new Map<string, number>();
    const note = (k: string): void => void answers.set(k, (answers.get(k) ?? 0) + 1);
    const traffic = Array.from({ length: 4 }, async (_, i) => {
      while (!stop) {
        const m = i % 2 === 0 ? 'racer' : 'affine';
        if (i < 2) {
          const r = await post(`/v2/models/${m}/infer`, { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }, {}, 10_000);
          note(`HTTP ${m} ${r.status ?? (r.hung ? 'hung' : 'broken')}`);
          if (r.status === 200) expect(r.json.outputs[0].data).toEqual([3, 5, 7, 9]);
        } else {
          const r = await clients.call('ModelInfer', { model_name: m, inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [f32([1, 2, 3, 4])] }, 10_000);
          note(`gRPC ${m} ${r.code ?? (r.hung ? 'hung' : 'broken')}`);
          if (r.code === 0) expect(readF32(r.json.raw_output_contents[0])).toEqual([3, 5, 7, 9]);
        }
      }
    });
    for (let i = 0; i < 4; i++) {
      served(`HTTP load racer (${i})`, await post('/v2/repository/models/racer/load'));
      await new Promise((r) => setTimeout(r, 30));
      served(`gRPC unload racer (${i})`, await clients.call('RepositoryModelUnload', { model_name: 'racer' }));
    }
    stop = true;
    await Promise.all(traffic);
    tally.tried += 1;
    // racer answers 200 or "not ready / unknown" (503, 404; UNAVAILABLE, NOT_FOUND); affine always 200; nothing hung or broke
    const bad = [...answers.keys()].filter((k) => !/^(HTTP racer (200|503|404)|HTTP affine 200|gRPC racer (0|14|5)|gRPC affine 0)$/.test(k));
    if (bad.length) tally.failures.push(`racing traffic: ${bad.join(', ')}`);
    else tally.clearErrors++;
    expect(bad).toEqual([]);
    await alive('load/unload racing traffic');
  }, 60_000);

  it('ends holding what it held before the cases; another round of the heaviest ones leaves the RSS where the previous one left it', async () => {
    // the models the cases loaded go again: what stays is what the cases left behind
    for (const name of ['noconf', 'delay_max']) served(`HTTP unload ${name}`, await post(`/v2/repository/models/${name}/unload`));
    const m = await server.memoryUsage(true);
    tally.rssAfter = m.rss;
    tally.jsAfter = m.heapUsed + m.external;
    // what JavaScript holds (heap, array buffers, other external memory) is back where it was
    expect(tally.jsAfter).toBeLessThan(tally.jsBaseline + 32 * 2 ** 20);
    // The RSS keeps what the allocators keep for reuse (glibc gives back little of a heap that held
    // tens of MB of request chunks): once they have what the heaviest requests need, the same
    // requests again must reuse it, not add to it.
    // Measured over two more rounds, with 64 MiB of slack for the allocators' and the GC's timing
    // on a loaded host: the unfixed server added over a GB in one round of these cases.
    await heavyRound();
    tally.rssSecondRound = (await server.memoryUsage(true)).rss;
    await heavyRound();
    tally.rssThirdRound = (await server.memoryUsage(true)).rss;
    await heavyRound();
    const rssFourthRound = (await server.memoryUsage(true)).rss;
    expect(rssFourthRound).toBeLessThan(tally.rssSecondRound + 64 * 2 ** 20);
    expect(tally.crashes).toBe(0);
    expect(tally.hangs).toBe(0);
    expect(tally.lost).toBe(0);
  }, 120_000);
});
