/**
 * The hostile suite's tools: the server in a child process (server-child.mjs) with its memory read
 * from /proc, clients that send what a hostile client sends (raw HTTP paths and bytes, raw gRPC
 * messages, raw HTTP/2 streams), and the tally of outcomes the suite prints at the end.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const CHILD = path.join(__dirname, 'server-child.mjs');
export const PROTO = path.resolve(__dirname, '../../../proto');

export interface ProcMemory {
  /** resident set now, bytes */
  rss: number;
  /** peak resident set since the process started or the last resetPeak(), bytes */
  peak: number;
  /** virtual size, bytes */
  virtual: number;
}

/** A server started with startServer(options) in a child process. */
export class ChildServer {
  httpPort = 0;
  grpcPort = 0;
  sharedMemory = false;
  /** set when the process ended (code or signal) */
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stderr = '';
  private nextId = 0;
  private readonly replies = new Map<number, (m: NodeJS.MemoryUsage) => void>();

  private constructor(private readonly child: ChildProcess) {
    child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 4_000_000) this.stderr += d.toString();
    });
    child.stdout!.resume();
    child.on('exit', (code, signal) => {
      this.exited = { code, signal };
    });
    child.on('message', (m: { kind: string; id?: number } & NodeJS.MemoryUsage) => {
      if (m.kind === 'memory') this.replies.get(m.id!)?.(m);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Start it; rejects when it fails or is not ready within `readyMs`. */
  static start(options: Record<string, unknown>, readyMs = 60_000): Promise<ChildServer> {
    const child = fork(CHILD, [JSON.stringify(options)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const server = new ChildServer(child);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the server was not ready within ${readyMs} ms; stderr: ${server.stderr.slice(-2000)}`));
      }, readyMs);
      child.on('message', (m: { kind: string; httpPort?: number; grpcPort?: number; sharedMemory?: boolean; message?: string }) => {
        if (m.kind === 'ready') {
          clearTimeout(timer);
          server.httpPort = m.httpPort ?? 0;
          server.grpcPort = m.grpcPort ?? 0;
          server.sharedMemory = m.sharedMemory ?? false;
          resolve(server);
        } else if (m.kind === 'failed') {
          clearTimeout(timer);
          reject(new Error(`the server failed to start: ${m.message}`));
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the server exited before it was ready (code ${code}, signal ${signal}); stderr: ${server.stderr.slice(-2000)}`));
      });
    });
  }

  /** process.memoryUsage() of the server, after two garbage collections when `gc`. */
  memoryUsage(gc = false, timeoutMs = 10_000): Promise<NodeJS.MemoryUsage> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(id);
        reject(new Error('the server did not answer a memory query'));
      }, timeoutMs);
      this.replies.set(id, (m) => {
        clearTimeout(timer);
        this.replies.delete(id);
        resolve(m);
      });
      this.child.send({ kind: 'memory', id, gc });
    });
  }

  /** RSS, peak RSS and virtual size from /proc. */
  proc(): ProcMemory {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM'), virtual: kb('VmSize') };
  }

  /** Start measuring the peak RSS from now (Linux: clear_refs 5 resets VmHWM to the current RSS). */
  resetPeak(): void {
    writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ kind: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// outcomes

/** What a request got: an answer (HTTP status or gRPC code), a broken connection, or nothing in time. */
export interface Outcome {
  /** HTTP status */
  status?: number;
  /** gRPC status code */
  code?: number;
  /** the error text of the answer ({"error": ...} or gRPC details) */
  message?: string;
  /** the HTTP body is {"error": string} (or empty for a success without body) */
  errorShape?: boolean;
  body?: Buffer;
  json?: any;
  /** the connection broke without an answer */
  broken?: string;
  /** no answer within the case's time limit */
  hung?: boolean;
  ms?: number;
}

/** Counts over every case of the suite. */
export class Tally {
  tried = 0;
  /** refused with the protocol's status and a message saying why */
  clearErrors = 0;
  /** served as they should be (the boundary cases, and the correct inferences after each case) */
  served = 0;
  crashes = 0;
  hangs = 0;
  /** requests that ended without any answer where one was due */
  lost = 0;
  /** the largest RSS rise over the pre-case RSS under the amplification cases, bytes */
  amplificationPeak = 0;
  amplificationBaseline = 0;
  rssBaseline = 0;
  rssAfter = 0;
  /** after a second and a third round of the heaviest cases (GC'd) */
  rssSecondRound = 0;
  rssThirdRound = 0;
  /** heapUsed + external (array buffers included) of the server, after GC */
  jsBaseline = 0;
  jsAfter = 0;
  readonly failures: string[] = [];

  summary(): string {
    const mb = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MB`;
    return (
      `hostile suite: ${this.tried} cases tried, ${this.clearErrors} clear errors, ${this.served} served correctly, ` +
      `crashes ${this.crashes}, hangs ${this.hangs}, requests lost ${this.lost}, ` +
      `peak RSS under amplification ${mb(this.amplificationBaseline + this.amplificationPeak)} (+${mb(this.amplificationPeak)} over ${mb(this.amplificationBaseline)}), ` +
      `RSS ${mb(this.rssBaseline)} before the cases, ${mb(this.rssAfter)} after them, ${mb(this.rssSecondRound)} and ${mb(this.rssThirdRound)} after a second and a third round of the heaviest (GC'd; JS heap + external ${mb(this.jsBaseline)} → ${mb(this.jsAfter)})` +
      (this.failures.length ? `; ${this.failures.length} failed: ${this.failures.join(' | ')}` : '')
    );
  }
}

/** Does an error text reveal the absolute path `dir`? */
export function revealsPath(text: string | undefined, dir: string): boolean {
  return text !== undefined && text.includes(dir);
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface HttpRequest {
  method?: string;
  /** sent as is: no normalisation of "..", "%2F" and the like */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  timeoutMs?: number;
}

function parseHttpAnswer(status: number, body: Buffer, start: number): Outcome {
  const out: Outcome = { status, body, ms: performance.now() - start };
  const text = body.toString();
  try {
    out.json = text ? JSON.parse(text) : undefined;
  } catch {
    out.json = undefined;
  }
  out.errorShape = text === '' || (typeof out.json === 'object' && out.json !== null && typeof out.json.error === 'string' && Object.keys(out.json).length === 1);
  if (typeof out.json?.error === 'string') out.message = out.json.error;
  return out;
}

/** One request on its own connection. */
export function httpRequest(port: number, req: HttpRequest): Promise<Outcome> {
  const start = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const settle = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
    if (body !== undefined && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) headers['content-length'] = String(body.length);
    const r = http.request({ host: '127.0.0.1', port, method: req.method ?? 'GET', path: req.path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => settle(parseHttpAnswer(res.statusCode ?? 0, Buffer.concat(chunks), start)));
      res.on('error', (e) => settle({ broken: e.message }));
    });
    const timer = setTimeout(() => {
      r.destroy();
      settle({ hung: true });
    }, req.timeoutMs ?? 20_000);
    r.on('error', (e) => settle({ broken: e.message }));
    if (body !== undefined) r.end(body);
    else r.end();
  });
}

