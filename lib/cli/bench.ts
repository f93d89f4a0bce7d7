/**
 * `tensorrt-node bench model.plan [...]`: trtexec's method on the C++ reference loop, the JS
 * path and (with TRTEXEC set) trtexec itself; or the dynamic batcher with --batcher.
 * Errors end as one line `tensorrt-node bench: <message> [CODE]` on stderr; exit 2 for usage
 * errors, 1 for runtime errors.
 */
import { promises as fs } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { TensorRtError, type ErrorCode } from '../errors.js';
import { parseShapesSpec } from '../bench/shapes.js';
import { formatBenchReport } from '../bench/format.js';
import type { RunBenchOptions } from '../bench/run.js';
import type { BenchReport } from '../bench/types.js';

export interface BenchCliIo {
  out(line: string): void;
  err(line: string): void;
  /** show the progress bar (default: stderr is a TTY and JSON does not go to stdout) */
  progress?: boolean;
  /** the bench itself (tests inject a fake); default runBench */
  run?: (options: RunBenchOptions) => Promise<BenchReport>;
}

const defaultIo: BenchCliIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

/** TensorRtError codes that mean "the command line asked for something impossible" (exit 2). */
const USAGE_CODES = new Set<ErrorCode>(['ERR_INVALID_ARGUMENT', 'ERR_CONFIG', 'ERR_SHAPE_OUT_OF_PROFILE', 'ERR_SHAPE_MISMATCH', 'ERR_UNKNOWN_TENSOR', 'ERR_MISSING_TENSOR']);

class UsageError extends Error {}

