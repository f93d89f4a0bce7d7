/**
 * KServe v2 / Triton HTTP/REST front end (fastify), with the binary tensor data extension,
 * the model repository extension, the statistics extension and system shared memory.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { TensorRtError } from '../errors.js';
import type { ModelRepository } from '../repository/repository.js';
import {
  REQUEST_LIMITS,
  SERVER_NAME,
  SERVER_VERSION,
  buildInputs,
  checkTensorCounts,
  errorMessage,
  httpStatusFor,
  inferResponseJson,
  kserveOutputDatatype,
  modelMetadata,
  requestOptions,
  requestedOutputs,
  serverExtensions,
  sharedMemoryOutputBuffers,
  statisticsJson,
  tensorBytes,
  tensorJson,
  type WireInput,
} from './codec.js';
import { routeLifecycle } from './internals/fastify.js';
import { jsonStructureExcess } from './request-guards.js';
import { SystemSharedMemory, cudaShmUnsupported, noCudaRegion, type SharedMemoryRef } from './shared-memory.js';

export interface HttpServerOptions {
  repository: ModelRepository;
  /** largest request body accepted (413 beyond); default 64 MiB */
  maxBodyBytes?: number;
  /** fastify's logger (default off) */
  logger?: boolean;
  /**
   * the system shared-memory regions (shared with the gRPC front end by startServer); default: a
   * registry of this server's own, with the extension off (see SystemSharedMemoryOptions.enabled)
   */
  sharedMemory?: SystemSharedMemory;
  /** a request's headers must arrive within this, ms (408 and the connection closed); default 20 000 */
  headersTimeoutMs?: number;
  /** a whole request, body included, must arrive within this, ms (408); default 300 000 */
  requestTimeoutMs?: number;
  /** a request body that receives no byte for this long is refused, ms (408); default 30 000 */
  bodyIdleTimeoutMs?: number;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 20_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
export const DEFAULT_BODY_IDLE_TIMEOUT_MS = 30_000;

const HEADER_LENGTH = 'inference-header-content-length';

type Params = { model?: string; version?: string };

function fail(reply: FastifyReply, status: number, msg: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: msg });
}

function failWith(reply: FastifyReply, e: unknown): FastifyReply {
  return fail(reply, httpStatusFor(e), errorMessage(e));
}

/**
 * Does the route of `req` run nothing that tensorrtNodeInferDirect would skip? That is: that hook
 * is its last onRequest hook, it has no later lifecycle hook, `parser` is the only content-type
 * parser and the error handler is createHttpServer's. True for the instance that createHttpServer
 * builds; an embedder's hooks, parsers or error handler on it make the route run through fastify.
 * Read from fastify's route context (internals/fastify.ts; fastify binds hooks and error handlers,
 * hence the names); where it cannot be read, false.
 */
function servesAsFastify(req: FastifyRequest, parser: unknown): boolean {
  const life = routeLifecycle(req);
  return (
    life !== undefined &&
    life.onRequest[life.onRequest.length - 1] === 'bound tensorrtNodeInferDirect' &&
    !life.laterHooks &&
    life.parsers.size === 1 &&
    life.parsers.get('') === parser &&
    life.errorHandler === 'bound tensorrtNodeHttpErrors'
  );
}

/**
 * fail() on node's response, as fastify sends it: the same headers in the same order
 * (`connection: close` first for a body that could not be read, as fastify's body parsing adds it).
 */
function writeError(res: ServerResponse, status: number, msg: string, close: boolean): void {
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.end();
    return;
  }
  const body = JSON.stringify({ error: msg });
  const headers: Record<string, string> = close ? { connection: 'close' } : {};
  headers['content-type'] = 'application/json; charset=utf-8';
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(status, headers);
  res.end(body);
}

