/**
 * gRPC served from worker threads. The main thread owns the listening socket; each accepted
 * connection's descriptor is duplicated (the native addon's dupFd) and handed to the front-end
 * thread with the fewest connections, which does HTTP/2 and protobuf (grpc-worker.ts) and
 * forwards each call to the main thread, where the same handlers as the in-thread server run
 * (createBridgedGrpcHandlers). The main thread thus spends per call a share of a postMessage
 * each way (calls and answers travel in batches, grpc-bridge.ts) instead of the HTTP/2 framing
 * and protobuf decoding of the whole message, which for large tensors costs the main thread far
 * more per call than the inference's scheduling does.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';
import { TensorRtError } from '../errors.js';
import { loadNative } from '../native/binding.js';
import type { RepositoryLogger } from '../repository/repository.js';
import { errorMessage, grpcStatusFor } from './codec.js';
import {
  DEFAULT_FLOW_CONTROL_WINDOW,
  DEFAULT_MAX_MESSAGE_BYTES,
  GRPC_METHODS,
  checkFlowControlWindow,
  checkGrpcTimeouts,
  closeGrpc,
  createBridgedGrpcHandlers,
  createGrpcServer,
  findProtoDir,
  listenGrpc,
  setGrpcFlowControlWindow,
  setGrpcTimeouts,
  type GrpcHandlers,
  type GrpcMethod,
  type GrpcServerOptions,
} from './grpc.js';
import { SystemSharedMemory } from './shared-memory.js';
import { CALL_FIELDS, MessageBatcher, RAW_INPUTS, RAW_OUTPUTS, bytesBackToBuffers, moveBytesOut, type BridgedError, type FromWorker, type GrpcWorkerData, type ToWorker } from './grpc-bridge.js';

/**
 * Front-end threads for `workers: 'auto'`: a quarter of the cores, at least 1 and at most 4.
 * The main thread (batcher, handlers), the backends' own threads (TensorRT launch threads,
 * ONNX Runtime's pool) and libuv's pool need the rest; one thread decodes roughly 1-2k
 * ResNet-50-sized (600 KB) requests per second, so 4 cover what one GPU's batcher sustains.
 */
export function autoGrpcWorkers(): number {
  return Math.min(4, Math.max(1, Math.floor(os.availableParallelism() / 4)));
}

/** How long a front-end thread may take to load grpc-js and the proto. */
const WORKER_START_TIMEOUT_MS = 30_000;
/** Grace for a draining worker to answer, beyond the drain's own grace period. */
const DRAIN_ANSWER_SLACK_MS = 2_000;

/**
 * The worker entry, built by tsup next to the bundles (dist/server/grpc-worker.{js,cjs}): from
 * dist/index.* it is in ./server, from dist/cli/main.* in ../server, and from the TypeScript
 * sources (tests) in <root>/dist/server (npm test builds first). The bundle's own format first.
 */
export function grpcWorkerEntry(): string {
  const here = typeof __dirname === 'string' ? __dirname : path.dirname(fileURLToPath(import.meta.url));
  const exts = typeof module === 'object' && typeof require === 'function' ? ['.cjs', '.js'] : ['.js', '.cjs'];
  const dirs = [path.join(here, 'server'), path.join(here, '..', 'server'), path.join(here, '..', '..', 'dist', 'server')];
  for (const dir of dirs) {
    for (const ext of exts) {
      const file = path.join(dir, `grpc-worker${ext}`);
      if (fs.existsSync(file)) return file;
    }
  }
  throw new TensorRtError('ERR_CONFIG', `the gRPC worker entry (server/grpc-worker.js) was not found near ${here}; run \`npm run build:ts\``);
}

interface FrontEndThread {
  worker: Worker;
  /** the answers to this thread's calls, posted together (see dispatch) */
  replies: MessageBatcher;
  /** it has loaded grpc-js and the proto: connections may go to it */
  ready: boolean;
  connections: number;
  /** set once the worker has exited (or been told to): no more connections go to it */
  gone: boolean;
  drained?: () => void;
}

interface FrontEndOptions {
  /** the main thread's handlers for the calls forwarded (createBridgedGrpcHandlers) */
  handlers: GrpcHandlers;
  threads: number;
  workerData: GrpcWorkerData;
  logger: RepositoryLogger;
  dupFd: (fd: number) => number;
  /** an in-thread server for connections that arrive while no front-end thread is alive */
  fallback: () => grpc.Server;
}

