/**
 * `tensorrt-node build --onnx=model.onnx --saveEngine=model.plan [...]`: trtexec's build step in
 * Node, with trtexec's flag names (`--flag=value`, or `--flag value`). The flags are parsed
 * strictly here: an unknown flag, a malformed shape, min > opt, a trtexec inference flag... each
 * ends as one line `tensorrt-node build: <message> [CODE]` on stderr with exit code 2, before
 * TensorRT is looked for. Runtime failures exit 1, a cancelled build (Ctrl-C) 130.
 */
import type { BuildOptions, BuildProgressEvent, BuildResult } from '../tensorrt/build.js';
import type { ShapeRange } from '../tensorrt/runtime.js';
import { TensorRtError, type ErrorCode } from '../errors.js';

export interface BuildCliIo {
  out(line: string): void;
  err(line: string): void;
  /** show the progress bar (default: stderr is a TTY) */
  progress?: boolean;
  /** stop the build on SIGINT/SIGTERM (default true) */
  handleSignals?: boolean;
  /** where SIGINT/SIGTERM come from (default process; tests pass an emitter) */
  signals?: { on(event: 'SIGINT' | 'SIGTERM', fn: (sig: NodeJS.Signals) => void): unknown; off(event: 'SIGINT' | 'SIGTERM', fn: (sig: NodeJS.Signals) => void): unknown };
  /** a second Ctrl-C ends the process at once (default process.exit) */
  exit?: (code: number) => void;
  /** the build itself (tests inject a fake); default lib/tensorrt/build.ts build() */
  build?: (options: BuildOptions) => Promise<BuildResult>;
}

const defaultIo: BuildCliIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

type FlagKind = 'bool' | 'value';

/** The flags `tensorrt-node build` takes: trtexec's names and meanings. */
export const BUILD_FLAGS: Record<string, { kind: FlagKind; help: string; repeatable?: boolean }> = {
  onnx: { kind: 'value', help: 'the ONNX model to build (also accepted as the one positional argument)' },
  saveEngine: { kind: 'value', help: 'write the plan to this file (atomically); without it the plan is built and discarded, as with trtexec' },
  minShapes: { kind: 'value', help: 'name:AxBxC[,name2:...] the smallest shapes of the dynamic inputs (profile)', repeatable: true },
  optShapes: { kind: 'value', help: 'the shapes TensorRT tunes for', repeatable: true },
  maxShapes: { kind: 'value', help: 'the largest shapes', repeatable: true },
  profile: { kind: 'value', help: 'N: the --minShapes/--optShapes/--maxShapes right after it make profile N (several profiles)', repeatable: true },
  shapes: { kind: 'value', help: 'static build shapes: min = opt = max (only without --minShapes/--optShapes/--maxShapes)' },
  fp16: { kind: 'bool', help: 'allow FP16 kernels' },
  bf16: { kind: 'bool', help: 'allow BF16 kernels' },
  int8: { kind: 'bool', help: 'allow INT8 kernels (with --calib, or a model with Q/DQ layers; else placeholder ranges: fast, not accurate)' },
  best: { kind: 'bool', help: 'fp16 + int8 (+ bf16 on compute capability 8.0 and newer)' },
  calib: { kind: 'value', help: 'INT8 calibration cache file' },
  memPoolSize: { kind: 'value', help: 'pool:size[,pool:size]: workspace, tacticSharedMem; size in MiB unless it ends in B, K, M or G' },
  timingCacheFile: { kind: 'value', help: 'timing cache: read if it exists, updated after the build' },
  builderOptimizationLevel: { kind: 'value', help: '0..5 (TensorRT default 3): higher searches longer for faster kernels' },
  avgTiming: { kind: 'value', help: 'timing iterations per tactic (default 8)' },
  versionCompatible: { kind: 'bool', help: 'a plan that later TensorRT 10 runtimes also run' },
  vc: { kind: 'bool', help: 'same as --versionCompatible' },
  excludeLeanRuntime: { kind: 'bool', help: 'with --versionCompatible: do not embed the lean runtime in the plan' },
  hardwareCompatibilityLevel: { kind: 'value', help: 'none | ampere+ (a plan for every GPU from Ampere on)' },
  noTF32: { kind: 'bool', help: 'no TF32 for FP32 layers' },
  stronglyTyped: { kind: 'bool', help: "the model's types decide the precisions" },
  profilingVerbosity: { kind: 'value', help: 'layer_names_only | detailed | none: what the plan says about its layers' },
  device: { kind: 'value', help: 'CUDA device (default 0)' },
  verbose: { kind: 'bool', help: "TensorRT's verbose log, and stack traces of errors" },
  skipInference: { kind: 'bool', help: 'accepted for trtexec command lines: build never runs inference' },
  help: { kind: 'bool', help: 'this help' },
};

