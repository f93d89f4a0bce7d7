/**
 * One call to serve a model repository over KServe v2 HTTP and gRPC with Prometheus metrics,
 * the way `tensorrt-node serve` does.
 */
import { isIP, type AddressInfo } from 'node:net';
import type * as http from 'node:http';
import type { Worker } from 'node:worker_threads';
import type { FastifyInstance } from 'fastify';
import { ModelRepository, stderrLogger, type ModelControlMode, type RepositoryLogger } from '../repository/repository.js';
import type { Backend } from '../backends/backend.js';
import type { SchedulerFactory } from '../repository/scheduler-factory.js';
import { createHttpServer } from './http.js';
import { SystemSharedMemory } from './shared-memory.js';
import { startGrpcServer, type GrpcFrontEnd } from './grpc-front-ends.js';
import { createMetricsRegistry, createMetricsServer, type GpuMemoryReport } from './metrics.js';
import { TensorRtError } from '../errors.js';

export { createHttpServer, type HttpServerOptions } from './http.js';
export { SystemSharedMemory, type SharedMemoryRegionStatus, type SharedMemoryMapper, type SharedMemoryMapping, type SystemSharedMemoryOptions } from './shared-memory.js';
export { createGrpcServer, createGrpcHandlers, listenGrpc, closeGrpc, setGrpcFlowControlWindow, setGrpcTimeouts, type GrpcServerOptions, type GrpcHandlers, type GrpcTimeouts } from './grpc.js';
export { REQUEST_LIMITS } from './codec.js';
export { startGrpcServer, autoGrpcWorkers, type GrpcFrontEnd, type StartGrpcOptions } from './grpc-front-ends.js';
export { createMetricsRegistry, createMetricsServer, type MetricsOptions, type GpuMemoryReport } from './metrics.js';

export interface ServeOptions {
  /** the model repository directory */
  modelRepository: string;
  /** default 127.0.0.1 */
  host?: string;
  /** default 8000; 0 picks a free port; false disables HTTP */
  httpPort?: number | false;
  /** default 8001; 0 picks a free port; false disables gRPC */
  grpcPort?: number | false;
  /** default 8002; 0 picks a free port; false disables metrics */
  metricsPort?: number | false;
  /** default 'none' */
  modelControlMode?: ModelControlMode;
  /** explicit mode: models to load at start */
  loadModels?: string[];
  /** poll mode: seconds between rescans (default 15) */
  repositoryPollSecs?: number;
  /** largest HTTP body / gRPC message, bytes (default 64 MiB) */
  maxBodyBytes?: number;
  /** gRPC: HTTP/2 receive window per connection and per stream, bytes (default 16 MiB; see GrpcServerOptions) */
  grpcFlowControlWindowBytes?: number;
  /**
   * gRPC front-end threads (HTTP/2 and protobuf off the main thread); 0 serves gRPC on the main
   * thread. Default 'auto' (1 to 4 by core count; see GrpcServerOptions.workers).
   */
  grpcWorkers?: number | 'auto';
  /**
   * Triton's system shared-memory extension (HTTP and gRPC). A client that may register a region
   * reads and writes, through inference, any POSIX shm object the server's user can open, and
   * sees and unregisters other clients' regions; only clients on the same host have a use for
   * it. 'loopback' (default): on when `host` is a loopback address (127.0.0.0/8, ::1, localhost),
   * off otherwise; 'on', 'off': as said. Behind a proxy on the same host (a service mesh's
   * sidecar), a loopback address takes remote traffic: use 'off' or sharedMemoryKeyPrefixes.
   */
  systemSharedMemory?: 'loopback' | 'on' | 'off';
  /** only shm keys starting with one of these may be registered (default: any key) */
  sharedMemoryKeyPrefixes?: string[];
  /** most shared-memory regions registered at once (default 256) */
  sharedMemoryMaxRegions?: number;
  /** HTTP: a request's headers must arrive within this; gRPC: a new connection's first call must start within this, ms (default 20 000) */
  headersTimeoutMs?: number;
  /** HTTP: a whole request must arrive within this, ms (default 300 000) */
  requestTimeoutMs?: number;
  /** HTTP body or gRPC request message that receives no byte for this long is refused, ms (default 30 000) */
  bodyIdleTimeoutMs?: number;
  backends?: Backend[];
  schedulerFactory?: SchedulerFactory;
  logger?: RepositoryLogger;
  gpuMemory?: () => GpuMemoryReport[];
}

export interface RunningServer {
  repository: ModelRepository;
  /** the system shared-memory regions registered by clients (HTTP and gRPC); `sharedMemory.enabled` says whether the extension is on */
  sharedMemory: SystemSharedMemory;
  host: string;
  /** bound ports (absent when disabled) */
  httpPort?: number;
  grpcPort?: number;
  metricsPort?: number;
  /** gRPC front-end threads serving at start (0: gRPC on the main thread; absent when gRPC is disabled) */
  grpcWorkers?: number;
  /** the gRPC front-end worker threads serving now (monitoring: their heap, resource usage) */
  grpcThreads(): readonly Worker[];
  /** Stop accepting, drain the schedulers, close every listener. Idempotent. */
  close(): Promise<void>;
}

