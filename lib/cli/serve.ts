/**
 * `tensorrt-node serve`: a Triton model repository over KServe v2 HTTP and gRPC, with Prometheus
 * metrics. Takes tritonserver's common flags as tritonserver does (`--model-store=/mnt/models`,
 * `--allow-grpc=true`, `--exit-on-error=false` …), so a Triton command line or a KServe
 * ServingRuntime written for Triton mostly carries over; the tritonserver flags it cannot honour
 * are refused with the reason and a pointer (docs/migration.md#tritonserver-flags), never
 * silently ignored.
 */
import { promises as fs } from 'node:fs';
import { Option, type Command } from 'commander';
import type { ModelControlMode } from '../repository/repository.js';
import type { RunningServer } from '../server/index.js';
import { UsageError, errorLines, intArg, parseBool, type CliCommand, type CliContext } from './command.js';

const POINTER = 'docs/migration.md#tritonserver-flags';

/** Loopback unless asked: the server has no authentication, and it lets clients load and unload models and register shared memory. */
export const DEFAULT_HOST = '127.0.0.1';

interface ServeFlags {
  modelRepository?: string[];
  modelStore?: string[];
  httpPort: number;
  grpcPort: number;
  metricsPort: number;
  host?: string;
  httpAddress?: string;
  grpcAddress?: string;
  metricsAddress?: string;
  http: boolean;
  grpc: boolean;
  metrics: boolean;
  allowHttp: boolean;
  allowGrpc: boolean;
  allowMetrics: boolean;
  modelControlMode: ModelControlMode;
  loadModel: string[];
  repositoryPollSecs: number;
  strictModelConfig: boolean;
  strictReadiness: boolean;
  exitOnError: boolean;
  exitTimeoutSecs: number;
  logVerbose: number;
  logInfo: boolean;
  logWarning: boolean;
  logError: boolean;
  maxBodyBytes: number;
  grpcWorkers: number | 'auto';
}

/**
 * tritonserver flags that tensorrt-node does not implement, with why. Those marked `offOk` turn a
 * feature on; asking for it off (`--allow-sagemaker=false`) is what tensorrt-node does anyway and
 * is accepted.
 */
const TRITON_ONLY: ReadonlyArray<{ flags: readonly string[]; why: string; offOk?: boolean }> = [
  { flags: ['--backend-config', '--backend-directory', '--repoagent-directory'], why: 'its two backends (TensorRT, ONNX Runtime) are built in and take their settings from config.pbtxt' },
  { flags: ['--pinned-memory-pool-byte-size', '--cuda-memory-pool-byte-size', '--cuda-virtual-address-size'], why: 'memory is allocated per model instance, sized from the engine, not from a pool' },
  { flags: ['--rate-limit', '--rate-limit-resource'], why: 'there is no rate limiter; instances run batches as the dynamic batcher forms them' },
  { flags: ['--cache-config', '--cache-directory', '--response-cache-byte-size'], why: 'there is no response cache' },
  { flags: ['--trace-config', '--trace-file', '--trace-level', '--trace-rate', '--trace-count', '--trace-log-frequency'], why: 'there is no request tracing; per-model statistics are at /v2/models/<name>/stats and /metrics' },
  { flags: ['--allow-sagemaker', '--allow-vertex-ai'], why: 'it speaks KServe v2 HTTP and gRPC only', offOk: true },
  { flags: ['--sagemaker-port', '--sagemaker-safe-port-range', '--sagemaker-thread-count', '--vertex-ai-port', '--vertex-ai-thread-count', '--vertex-ai-default-model'], why: 'it speaks KServe v2 HTTP and gRPC only' },
  { flags: ['--grpc-use-ssl', '--grpc-use-ssl-mutual'], why: 'it serves plain HTTP/2: terminate TLS in front of it (an ingress, a service mesh or a proxy)', offOk: true },
  { flags: ['--grpc-server-cert', '--grpc-server-key', '--grpc-root-cert'], why: 'it serves plain HTTP/2: terminate TLS in front of it (an ingress, a service mesh or a proxy)' },
  { flags: ['--allow-gpu-metrics', '--allow-cpu-metrics'], why: 'its metrics are the inference metrics and GPU memory; there is no separate switch', offOk: true },
  { flags: ['--metrics-interval-ms', '--metrics-config'], why: 'metrics are computed when /metrics is scraped' },
  {
    flags: [
      '--grpc-keepalive-time',
      '--grpc-keepalive-timeout',
      '--grpc-keepalive-permit-without-calls',
      '--grpc-http2-max-pings-without-data',
      '--grpc-http2-min-recv-ping-interval-without-data',
      '--grpc-http2-max-ping-strikes',
      '--grpc-infer-allocation-pool-size',
      '--grpc-max-response-pool-size',
      '--grpc-infer-response-compression-level',
      '--grpc-restricted-protocol',
      '--http-restricted-api',
      '--grpc-header-forward-pattern',
      '--http-header-forward-pattern',
    ],
    why: 'its gRPC and HTTP settings are --grpc-workers and --max-body-bytes',
  },
  { flags: ['--http-thread-count', '--buffer-manager-thread-count', '--model-load-thread-count', '--host-policy'], why: 'HTTP and model loading run on the main thread; gRPC front-end threads are --grpc-workers' },
  { flags: ['--model-load-retry-count', '--model-namespacing', '--model-config-name', '--min-supported-compute-capability'], why: 'it has no such setting' },
  { flags: ['--disable-auto-complete-config'], why: 'it always completes a model configuration from the model file (Triton\'s --strict-model-config=false)' },
  { flags: ['--log-format', '--log-file'], why: 'it logs plain lines to stdout and stderr; collect them there' },
  { flags: ['--id'], why: "its server metadata names it 'tensorrt-node'" },
];
const TRITON_ONLY_BY_FLAG = new Map(TRITON_ONLY.flatMap((g) => g.flags.map((f) => [f, g] as const)));