function intArg(flag: string, min: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${flag} must be an integer >= ${min}, got "${v}"`);
    const n = Number(v);
    if (n < min) throw new InvalidArgumentError(`${flag} must be an integer >= ${min}, got ${n}`);
    return n;
  };
}

function secondsArg(flag: string, allowZero: boolean) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
      throw new InvalidArgumentError(`${flag} must be a ${allowZero ? 'non-negative' : 'positive'} number of seconds, got "${v}"`);
    }
    return n;
  };
}

function intListArg(flag: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim());
    if (parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) throw new InvalidArgumentError(`${flag} must be a positive integer or a comma-separated list of them, got "${v}"`);
    return parts.map(Number);
  };
}

interface BenchFlags {
  shapes?: string;
  batch?: number;
  iterations?: number;
  duration?: number;
  rounds?: number;
  warmup?: number;
  streams: number;
  cudaGraph?: boolean;
  dataTransfers: boolean;
  /** commander's negatable --no-overlap: true unless given */
  overlap?: boolean;
  batcher?: boolean;
  concurrency?: number[];
  maxQueueDelayUs?: number;
  maxBatch?: number;
  json?: string;
  device?: number;
  profile?: number;
  waitMode?: 'adaptive' | 'spin' | 'block';
  completion?: 'wake' | 'poll';
  requestMemory?: 'js' | 'pinned';
  callerOutputs?: boolean;
  /** commander's negatable --no-stage-on-arrival: true unless given */
  stageOnArrival?: boolean;
  verbose?: boolean;
}

function program(io: BenchCliIo): Command {
  return new Command('tensorrt-node bench')
    .description(
      "Benchmark a TensorRT plan with trtexec's method: warm-up, then timed iterations; throughput and latency percentiles for the " +
        'C++ reference loop, the JS path, and trtexec when TRTEXEC names its binary. See docs/benchmarks.md.',
    )
    .argument('<model.plan>', 'serialized TensorRT engine')
    .option('--shapes <spec>', 'input shapes, trtexec syntax: input:32x3x224x224[,name:AxB...] (default: static shape or the profile opt shape)')
    .option('--batch <n>', 'override dimension 0 of every input', intArg('--batch', 1))
    .addOption(new Option('--iterations <n>', 'timed iterations per stream').argParser(intArg('--iterations', 1)).conflicts('duration'))
    .addOption(new Option('--duration <s>', 'timed phase in seconds (default 3)').argParser(secondsArg('--duration', false)))
    .addOption(new Option('--rounds <n>', 'split the timed phase into n rounds alternating the C++ and JS loops (steadier ratios on a noisy host)').argParser(intArg('--rounds', 1)).conflicts('iterations'))
    .option('--warmup <s>', 'warm-up in seconds (default 0.2)', secondsArg('--warmup', true))
    .option('--streams <k>', 'contexts on their own streams running at once (trtexec --infStreams); batcher instances', intArg('--streams', 1), 1)
    .option('--cuda-graph', 'capture copies + inference in a CUDA graph and replay it (trtexec --useCudaGraph)')
    .option('--no-data-transfers', 'no host<->device copies around the inference (trtexec --noDataTransfers)')
    .option('--no-overlap', 'one inference in flight per stream, copies and compute in sequence (trtexec --exposeDMA)')
    .option('--batcher', 'benchmark the dynamic batcher with single-item requests instead')
    .option('--concurrency <c>', 'batcher: concurrent callers, or a list (1,8,32) (default 32)', intListArg('--concurrency'))
    .option('--max-queue-delay-us <u>', 'batcher: maxQueueDelayMicroseconds (default 500)', intArg('--max-queue-delay-us', 0))
    .option('--max-batch <b>', "batcher: maxBatchSize (default: the profile's maximum batch)", intArg('--max-batch', 1))
    .option('--json <file>', 'write the report as JSON to a file, or - for stdout')
    .option('--device <d>', 'CUDA device ordinal (default 0)', intArg('--device', 0))
    .option('--profile <p>', 'optimization profile (default 0)', intArg('--profile', 0))
    .addOption(new Option('--wait-mode <mode>', "how the JS path's streams wait for the GPU").choices(['adaptive', 'spin', 'block']))
    .addOption(new Option('--completion <mode>', "how completions reach JS: wake the event loop, or poll it while work is in flight").choices(['wake', 'poll']))
    .option('--caller-outputs', 'batcher: each caller passes its own output buffers, reused for every request (no allocation per request)')
    .option('--no-stage-on-arrival', 'batcher: do not add requests to the next batch as they arrive (DynamicBatcher stageOnArrival: false)')
    .addOption(new Option('--request-memory <where>', 'batcher: requests in one shared JS array, or a pinned HostBuffer per caller (DMA, with no CPU copy)').choices(['js', 'pinned']))
    .option('--verbose', 'print stack traces of errors')
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: () => undefined,
      outputError: () => undefined,
    });
}

/** Turns parsed flags into runBench options; UsageError for combinations that make no sense. */
export function benchOptionsFromFlags(plan: string, f: BenchFlags): RunBenchOptions {
  if (/\.onnx$/i.test(plan)) {
    // bench measures TensorRT engines; an ONNX model has to become one first
    throw new UsageError(
      `${plan} is an ONNX model: bench measures TensorRT plans (.plan/.engine, from trtexec or \`tensorrt-node build\`). ` +
        `Build one first: tensorrt-node build --onnx=${plan} --saveEngine=${plan.replace(/\.onnx$/i, '.plan')} (with --minShapes/--optShapes/--maxShapes for dynamic inputs, --fp16, ...), then bench the plan`,
    );
  }
  const o: RunBenchOptions = { plan, streams: f.streams, dataTransfers: f.dataTransfers !== false };
  if (f.cudaGraph === true) o.cudaGraph = true;
  if (f.overlap === false) o.overlap = false;
  if (f.shapes !== undefined) o.shapes = parseShapesSpec(f.shapes);
  if (f.batch !== undefined) o.batch = f.batch;
  if (f.iterations !== undefined) o.iterations = f.iterations;
  if (f.duration !== undefined) o.durationMs = f.duration * 1000;
  if (f.rounds !== undefined) o.rounds = f.rounds;
  if (f.warmup !== undefined) o.warmupMs = f.warmup * 1000;
  if (f.device !== undefined) o.device = f.device;
  if (f.profile !== undefined) o.profile = f.profile;
  if (f.waitMode !== undefined) o.waitMode = f.waitMode;
  if (f.completion !== undefined) o.completion = f.completion;
  if (f.batcher) {
    o.batcher = { concurrency: f.concurrency ?? [32] };
    if (f.maxQueueDelayUs !== undefined) o.batcher.maxQueueDelayUs = f.maxQueueDelayUs;
    if (f.maxBatch !== undefined) o.batcher.maxBatchSize = f.maxBatch;
    if (f.requestMemory !== undefined) o.batcher.requestMemory = f.requestMemory;
    if (f.callerOutputs === true) o.batcher.callerOutputs = true;
    if (f.stageOnArrival === false) o.batcher.stageOnArrival = false;
  } else {
    const noStage = f.stageOnArrival === false ? true : undefined;
    for (const [flag, v] of [['--concurrency', f.concurrency], ['--max-queue-delay-us', f.maxQueueDelayUs], ['--max-batch', f.maxBatch], ['--request-memory', f.requestMemory], ['--caller-outputs', f.callerOutputs], ['--no-stage-on-arrival', noStage]] as const) {
      if (v !== undefined) throw new UsageError(`${flag} needs --batcher`);
    }
  }
  return o;
}