/** trtexec's inference and reporting flags: `build` only builds; `tensorrt-node bench` measures. */
const TRTEXEC_INFERENCE_FLAGS = new Set([
  'loadEngine', 'iterations', 'duration', 'warmUp', 'sleepTime', 'idleTime', 'infStreams', 'streams', 'exposeDMA', 'noDataTransfers', 'useManagedMemory',
  'useSpinWait', 'threads', 'useCudaGraph', 'timeDeserialize', 'timeRefit', 'separateProfileRun', 'persistentCacheRatio', 'avgRuns',
  'percentile', 'dumpRefit', 'dumpOutput', 'dumpRawBindingsToFile', 'dumpProfile', 'dumpLayerInfo', 'exportTimes', 'exportOutput', 'exportProfile',
  'exportLayerInfo', 'loadInputs', 'batch', 'useProfile', 'allocationStrategy', 'saveDebugTensors', 'weightStreamingBudget', 'getPlanVersionOnly',
]);

/** trtexec build flags this command does not implement. */
const TRTEXEC_UNSUPPORTED_FLAGS = new Set([
  'inputIOFormats', 'outputIOFormats', 'fp8', 'int4', 'refit', 'weightless', 'stripWeights', 'stripAllWeights', 'sparsity', 'layerPrecisions',
  'layerOutputTypes', 'layerDeviceTypes', 'precisionConstraints', 'tacticSources', 'useDLACore', 'allowGPUFallback', 'buildDLAStandalone', 'calibProfile',
  'minShapesCalib', 'optShapesCalib', 'maxShapesCalib', 'maxAuxStreams', 'preview', 'noBuilderCache', 'errorOnTimingCacheMiss', 'noCompilationCache',
  'maxTactics', 'safe', 'consistency', 'restricted', 'plugins', 'staticPlugins', 'dynamicPlugins', 'setPluginsToSerialize', 'useRuntime', 'leanDLLPath',
  'tempdir', 'tempfileControls', 'directIO', 'markDebug', 'pi', 'pluginInstanceNorm', 'monitorMemory', 'runtimePlatform', 'weightStreaming',
]);

function usage(message: string, details?: Record<string, unknown>): TensorRtError {
  return new TensorRtError('ERR_INVALID_ARGUMENT', message, details);
}

interface Token {
  name: string;
  value: string | undefined;
  /** index among the flags, for trtexec's "directly after --profile" rule */
  pos: number;
}

const INT32_MAX = 2147483647;

/** Parses `name:AxBxC[,name:...]` (trtexec's shape syntax; 'quoted:names' may hold colons; `scalar` is a 0-d shape). */
export function parseShapeList(flag: string, spec: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (spec.trim() === '') throw usage(`--${flag} is empty (expected name:AxBxC[,name:...], e.g. input:1x3x224x224)`);
  for (const raw of spec.split(',')) {
    const part = raw.trim();
    let name: string;
    let dimsText: string;
    if (part.startsWith("'")) {
      const close = part.indexOf("'", 1);
      if (close < 0 || part[close + 1] !== ':') throw usage(`malformed --${flag} entry "${part}" (a quoted name is written 'name':AxB)`);
      name = part.slice(1, close);
      dimsText = part.slice(close + 2);
    } else {
      const colon = part.lastIndexOf(':');
      if (colon <= 0) throw usage(`malformed --${flag} entry "${part}" (expected name:AxBxC, e.g. input:1x3x224x224)`);
      name = part.slice(0, colon);
      dimsText = part.slice(colon + 1);
    }
    if (name === '') throw usage(`malformed --${flag} entry "${part}": no input name`);
    let dims: number[];
    if (dimsText === 'scalar') dims = [];
    else {
      if (!/^\d+(x\d+)*$/.test(dimsText)) {
        throw usage(`malformed dimensions "${dimsText}" for '${name}' in --${flag} (expected non-negative integers joined by x, e.g. 1x3x224x224)`, { tensor: name });
      }
      dims = dimsText.split('x').map(Number);
      if (dims.length > 8) throw usage(`'${name}' in --${flag} has ${dims.length} dimensions (TensorRT allows 8)`, { tensor: name });
      if (dims.some((d) => d > INT32_MAX)) throw usage(`dimension out of range in --${flag} entry "${part}"`, { tensor: name });
    }
    if (out.has(name)) throw usage(`'${name}' appears twice in --${flag}`, { tensor: name });
    out.set(name, dims);
  }
  return out;
}

