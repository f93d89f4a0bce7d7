import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { oneLineMessage, runBenchCli, type BenchCliIo } from '../../lib/cli/bench.js';
import { runCli } from '../../lib/cli/cli.js';
import { TensorRtError } from '../../lib/errors.js';
import { Runtime } from '../../lib/tensorrt/runtime.js';
import { timingStats } from '../../lib/bench/stats.js';
import type { RunBenchOptions } from '../../lib/bench/run.js';
import type { BenchLoopResult, BenchReport } from '../../lib/bench/types.js';

function io(extra: Partial<BenchCliIo> = {}): BenchCliIo & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { out: (l) => outLines.push(l), err: (l) => errLines.push(l), progress: false, outLines, errLines, ...extra };
}

function loop(method: BenchLoopResult['method'], meanUs: number, qps: number): BenchLoopResult {
  const lat = Array.from({ length: 100 }, (_, i) => meanUs - 50 + i);
  return {
    method,
    iterations: 100,
    wallMs: (100 / qps) * 1000,
    throughputQps: qps,
    inferencesPerSecond: qps * 32,
    latency: timingStats(lat),
    enqueue: timingStats(lat.map((v) => v / 50)),
    h2d: timingStats(lat.map((v) => v / 4)),
    compute: timingStats(lat.map((v) => v / 2)),
    d2h: timingStats(lat.map((v) => v / 100)),
    cudaGraph: false,
  };
}

function fakeReport(o: RunBenchOptions): BenchReport {
  return {
    version: 1,
    date: '2026-11-25T12:00:00.000Z',
    environment: { node: 'v20.0.0', platform: 'linux x64', uvThreadpoolSize: 4, tensorrt: { version: '10.3.0', flavor: 'full', libraryPath: '/x' }, cuda: { driverVersion: 12040, runtimeVersion: 12040, device: { index: 0, name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0', totalMemory: 1 } } },
    config: { plan: o.plan, device: 0, profile: 0, shapes: { input: [32, 3, 224, 224] }, batch: 32, streams: 1, cudaGraph: false, dataTransfers: true,
    overlap: true, durationMs: 3000, warmupMs: 200, methods: ['cpp', 'js'] },
    results: { cpp: loop('cpp', 5400, 185), js: loop('js', 5450, 183) },
    ratios: { jsOverCppThroughput: 183 / 185, jsMinusCppLatencyUs: { mean: 50, median: 50, p90: 50, p99: 50 } },
    notes: ['TRTEXEC is not set: the C++ loop stands in for trtexec.'],
  };
}

let tmp: string;
let fakePlan: string;
const savedTrtexec = process.env.TRTEXEC;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'trtn-bench-cli-'));
  fakePlan = path.join(tmp, 'model.plan');
  writeFileSync(fakePlan, Buffer.from('this is not a TensorRT plan, just bytes'));
  delete process.env.TRTEXEC;
});
afterEach(() => {
  delete process.env.TRTEXEC;
});
afterAll(() => {
  if (savedTrtexec !== undefined) process.env.TRTEXEC = savedTrtexec;
  rmSync(tmp, { recursive: true, force: true });
});

const ONE_LINE = /^tensorrt-node bench: [^\n]+ \[[A-Z_]+\]$/;