/**
 * Raw bytes on a socket: `parts` written in order with `gapMs` between them (0: together), then
 * the answer read until the server closes or `timeoutMs` passes. For requests no HTTP client would
 * send (lying lengths, stalls, oversized headers).
 */
export function rawHttp(port: number, parts: Array<Buffer | string>, options: { gapMs?: number; timeoutMs?: number; keepOpen?: boolean } = {}): Promise<Outcome> {
  const start = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const all = Buffer.concat(chunks);
      const head = /^HTTP\/1\.1 (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n/.exec(all.toString('latin1'));
      if (!head) return resolve(all.length ? { broken: `no HTTP answer: ${all.toString().slice(0, 80)}` } : { hung: performance.now() - start >= (options.timeoutMs ?? 20_000) - 5, broken: 'closed without an answer' });
      const bodyStart = head[0].length;
      const len = /content-length:\s*(\d+)/i.exec(head[2]!);
      const body = all.subarray(bodyStart, len ? bodyStart + Number(len[1]) : all.length);
      resolve(parseHttpAnswer(Number(head[1]), body, start));
    };
    const timer = setTimeout(settle, options.timeoutMs ?? 20_000);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // one complete answer is all a case needs
      const text = Buffer.concat(chunks).toString('latin1');
      const head = /^HTTP\/1\.1 \d{3}[^\r\n]*\r\n([\s\S]*?)\r\n\r\n/.exec(text);
      const len = head ? /content-length:\s*(\d+)/i.exec(head[1]!) : null;
      if (head && len && Buffer.byteLength(text, 'latin1') >= head[0].length + Number(len[1])) settle();
    });
    socket.on('close', settle);
    socket.on('error', () => settle());
    socket.on('connect', async () => {
      for (const p of parts) {
        if (socket.destroyed) return;
        socket.write(p);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
      if (!options.keepOpen) socket.end();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// gRPC

const SERVICE = '/inference.GRPCInferenceService/';

/** The KServe v2 gRPC client (proto-loader) and a raw one that sends bytes as they are. */
export class GrpcClients {
  readonly typed: any;
  readonly raw: grpc.Client;

  constructor(port: number) {
    const def = protoLoader.loadSync(path.join(PROTO, 'grpc_service.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO] });
    const pkg = grpc.loadPackageDefinition(def) as any;
    const options = { 'grpc.max_send_message_length': 256 * 2 ** 20, 'grpc.max_receive_message_length': 256 * 2 ** 20 };
    this.typed = new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
    this.raw = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
  }

  call(method: string, request: unknown, timeoutMs = 20_000): Promise<Outcome> {
    const start = performance.now();
    return new Promise((resolve) => {
      this.typed[method](request, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: unknown) => resolve(grpcOutcome(err, res, start)));
    });
  }

  /** `bytes` as the request message of `method`. */
  callRaw(method: string, bytes: Buffer, timeoutMs = 20_000): Promise<Outcome> {
    const start = performance.now();
    return new Promise((resolve) => {
      this.raw.makeUnaryRequest(
        SERVICE + method,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: Buffer) => resolve(grpcOutcome(err, res, start)),
      );
    });
  }

  close(): void {
    this.typed.close();
    this.raw.close();
  }
}

function grpcOutcome(err: grpc.ServiceError | null, res: unknown, start: number): Outcome {
  const ms = performance.now() - start;
  if (!err) return { code: 0, json: res, ms };
  if (err.code === grpc.status.DEADLINE_EXCEEDED && /Deadline exceeded/.test(err.details)) return { hung: true, code: err.code, message: err.details, ms };
  // a connection that broke: grpc-js reports UNAVAILABLE or INTERNAL with no status from the server
  if (/Connection dropped|Received RST_STREAM|ECONNRESET|No connection established|socket hang up/i.test(err.details)) return { broken: err.details, code: err.code, ms };
  return { code: err.code, message: err.details, ms };
}

/**
 * A ModelInfer call on a raw HTTP/2 stream whose message announces `announced` bytes and sends
 * only `sent` of them, then nothing: how long until the server ends it, and with what.
 */
export function stalledGrpcCall(port: number, announced: number, sent: number, timeoutMs: number): Promise<{ session: http2.ClientHttp2Session; ended: Promise<Outcome> }> {
  const start = performance.now();
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const stream = session.request({ ':method': 'POST', ':path': `${SERVICE}ModelInfer`, 'content-type': 'application/grpc', te: 'trailers' });
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(announced, 1);
  stream.write(Buffer.concat([prefix, Buffer.alloc(sent, 0x0a)]));
  const ended = new Promise<Outcome>((resolve) => {
    let status: number | undefined;
    let message: string | undefined;
    const timer = setTimeout(() => resolve({ hung: true }), timeoutMs);
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) {
        status = Number(h['grpc-status']);
        message = decodeURIComponent(String(h['grpc-message'] ?? ''));
      }
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('error', () => {});
    stream.on('data', () => {});
    stream.on('close', () => {
      clearTimeout(timer);
      resolve(status !== undefined ? { code: status, message: message ?? '', ms: performance.now() - start } : { broken: `stream closed (RST ${stream.rstCode})`, ms: performance.now() - start });
    });
  });
  return Promise.resolve({ session, ended });
}