/** min/opt/max of one profile, the missing ones filled as trtexec fills them (opt from min or max, ...). */
function profileFrom(group: Partial<Record<'minShapes' | 'optShapes' | 'maxShapes', string>>, index: number | undefined): Record<string, ShapeRange> {
  const where = index === undefined ? '' : ` of --profile=${index}`;
  const lists = Object.fromEntries(Object.entries(group).map(([k, v]) => [k, parseShapeList(k, v!)])) as Partial<Record<'minShapes' | 'optShapes' | 'maxShapes', Map<string, number[]>>>;
  const given = Object.keys(lists) as Array<'minShapes' | 'optShapes' | 'maxShapes'>;
  const names = [...lists[given[0]!]!.keys()];
  for (const k of given.slice(1)) {
    const other = [...lists[k]!.keys()];
    const missing = names.filter((n) => !other.includes(n));
    const extra = other.filter((n) => !names.includes(n));
    if (missing.length || extra.length) {
      const n = missing[0] ?? extra[0]!;
      throw usage(`--${given[0]}${where} and --${k}${where} must name the same inputs ('${n}' is in one and not the other)`, { tensor: n });
    }
  }
  const min = lists.minShapes;
  const opt = lists.optShapes;
  const max = lists.maxShapes;
  const out: Record<string, ShapeRange> = {};
  for (const n of names) {
    // trtexec's processShapes: a missing min takes opt (else max), a missing opt takes max (else min), a missing max takes opt (else min)
    const mn = min?.get(n) ?? opt?.get(n) ?? max!.get(n)!;
    const op = opt?.get(n) ?? max?.get(n) ?? mn;
    const mx = max?.get(n) ?? opt?.get(n) ?? mn;
    out[n] = { min: mn, opt: op, max: mx };
  }
  return out;
}