/** Drops tritonserver flags asked to be off where off is what happens; throws for the rest (see TRITON_ONLY). */
export function rewriteServeArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const group = TRITON_ONLY_BY_FLAG.get(name);
    if (!group) {
      out.push(a);
      continue;
    }
    let value: string | undefined = eq > 0 ? a.slice(eq + 1) : undefined;
    if (value === undefined && group.offOk && /^(true|false|1|0)$/i.test(args[i + 1] ?? '')) value = args[++i];
    if (group.offOk && value !== undefined && /^(false|0)$/i.test(value)) continue; // off: what tensorrt-node does
    throw new UsageError(`${name} is a tritonserver flag that tensorrt-node does not support: ${group.why} (${POINTER})`);
  }
  return out;
}

/** The one listen address of the enabled listeners; tritonserver's per-protocol addresses must agree. */
function listenHost(f: ServeFlags, enabled: { http: boolean; grpc: boolean; metrics: boolean }): string {
  const host = f.host ?? DEFAULT_HOST;
  const asked: Array<[string, string]> = [];
  if (enabled.http) asked.push(['--http-address', f.httpAddress ?? host]);
  if (enabled.grpc) asked.push(['--grpc-address', f.grpcAddress ?? host]);
  if (enabled.metrics) asked.push(['--metrics-address', f.metricsAddress ?? host]);
  const distinct = [...new Set(asked.map(([, h]) => h))];
  if (distinct.length > 1) {
    throw new UsageError(
      `the HTTP, gRPC and metrics listeners share one address in tensorrt-node, but ${asked.map(([flag, h]) => `${flag} is ${h}`).join(', ')}: give one (--host, or equal --*-address values) (${POINTER})`,
    );
  }
  return distinct[0] ?? host;
}

function oneRepository(f: ServeFlags): string {
  const dirs = [...(f.modelRepository ?? []), ...(f.modelStore ?? [])];
  if (dirs.length === 0) throw new UsageError("required option '--model-repository <dir>' not specified");
  if (new Set(dirs).size > 1) throw new UsageError(`one model repository per server, got ${dirs.join(' and ')} (${POINTER})`);
  return dirs[0]!;
}