/**
 * One line out of a possibly multi-line message: list items ("  - tried this") are dropped (they
 * show with --verbose), the remaining lines joined. E.g. "TensorRT runtime not found. Tried:\n
 *   - libnvinfer.so.10: ...\nInstall TensorRT 10.x ..." → "TensorRT runtime not found. Install TensorRT 10.x ...".
 */
export function oneLineMessage(s: string): string {
  const lines = s.split(/\r?\n/);
  const kept = lines.filter((l, i) => i === 0 || !/^\s*(?:[-*•]|\d+[.)])\s/.test(l)).map((l) => l.trim());
  if (kept.length < lines.length) kept[0] = kept[0]!.replace(/\s*\b[Tt]ried:\s*$/, '').replace(/:\s*$/, '.');
  return kept.filter(Boolean).join(' ').replace(/\s+/g, ' ').trim();
}

/**
 * Runs `tensorrt-node bench` on `argv` (the arguments after `bench`); resolves with the exit code:
 * 0 done, 1 runtime error, 2 usage error.
 */
export async function runBenchCli(argv: string[], io: BenchCliIo = defaultIo): Promise<number> {
  const verbose = argv.includes('--verbose');
  const fail = (message: string, code: string, exit: number, e?: unknown): number => {
    io.err(`tensorrt-node bench: ${oneLineMessage(message)} [${code}]`);
    if (verbose && e instanceof Error && e.stack) io.err(e.stack);
    return exit;
  };

  const cmd = program(io);
  let options: RunBenchOptions;
  let json: string | undefined;
  try {
    cmd.parse(argv, { from: 'user' });
    const f = cmd.opts<BenchFlags>();
    json = f.json;
    options = benchOptionsFromFlags(cmd.args[0]!, f);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.exitCode === 0) return 0;
      return fail(e.message.replace(/^error:\s*/, ''), 'ERR_INVALID_ARGUMENT', 2, e);
    }
    if (e instanceof TensorRtError) return fail(e.message, e.code, 2, e);
    return fail(e instanceof Error ? e.message : String(e), 'ERR_INVALID_ARGUMENT', 2, e);
  }

  const showProgress = io.progress ?? (process.stderr.isTTY === true && json !== '-');
  options.progress = showProgress;
  let report: BenchReport;
  try {
    const run = io.run ?? (await import('../bench/run.js')).runBench;
    report = await run(options);
  } catch (e) {
    if (e instanceof TensorRtError) return fail(e.message, e.code, USAGE_CODES.has(e.code) ? 2 : 1, e);
    if (e instanceof UsageError) return fail(e.message, 'ERR_INVALID_ARGUMENT', 2, e);
    const code = typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : 'ERR_UNEXPECTED';
    return fail(e instanceof Error ? e.message : String(e), code, 1, e);
  }

  const lines = formatBenchReport(report);
  const text = JSON.stringify(report, null, 2);
  if (json === '-') {
    io.out(text);
    for (const l of lines) io.err(l);
  } else {
    for (const l of lines) io.out(l);
    if (json !== undefined) {
      try {
        await fs.writeFile(json, `${text}\n`);
      } catch (e) {
        return fail(`cannot write ${json}: ${(e as Error).message}`, 'ERR_INVALID_ARGUMENT', 1, e);
      }
      io.out(`report written to ${json}`);
    }
  }
  return 0;
}