const UNIT: Record<string, number> = { B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** trtexec's `--memPoolSize=workspace:1024,tacticSharedMem:48K` (MiB unless a unit B/K/M/G follows). */
export function parseMemPoolSize(spec: string): { workspace?: number; tacticSharedMemory?: number } {
  const out: { workspace?: number; tacticSharedMemory?: number } = {};
  if (spec.trim() === '') throw usage('--memPoolSize is empty (expected pool:size, e.g. workspace:1024)');
  for (const raw of spec.split(',')) {
    const part = raw.trim();
    const colon = part.indexOf(':');
    if (colon <= 0) throw usage(`malformed --memPoolSize entry "${part}" (expected pool:size, e.g. workspace:1024 or workspace:2G)`);
    const pool = part.slice(0, colon);
    const m = /^(\d+(?:\.\d*)?|\.\d+)([bkmgBKMG])?$/.exec(part.slice(colon + 1).trim());
    if (!m) throw usage(`malformed size "${part.slice(colon + 1)}" for pool ${pool} in --memPoolSize (a number of MiB, or with a unit B, K, M, G)`);
    const bytes = Math.floor(Number(m[1]) * UNIT[(m[2] ?? 'M').toUpperCase()]!);
    if (!Number.isSafeInteger(bytes)) throw usage(`--memPoolSize ${pool} is too large`);
    const key = pool === 'workspace' ? 'workspace' : pool === 'tacticSharedMem' ? 'tacticSharedMemory' : undefined;
    if (!key) {
      if (/^dla/.test(pool)) throw usage(`--memPoolSize pool ${pool} is for DLA, which tensorrt-node build does not target`);
      throw usage(`unknown memory pool "${pool}" in --memPoolSize (workspace, tacticSharedMem)`);
    }
    if (out[key] !== undefined) throw usage(`pool ${pool} appears twice in --memPoolSize`);
    out[key] = bytes;
  }
  return out;
}

function closest(name: string): string | undefined {
  const lower = name.toLowerCase();
  return Object.keys(BUILD_FLAGS).find((f) => f.toLowerCase() === lower);
}

export interface ParsedBuildArgs {
  /** the build's options, without callbacks */
  options: BuildOptions;
  verbose: boolean;
  help: boolean;
}

/**
 * Parses `build`'s arguments into build() options. Throws TensorRtError ERR_INVALID_ARGUMENT
 * with a message naming the flag for anything malformed, unknown or contradictory.
 */
export function parseBuildArgs(argv: readonly string[]): ParsedBuildArgs {
  const tokens: Token[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h') {
      tokens.push({ name: 'help', value: undefined, pos: tokens.length });
      continue;
    }
    if (!a.startsWith('--')) {
      if (a.startsWith('-') && a.length > 1) throw usage(`unknown option ${a} (flags are trtexec's: --onnx=..., see --help)`);
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    let value = eq >= 0 ? a.slice(eq + 1) : undefined;
    const def = BUILD_FLAGS[name];
    if (!def) {
      if (TRTEXEC_INFERENCE_FLAGS.has(name)) throw usage(`--${name} is a trtexec inference flag: tensorrt-node build only builds; measure the plan with \`tensorrt-node bench\``);
      if (TRTEXEC_UNSUPPORTED_FLAGS.has(name)) throw usage(`trtexec's --${name} is not supported by tensorrt-node build`);
      const near = closest(name);
      throw usage(`unknown flag --${name}${near ? ` (did you mean --${near}?)` : ''}; see tensorrt-node build --help`);
    }
    if (def.kind === 'bool') {
      if (value !== undefined) throw usage(`--${name} takes no value (got "${value}")`);
    } else if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw usage(`--${name} needs a value (--${name}=...)`);
      value = next;
      i++;
    }
    if (!def.repeatable && name !== 'help' && name !== 'verbose' && tokens.some((t) => t.name === name)) throw usage(`--${name} is given more than once`);
    tokens.push({ name: name === 'vc' ? 'versionCompatible' : name, value, pos: tokens.length });
  }
  const has = (n: string): boolean => tokens.some((t) => t.name === n);
  const get = (n: string): string | undefined => tokens.find((t) => t.name === n)?.value;
  if (tokens.filter((t) => t.name === 'versionCompatible').length > 1) throw usage('--versionCompatible (or --vc) is given more than once');

  const help = has('help');
  const verbose = has('verbose');
  let onnx = get('onnx');
  if (positionals.length > 1) throw usage(`one model at a time: unexpected arguments ${positionals.slice(1).join(' ')}`);
  if (positionals.length === 1) {
    if (onnx !== undefined) throw usage(`the model is given twice (--onnx=${onnx} and ${positionals[0]})`);
    onnx = positionals[0];
  }
  if (onnx === undefined) {
    if (help) return { options: { onnx: '' }, verbose, help };
    throw usage('no model: give --onnx=<model.onnx>');
  }
  if (onnx === '') throw usage('--onnx is empty');
  const options: BuildOptions = { onnx };

  // ---- profiles: trtexec's rules (sampleOptions.cpp, getOptimizationProfiles / processShapes)
  const SHAPE_FLAGS = ['minShapes', 'optShapes', 'maxShapes'] as const;
  const shapeTokens = tokens.filter((t) => (SHAPE_FLAGS as readonly string[]).includes(t.name));
  const profileTokens = tokens.filter((t) => t.name === 'profile');
  const profiles: Array<Record<string, ShapeRange>> = [];
  if (profileTokens.length) {
    const consumed = new Set<Token>();
    for (const p of profileTokens) {
      if (!/^\d+$/.test(p.value!) || Number(p.value) > 1023) throw usage(`--profile must be a profile index 0..1023, got "${p.value}"`);
      const index = Number(p.value);
      const group: Partial<Record<(typeof SHAPE_FLAGS)[number], string>> = {};
      for (let k = 1; k <= 3; k++) {
        const t = tokens[p.pos + k];
        if (!t || !(SHAPE_FLAGS as readonly string[]).includes(t.name) || group[t.name as (typeof SHAPE_FLAGS)[number]] !== undefined) break;
        group[t.name as (typeof SHAPE_FLAGS)[number]] = t.value!;
        consumed.add(t);
      }
      if (Object.keys(group).length === 0) throw usage(`--profile=${index} must be followed directly by its --minShapes/--optShapes/--maxShapes`);
      if (profiles[index] !== undefined) throw usage(`--profile=${index} is given twice`);
      profiles[index] = profileFrom(group, index);
    }
    const stray = shapeTokens.find((t) => !consumed.has(t));
    if (stray) {
      throw usage(`--${stray.name} does not directly follow a --profile=N: with --profile, each profile's --minShapes/--optShapes/--maxShapes come right after it ` + '(--profile=0 --minShapes=... --optShapes=... --maxShapes=... --profile=1 --minShapes=...)');
    }
    for (let i = 0; i < profiles.length; i++) if (profiles[i] === undefined) throw usage(`profile ${i} is missing: profile indices run 0, 1, ... without gaps`);
  } else if (shapeTokens.length) {
    for (const f of SHAPE_FLAGS) {
      if (shapeTokens.filter((t) => t.name === f).length > 1) {
        throw usage(`--${f} is given more than once: several profiles need --profile=N before each group (--profile=0 --minShapes=... --optShapes=... --maxShapes=... --profile=1 ...)`);
      }
    }
    profiles.push(profileFrom(Object.fromEntries(shapeTokens.map((t) => [t.name, t.value!])), undefined));
  }
  const shapes = get('shapes');
  if (shapes !== undefined) {
    if (profiles.length) throw usage('--shapes sets the build shapes only without --minShapes/--optShapes/--maxShapes (in trtexec it is the inference shape; drop it here)');
    const list = parseShapeList('shapes', shapes);
    const p: Record<string, ShapeRange> = {};
    for (const [n, d] of list) p[n] = { min: d, opt: d, max: d };
    profiles.push(p);
  }
  if (profiles.length) options.profiles = profiles;

  // ---- the rest
  if (has('fp16')) options.fp16 = true;
  if (has('bf16')) options.bf16 = true;
  if (has('int8')) options.int8 = true;
  if (has('best')) options.best = true;
  if (has('noTF32')) options.tf32 = false;
  if (has('stronglyTyped')) options.stronglyTyped = true;
  if (has('versionCompatible')) options.versionCompatible = true;
  if (has('excludeLeanRuntime')) options.excludeLeanRuntime = true;
  const calib = get('calib');
  if (calib !== undefined) {
    if (calib === '') throw usage('--calib is empty');
    options.calibrationCache = calib;
  }
  const pools = get('memPoolSize');
  if (pools !== undefined) options.memoryPools = parseMemPoolSize(pools);
  const timingCache = get('timingCacheFile');
  if (timingCache !== undefined) {
    if (timingCache === '') throw usage('--timingCacheFile is empty');
    options.timingCacheFile = timingCache;
  }
  const save = get('saveEngine');
  if (save !== undefined) {
    if (save === '') throw usage('--saveEngine is empty');
    options.saveEngine = save;
  }
  const level = get('builderOptimizationLevel');
  if (level !== undefined) {
    if (!/^\d+$/.test(level) || Number(level) > 5) throw usage(`--builderOptimizationLevel must be an integer 0..5, got "${level}"`);
    options.builderOptimizationLevel = Number(level);
  }
  const avg = get('avgTiming');
  if (avg !== undefined) {
    if (!/^\d+$/.test(avg) || Number(avg) < 1 || Number(avg) > INT32_MAX) throw usage(`--avgTiming must be a positive integer, got "${avg}"`);
    options.avgTimingIterations = Number(avg);
  }
  const hw = get('hardwareCompatibilityLevel');
  if (hw !== undefined) {
    const v = hw.toLowerCase();
    if (v !== 'none' && v !== 'ampere+') throw usage(`--hardwareCompatibilityLevel must be none or ampere+, got "${hw}"`);
    options.hardwareCompatibilityLevel = v;
  }
  const pv = get('profilingVerbosity');
  if (pv !== undefined) {
    // 'default' and 'verbose' are trtexec's deprecated spellings of the first two
    const map: Record<string, BuildOptions['profilingVerbosity']> = { layer_names_only: 'layer_names_only', default: 'layer_names_only', detailed: 'detailed', verbose: 'detailed', none: 'none' };
    if (!map[pv]) throw usage(`--profilingVerbosity must be layer_names_only, detailed or none, got "${pv}"`);
    options.profilingVerbosity = map[pv];
  }
  const device = get('device');
  if (device !== undefined) {
    if (!/^\d+$/.test(device) || Number(device) > INT32_MAX) throw usage(`--device must be a GPU ordinal (an integer >= 0), got "${device}"`);
    options.device = Number(device);
  }
  if (verbose) options.logSeverity = 'verbose';
  return { options, verbose, help };
}