/** Is `host` a loopback address (or localhost)? */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(h) || /^::ffff:127\./.test(h);
  return false;
}

/** Load the repository and start the enabled listeners. On failure everything started is closed. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const shmMode = options.systemSharedMemory ?? 'loopback';
  if (!['loopback', 'on', 'off'].includes(shmMode)) throw new TensorRtError('ERR_INVALID_ARGUMENT', `systemSharedMemory must be 'loopback', 'on' or 'off', not ${JSON.stringify(shmMode)}`);
  const repository = new ModelRepository({
    path: options.modelRepository,
    controlMode: options.modelControlMode ?? 'none',
    ...(options.loadModels ? { loadModels: options.loadModels } : {}),
    pollIntervalMs: (options.repositoryPollSecs ?? 15) * 1000,
    ...(options.backends ? { backends: options.backends } : {}),
    ...(options.schedulerFactory ? { schedulerFactory: options.schedulerFactory } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  let app: FastifyInstance | undefined;
  let grpcFrontEnd: GrpcFrontEnd | undefined;
  let metricsServer: http.Server | undefined;
  // regions registered over HTTP are usable over gRPC and the other way round (as in Triton)
  const sharedMemory = new SystemSharedMemory({
    pin: () => repository.loadedVersions().some((v) => v.config.platform === 'tensorrt_plan'),
    enabled: shmMode === 'on' || (shmMode === 'loopback' && isLoopbackHost(host)),
    ...(options.sharedMemoryKeyPrefixes ? { keyPrefixes: options.sharedMemoryKeyPrefixes } : {}),
    ...(options.sharedMemoryMaxRegions !== undefined ? { maxRegions: options.sharedMemoryMaxRegions } : {}),
  });
  const running: RunningServer = { repository, host, sharedMemory, grpcThreads: () => grpcFrontEnd?.workerThreads() ?? [], close: async () => {} };
  let closing: Promise<void> | undefined;
  running.close = () =>
    (closing ??= (async () => {
      // stop accepting first; requests in flight finish while the schedulers drain
      const stops: Promise<unknown>[] = [];
      if (grpcFrontEnd) stops.push(grpcFrontEnd.close());
      if (app) stops.push(app.close());
      stops.push(repository.close());
      await Promise.allSettled(stops);
      if (metricsServer) {
        const m = metricsServer;
        await new Promise<void>((r) => m.close(() => r()));
        m.closeAllConnections?.();
      }
    })());
  try {
    await repository.start();
    const maxBody = options.maxBodyBytes ?? 64 * 1024 * 1024;
    if (options.httpPort !== false) {
      app = await createHttpServer({
        repository,
        maxBodyBytes: maxBody,
        sharedMemory,
        ...(options.headersTimeoutMs !== undefined ? { headersTimeoutMs: options.headersTimeoutMs } : {}),
        ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
        ...(options.bodyIdleTimeoutMs !== undefined ? { bodyIdleTimeoutMs: options.bodyIdleTimeoutMs } : {}),
      });
      await app.listen({ host, port: options.httpPort ?? 8000 });
      running.httpPort = (app.server.address() as AddressInfo).port;
    }
    if (options.grpcPort !== false) {
      grpcFrontEnd = await startGrpcServer({
        repository,
        host,
        port: options.grpcPort ?? 8001,
        maxMessageBytes: maxBody,
        ...(options.grpcFlowControlWindowBytes !== undefined ? { flowControlWindowBytes: options.grpcFlowControlWindowBytes } : {}),
        ...(options.grpcWorkers !== undefined ? { workers: options.grpcWorkers } : {}),
        ...(options.bodyIdleTimeoutMs !== undefined ? { requestIdleTimeoutMs: options.bodyIdleTimeoutMs } : {}),
        ...(options.headersTimeoutMs !== undefined ? { firstCallTimeoutMs: options.headersTimeoutMs } : {}),
        logger: options.logger ?? stderrLogger,
        sharedMemory,
      });
      running.grpcPort = grpcFrontEnd.port;
      running.grpcWorkers = grpcFrontEnd.threads;
    }
    if (options.metricsPort !== false) {
      const registry = createMetricsRegistry({ repository, ...(options.gpuMemory ? { gpuMemory: options.gpuMemory } : {}) });
      const srv = createMetricsServer(registry);
      metricsServer = srv;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ port: options.metricsPort === undefined ? 8002 : options.metricsPort, host }, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      running.metricsPort = (srv.address() as AddressInfo).port;
    }
  } catch (e) {
    await running.close();
    throw e;
  }
  return running;
}