function badRequest(msg: string): TensorRtError {
  return new TensorRtError('ERR_INVALID_ARGUMENT', msg);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A "parameters" member: absent, or an object of at most REQUEST_LIMITS.parameters entries. */
function checkParameters(params: unknown, owner: string): void {
  if (params === undefined) return;
  if (!isObject(params)) throw badRequest(`${owner}: "parameters" must be an object`);
  let n = 0;
  for (const _ in params) if (++n > REQUEST_LIMITS.parameters) throw badRequest(`${owner} has more than ${REQUEST_LIMITS.parameters} parameters`);
}

function parseJsonBody(buf: Buffer | undefined, allowEmpty: boolean): unknown {
  if (!buf || buf.length === 0) {
    if (allowEmpty) return {};
    throw badRequest('request body is empty');
  }
  const excess = jsonStructureExcess(buf);
  if (excess !== undefined) throw badRequest(excess);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw badRequest(`malformed JSON in request body: ${errorMessage(e)}`);
  }
}

function httpError(status: number, message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode: status });
}

/** Decimal digits of the largest Content-Length compared as a Number (beyond, it cannot be within any limit). */
const MAX_LENGTH_DIGITS = 15;

/**
 * The request bodies being read by one server, and the sweep that refuses those that stalled: a
 * body that has received no byte for `idleMs` fails with 408. One timer for all of them (running
 * only while some are being read), each read marking the sweep's tick as it receives data.
 */
class BodyReads {
  private readonly reads = new Set<BodyRead>();
  private timer: NodeJS.Timeout | undefined;
  private tick = 0;
  private readonly period: number;
  private readonly idleTicks: number;

  constructor(readonly idleMs: number) {
    this.period = Math.max(10, Math.min(1000, Math.floor(idleMs / 4)));
    this.idleTicks = Math.ceil(idleMs / this.period);
  }

  add(read: BodyRead): void {
    read.lastTick = this.tick;
    this.reads.add(read);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), this.period);
      this.timer.unref();
    }
  }

  delete(read: BodyRead): void {
    this.reads.delete(read);
  }

  /** The current tick, for a read to mark its progress with. */
  get now(): number {
    return this.tick;
  }

  private sweep(): void {
    this.tick++;
    for (const read of this.reads) {
      if (this.tick - read.lastTick > this.idleTicks) read.stalled(this.idleMs);
    }
    if (this.reads.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

interface BodyRead {
  lastTick: number;
  stalled(idleMs: number): void;
}

/**
 * Read a request body into one Buffer (what fastify's `parseAs: 'buffer'` does, with the same
 * limits: 413 over `limit`, 400 when the length differs from Content-Length), refusing at once a
 * Content-Length over the limit (413, before any byte of the body) and a body that stalls (408).
 * The chunks are kept as they arrive (nothing is allocated for a length that is only announced)
 * and copied once, at the end, into a buffer placed so that the binary part of the binary tensor
 * extension (after Inference-Header-Content-Length bytes of JSON) starts 8-byte aligned: raw
 * tensors can then be viewed in place as typed arrays instead of copied (codec.ts fromRaw).
 */
function readBody(
  headers: Record<string, string | string[] | undefined>,
  payload: NodeJS.ReadableStream,
  limit: number,
  reads: BodyReads,
  done: (err: Error | null, body?: Buffer) => void,
): void {
  const clRaw = headers['content-length'];
  let cl = -1;
  if (typeof clRaw === 'string' && /^\d+$/.test(clRaw)) {
    // 2^53 and beyond (up to the 2^64 - 1 that node's parser lets through) is too large whatever the limit
    if (clRaw.replace(/^0+(?=\d)/, '').length > MAX_LENGTH_DIGITS || Number(clRaw) > limit) return done(httpError(413, `Request body is too large: Content-Length ${clRaw} exceeds the limit of ${limit} bytes`));
    cl = Number(clRaw);
  }
  const hlRaw = headers[HEADER_LENGTH];
  const hl = typeof hlRaw === 'string' && /^\d+$/.test(hlRaw) ? Number(hlRaw) : 0;
  const pad = (8 - (hl % 8)) % 8;
  const chunks: Buffer[] = [];
  let received = 0;
  let finished = false;
  const read: BodyRead = {
    lastTick: 0,
    stalled: (idleMs) => finish(httpError(408, `Request body timed out: no data for ${idleMs} ms`)),
  };
  const finish = (err: Error | null, body?: Buffer): void => {
    if (finished) return;
    finished = true;
    reads.delete(read);
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onError);
    done(err, body);
  };
  const onData = (chunk: Buffer): void => {
    if (received + chunk.length > limit) return finish(httpError(413, 'Request body is too large'));
    if (cl >= 0 && received + chunk.length > cl) return finish(httpError(400, 'Request body size did not match Content-Length'));
    chunks.push(chunk);
    received += chunk.length;
    read.lastTick = reads.now;
  };
  const onEnd = (): void => {
    if (cl >= 0 && received !== cl) return finish(httpError(400, 'Request body size did not match Content-Length'));
    const whole = Buffer.allocUnsafeSlow(received + pad);
    let at = pad;
    for (const c of chunks) at += c.copy(whole, at);
    finish(null, whole.subarray(pad, pad + received));
  };
  const onError = (err: Error & { statusCode?: number }): void => {
    if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
    finish(err);
  };
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onError);
  reads.add(read);
  payload.resume();
}