async function serve(f: ServeFlags, ctx: CliContext): Promise<number> {
  const { io } = ctx;
  const modelRepository = oneRepository(f);
  if (f.strictModelConfig) {
    throw new UsageError(`--strict-model-config=true is not supported: a model's configuration is always completed from its file where config.pbtxt leaves something out (${POINTER})`);
  }
  if (f.strictReadiness) {
    throw new UsageError(`--strict-readiness=true is not supported: /v2/health/ready reports the server; each model's readiness is /v2/models/<name>/ready (${POINTER})`);
  }
  if (f.loadModel.length && f.modelControlMode !== 'explicit') throw new UsageError('--load-model needs --model-control-mode explicit');
  const enabled = { http: f.http && f.allowHttp, grpc: f.grpc && f.allowGrpc, metrics: f.metrics && f.allowMetrics };
  const host = listenHost(f, enabled);
  const st = await fs.stat(modelRepository).catch(() => undefined);
  if (!st?.isDirectory()) throw new UsageError(`--model-repository ${modelRepository} is not a directory`);
  if (f.logVerbose > 0) ctx.verbose = true;

  const { startServer } = await import('../server/index.js');
  const server = await startServer({
    modelRepository,
    host,
    httpPort: enabled.http ? f.httpPort : false,
    grpcPort: enabled.grpc ? f.grpcPort : false,
    metricsPort: enabled.metrics ? f.metricsPort : false,
    modelControlMode: f.modelControlMode,
    loadModels: f.loadModel,
    repositoryPollSecs: f.repositoryPollSecs,
    maxBodyBytes: f.maxBodyBytes,
    grpcWorkers: f.grpcWorkers,
    logger: {
      info: (m) => f.logInfo && io.err(`info: ${m}`),
      warn: (m) => f.logWarning && io.err(`warning: ${m}`),
      error: (m) => f.logError && io.err(`error: ${m}`),
    },
  });
  const index = await server.repository.index();
  for (const e of index) {
    io.out(`model ${e.name}${e.version ? ` version ${e.version}` : ''}: ${e.state ?? 'not loaded'}${e.reason ? ` (${e.reason})` : ''}`);
  }
  const failed = index.filter((e) => e.state === 'UNAVAILABLE');
  if (failed.length && f.exitOnError) {
    io.err(`error: ${failed.length} model${failed.length > 1 ? 's' : ''} failed to load (${failed.map((e) => e.name).join(', ')}); exiting (--exit-on-error=false serves the others)`);
    await server.close();
    return 1;
  }
  const hostPort = (p: number) => (host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`);
  if (server.httpPort !== undefined) io.out(`HTTP  listening on http://${hostPort(server.httpPort)}`);
  if (server.grpcPort !== undefined) io.out(`gRPC  listening on ${hostPort(server.grpcPort)}${server.grpcWorkers ? ` (${server.grpcWorkers} front-end thread${server.grpcWorkers > 1 ? 's' : ''})` : ''}`);
  if (server.metricsPort !== undefined) io.out(`metrics listening on http://${hostPort(server.metricsPort)}/metrics`);
  if (io.handleSignals !== false) drainOnSignals(server, f.exitTimeoutSecs, ctx);
  io.onServe?.(server);
  return 0;
}

/**
 * SIGTERM (Kubernetes, KServe) or SIGINT: stop accepting, let requests in flight finish, exit 0.
 * Past --exit-timeout-secs, or on a second signal, exit 1 without waiting. Returns a function
 * that removes the handlers.
 */
export function drainOnSignals(
  server: Pick<RunningServer, 'close'>,
  exitTimeoutSecs: number,
  ctx: Pick<CliContext, 'io' | 'verbose'>,
  signals: Pick<NodeJS.EventEmitter, 'on' | 'off'> = process,
): () => void {
  const { io } = ctx;
  const exit = io.exit ?? ((c: number) => process.exit(c));
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) {
      io.err(`${sig} again: exiting without waiting for requests in flight`);
      exit(1);
      return;
    }
    stopping = true;
    io.out(`${sig}: shutting down (draining requests, at most ${exitTimeoutSecs} s)`);
    const timer = setTimeout(() => {
      io.err(`error: requests still in flight after --exit-timeout-secs ${exitTimeoutSecs}; exiting`);
      exit(1);
    }, exitTimeoutSecs * 1000);
    timer.unref();
    server.close().then(
      () => {
        clearTimeout(timer);
        io.out('stopped');
        exit(0);
      },
      (e: unknown) => {
        clearTimeout(timer);
        for (const l of errorLines(e, ctx.verbose)) io.err(l.replace(/^error: /, 'error during shutdown: '));
        exit(1);
      },
    );
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  signals.on('SIGINT', onInt);
  signals.on('SIGTERM', onTerm);
  return () => {
    signals.off('SIGINT', onInt);
    signals.off('SIGTERM', onTerm);
  };
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export const serveCommand: CliCommand = {
  name: 'serve',
  rewriteArgs: rewriteServeArgs,
  register(program: Command, ctx: CliContext) {
    const bool = (name: string, description: string, dflt: boolean) =>
      new Option(`${name} [bool]`, `${description} (tritonserver's; true|false, default ${dflt})`).argParser(parseBool(name)).default(dflt).preset(true);
    program
      .command('serve')
      .description('serve a model repository over KServe v2 HTTP and gRPC, with Prometheus metrics (tritonserver flags: see docs/migration.md)')
      .option('--model-repository <dir>', 'model repository directory (Triton layout)', collect)
      .option('--model-store <dir>', "the same (tritonserver's older name, as KServe's Triton runtime passes it)", collect)
      .option('--http-port <port>', 'HTTP port (0 = any free port)', intArg('--http-port', 0, 65535), 8000)
      .option('--grpc-port <port>', 'gRPC port (0 = any free port)', intArg('--grpc-port', 0, 65535), 8001)
      .option('--metrics-port <port>', 'metrics port (0 = any free port)', intArg('--metrics-port', 0, 65535), 8002)
      .option('--no-http', 'do not serve HTTP')
      .option('--no-grpc', 'do not serve gRPC')
      .option('--no-metrics', 'do not serve metrics')
      .addOption(bool('--allow-http', 'serve HTTP', true))
      .addOption(bool('--allow-grpc', 'serve gRPC', true))
      .addOption(bool('--allow-metrics', 'serve metrics', true))
      .option('--host <addr>', `address every listener binds (default ${DEFAULT_HOST}: the server has no authentication; 0.0.0.0 serves the network, as containers need)`)
      .option('--http-address <addr>', "tritonserver's per-listener address; tensorrt-node binds all listeners to one address, so these must agree")
      .option('--grpc-address <addr>', 'see --http-address')
      .option('--metrics-address <addr>', 'see --http-address')
      .addOption(new Option('--model-control-mode <mode>', 'none: load all at start; explicit: load by API; poll: rescan').choices(['none', 'explicit', 'poll']).default('none'))
      .option('--load-model <name>', 'model to load at start in explicit mode (repeatable; * = all)', collect, [] as string[])
      .option('--repository-poll-secs <n>', 'seconds between rescans in poll mode', intArg('--repository-poll-secs', 1), 15)
      .addOption(bool('--strict-model-config', 'false: complete model configurations from the model files (the only mode)', false))
      .addOption(bool('--strict-readiness', 'false: /v2/health/ready reports the server (the only mode)', false))
      .addOption(bool('--exit-on-error', 'exit 1 when a model fails to load at start', true))
      .option('--exit-timeout-secs <n>', 'on SIGTERM/SIGINT, seconds to let requests in flight finish before exiting', intArg('--exit-timeout-secs', 0), 30)
      .option('--log-verbose <level>', 'above 0: print stack traces of errors', intArg('--log-verbose', 0), 0)
      .addOption(bool('--log-info', 'print info lines', true))
      .addOption(bool('--log-warning', 'print warnings', true))
      .addOption(bool('--log-error', 'print errors', true))
      .option('--max-body-bytes <n>', 'largest request accepted, bytes', intArg('--max-body-bytes', 1), 64 * 1024 * 1024)
      .option(
        '--grpc-workers <n>',
        'gRPC front-end threads doing HTTP/2 and protobuf off the main thread (0 = on the main thread; auto = a quarter of the cores, 1..4)',
        (v: string) => (v === 'auto' ? 'auto' : intArg('--grpc-workers', 0, 64)(v)),
        'auto',
      )
      .option('--verbose', 'print stack traces of errors')
      .action(async (flags: ServeFlags) => {
        ctx.setExitCode(await serve(flags, ctx));
      });
  },
};