describe('tensorrt-node bench: argument errors', () => {
  it.each([
    [[], /missing required argument 'model\.plan'/],
    [['m.plan', '--frobnicate'], /unknown option '--frobnicate'/],
    [['m.plan', 'extra.plan'], /too many arguments/],
    [['m.plan', '--shapes', 'input:32x3xx224'], /malformed dimensions "32x3xx224" for 'input'/],
    [['m.plan', '--shapes', 'input'], /malformed --shapes entry "input"/],
    [['m.plan', '--iterations', '100', '--duration', '3'], /'--iterations <n>' cannot be used with option '--duration <s>'/],
    [['m.plan', '--iterations', 'many'], /--iterations must be an integer >= 1, got "many"/],
    [['m.plan', '--iterations', '0'], /--iterations must be an integer >= 1, got 0/],
    [['m.plan', '--duration', '0'], /--duration must be a positive number of seconds/],
    [['m.plan', '--warmup', '-1'], /--warmup must be a non-negative number of seconds/],
    [['m.plan', '--streams', '0'], /--streams must be an integer >= 1/],
    [['m.plan', '--concurrency', '8'], /--concurrency needs --batcher/],
    [['m.plan', '--max-batch', '8'], /--max-batch needs --batcher/],
    [['m.plan', '--max-queue-delay-us', '100'], /--max-queue-delay-us needs --batcher/],
    [['m.plan', '--request-memory', 'pinned'], /--request-memory needs --batcher/],
    [['m.plan', '--no-stage-on-arrival'], /--no-stage-on-arrival needs --batcher/],
    [['m.plan', '--completion', 'soon'], /Allowed choices are wake, poll/],
    [['m.plan', '--batcher', '--concurrency', '8,x'], /--concurrency must be a positive integer or a comma-separated list/],
    [['m.plan', '--wait-mode', 'sometimes'], /Allowed choices are adaptive, spin, block/],
    [['m.plan', '--json'], /option '--json <file>' argument missing/],
  ])('%j → exit 2 and one line', async (argv, msg) => {
    const o = io({ run: () => Promise.reject(new Error('must not run')) });
    expect(await runBenchCli(argv, o)).toBe(2);
    expect(o.errLines).toHaveLength(1);
    expect(o.errLines[0]).toMatch(ONE_LINE);
    expect(o.errLines[0]).toMatch(msg);
    expect(o.errLines[0]).toMatch(/\[ERR_INVALID_ARGUMENT\]$/);
    expect(o.outLines).toEqual([]);
  });

  it('prints help with exit 0', async () => {
    const o = io();
    expect(await runBenchCli(['--help'], o)).toBe(0);
    const help = o.outLines.join('\n');
    for (const flag of ['--shapes', '--iterations', '--duration', '--rounds', '--warmup', '--streams', '--cuda-graph', '--no-data-transfers', '--batcher', '--concurrency', '--max-queue-delay-us', '--max-batch', '--json', '--device', '--profile', '--completion', '--no-overlap', '--request-memory', '--verbose']) {
      expect(help).toContain(flag);
    }
  });
});