export function buildHelp(): string[] {
  const lines = [
    'Usage: tensorrt-node build --onnx=<model.onnx> [--saveEngine=<model.plan>] [trtexec build flags]',
    '',
    "Builds a TensorRT plan from an ONNX model with the installed TensorRT's builder and ONNX parser, as",
    "`trtexec --onnx=... --saveEngine=...` does, with trtexec's flag names. Ctrl-C cancels the build.",
    '',
    'Example: tensorrt-node build --onnx=model.onnx --minShapes=input:1x3x224x224 --optShapes=input:16x3x224x224 \\',
    '           --maxShapes=input:32x3x224x224 --fp16 --saveEngine=model.plan',
    '',
    'Flags:',
  ];
  for (const [name, d] of Object.entries(BUILD_FLAGS)) lines.push(`  --${(name + (d.kind === 'value' ? '=<v>' : '')).padEnd(32)}${d.help}`);
  return lines;
}

/** TensorRtError codes that mean "the command line asked for something this model cannot have" (exit 2). */
const USAGE_CODES = new Set<ErrorCode>(['ERR_INVALID_ARGUMENT', 'ERR_UNKNOWN_TENSOR', 'ERR_SHAPE_MISMATCH', 'ERR_CONFIG']);

function formatBytes(n: number): string {
  return n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}

