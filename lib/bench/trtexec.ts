/**
 * Runs NVIDIA's trtexec on the same plan with flags matching a tensorrt-node bench, and parses
 * its "=== Performance summary ===" into the report shape the other loops use.
 */
import { spawn } from 'node:child_process';
import { TensorRtError } from '../errors.js';
import { formatShapesSpec } from './shapes.js';
import { timingStats, type TimingStats } from './stats.js';
import type { BenchLoopResult } from './types.js';

export interface TrtexecRunOptions {
  /** path of the trtexec binary (TRTEXEC) */
  binary: string;
  plan: string;
  /** shapes for --shapes; pass only the dynamic inputs (trtexec rejects shapes for static ones in some versions) */
  shapes?: Record<string, readonly number[]>;
  /** per stream; sets --iterations=N --duration=0 */
  iterations?: number;
  /** sets --duration (seconds) */
  durationMs?: number;
  warmupMs: number;
  streams: number;
  cudaGraph: boolean;
  dataTransfers: boolean;
  /** false: --exposeDMA (copies and compute in sequence); trtexec overlaps them by default */
  overlap?: boolean;
  device?: number;
  profile?: number;
  /** spin on CUDA events as the C++ loop does (--useSpinWait); default true */
  spinWait?: boolean;
  /** more arguments, appended as given (e.g. --exposeDMA) */
  extraArgs?: readonly string[];
  /** dimension 0 of the first input: inferences/s = qps × batch */
  batch: number;
  /** kill trtexec after this long (default: duration + 120 s) */
  timeoutMs?: number;
}

export interface TrtexecCheck {
  binary: string;
  /** e.g. "TensorRT v100300" when the banner shows it */
  version?: string;
  /** does its --help know --infStreams (TensorRT ≥ 8.6/10) or only --streams */
  infStreams: boolean;
}

/** One parsed metric line of the summary, in milliseconds as trtexec prints it. */
export interface TrtexecMetric {
  min: number;
  max: number;
  mean: number;
  median: number;
  /** by percentile (90, 95, 99 by default) */
  percentiles: Record<string, number>;
}

export interface TrtexecSummary {
  throughputQps: number;
  /** "Timing trace has N queries over X s" */
  queries?: number;
  traceSeconds?: number;
  totalHostWalltimeS?: number;
  totalGpuComputeTimeS?: number;
  /** keyed by trtexec's metric name: Latency, Enqueue Time, H2D Latency, GPU Compute Time, D2H Latency, End-to-End Host Latency */
  metrics: Record<string, TrtexecMetric>;
  /** "TensorRT v100300" from the &&&& banner */
  version?: string;
  passed?: boolean;
  /** [W] lines after the summary (enqueue-bound, unstable compute...) */
  warnings: string[];
}

const NUM = String.raw`[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan`;

function num(s: string): number {
  const t = s.trim().toLowerCase();
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (t === 'nan') return Number.NaN;
  return Number(t);
}

/** Strips trtexec's "[11/25/2026-10:00:00] [I] " prefix. */
function body(line: string): { level?: string; text: string } {
  const m = /^\s*(?:\[[^\]]*\d[^\]]*\]\s*)?\[([IWEVF])\]\s?(.*)$/.exec(line);
  if (m) return { level: m[1]!, text: m[2]! };
  return { text: line };
}

/**
 * Parses trtexec's output (stdout + stderr). Throws ERR_TRT when there is no performance summary
 * (trtexec failed or was run without inference).
 */