/** A positive timeout in ms from an option, checked. */
function timeoutOption(value: number | undefined, fallback: number, what: string): number {
  const ms = value ?? fallback;
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > 2 ** 31 - 1) throw new TensorRtError('ERR_INVALID_ARGUMENT', `${what} must be an integer number of milliseconds in 1..${2 ** 31 - 1}, got ${String(value)}`);
  return ms;
}

/**
 * fastify's answer to a client error node's parser raises (header too large, headers or request
 * timed out, malformed request), in the protocol's {"error": ...} shape. The connection is closed
 * afterwards, as node and fastify do.
 */
function clientErrorAnswer(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // an answer already under way on this connection (an early 413 or 408 of ours): only close it,
  // as node's own handler does
  if ((socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    socket.destroy(err);
    return;
  }
  const [status, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request timed out: its headers or body did not arrive in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'request header fields too large']
        : [400, `malformed HTTP request${err.code ? ` (${err.code})` : ''}`];
  const body = JSON.stringify({ error: message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/** Build a fastify instance serving the repository (not yet listening). */
export async function createHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const repo = options.repository;
  const shm = options.sharedMemory ?? new SystemSharedMemory({ enabled: false });
  const headersTimeout = timeoutOption(options.headersTimeoutMs, DEFAULT_HEADERS_TIMEOUT_MS, 'headersTimeoutMs');
  const requestTimeout = timeoutOption(options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS, 'requestTimeoutMs');
  if (headersTimeout > requestTimeout) throw new TensorRtError('ERR_INVALID_ARGUMENT', `headersTimeoutMs (${headersTimeout}) must not exceed requestTimeoutMs (${requestTimeout})`);
  const reads = new BodyReads(timeoutOption(options.bodyIdleTimeoutMs, DEFAULT_BODY_IDLE_TIMEOUT_MS, 'bodyIdleTimeoutMs'));
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.maxBodyBytes ?? 64 * 1024 * 1024,
    // node's own limits on slow clients (fastify turns requestTimeout off by default); node checks
    // them every connectionsCheckingInterval, which also bounds how late a timeout is noticed
    requestTimeout,
    http: { headersTimeout, connectionsCheckingInterval: Math.max(10, Math.min(30_000, Math.floor(headersTimeout / 4))) },
    // what fastify answers by itself, in the protocol's {"error": ...} shape
    clientErrorHandler: clientErrorAnswer,
    frameworkErrors: (error, _req, reply) => {
      void fail(reply, error.statusCode ?? 400, error.code === 'FST_ERR_BAD_URL' ? `malformed URL: ${error.message}` : error.message);
    },
  });

  // every body arrives as a Buffer; JSON and the binary extension are parsed here
  const limit = options.maxBodyBytes ?? 64 * 1024 * 1024;
  app.removeAllContentTypeParsers();
  const parseBody = (req: FastifyRequest, payload: NodeJS.ReadableStream, done: (err: Error | null, body?: Buffer) => void): void => readBody(req.headers, payload, limit, reads, done);
  app.addContentTypeParser('*', parseBody);

  // (named: servesAsFastify checks that it is still the error handler in charge)
  app.setErrorHandler(function tensorrtNodeHttpErrors(err: { statusCode?: number; message?: string }, _req, reply) {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500;
    void fail(reply, status, err.message ?? 'internal error');
  });
  app.setNotFoundHandler((req, reply) => void fail(reply, 404, `no route for ${req.method} ${req.url.split('?')[0]}`));

  const both = (suffix: string): string[] => [`/v2/models/:model${suffix}`, `/v2/models/:model/versions/:version${suffix}`];

  app.get('/v2', async () => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: serverExtensions(shm) }));
  app.get('/v2/health/live', async (_req, reply) => reply.code(200).send());
  app.get('/v2/health/ready', async (_req, reply) => (repo.isReady() ? reply.code(200).send() : fail(reply, 503, 'server is not ready')));

  for (const url of both('/ready')) {
    app.get(url, async (req: FastifyRequest<{ Params: Params }>, reply) => {
      const { model, version } = req.params;
      try {
        repo.getModel(model!, version);
        return reply.code(200).send();
      } catch (e) {
        return failWith(reply, e);
      }
    });
  }

  for (const url of both('')) {
    app.get(url, async (req: FastifyRequest<{ Params: Params }>, reply) => {
      const { model, version } = req.params;
      try {
        const m = repo.getModel(model!, version);
        const versions = version ? [String(m.version)] : repo.loadedVersions().filter((l) => l.name === m.name).map((l) => String(l.version));
        return modelMetadata(m, versions);
      } catch (e) {
        return failWith(reply, e);
      }
    });
  }

  for (const url of both('/config')) {
    app.get(url, async (req: FastifyRequest<{ Params: Params }>, reply) => {
      try {
        return repo.getModel(req.params.model!, req.params.version).config;
      } catch (e) {
        return failWith(reply, e);
      }
    });
  }

  for (const url of both('/stats')) {
    app.get(url, async (req: FastifyRequest<{ Params: Params }>, reply) => {
      try {
        return { model_stats: repo.statistics(req.params.model, req.params.version).map((s) => statisticsJson(s.name, s.version, s.stats)) };
      } catch (e) {
        return failWith(reply, e);
      }
    });
  }
  app.get('/v2/models/stats', async () => ({ model_stats: repo.statistics().map((s) => statisticsJson(s.name, s.version, s.stats)) }));

  app.post('/v2/repository/index', async (req, reply) => {
    try {
      const body = parseJsonBody(req.body as Buffer | undefined, true);
      if (!isObject(body)) throw badRequest('repository index request must be a JSON object');
      return await repo.index({ readyOnly: body.ready === true });
    } catch (e) {
      return failWith(reply, e);
    }
  });

  app.post('/v2/repository/models/:model/load', async (req: FastifyRequest<{ Params: Params }>, reply) => {
    try {
      const body = parseJsonBody(req.body as Buffer | undefined, true);
      if (!isObject(body)) throw badRequest('load request must be a JSON object');
      const params = body.parameters;
      if (isObject(params) && Object.keys(params).some((k) => k === 'config' || k.startsWith('file:'))) {
        throw badRequest('load parameters "config" and "file:" overrides are not supported');
      }
      await repo.load(req.params.model!);
      return reply.code(200).send();
    } catch (e) {
      return fail(reply, httpStatusFor(e) === 404 ? 404 : 400, errorMessage(e));
    }
  });

  app.post('/v2/repository/models/:model/unload', async (req: FastifyRequest<{ Params: Params }>, reply) => {
    try {
      const body = parseJsonBody(req.body as Buffer | undefined, true);
      if (!isObject(body)) throw badRequest('unload request must be a JSON object');
      await repo.unload(req.params.model!);
      return reply.code(200).send();
    } catch (e) {
      return fail(reply, httpStatusFor(e) === 404 ? 404 : 400, errorMessage(e));
    }
  });

  // system shared-memory extension: register, unregister (one region or all), status
  app.post('/v2/systemsharedmemory/region/:region/register', async (req: FastifyRequest<{ Params: { region: string } }>, reply) => {
    try {
      const body = parseJsonBody(req.body as Buffer | undefined, false);
      if (!isObject(body)) throw badRequest('register request must be a JSON object with key, offset and byte_size');
      shm.register(req.params.region, body.key as string, (body.offset ?? 0) as number, body.byte_size as number);
      return reply.code(200).send();
    } catch (e) {
      return failWith(reply, e);
    }
  });
  for (const url of ['/v2/systemsharedmemory/unregister', '/v2/systemsharedmemory/region/:region/unregister']) {
    app.post(url, async (req: FastifyRequest<{ Params: { region?: string } }>, reply) => {
      shm.unregister(req.params.region);
      return reply.code(200).send();
    });
  }
  // CUDA shared-memory extension: not supported, answered as a Triton built without GPUs
  // answers (no regions; register fails; unregister, of one region or all, succeeds)
  app.post('/v2/cudasharedmemory/region/:region/register', async (req: FastifyRequest<{ Params: { region: string } }>, reply) => failWith(reply, cudaShmUnsupported(req.params.region)));
  for (const url of ['/v2/cudasharedmemory/unregister', '/v2/cudasharedmemory/region/:region/unregister']) {
    app.post(url, async (_req, reply) => reply.code(200).send());
  }
  for (const url of ['/v2/cudasharedmemory/status', '/v2/cudasharedmemory/region/:region/status']) {
    app.get(url, async (req: FastifyRequest<{ Params: { region?: string } }>, reply) => (req.params.region ? failWith(reply, noCudaRegion(req.params.region)) : []));
  }
  for (const url of ['/v2/systemsharedmemory/status', '/v2/systemsharedmemory/region/:region/status']) {
    app.get(url, async (req: FastifyRequest<{ Params: { region?: string } }>, reply) => {
      try {
        return shm.status(req.params.region).map((r) => ({ name: r.name, key: r.key, offset: r.offset, byte_size: r.byteSize }));
      } catch (e) {
        return failWith(reply, e);
      }
    });
  }

  // Inference: without fastify's logger, the route's onRequest hook takes the request over
  // (tensorrtNodeInferDirect) and the route's handler does not run; it serves when the logger is
  // on (fastify then logs these requests as all others) or the instance has hooks of its own.
  const direct = !options.logger;
  for (const url of both('/infer')) {
    app.post(url, direct ? { onRequest: tensorrtNodeInferDirect } : {}, async (req: FastifyRequest<{ Params: Params }>, reply) => {
      try {
        const answer = await infer(req.params, req.headers, req.body as Buffer | undefined);
        if (answer.blobs.length === 0) return await reply.code(200).type('application/json').send(answer.json);
        return await reply
          .code(200)
          .header('Inference-Header-Content-Length', String(answer.json.length))
          .type('application/octet-stream')
          .send(Buffer.concat([answer.json, ...answer.blobs]));
      } catch (e) {
        return failWith(reply, e);
      }
    });
  }

  /**
   * An inference request served on node's request and response, past fastify's body parsing and
   * reply pipeline (a large share of the main thread's time per request: fastify's content-type
   * parser alone binds an AsyncResource per request). Fastify has routed it (URL
   * decoding, 404, 503 while closing); the answer is what the route's handler would send, byte
   * for byte: the body read by readBody with the same limits, the same headers in the same order
   * (Date, Connection and Keep-Alive are node's, as there), errors as fail() gives them, and a
   * body that cannot be read answered as fastify answers a failed body parser (connection: close).
   */
  function tensorrtNodeInferDirect(req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, done: () => void): void {
    if (!servesAsFastify(req, parseBody)) {
      done(); // hooks, parsers or an error handler added to the instance: fastify's lifecycle runs them
      return;
    }
    reply.hijack();
    const res = reply.raw;
    readBody(req.headers, req.raw, limit, reads, (err, body) => {
      if (err) {
        // what the error handler (setErrorHandler above) answers for it
        const code = (err as Error & { statusCode?: number }).statusCode;
        writeError(res, typeof code === 'number' && code >= 400 ? code : 500, err.message ?? 'internal error', true);
        return;
      }
      infer(req.params, req.headers, body)
        .then(
          (answer) => {
            if (answer.blobs.length === 0) {
              res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(answer.json.length) });
              res.end(answer.json);
            } else {
              const payload = Buffer.concat([answer.json, ...answer.blobs]);
              res.writeHead(200, { 'inference-header-content-length': String(answer.json.length), 'content-type': 'application/octet-stream', 'content-length': String(payload.length) });
              res.end(payload);
            }
          },
          (e: unknown) => writeError(res, httpStatusFor(e), errorMessage(e), false),
        )
        .catch((e: unknown) => writeError(res, 500, errorMessage(e), false));
    });
    done();
  }

  /** The response's JSON and the binary outputs that follow it (none: a JSON response). */
  interface InferAnswer {
    json: Buffer;
    blobs: Buffer[];
  }

  async function infer(params: Params, headers: FastifyRequest['headers'], received: Buffer | undefined): Promise<InferAnswer> {
    const model = repo.getModel(params.model!, params.version);
    const body = received ?? Buffer.alloc(0);
    // binary tensor extension: JSON header first, then the tensors' bytes
    let jsonPart: Buffer = body;
    let binary: Buffer = Buffer.alloc(0);
    const hdr = headers[HEADER_LENGTH];
    if (hdr !== undefined) {
      const s = Array.isArray(hdr) ? hdr[0]! : hdr;
      if (!/^\d+$/.test(s)) throw badRequest(`${HEADER_LENGTH} must be a non-negative integer, got "${s}"`);
      const n = Number(s);
      if (n > body.length) throw badRequest(`${HEADER_LENGTH} ${n} exceeds the body's ${body.length} bytes`);
      jsonPart = body.subarray(0, n);
      binary = body.subarray(n);
    }
    const request = parseJsonBody(jsonPart, false);
    if (!isObject(request)) throw badRequest('inference request must be a JSON object');
    if (!Array.isArray(request.inputs)) throw badRequest('inference request needs an "inputs" array');
    if (request.outputs !== undefined && !Array.isArray(request.outputs)) throw badRequest('"outputs" must be an array');
    checkTensorCounts(model, request.inputs.length, (request.outputs as unknown[] | undefined)?.length ?? 0);
    checkParameters(request.parameters, 'the request');
    const reqParams = (request.parameters ?? {}) as Record<string, unknown>;

    let offset = 0;
    // the shared-memory regions the request reads or writes: checked again once it is done
    const used = new Set<string>();
    const wire: WireInput[] = request.inputs.map((inp: unknown, i: number): WireInput => {
      if (!isObject(inp)) throw badRequest(`input ${i} must be an object`);
      const params = inp.parameters;
      checkParameters(params, `input ${i}`);
      const w: WireInput = { name: inp.name as string, datatype: inp.datatype as string, shape: inp.shape };
      const size = isObject(params) ? params.binary_data_size : undefined;
      const fromShm = shm.inputBytes(isObject(params) ? params : undefined, String(inp.name), used);
      if (fromShm) {
        if (inp.data !== undefined || size !== undefined) throw badRequest(`input "${String(inp.name)}" has both shared memory and data`);
        w.raw = fromShm;
      } else if (size !== undefined) {
        if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw badRequest(`input "${String(inp.name)}": binary_data_size must be a non-negative integer`);
        if (inp.data !== undefined) throw badRequest(`input "${String(inp.name)}" has both "data" and binary_data_size`);
        if (offset + size > binary.length) throw badRequest(`input "${String(inp.name)}": binary_data_size ${size} exceeds the ${binary.length - offset} bytes of binary data left in the body`);
        w.raw = binary.subarray(offset, offset + size);
        offset += size;
      } else {
        if (inp.data === undefined) throw badRequest(`input "${String(inp.name)}" has neither "data" nor binary_data_size`);
        if (!Array.isArray(inp.data)) throw badRequest(`input "${String(inp.name)}": "data" must be an array`);
        w.json = inp.data;
      }
      return w;
    });
    if (offset !== binary.length) throw badRequest(`the body has ${binary.length - offset} bytes of binary data that no input claims`);

    // outputs: which, and in which form
    const defaultBinary = reqParams.binary_data_output === true;
    let outNames: string[] | undefined;
    const binaryOut = new Map<string, boolean>();
    const outShm = new Map<string, SharedMemoryRef>();
    if (request.outputs !== undefined) {
      if (!Array.isArray(request.outputs)) throw badRequest('"outputs" must be an array');
      outNames = request.outputs.map((o: unknown, i: number) => {
        if (!isObject(o) || typeof o.name !== 'string') throw badRequest(`output ${i} must be an object with a name`);
        const p = o.parameters;
        checkParameters(p, `output "${o.name}"`);
        if (isObject(p) && p.classification !== undefined) throw badRequest('the classification extension is not supported');
        if (isObject(p) && p.binary_data !== undefined) binaryOut.set(o.name, p.binary_data === true);
        const ref = shm.outputRef(isObject(p) ? p : undefined, o.name);
        if (ref) {
          outShm.set(o.name, ref);
          used.add(ref.region);
        }
        return o.name;
      });
    }
    const names = requestedOutputs(model, outNames);
    const inputs = buildInputs(model, wire);
    const inferOptions = requestOptions(reqParams, names);
    const buffers = sharedMemoryOutputBuffers(model, inputs, outShm, shm);
    if (buffers) inferOptions.outputBuffers = buffers;
    const result = await model.scheduler.infer(inputs, inferOptions);

    const outputs: Record<string, unknown>[] = [];
    const blobs: Buffer[] = [];
    for (const name of names) {
      const t = result[name];
      if (!t) throw new TensorRtError('ERR_BACKEND', `the model did not produce output "${name}"`);
      const entry: Record<string, unknown> = { name, datatype: kserveOutputDatatype(t), shape: [...t.dims] };
      const ref = outShm.get(name);
      if (ref) {
        // as Triton answers: no data and no parameters (tritonclient's C++ client, perf_analyzer's,
        // reads any output "parameters" as binary data and fails without binary_data_size)
        shm.writeOutput(ref, name, t);
      } else if (binaryOut.get(name) ?? defaultBinary) {
        const b = tensorBytes(t);
        entry.parameters = { binary_data_size: b.length };
        blobs.push(b);
      } else {
        entry.data = tensorJson(t);
      }
      outputs.push(entry);
    }
    if (used.size > 0) shm.checkAfterUse(used);
    const head: Record<string, unknown> = { model_name: model.name, model_version: String(model.version) };
    if (typeof request.id === 'string' && request.id) head.id = request.id;
    return { json: Buffer.from(inferResponseJson(head, outputs)), blobs };
  }

  return app;
}