describe('tensorrt-node bench: options', () => {
  it('turns flags into runBench options', async () => {
    let got: RunBenchOptions | undefined;
    const o = io({ run: async (opts) => ((got = opts), fakeReport(opts)) });
    const argv = ['m.plan', '--shapes', 'input:32x3x224x224,mask:32x128', '--duration', '2.5', '--warmup', '0.5', '--streams', '2', '--cuda-graph', '--no-data-transfers', '--device', '1', '--profile', '0', '--wait-mode', 'spin', '--batch', '32'];
    expect(await runBenchCli(argv, o)).toBe(0);
    expect(got).toEqual({
      plan: 'm.plan',
      shapes: { input: [32, 3, 224, 224], mask: [32, 128] },
      durationMs: 2500,
      warmupMs: 500,
      streams: 2,
      cudaGraph: true,
      dataTransfers: false,
      device: 1,
      profile: 0,
      waitMode: 'spin',
      batch: 32,
      progress: false,
    });
  });

  it('defaults, iterations, and batcher flags', async () => {
    const seen: RunBenchOptions[] = [];
    const run = async (opts: RunBenchOptions) => (seen.push(opts), fakeReport(opts));
    expect(await runBenchCli(['m.plan'], io({ run }))).toBe(0);
    expect(await runBenchCli(['m.plan', '--iterations', '500'], io({ run }))).toBe(0);
    expect(await runBenchCli(['m.plan', '--batcher', '--concurrency', '1,8,64', '--max-queue-delay-us', '250', '--max-batch', '16', '--streams', '2'], io({ run }))).toBe(0);
    expect(await runBenchCli(['m.plan', '--batcher'], io({ run }))).toBe(0);
    expect(await runBenchCli(['m.plan', '--batcher', '--completion', 'poll', '--request-memory', 'pinned'], io({ run }))).toBe(0);
    expect(seen[0]).toEqual({ plan: 'm.plan', streams: 1, dataTransfers: true, progress: false });
    expect(seen[1]).toMatchObject({ iterations: 500 });
    expect(seen[1]!.durationMs).toBeUndefined();
    expect(seen[2]).toMatchObject({ streams: 2, batcher: { concurrency: [1, 8, 64], maxQueueDelayUs: 250, maxBatchSize: 16 } });
    expect(seen[3]!.batcher).toEqual({ concurrency: [32] });
    expect(seen[4]).toMatchObject({ completion: 'poll', batcher: { concurrency: [32], requestMemory: 'pinned' } });
    expect(seen[4]!.batcher!.stageOnArrival).toBeUndefined();
    expect(await runBenchCli(['m.plan', '--batcher', '--request-memory', 'pinned', '--no-stage-on-arrival'], io({ run }))).toBe(0);
    expect(seen[5]!.batcher).toMatchObject({ requestMemory: 'pinned', stageOnArrival: false });
    expect(await runBenchCli(['m.plan', '--no-overlap'], io({ run }))).toBe(0);
    expect(seen[6]).toMatchObject({ overlap: false });
  });

  it('prints the table in trtexec vocabulary, with JS/C++ and JS−C++ columns', async () => {
    const o = io({ run: async (opts) => fakeReport(opts) });
    expect(await runBenchCli(['m.plan'], o)).toBe(0);
    const text = o.outLines.join('\n');
    expect(text).toMatch(/NVIDIA H100 80GB HBM3/);
    expect(text).toMatch(/Metric\s+C\+\+ loop\s+JS\s+JS\/C\+\+\s+JS−C\+\+ \(µs\)/);
    expect(text).toMatch(/Throughput \(qps\)\s+185\.0\s+183\.0\s+0\.989/);
    expect(text).toMatch(/Throughput \(inferences\/s, batch 32\)\s+5920\.0\s+5856\.0/);
    expect(text).toMatch(/Latency mean \(ms\)\s+5\.3995\s+5\.4495\s+\+50\.0/);
    for (const m of ['Latency percentile(99%)', 'Enqueue Time mean', 'H2D Latency mean', 'GPU Compute Time median', 'D2H Latency mean', 'Total Host Walltime']) expect(text).toContain(m);
    expect(text).toMatch(/note: TRTEXEC is not set/);
    expect(o.errLines).toEqual([]);
  });

  it('writes JSON to a file, or to stdout with the table on stderr', async () => {
    const file = path.join(tmp, 'out.json');
    const o = io({ run: async (opts) => fakeReport(opts) });
    expect(await runBenchCli(['m.plan', '--json', file], o)).toBe(0);
    const j = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
    expect(j.results.cpp?.throughputQps).toBe(185);
    expect(o.outLines.at(-1)).toBe(`report written to ${file}`);

    const p = io({ run: async (opts) => fakeReport(opts) });
    expect(await runBenchCli(['m.plan', '--json', '-'], p)).toBe(0);
    expect(JSON.parse(p.outLines.join('\n')).ratios.jsOverCppThroughput).toBeCloseTo(183 / 185, 12);
    expect(p.errLines.join('\n')).toMatch(/Throughput \(qps\)/);
  });

  it.each([
    [new TensorRtError('ERR_SHAPE_OUT_OF_PROFILE', "input 'input' shape [64,3,224,224] is outside optimization profile 0 (min [1,3,224,224], max [32,3,224,224])"), 2],
    [new TensorRtError('ERR_UNKNOWN_TENSOR', "--shapes names 'nope', which is not an input of this engine (inputs: input)"), 2],
    [new TensorRtError('ERR_CONFIG', 'TRTEXEC=/bin/ls is not trtexec'), 2],
    [new TensorRtError('ERR_PLAN_INVALID', 'the plan is corrupt\nsecond line'), 1],
    [new TensorRtError('ERR_CUDA_UNAVAILABLE', 'no CUDA-capable device'), 1],
    [new Error('boom'), 1],
  ])('a failing bench (%s) → exit %i, one line, no stack', async (e, code) => {
    const o = io({ run: () => Promise.reject(e) });
    expect(await runBenchCli(['m.plan'], o)).toBe(code);
    expect(o.errLines).toHaveLength(1);
    expect(o.errLines[0]).toMatch(ONE_LINE);
    expect(o.errLines[0]).toContain(e.message.split('\n')[0]);
  });

  it('multi-line messages become one line (lists dropped)', () => {
    const msg =
      "TensorRT runtime not found (flavor 'auto'). Tried:\n  - libnvinfer.so.10: cannot open shared object file\n  - /opt/tensorrt/lib/libnvinfer.so.10: cannot open\n" +
      'Install TensorRT 10.x and set TENSORRT_LIB_DIR (or LD_LIBRARY_PATH) to the folder holding libnvinfer.so.10, or pass { libraryPath }.';
    expect(oneLineMessage(msg)).toBe(
      "TensorRT runtime not found (flavor 'auto'). Install TensorRT 10.x and set TENSORRT_LIB_DIR (or LD_LIBRARY_PATH) to the folder holding libnvinfer.so.10, or pass { libraryPath }.",
    );
    expect(oneLineMessage('a\nb')).toBe('a b');
    expect(oneLineMessage('errors:\n - one\n - two')).toBe('errors.');
  });

  it('--verbose adds the stack', async () => {
    const o = io({ run: () => Promise.reject(new TensorRtError('ERR_PLAN_INVALID', 'corrupt')) });
    expect(await runBenchCli(['m.plan', '--verbose'], o)).toBe(1);
    expect(o.errLines[0]).toBe('tensorrt-node bench: corrupt [ERR_PLAN_INVALID]');
    expect(o.errLines.join('\n')).toMatch(/    at /);
  });
});