/**
 * A gRPC endpoint: either today's in-thread grpc-js server (`threads` 0) or the listening
 * socket plus front-end threads. close() stops accepting, lets calls in flight finish (forced
 * after the grace period) and resolves once everything is shut.
 */
export interface GrpcFrontEnd {
  /** the bound port */
  readonly port: number;
  /** front-end threads serving now (0: gRPC runs on the main thread) */
  readonly threads: number;
  /** the front-end worker threads (monitoring and tests) */
  workerThreads(): readonly Worker[];
  close(graceMs?: number): Promise<void>;
}

/** A handler's error as the worker passes it to grpc-js: status code and details. */
function bridgedError(e: unknown): BridgedError {
  return { code: grpcStatusFor(e), details: errorMessage(e) };
}

/** Queue a call's response, its output bytes moved (transferred), its input buffers handed back. */
function answer(replies: MessageBatcher, id: number, response: unknown, inputs: ArrayBuffer[]): void {
  let moved: ArrayBuffer[];
  try {
    moved = moveBytesOut(response, RAW_OUTPUTS);
  } catch (e) {
    replies.add(id, false, { code: 13, details: `the answer could not be passed to the gRPC front-end thread: ${errorMessage(e)}` } satisfies BridgedError);
    return;
  }
  replies.add(id, true, response, moved, inputs);
}

class WorkerFrontEnd implements GrpcFrontEnd {
  private pool: FrontEndThread[] = [];
  private readonly listener: net.Server;
  private fallbackServer: grpc.Server | undefined;
  private fallbackInjector: grpc.ConnectionInjector | undefined;
  private closing: Promise<void> | undefined;
  port = 0;

  constructor(private readonly options: FrontEndOptions) {
    this.listener = net.createServer({ pauseOnConnect: true }, (socket) => this.route(socket));
  }

  private serving(): FrontEndThread[] {
    return this.pool.filter((t) => t.ready && !t.gone);
  }

  get threads(): number {
    return this.serving().length;
  }

  workerThreads(): readonly Worker[] {
    return this.serving().map((t) => t.worker);
  }