/** The progress display: one bar per TensorRT phase that is running, nested phases indented. */
class PhaseBars {
  readonly #multi: import('cli-progress').MultiBar;
  readonly #bars = new Map<string, { bar: import('cli-progress').SingleBar; steps: number }>();
  readonly #depth = new Map<string, number>();

  constructor(cliProgress: typeof import('cli-progress')) {
    this.#multi = new cliProgress.MultiBar(
      { stream: process.stderr, format: '{phase} [{bar}] {value}/{total}', hideCursor: true, clearOnComplete: true, barsize: 24, fps: 10, autopadding: true },
      cliProgress.Presets.shades_classic,
    );
  }

  event(e: BuildProgressEvent): void {
    if (e.type === 'phaseStart') {
      const depth = e.parent !== null ? (this.#depth.get(e.parent) ?? 0) + 1 : 0;
      this.#depth.set(e.phase, depth);
      const steps = Math.max(1, e.steps);
      this.#bars.get(e.phase)?.bar.stop();
      this.#bars.set(e.phase, { bar: this.#multi.create(steps, 0, { phase: `${'  '.repeat(depth)}${e.phase}`.padEnd(40) }), steps });
    } else if (e.type === 'step') {
      const b = this.#bars.get(e.phase);
      b?.bar.update(Math.min(b.steps, e.step + 1));
    } else if (e.type === 'phaseEnd') {
      const b = this.#bars.get(e.phase);
      if (b) {
        this.#multi.remove(b.bar);
        this.#bars.delete(e.phase);
      }
    }
  }

  log(line: string): void {
    this.#multi.log(`${line}\n`);
  }

  stop(): void {
    this.#multi.stop();
  }
}