export function parseTrtexecOutput(text: string): TrtexecSummary {
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => body(l).text.includes('=== Performance summary ==='));
  const banner = /TensorRT\.trtexec\s*\[(TensorRT v[\w.]+)\]/.exec(text);
  if (start < 0) {
    const err = lines.filter((l) => body(l).level === 'E' || /&&&& FAILED/.test(l)).map((l) => body(l).text.trim());
    throw new TensorRtError('ERR_TRT', `trtexec printed no performance summary${err.length ? `: ${err.slice(-3).join(' | ')}` : ''}`, { tail: lines.slice(-20).join('\n') });
  }
  const s: TrtexecSummary = { throughputQps: Number.NaN, metrics: {}, warnings: [] };
  if (banner) s.version = banner[1]!;
  if (/&&&& PASSED TensorRT\.trtexec/.test(text)) s.passed = true;
  else if (/&&&& FAILED TensorRT\.trtexec/.test(text)) s.passed = false;
  for (const l of lines) {
    const m = new RegExp(String.raw`Timing trace has (\d+) queries over (${NUM}) s`).exec(l);
    if (m) {
      s.queries = Number(m[1]);
      s.traceSeconds = num(m[2]!);
    }
  }
  const metricRe = new RegExp(String.raw`^([A-Za-z0-9 \-]+?):\s*min = (${NUM}) ms, max = (${NUM}) ms, mean = (${NUM}) ms, median = (${NUM}) ms(.*)$`);
  const pctRe = new RegExp(String.raw`percentile\((${NUM})%\) = (${NUM}) ms`, 'g');
  for (let i = start + 1; i < lines.length; i++) {
    const { level, text: t } = body(lines[i]!);
    if (t.includes('===') && !t.includes('Performance summary')) break;
    if (level === 'W' && t.trim() !== '') {
      s.warnings.push(t.trim());
      continue;
    }
    let m: RegExpExecArray | null;
    if ((m = new RegExp(String.raw`^Throughput:\s*(${NUM}) qps`).exec(t))) {
      s.throughputQps = num(m[1]!);
    } else if ((m = new RegExp(String.raw`^Total Host Walltime:\s*(${NUM}) s`).exec(t))) {
      s.totalHostWalltimeS = num(m[1]!);
    } else if ((m = new RegExp(String.raw`^Total GPU Compute Time:\s*(${NUM}) s`).exec(t))) {
      s.totalGpuComputeTimeS = num(m[1]!);
    } else if ((m = metricRe.exec(t))) {
      const percentiles: Record<string, number> = {};
      for (const p of m[6]!.matchAll(pctRe)) percentiles[String(num(p[1]!))] = num(p[2]!);
      s.metrics[m[1]!.trim()] = { min: num(m[2]!), max: num(m[3]!), mean: num(m[4]!), median: num(m[5]!), percentiles };
    }
  }
  if (!Number.isFinite(s.throughputQps)) throw new TensorRtError('ERR_TRT', 'trtexec performance summary has no Throughput line');
  if (!s.metrics['Latency']) throw new TensorRtError('ERR_TRT', 'trtexec performance summary has no Latency line');
  return s;
}

/** A trtexec metric (ms) as TimingStats (µs); percentiles it did not print are NaN. */
function metricStats(m: TrtexecMetric | undefined, count: number): TimingStats | undefined {
  if (!m) return undefined;
  const us = (v: number | undefined) => (v === undefined ? Number.NaN : v * 1000);
  return {
    count,
    min: us(m.min),
    max: us(m.max),
    mean: us(m.mean),
    median: us(m.median),
    p90: us(m.percentiles['90']),
    p95: us(m.percentiles['95']),
    p99: us(m.percentiles['99']),
    total: us(m.mean) * count,
    cv: Number.NaN,
  };
}

/** The summary in the report shape of the C++ and JS loops. */
export function trtexecLoopResult(s: TrtexecSummary, batch: number, cudaGraph: boolean, command?: string[]): BenchLoopResult {
  const count = s.queries ?? 0;
  const wallMs = (s.totalHostWalltimeS ?? s.traceSeconds ?? Number.NaN) * 1000;
  const r: BenchLoopResult = {
    method: 'trtexec',
    iterations: count,
    wallMs,
    throughputQps: s.throughputQps,
    inferencesPerSecond: s.throughputQps * batch,
    latency: metricStats(s.metrics['Latency'], count) ?? timingStats([]),
    cudaGraph,
    warnings: s.warnings,
  };
  const enq = metricStats(s.metrics['Enqueue Time'], count);
  const h2d = metricStats(s.metrics['H2D Latency'], count);
  const comp = metricStats(s.metrics['GPU Compute Time'], count);
  const d2h = metricStats(s.metrics['D2H Latency'], count);
  if (enq) r.enqueue = enq;
  if (h2d) r.h2d = h2d;
  if (comp) r.compute = comp;
  if (d2h) r.d2h = d2h;
  if (s.version) r.trtexecVersion = s.version;
  if (command) r.command = command;
  return r;
}