function probeTensorRt(): string | undefined {
  try {
    new Runtime().dispose();
    return undefined;
  } catch (e) {
    return (e as TensorRtError).code ?? 'ERR_UNKNOWN';
  }
}
const missing = probeTensorRt();

describe('tensorrt-node bench on this machine (the real runBench)', () => {
  it.runIf(missing !== undefined)(`without TensorRT/GPU: exit 1 and one line naming what is missing (${missing})`, async () => {
    for (const plan of [fakePlan, path.join(tmp, 'does-not-exist.plan')]) {
      const o = io();
      expect(await runBenchCli([plan, '--duration', '1'], o)).toBe(1);
      expect(o.errLines).toHaveLength(1);
      expect(o.errLines[0]).toMatch(ONE_LINE);
      expect(o.errLines[0]).toMatch(/TensorRT|CUDA|GPU|native addon/);
      expect(o.errLines[0]).toMatch(/\[(ERR_TRT_NOT_FOUND|ERR_CUDA_UNAVAILABLE|ERR_NATIVE_NOT_BUILT|ERR_TRT_VERSION)\]$/);
      expect(o.outLines).toEqual([]);
    }
  });

  it.runIf(missing === undefined)('with TensorRT: a plan that is not a plan → exit 1, one line', async () => {
    const o = io();
    expect(await runBenchCli([fakePlan, '--duration', '1'], o)).toBe(1);
    expect(o.errLines).toHaveLength(1);
    expect(o.errLines[0]).toMatch(ONE_LINE);
  });

  it('TRTEXEC that is not trtexec → exit 2 before anything is loaded', async () => {
    const notTrtexec = path.join(tmp, 'not-trtexec.sh');
    writeFileSync(notTrtexec, '#!/bin/sh\necho "I am a different program"\n');
    chmodSync(notTrtexec, 0o755);
    process.env.TRTEXEC = notTrtexec;
    const o = io();
    expect(await runBenchCli([fakePlan], o)).toBe(2);
    expect(o.errLines).toEqual([`tensorrt-node bench: TRTEXEC=${notTrtexec} is not trtexec (its --help output does not mention TensorRT.trtexec) [ERR_CONFIG]`]);
    process.env.TRTEXEC = path.join(tmp, 'nowhere', 'trtexec');
    const p = io();
    expect(await runBenchCli([fakePlan], p)).toBe(2);
    expect(p.errLines[0]).toMatch(/cannot be run \(ENOENT\) \[ERR_CONFIG\]$/);
  });

  it('is reachable as `tensorrt-node bench`', async () => {
    const errs: string[] = [];
    const saved = process.stderr.write.bind(process.stderr);
    // runCli hands `bench` to runBenchCli with the process streams
    process.stderr.write = ((s: string) => (errs.push(String(s)), true)) as typeof process.stderr.write;
    let code: number;
    try {
      code = await runCli(['bench', 'm.plan', '--frobnicate'], { out: () => undefined, err: (l) => errs.push(l), handleSignals: false });
    } finally {
      process.stderr.write = saved;
    }
    expect(code).toBe(2);
    expect(errs.join('')).toMatch(/tensorrt-node bench: unknown option '--frobnicate' \[ERR_INVALID_ARGUMENT\]/);
  });
});
