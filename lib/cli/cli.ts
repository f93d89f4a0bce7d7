/**
 * The `tensorrt-node` command line: serve, inspect, bench. `runCli` is the whole program
 * minus process wiring, so tests can drive it in-process.
 */
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { kserveDataType } from '../dtypes.js';
import type { ModelSignature } from '../backends/backend.js';
import { startServer, type RunningServer } from '../server/index.js';
import type { ModelControlMode } from '../repository/repository.js';
import { registerBuildCommand } from './build.js';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** install SIGINT/SIGTERM handlers that shut the server down and exit (default true) */
  handleSignals?: boolean;
  /** process exit (default process.exit) */
  exit?: (code: number) => void;
  /** called once the server listens (tests) */
  onServe?: (server: RunningServer) => void;
}

const defaultIo: CliIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

class UsageError extends Error {}

function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be an integer, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be within ${min}..${max}, got ${n}`);
    return n;
  };
}

function oneLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!.trim();
}

function signatureJson(sig: ModelSignature): Record<string, unknown> {
  const t = (x: ModelSignature['inputs'][number]) => ({ name: x.name, datatype: kserveDataType(x.dtype), shape: x.shape });
  return { maxBatchSize: sig.maxBatchSize, inputs: sig.inputs.map(t), outputs: sig.outputs.map(t) };
}

async function inspect(file: string, json: boolean, io: CliIo): Promise<number> {
  const st = await fs.stat(file).catch(() => undefined);
  if (!st?.isFile()) throw new UsageError(`no such file: ${file}`);
  const lower = file.toLowerCase();
  if (lower.endsWith('.onnx')) {
    const { OnnxRuntimeBackend } = await import('../backends/onnxruntime.js');
    const inst = await new OnnxRuntimeBackend().createInstance(file);
    try {
      const info = { file: path.resolve(file), backend: 'onnxruntime', ...signatureJson(inst.signature) };
      if (json) io.out(JSON.stringify(info, null, 2));
      else {
        io.out(`${info.file} (onnxruntime)`);
        for (const [kind, list] of [['input', inst.signature.inputs], ['output', inst.signature.outputs]] as const) {
          for (const x of list) io.out(`  ${kind.padEnd(6)} ${x.name}  ${kserveDataType(x.dtype)}  [${x.shape.join(', ')}]`);
        }
      }
    } finally {
      await inst.dispose();
    }
    return 0;
  }
  if (lower.endsWith('.plan') || lower.endsWith('.engine')) {
    let mod: { inspectPlan(p: string): unknown };
    try {
      mod = (await import('../tensorrt/index.js')) as unknown as { inspectPlan(p: string): unknown };
    } catch (e) {
      io.err(`error: ${oneLine(e)}`);
      return 1;
    }
    const info = await mod.inspectPlan(file);
    io.out(json ? JSON.stringify(info, null, 2) : typeof info === 'string' ? info : JSON.stringify(info, null, 2));
    return 0;
  }
  throw new UsageError(`cannot inspect ${file}: expected a .onnx or .plan file`);
}

interface ServeFlags {
  modelRepository: string;
  httpPort: number;
  grpcPort: number;
  metricsPort: number;
  host: string;
  modelControlMode: ModelControlMode;
  loadModel: string[];
  repositoryPollSecs: number;
  maxBodyBytes: number;
  grpcWorkers: number | 'auto';
  http: boolean;
  grpc: boolean;
  metrics: boolean;
}

async function serve(f: ServeFlags, io: CliIo): Promise<number> {
  if (f.loadModel.length && f.modelControlMode !== 'explicit') throw new UsageError('--load-model needs --model-control-mode explicit');
  const st = await fs.stat(f.modelRepository).catch(() => undefined);
  if (!st?.isDirectory()) throw new UsageError(`--model-repository ${f.modelRepository} is not a directory`);
  const server = await startServer({
    modelRepository: f.modelRepository,
    host: f.host,
    httpPort: f.http ? f.httpPort : false,
    grpcPort: f.grpc ? f.grpcPort : false,
    metricsPort: f.metrics ? f.metricsPort : false,
    modelControlMode: f.modelControlMode,
    loadModels: f.loadModel,
    repositoryPollSecs: f.repositoryPollSecs,
    maxBodyBytes: f.maxBodyBytes,
    grpcWorkers: f.grpcWorkers,
    logger: { info: (m) => io.err(`info: ${m}`), warn: (m) => io.err(`warning: ${m}`), error: (m) => io.err(`error: ${m}`) },
  });
  for (const e of await server.repository.index()) {
    io.out(`model ${e.name}${e.version ? ` version ${e.version}` : ''}: ${e.state ?? 'not loaded'}${e.reason ? ` (${e.reason})` : ''}`);
  }
  const hostPort = (p: number) => (f.host.includes(':') ? `[${f.host}]:${p}` : `${f.host}:${p}`);
  if (server.httpPort !== undefined) io.out(`HTTP  listening on http://${hostPort(server.httpPort)}`);
  if (server.grpcPort !== undefined) io.out(`gRPC  listening on ${hostPort(server.grpcPort)}${server.grpcWorkers ? ` (${server.grpcWorkers} front-end thread${server.grpcWorkers > 1 ? 's' : ''})` : ''}`);
  if (server.metricsPort !== undefined) io.out(`metrics listening on http://${hostPort(server.metricsPort)}/metrics`);
  if (io.handleSignals !== false) {
    const exit = io.exit ?? ((c: number) => process.exit(c));
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      io.out(`${sig}: shutting down (draining requests)`);
      server.close().then(
        () => {
          io.out('stopped');
          exit(0);
        },
        (e: unknown) => {
          io.err(`error during shutdown: ${oneLine(e)}`);
          exit(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  }
  io.onServe?.(server);
  return 0;
}

/**
 * Run the CLI on `argv` (without node and the script). Resolves with the exit code; for
 * `serve` it resolves 0 once the server listens, and the process keeps running.
 */
export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const verbose = argv.includes('--verbose');
  let code = 0;
  const program = new Command('tensorrt-node')
    .description('TensorRT / ONNX Runtime models for Node.js: serve a Triton-style model repository, inspect model files, benchmark')
    .option('--verbose', 'print stack traces of errors')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(s.split('\n')[0]!),
    })
    .showHelpAfterError(false);

  program
    .command('serve')
    .description('serve a model repository over KServe v2 HTTP and gRPC, with Prometheus metrics')
    .requiredOption('--model-repository <dir>', 'model repository directory (Triton layout)')
    .option('--http-port <port>', 'HTTP port (0 = any free port)', intArg('--http-port', 0, 65535), 8000)
    .option('--grpc-port <port>', 'gRPC port (0 = any free port)', intArg('--grpc-port', 0, 65535), 8001)
    .option('--metrics-port <port>', 'metrics port (0 = any free port)', intArg('--metrics-port', 0, 65535), 8002)
    .option('--no-http', 'do not serve HTTP')
    .option('--no-grpc', 'do not serve gRPC')
    .option('--no-metrics', 'do not serve metrics')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .addOption(new Option('--model-control-mode <mode>', 'none: load all at start; explicit: load by API; poll: rescan').choices(['none', 'explicit', 'poll']).default('none'))
    .option('--load-model <name>', 'model to load at start in explicit mode (repeatable; * = all)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--repository-poll-secs <n>', 'seconds between rescans in poll mode', intArg('--repository-poll-secs', 1), 15)
    .option('--max-body-bytes <n>', 'largest request accepted, bytes', intArg('--max-body-bytes', 1), 64 * 1024 * 1024)
    .option(
      '--grpc-workers <n>',
      'gRPC front-end threads doing HTTP/2 and protobuf off the main thread (0 = on the main thread; auto = a quarter of the cores, 1..4)',
      (v: string) => (v === 'auto' ? 'auto' : intArg('--grpc-workers', 0, 64)(v)),
      'auto',
    )
    .option('--verbose', 'print stack traces of errors')
    .action(async (flags: ServeFlags) => {
      code = await serve(flags, io);
    });

  program
    .command('inspect')
    .description('print the inputs and outputs of a model file (.onnx via ONNX Runtime, .plan via TensorRT)')
    .argument('<file>', 'model file')
    .option('--json', 'machine-readable output')
    .option('--verbose', 'print stack traces of errors')
    .action(async (file: string, flags: { json?: boolean }) => {
      code = await inspect(file, flags.json === true, io);
    });

  program
    .command('bench')
    .description('benchmark a model (see `tensorrt-node bench --help`)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(async () => {
      const rest = argv.slice(argv.indexOf('bench') + 1);
      const { runBenchCli } = await import('./bench.js');
      const r: unknown = await runBenchCli(rest);
      code = typeof r === 'number' ? r : 0;
    });

  registerBuildCommand(program, argv, io, (c) => (code = c));

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version end here with code 0; usage errors were already printed in one line
      return e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.help' ? 0 : e.exitCode || 2;
    }
    io.err(`error: ${oneLine(e)}`);
    if (verbose && e instanceof Error && e.stack) io.err(e.stack);
    return e instanceof UsageError ? 2 : 1;
  }
}