  /** Start the threads, then listen. Rejects (with everything stopped) if a thread fails to start. */
  async start(host: string, port: number): Promise<void> {
    const started = await Promise.allSettled(Array.from({ length: this.options.threads }, () => this.spawn()));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await this.close(0);
      throw failed.reason;
    }
    await new Promise<void>((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen({ host, port }, () => {
        this.listener.off('error', reject);
        resolve();
      });
    }).catch(async (e: unknown) => {
      await this.close(0);
      throw e;
    });
    this.port = (this.listener.address() as net.AddressInfo).port;
  }

  private spawn(): Promise<void> {
    const worker = new Worker(grpcWorkerEntry(), { workerData: this.options.workerData });
    const replies = new MessageBatcher((items, transfer, returned) => this.postReplies(worker, items, transfer, returned), process.nextTick);
    const thread: FrontEndThread = { worker, replies, ready: false, connections: 0, gone: false };
    this.pool.push(thread);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new TensorRtError('ERR_TIMEOUT', `a gRPC front-end thread did not start within ${WORKER_START_TIMEOUT_MS} ms`));
        void worker.terminate();
      }, WORKER_START_TIMEOUT_MS);
      worker.on('message', (message: FromWorker) => {
        switch (message.kind) {
          case 'ready':
            thread.ready = true;
            clearTimeout(timer);
            resolve();
            break;
          case 'calls':
            this.dispatch(thread, message.calls);
            break;
          case 'connection-closed':
            thread.connections--;
            break;
          case 'drained':
            thread.drained?.();
            break;
        }
      });
      worker.on('error', (e) => {
        if (!thread.ready) reject(new TensorRtError('ERR_CONFIG', `a gRPC front-end thread failed to start: ${errorMessage(e)}`, undefined, { cause: e }));
        else this.options.logger.error(`gRPC front-end thread ${worker.threadId} failed: ${errorMessage(e)}`);
      });
      worker.on('exit', (code) => {
        clearTimeout(timer);
        const unexpected = !thread.gone && this.closing === undefined;
        thread.gone = true;
        thread.drained?.();
        this.pool = this.pool.filter((t) => t !== thread);
        if (!thread.ready) {
          reject(new TensorRtError('ERR_CONFIG', `a gRPC front-end thread exited (code ${code}) before it started`));
          return;
        }
        if (!unexpected) return;
        // its calls in flight fail on the client side (the connection closed with the thread)
        this.options.logger.error(`gRPC front-end thread ${worker.threadId} exited (code ${code}) with ${thread.connections} connection(s); starting a replacement`);
        this.spawn().catch((e: unknown) => this.options.logger.error(`gRPC: no replacement front-end thread (${errorMessage(e)}); ${this.threads} left${this.threads === 0 ? ', new connections are served on the main thread' : ''}`));
      });
    });
  }

  /** Hand a new connection to the thread with the fewest, or to the in-thread fallback if none is alive. */
  private route(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    let target: FrontEndThread | undefined;
    for (const t of this.serving()) if (!target || t.connections < target.connections) target = t;
    if (!target) {
      this.fallbackConnection(socket);
      return;
    }
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    let dup: number;
    try {
      if (typeof fd !== 'number') throw new TensorRtError('ERR_INVALID_ARGUMENT', 'the accepted socket has no descriptor');
      dup = this.options.dupFd(fd);
    } catch (e) {
      this.options.logger.warn(`gRPC: could not hand a connection to a front-end thread (${errorMessage(e)}); serving it on the main thread`);
      this.fallbackConnection(socket);
      return;
    }
    // the duplicate keeps the connection open once this thread's handle closes (close(2), no
    // shutdown). From here the worker owns it; should the worker die before adopting it, the
    // descriptor stays open (closing it here could close a reused number) and the client times out.
    socket.destroy();
    target.connections++;
    target.worker.postMessage({ kind: 'connection', fd: dup } satisfies ToWorker);
  }

  private fallbackConnection(socket: net.Socket): void {
    if (!this.fallbackInjector) {
      this.fallbackServer = this.options.fallback();
      this.fallbackInjector = this.fallbackServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
      setGrpcFlowControlWindow(this.fallbackServer, this.options.workerData.flowControlWindowBytes);
      setGrpcTimeouts(this.fallbackServer, this.options.workerData.timeouts);
    }
    socket.resume();
    this.fallbackInjector.injectConnection(socket);
  }

  /**
   * Run forwarded calls on this thread. Each answer is queued on the thread's reply batcher, with
   * the call's input buffers when it succeeded: the scheduler has then finished with them (the
   * Tensors over them are garbage), and the worker reuses them for later calls. The batcher posts
   * what is queued once the current macrotask and its microtasks are done (process.nextTick), so
   * the answers of a batch of inferences that settle together go back in one message.
   */
  private dispatch(thread: FrontEndThread, calls: unknown[]): void {
    const { handlers, workerData } = this.options;
    for (let i = 0; i < calls.length; i += CALL_FIELDS) {
      const id = calls[i] as number;
      const request = calls[i + 2];
      // the worker serves only GRPC_METHODS (its workerData), each of which has a handler
      const handler = handlers[workerData.methods[calls[i + 1] as number] as GrpcMethod];
      const inputs = bytesBackToBuffers(request, RAW_INPUTS);
      let result: unknown;
      try {
        result = handler(request);
      } catch (e) {
        thread.replies.add(id, false, bridgedError(e));
        continue;
      }
      if (result instanceof Promise) {
        result.then(
          (response: unknown) => answer(thread.replies, id, response, inputs),
          (e: unknown) => thread.replies.add(id, false, bridgedError(e)),
        );
      } else answer(thread.replies, id, result, inputs);
    }
  }

  /** Post a batch of answers; should that fail (an answer that cannot be cloned), each alone, so that every call still ends. */
  private postReplies(worker: Worker, replies: unknown[], transfer: ArrayBuffer[], returned: ArrayBuffer[]): void {
    try {
      worker.postMessage({ kind: 'replies', replies, returned } satisfies ToWorker, transfer);
      return;
    } catch {
      // below, one at a time
    }
    for (let i = 0; i < replies.length; i += CALL_FIELDS) {
      const one = replies.slice(i, i + CALL_FIELDS);
      try {
        // the transfer list is not split by answer: buffers not moved are cloned (and garbage afterwards)
        worker.postMessage({ kind: 'replies', replies: one, returned: [] } satisfies ToWorker);
      } catch (e) {
        const error: BridgedError = { code: 13, details: `the answer could not be passed to the gRPC front-end thread: ${errorMessage(e)}` };
        worker.postMessage({ kind: 'replies', replies: [one[0], false, error], returned: [] } satisfies ToWorker);
      }
    }
  }

  close(graceMs = 10_000): Promise<void> {
    return (this.closing ??= (async () => {
      const listening = new Promise<void>((resolve) => {
        if (!this.listener.listening) resolve();
        else this.listener.close(() => resolve());
      });
      const drains = this.pool.map((t) => this.drain(t, graceMs));
      if (this.fallbackServer) drains.push(closeGrpc(this.fallbackServer, graceMs));
      await Promise.all([listening, ...drains]);
    })());
  }

  /** Let the thread finish its calls (it forces them after graceMs), then end it. */
  private async drain(thread: FrontEndThread, graceMs: number): Promise<void> {
    if (!thread.gone) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs + DRAIN_ANSWER_SLACK_MS);
        thread.drained = () => {
          clearTimeout(timer);
          resolve();
        };
        thread.worker.postMessage({ kind: 'drain', graceMs } satisfies ToWorker);
      });
    }
    thread.gone = true;
    await thread.worker.terminate();
  }
}