/** trtexec's command-line flags matching a bench configuration. */
export function trtexecArgs(o: Omit<TrtexecRunOptions, 'binary' | 'batch' | 'timeoutMs'>, check: Pick<TrtexecCheck, 'infStreams'> = { infStreams: true }): string[] {
  const a = [`--loadEngine=${o.plan}`];
  if (o.shapes && Object.keys(o.shapes).length > 0) a.push(`--shapes=${formatShapesSpec(o.shapes)}`);
  if (o.iterations !== undefined) a.push(`--iterations=${o.iterations}`, '--duration=0');
  else if (o.durationMs !== undefined) a.push(`--duration=${+(o.durationMs / 1000).toFixed(3)}`);
  a.push(`--warmUp=${Math.round(o.warmupMs)}`);
  if (o.streams > 1) a.push(check.infStreams ? `--infStreams=${o.streams}` : `--streams=${o.streams}`);
  if (o.cudaGraph) a.push('--useCudaGraph');
  if (!o.dataTransfers) a.push('--noDataTransfers');
  if (o.overlap === false) a.push('--exposeDMA');
  if (o.spinWait !== false) a.push('--useSpinWait');
  if (o.device !== undefined && o.device !== 0) a.push(`--device=${o.device}`);
  if (o.profile !== undefined && o.profile !== 0) a.push(`--useProfile=${o.profile}`);
  if (o.extraArgs) a.push(...o.extraArgs);
  return a;
}

interface Exec {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  error?: Error;
}

function execCapture(binary: string, args: readonly string[], timeoutMs: number): Promise<Exec> {
  return new Promise((resolve) => {
    let output = '';
    let settled = false;
    const done = (r: Exec): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ code: null, signal: null, output: '', error: e as Error });
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done({ code: null, signal: 'SIGKILL', output, error: new Error(`timed out after ${Math.round(timeoutMs / 1000)} s`) });
    }, timeoutMs);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.on('error', (e) => done({ code: null, signal: null, output, error: e }));
    child.on('close', (code, signal) => done({ code, signal, output }));
  });
}

const checked = new Map<string, Promise<TrtexecCheck>>();

/**
 * Makes sure `binary` is trtexec: runs `binary --help` and looks for trtexec's banner
 * ("TensorRT.trtexec") or its option sections. Otherwise ERR_CONFIG. Cached per path.
 */
export function checkTrtexec(binary: string): Promise<TrtexecCheck> {
  let p = checked.get(binary);
  if (!p) {
    p = (async () => {
      const r = await execCapture(binary, ['--help'], 60_000);
      if (r.error && r.output === '') {
        throw new TensorRtError('ERR_CONFIG', `TRTEXEC=${binary} cannot be run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`, { binary });
      }
      const out = r.output;
      const isTrtexec = /TensorRT\.trtexec/.test(out) || (/\btrtexec\b/.test(out) && /--loadEngine/.test(out) && /=== Inference Options ===/.test(out));
      if (!isTrtexec) throw new TensorRtError('ERR_CONFIG', `TRTEXEC=${binary} is not trtexec (its --help output does not mention TensorRT.trtexec)`, { binary });
      const v = /TensorRT\.trtexec\s*\[(TensorRT v[\w.]+)\]/.exec(out);
      const c: TrtexecCheck = { binary, infStreams: /--infStreams/.test(out) };
      if (v) c.version = v[1]!;
      return c;
    })();
    checked.set(binary, p);
    p.catch(() => checked.delete(binary));
  }
  return p;
}

/** Runs trtexec with matching flags; ERR_TRT when it fails or prints no summary. */
export async function runTrtexec(o: TrtexecRunOptions): Promise<BenchLoopResult> {
  const check = await checkTrtexec(o.binary);
  const args = trtexecArgs(o, check);
  const timeout = o.timeoutMs ?? (o.durationMs ?? 3000) + o.warmupMs + 120_000;
  const r = await execCapture(o.binary, args, timeout);
  if (r.error && r.output === '') throw new TensorRtError('ERR_TRT', `trtexec could not be run: ${r.error.message}`);
  let summary: TrtexecSummary;
  try {
    summary = parseTrtexecOutput(r.output);
  } catch (e) {
    const why = r.error ? ` (${r.error.message})` : r.code !== 0 ? ` (exit ${r.code ?? r.signal})` : '';
    throw new TensorRtError('ERR_TRT', `${(e as Error).message}${why}`, { command: [o.binary, ...args] });
  }
  if (r.code !== 0 && summary.passed !== true) throw new TensorRtError('ERR_TRT', `trtexec exited with ${r.code ?? r.signal}`, { command: [o.binary, ...args] });
  const res = trtexecLoopResult(summary, o.batch, o.cudaGraph, [o.binary, ...args]);
  if (!res.trtexecVersion && check.version) res.trtexecVersion = check.version;
  return res;
}