/**
 * Runs `tensorrt-node build` on `argv` (the arguments after `build`); resolves with the exit code:
 * 0 built, 1 the build failed, 2 usage error, 130 cancelled.
 */
export async function runBuildCli(argv: string[], io: BuildCliIo = defaultIo): Promise<number> {
  const verboseFlag = argv.includes('--verbose');
  const fail = (e: unknown, exit?: number): number => {
    const err = e instanceof TensorRtError ? e : undefined;
    const code = err?.code ?? 'ERR_UNEXPECTED';
    const message = e instanceof Error ? e.message : String(e);
    const [first, ...rest] = message.split('\n');
    io.err(`tensorrt-node build: ${first} [${code}]`);
    // the parser's errors name the ONNX nodes, and the loader says where it looked: show them
    for (const l of rest) if (l.trim()) io.err(l);
    if (verboseFlag && e instanceof Error && e.stack) io.err(e.stack);
    return exit ?? (err?.code === 'ERR_ABORTED' ? 130 : err && USAGE_CODES.has(err.code) ? 2 : 1);
  };

  let parsed: ParsedBuildArgs;
  try {
    parsed = parseBuildArgs(argv);
  } catch (e) {
    return fail(e, 2);
  }
  if (parsed.help) {
    for (const l of buildHelp()) io.out(l);
    return 0;
  }
  const options = parsed.options;
  try {
    const { validateBuildOptions } = await import('../tensorrt/build.js');
    validateBuildOptions(options);
  } catch (e) {
    return fail(e, 2);
  }

  const controller = new AbortController();
  options.signal = controller.signal;
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts === 1) {
      io.err(`${sig}: cancelling the build at TensorRT's next step (again to quit at once)`);
      controller.abort(new TensorRtError('ERR_ABORTED', `cancelled by ${sig}`));
    } else {
      (io.exit ?? ((c: number) => process.exit(c)))(130);
    }
  };
  const signals = io.signals ?? process;
  if (io.handleSignals !== false) {
    signals.on('SIGINT', onSignal);
    signals.on('SIGTERM', onSignal);
  }
  let bars: PhaseBars | undefined;
  if (io.progress ?? process.stderr.isTTY === true) {
    bars = new PhaseBars((await import('cli-progress')).default);
    options.onProgress = (e) => bars!.event(e);
  }
  const severityShown = parsed.verbose ? 'verbose' : 'warning';
  options.logSeverity = severityShown;
  options.onLog = (severity, message) => {
    const line = `[TensorRT] ${severity}: ${message}`;
    if (bars) bars.log(line);
    else io.err(line);
  };

  let result: BuildResult;
  try {
    const run = io.build ?? (await import('../tensorrt/build.js')).build;
    result = await run(options);
  } catch (e) {
    bars?.stop();
    return fail(e);
  } finally {
    if (io.handleSignals !== false) {
      signals.off('SIGINT', onSignal);
      signals.off('SIGTERM', onSignal);
    }
  }
  bars?.stop();

  const model = typeof options.onnx === 'string' ? options.onnx : 'the model';
  for (const w of result.warnings) io.err(`warning: ${w}`);
  io.out(
    `built ${options.saveEngine ?? 'a plan (not saved: no --saveEngine)'} (${formatBytes(result.plan.byteLength)}) from ${model} in ${(result.buildMs / 1000).toFixed(1)} s ` +
      `with TensorRT ${result.tensorrtVersion} on ${result.device.name} (compute capability ${result.device.computeCapability})`,
  );
  for (const t of result.io) io.out(`  ${t.mode.padEnd(6)} ${t.name}  ${t.dtype}  [${t.shape.join(', ')}]`);
  (options.profiles ?? []).forEach((p, i) => {
    for (const [name, r] of Object.entries(p)) io.out(`  profile ${i}: ${name} min ${r.min.join('x')}  opt ${r.opt.join('x')}  max ${r.max.join('x')}`);
  });
  if (options.timingCacheFile !== undefined) io.out(`timing cache written to ${options.timingCacheFile}`);
  return 0;
}

/** Adds `build` to the tensorrt-node program (lib/cli/cli.ts); `setCode` receives the exit code. */