export interface StartGrpcOptions extends GrpcServerOptions {
  host: string;
  /** 0 picks a free port */
  port: number;
  /** where a fallback to the in-thread server and front-end thread failures are reported */
  logger: RepositoryLogger;
}

/** The number of front-end threads that `workers` asks for. */
export function grpcWorkerCount(workers: GrpcServerOptions['workers']): number {
  const n = workers === undefined || workers === 'auto' ? autoGrpcWorkers() : workers;
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new TensorRtError('ERR_INVALID_ARGUMENT', `gRPC workers must be 'auto' or an integer in [0, 64], got ${String(workers)}`);
  return n;
}

/**
 * Serve gRPC on host:port with `options.workers` front-end threads (default 'auto'), or on the
 * main thread (workers 0, or when threads cannot be used: no native addon for dupFd, or a
 * thread that fails to start; the logger says why).
 */
export async function startGrpcServer(options: StartGrpcOptions): Promise<GrpcFrontEnd> {
  const threads = grpcWorkerCount(options.workers);
  const protoDir = options.protoDir ?? findProtoDir();
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const flowControlWindowBytes = checkFlowControlWindow(options.flowControlWindowBytes ?? DEFAULT_FLOW_CONTROL_WINDOW);
  const timeouts = checkGrpcTimeouts(options);
  // one registry for the threads' calls and the in-thread fallback's
  const sharedMemory = options.sharedMemory ?? new SystemSharedMemory({ enabled: false });
  const inThreadServer = (): grpc.Server =>
    createGrpcServer({ ...options, protoDir, maxMessageBytes, flowControlWindowBytes, requestIdleTimeoutMs: timeouts.requestIdleMs, firstCallTimeoutMs: timeouts.firstCallMs, sharedMemory });
  if (threads > 0) {
    let dupFd: ((fd: number) => number) | undefined;
    try {
      const native = loadNative();
      if (typeof native.dupFd !== 'function') throw new TensorRtError('ERR_NATIVE_NOT_BUILT', 'the native addon has no dupFd (built before it was added): rebuild it with `npm run build:native`');
      dupFd = (fd) => native.dupFd(fd);
    } catch (e) {
      options.logger.warn(`gRPC front-end threads need the native addon (${errorMessage(e).split('\n')[0]}); serving gRPC on the main thread`);
    }
    if (dupFd) {
      const frontEnd = new WorkerFrontEnd({
        handlers: createBridgedGrpcHandlers(options.repository, sharedMemory),
        threads,
        workerData: {
          protoDir,
          methods: GRPC_METHODS satisfies readonly GrpcMethod[],
          maxMessageBytes,
          flowControlWindowBytes,
          timeouts,
        },
        logger: options.logger,
        dupFd,
        fallback: inThreadServer,
      });
      try {
        await frontEnd.start(options.host, options.port);
        return frontEnd;
      } catch (e) {
        if (e instanceof Error && 'code' in e && (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL')) throw e;
        options.logger.warn(`gRPC front-end threads could not start (${errorMessage(e)}); serving gRPC on the main thread`);
      }
    }
  }
  const server = inThreadServer();
  const port = await listenGrpc(server, options.host, options.port);
  return { port, threads: 0, workerThreads: () => [], close: (graceMs?: number) => closeGrpc(server, graceMs) };
}
