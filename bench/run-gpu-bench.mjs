#!/usr/bin/env node
/**
 * The GPU benchmark matrix of issue 5, on the GPU host (after `npm run build`):
 *
 *   [FIXTURES=fixtures/gpu/engines] [TRTEXEC=/path/to/trtexec] node bench/run-gpu-bench.mjs [out.json]
 *
 *  - tiny.plan, batch 1: CUDA graph off / on; JS-path wait modes spin / adaptive / block;
 *  - classifier_fp16.plan and classifier_fp32.plan at batch 1, 8, 32;
 *  - resnet50_fp16.plan at batch 1, 8, 32 × streams 1, 2 × CUDA graph off / on;
 *  - the dynamic batcher on resnet50_fp16.plan: 2 instances, maxBatchSize 32, maxQueueDelay
 *    500 µs, single-image callers at concurrency 1, 8, 16, 32, 64, with the best static-batch
 *    throughput measured in the same run (the batch gathered on the launch thread, the
 *    default); then variants at 16 and 64 callers: the JS-thread gather, requests in pinned
 *    memory, completions polled on the event loop (completion 'poll'), and CUDA graphs kept per
 *    batch size (against static batches with graphs, swept in the same run);
 *  - completion 'poll' against 'wake' on tiny b1 and ResNet-50 b32.
 *
 * Every case runs the C++ reference loop and the JS loop (and trtexec when TRTEXEC is set and is
 * trtexec); each timed phase lasts DURATION_MS (default 2000) after WARMUP_MS (default 500).
 * SECTIONS=matrix,session,batcher (default: all) runs only the parts named.
 * Writes one JSON file (default $OUT/bench-<date>.json, or bench/results/ without OUT), the
 * Markdown report and SVG chart next to it (bench/report.mjs), and prints a summary table.
 * Library: bench/lib.mjs (../dist, or the dist/index.js in TENSORRT_NODE_LIB).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadLibrary } from './lib.mjs';

const here = new URL('.', import.meta.url);
const lib = await loadLibrary();
const { runBench, checkTrtexec, cudaInfo, Runtime, Session, deviceTensor, DeviceBuffer, HostBuffer, Stream } = lib;
const { writeReport } = await import(new URL('./report.mjs', here).href);

// $FIXTURES (the folder with the .plan files), else $TRTNODE_FIXTURES/engines, else the first of
// fixtures/engines and fixtures/gpu/engines that exists.
const FIXTURES = resolve(
  process.env.FIXTURES ??
    (process.env.TRTNODE_FIXTURES ? join(process.env.TRTNODE_FIXTURES, 'engines') : ['fixtures/engines', 'fixtures/gpu/engines'].find((d) => existsSync(d)) ?? 'fixtures/engines'),
);
const DURATION_MS = Number(process.env.DURATION_MS ?? 2000);
// The C++ and JS loops of a case alternate in ROUNDS rounds (runBench's `rounds`): the host's
// drift over a case then hits both sides of its ratio alike.
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const WARMUP_MS = Number(process.env.WARMUP_MS ?? 500);
const STAMP = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
const outPath = resolve(process.argv[2] ?? join(process.env.OUT ?? 'bench/results', `bench-${STAMP}.json`));
const started = performance.now();

function log(line) {
  process.stderr.write(`${line}\n`);
}

function errorInfo(e) {
  return { code: e?.code ?? 'ERR_UNEXPECTED', message: String(e?.message ?? e).split('\n')[0] };
}

// ------------------------------------------------------------------ environment and trtexec
const environment = { node: process.version, platform: `${process.platform} ${process.arch}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model?.trim(), hostname: os.hostname() };
try {
  environment.cuda = cudaInfo();
} catch (e) {
  environment.cuda = { error: errorInfo(e) };
}
try {
  const rt = new Runtime();
  environment.tensorrt = rt.info;
  rt.dispose();
} catch (e) {
  environment.tensorrt = { error: errorInfo(e) };
}
let trtexec = false;
if (process.env.TRTEXEC) {
  try {
    const c = await checkTrtexec(process.env.TRTEXEC);
    trtexec = process.env.TRTEXEC;
    environment.trtexec = { binary: trtexec, version: c.version ?? null };
  } catch (e) {
    environment.trtexec = { binary: process.env.TRTEXEC, error: errorInfo(e) };
    log(`warning: ${errorInfo(e).message}; running without trtexec`);
  }
} else {
  environment.trtexec = null;
}

// ------------------------------------------------------------------ the matrix
const plan = (name) => join(FIXTURES, `${name}.plan`);
const cases = [];
// waitMode unset: the stream's default for its completion mode (adaptive with 'wake', spin with 'poll').
const add = (c) => cases.push({ streams: 1, cudaGraph: false, completion: 'wake', methods: ['cpp', 'js', 'trtexec'], ...c });

add({ id: 'tiny-b1', group: 'tiny', model: 'tiny', batch: 1 });
add({ id: 'tiny-b1-graph', group: 'tiny', model: 'tiny', batch: 1, cudaGraph: true });
for (const waitMode of ['spin', 'block']) add({ id: `tiny-b1-${waitMode}`, group: 'tiny', model: 'tiny', batch: 1, waitMode, methods: ['cpp', 'js'] });
// Completions collected by polling the event loop instead of waking it (issue 3's +5 µs target);
// the watcher spins then, unless told to be adaptive.
add({ id: 'tiny-b1-poll', group: 'tiny', model: 'tiny', batch: 1, completion: 'poll', methods: ['cpp', 'js'] });
add({ id: 'tiny-b1-poll-adaptive', group: 'tiny', model: 'tiny', batch: 1, completion: 'poll', waitMode: 'adaptive', methods: ['cpp', 'js'] });
add({ id: 'tiny-b1-graph-poll', group: 'tiny', model: 'tiny', batch: 1, cudaGraph: true, completion: 'poll', methods: ['cpp', 'js'] });
for (const model of ['classifier_fp16', 'classifier_fp32']) for (const batch of [1, 8, 32]) add({ id: `${model}-b${batch}`, group: 'classifier', model, batch });
for (const batch of [1, 8, 32])
  for (const streams of [1, 2])
    for (const cudaGraph of [false, true]) add({ id: `resnet50_fp16-b${batch}-s${streams}${cudaGraph ? '-graph' : ''}`, group: 'resnet50', model: 'resnet50_fp16', batch, streams, cudaGraph });
// Device-resident inputs and outputs (issue 3's ResNet-50 b32 target), and the spin wait mode on it.
add({ id: 'resnet50_fp16-b32-s1-nodt', group: 'resnet50', model: 'resnet50_fp16', batch: 32, dataTransfers: false });
add({ id: 'resnet50_fp16-b32-s1-spin', group: 'resnet50', model: 'resnet50_fp16', batch: 32, waitMode: 'spin', methods: ['cpp', 'js'] });
add({ id: 'resnet50_fp16-b32-s1-poll', group: 'resnet50', model: 'resnet50_fp16', batch: 32, completion: 'poll', methods: ['cpp', 'js'] });
add({ id: 'resnet50_fp16-b32-s1-nodt-poll', group: 'resnet50', model: 'resnet50_fp16', batch: 32, dataTransfers: false, completion: 'poll', methods: ['cpp', 'js'] });
add({ id: 'resnet50_fp16-b32-s1-nodt-poll-adaptive', group: 'resnet50', model: 'resnet50_fp16', batch: 32, dataTransfers: false, completion: 'poll', waitMode: 'adaptive', methods: ['cpp', 'js'] });
add({ id: 'resnet50_fp16-b32-s1-nodt-graph-poll', group: 'resnet50', model: 'resnet50_fp16', batch: 32, dataTransfers: false, cudaGraph: true, completion: 'poll', methods: ['cpp', 'js'] });

// SECTIONS=matrix,session,batcher (default: all three) runs a part of the whole, e.g. to re-measure
// session.run alone in a short device call.
const SECTIONS = new Set((process.env.SECTIONS ?? 'matrix,session,batcher').split(','));
if (!SECTIONS.has('matrix')) cases.length = 0;
const results = [];
for (const [i, c] of cases.entries()) {
  const entry = { ...c, plan: plan(c.model) };
  results.push(entry);
  if (!existsSync(entry.plan)) {
    entry.skipped = `missing ${entry.plan}`;
    log(`[${i + 1}/${cases.length}] ${c.id}: skipped (${entry.skipped})`);
    continue;
  }
  log(`[${i + 1}/${cases.length}] ${c.id}`);
  try {
    // tiny has static shapes (batch 1 built in): no batch override there.
    entry.report = await runBench({
      plan: entry.plan,
      ...(c.group === 'tiny' ? {} : { batch: c.batch }),
      durationMs: DURATION_MS,
      warmupMs: WARMUP_MS,
      ...(c.methods.includes('cpp') && c.methods.includes('js') ? { rounds: ROUNDS } : {}),
      streams: c.streams,
      cudaGraph: c.cudaGraph,
      ...(c.waitMode ? { waitMode: c.waitMode } : {}),
      completion: c.completion,
      methods: c.methods,
      ...(c.dataTransfers === false ? { dataTransfers: false } : {}),
      trtexec,
    });
  } catch (e) {
    entry.error = errorInfo(e);
    log(`  error: ${entry.error.message} [${entry.error.code}]`);
  }
}

// ------------------------------------------------------------------ session.run, device-resident
// Issue 3's wording: ResNet-50 FP16 batch 32 through session.run with device-resident inputs (and
// outputs), against the C++ loop on device-resident buffers (--noDataTransfers) in this process;
// both completion modes, with and without CUDA graphs. The two alternate in ROUNDS rounds (C++
// first, then session first, ...) and each side's iterations are pooled over its rounds.
const sessionRuns = [];
const resnetPlan = plan('resnet50_fp16');
if (SECTIONS.has('session') && existsSync(resnetPlan)) {
  for (const cudaGraph of [false, true]) {
    for (const completion of ['wake', 'poll']) {
      const entry = { id: `session-run-b32-device${cudaGraph ? '-graph' : ''}-${completion}`, cudaGraph, completion, rounds: ROUNDS };
      sessionRuns.push(entry);
      log(`session.run ${entry.id}`);
      let session;
      let input;
      try {
        session = await Session.create(resnetPlan, { outputLocation: 'gpu', completion, cudaGraph });
        const bytes = 32 * 3 * 224 * 224 * 4;
        input = new DeviceBuffer(bytes);
        const host = new HostBuffer(bytes);
        const v = new Float32Array(host.buffer);
        for (let i = 0; i < v.length; i++) v[i] = Math.sin(i * 0.01);
        const stream = new Stream();
        await input.copyFrom(host, { stream });
        stream.dispose();
        host.dispose();
        const feeds = { input: deviceTensor('float32', input, [32, 3, 224, 224]) };
        const roundMs = DURATION_MS / ROUNDS;
        const sessionRound = async (warmupMs) => {
          const wEnd = performance.now() + warmupMs;
          do await session.run(feeds);
          while (performance.now() < wEnd);
          let n = 0;
          const t0 = performance.now();
          const end = t0 + roundMs;
          while (performance.now() < end) {
            await session.run(feeds);
            n++;
          }
          return { n, ms: performance.now() - t0 };
        };
        const cppRound = async (warmupMs) => {
          const r = await runBench({ plan: resnetPlan, batch: 32, dataTransfers: false, cudaGraph, durationMs: roundMs, warmupMs, methods: ['cpp'] });
          return { n: r.results.cpp.iterations, ms: r.results.cpp.wallMs };
        };
        const cpp = [];
        const ses = [];
        for (let r = 0; r < ROUNDS; r++) {
          const w = r === 0 ? WARMUP_MS : Math.min(WARMUP_MS, 100);
          if (r % 2 === 0) {
            cpp.push(await cppRound(w));
            ses.push(await sessionRound(w));
          } else {
            ses.push(await sessionRound(w));
            cpp.push(await cppRound(w));
          }
        }
        const qps = (xs) => xs.reduce((a, x) => a + x.n, 0) / (xs.reduce((a, x) => a + x.ms, 0) / 1000);
        entry.iterations = ses.reduce((a, x) => a + x.n, 0);
        entry.cppQps = qps(cpp);
        entry.sessionQps = qps(ses);
        entry.ratio = entry.sessionQps / entry.cppQps;
        entry.ratioPerRound = ses.map((x, i) => qps([x]) / qps([cpp[i]]));
      } catch (e) {
        entry.error = errorInfo(e);
        log(`  error: ${entry.error.message} [${entry.error.code}]`);
      } finally {
        await session?.dispose();
        input?.dispose();
      }
    }
  }
}

// ------------------------------------------------------------------ batcher
const batcher = { id: 'resnet50_fp16-batcher', model: 'resnet50_fp16', plan: plan('resnet50_fp16'), instances: 2, maxBatchSize: 32, maxQueueDelayUs: 500, concurrency: [1, 8, 16, 32, 64] };
if (!SECTIONS.has('batcher')) {
  batcher.skipped = 'not in SECTIONS';
} else if (!existsSync(batcher.plan)) {
  batcher.skipped = `missing ${batcher.plan}`;
} else {
  log(`batcher: ${batcher.instances} instances, maxBatchSize ${batcher.maxBatchSize}, callers ${batcher.concurrency.join(', ')}`);
  try {
    batcher.report = await runBench({
      plan: batcher.plan,
      durationMs: DURATION_MS,
      warmupMs: WARMUP_MS,
      streams: batcher.instances,
      batcher: { concurrency: batcher.concurrency, maxBatchSize: batcher.maxBatchSize, maxQueueDelayUs: batcher.maxQueueDelayUs, staticDurationMs: Math.min(DURATION_MS, 1000) },
    });
  } catch (e) {
    batcher.error = errorInfo(e);
    log(`  error: ${batcher.error.message} [${batcher.error.code}]`);
  }
}

// Variants of the batcher at 16 and 64 callers. Without graphs they are compared with the best
// static throughput above; with CUDA graphs (kept per batch size) the first graph variant sweeps
// static batches with graphs too, and the graph variants are compared with that. ratioToBestOverall
// compares every variant with the best static throughput of either setting.
const batcherVariants = [];
if (batcher.report?.batcher?.bestStatic) {
  const plain = batcher.report.batcher.bestStatic;
  let graphBest;
  for (const v of [
    // the main run above gathers on the backend (the default): the JS-thread gather for comparison
    { id: 'gather-js', gather: 'js', completion: 'wake', cudaGraph: false },
    { id: 'gather-backend-poll', gather: 'backend', completion: 'poll', cudaGraph: false },
    // requests in pinned memory: the backend gather DMAs them into the batch, no CPU copy
    { id: 'gather-backend-pinned', gather: 'backend', completion: 'wake', cudaGraph: false, requestMemory: 'pinned' },
    { id: 'gather-backend-pinned-poll', gather: 'backend', completion: 'poll', cudaGraph: false, requestMemory: 'pinned' },
    { id: 'graph-gather-backend', gather: 'backend', completion: 'wake', cudaGraph: true, sweep: true },
    { id: 'graph-gather-backend-poll', gather: 'backend', completion: 'poll', cudaGraph: true },
    { id: 'graph-gather-backend-pinned-poll', gather: 'backend', completion: 'poll', cudaGraph: true, requestMemory: 'pinned' },
    // ... and every caller reusing its own output buffers (InferRequestOptions.outputBuffers): no allocation per request
    { id: 'gather-backend-pinned-poll-own-outputs', gather: 'backend', completion: 'poll', cudaGraph: false, requestMemory: 'pinned', callerOutputs: true },
    // (swept over every concurrency and plotted next to the default: the fastest configuration)
    { id: 'graph-gather-backend-pinned-poll-own-outputs', gather: 'backend', completion: 'poll', cudaGraph: true, requestMemory: 'pinned', callerOutputs: true, concurrency: batcher.concurrency, plot: true },
    { id: 'gather-backend-own-outputs', gather: 'backend', completion: 'wake', cudaGraph: false, callerOutputs: true },
  ]) {
    log(`batcher variant ${v.id}`);
    const entry = { ...v };
    batcherVariants.push(entry);
    try {
      const r = await runBench({
        plan: batcher.plan,
        durationMs: DURATION_MS,
        warmupMs: WARMUP_MS,
        streams: batcher.instances,
        cudaGraph: v.cudaGraph,
        completion: v.completion,
        batcher: { concurrency: v.concurrency ?? [16, 64], maxBatchSize: batcher.maxBatchSize, maxQueueDelayUs: batcher.maxQueueDelayUs, staticSweep: v.sweep === true, staticDurationMs: Math.min(DURATION_MS, 1000), gather: v.gather, requestMemory: v.requestMemory ?? 'js', callerOutputs: v.callerOutputs === true },
      });
      if (v.sweep) {
        entry.staticSweep = r.batcher.staticSweep;
        graphBest = r.batcher.bestStatic;
      }
      const best = v.cudaGraph ? graphBest : plain;
      entry.bestStatic = best;
      const overall = Math.max(plain.inferencesPerSecond, graphBest?.inferencesPerSecond ?? 0);
      entry.runs = r.batcher.runs.map((x) => ({ ...x, ratioToBestStatic: best ? x.inferencesPerSecond / best.inferencesPerSecond : undefined, ratioToBestOverall: x.inferencesPerSecond / overall }));
    } catch (e) {
      entry.error = errorInfo(e);
      log(`  error: ${entry.error.message} [${entry.error.code}]`);
    }
  }
}

const data = {
  kind: 'tensorrt-node-gpu-bench',
  version: 1,
  date: new Date().toISOString(),
  environment,
  config: { fixtures: FIXTURES, durationMs: DURATION_MS, warmupMs: WARMUP_MS, rounds: ROUNDS, trtexec: trtexec || null },
  cases: results,
  batcher,
  batcherVariants,
  sessionRuns,
  elapsedSeconds: (performance.now() - started) / 1000,
};
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${JSON.stringify(data, null, 2)}\n`);
let written = [];
try {
  const r = writeReport(data, dirname(outPath));
  written = [r.markdownPath, r.svgPath];
} catch (e) {
  log(`warning: report not written: ${errorInfo(e).message}`);
}

// ------------------------------------------------------------------ summary
const f = (v, d = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '-');
const rows = [['case', 'trtexec qps', 'C++ qps', 'JS qps', 'JS/C++', 'JS−C++ mean µs', 'JS−C++ p99 µs']];
for (const e of results) {
  const r = e.report;
  if (!r) {
    rows.push([e.id, e.skipped ? 'skipped' : `error ${e.error?.code ?? ''}`, '', '', '', '', '']);
    continue;
  }
  rows.push([
    e.id,
    f(r.results.trtexec?.throughputQps),
    f(r.results.cpp?.throughputQps),
    f(r.results.js?.throughputQps),
    f(r.ratios.jsOverCppThroughput, 3),
    f(r.ratios.jsMinusCppLatencyUs?.mean),
    f(r.ratios.jsMinusCppLatencyUs?.p99),
  ]);
}
const b = batcher.report?.batcher;
if (b) {
  rows.push(['', '', '', '', '', '', '']);
  rows.push(['batcher callers', 'infer/s', '/best static', 'p50 ms', 'p99 ms', 'mean batch', 'p99 ≤ bound']);
  for (const r of b.runs) rows.push([String(r.concurrency), f(r.inferencesPerSecond), f(r.ratioToBestStatic, 3), f(r.latency.median / 1000, 3), f(r.latency.p99 / 1000, 3), f(r.meanBatchSize, 2), String(r.p99WithinBound ?? '-')]);
  if (b.bestStatic) rows.push(['best static', f(b.bestStatic.inferencesPerSecond), `batch ${b.bestStatic.batchSize}`, '', '', '', '']);
} else {
  rows.push(['batcher', batcher.skipped ?? `error ${batcher.error?.code ?? ''}`, '', '', '', '', '']);
}
for (const r of sessionRuns) rows.push([r.id, r.error ? `error ${r.error.code}` : '', f(r.cppQps), f(r.sessionQps), f(r.ratio, 3), '', '']);
for (const v of batcherVariants) {
  if (!v.runs) {
    rows.push([`batcher ${v.id}`, `error ${v.error?.code ?? ''}`, '', '', '', '', '']);
    continue;
  }
  for (const r of v.runs) rows.push([`${v.id} ×${r.concurrency}`, f(r.inferencesPerSecond), `${f(r.ratioToBestStatic, 3)} (${f(r.ratioToBestOverall, 3)})`, f(r.latency.median / 1000, 3), f(r.latency.p99 / 1000, 3), f(r.meanBatchSize, 2), '']);
  if (v.sweep && v.bestStatic) rows.push([`${v.id}: best static`, f(v.bestStatic.inferencesPerSecond), `batch ${v.bestStatic.batchSize}`, '', '', '', '']);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  '));
console.log(`\n${outPath}${written.length ? `\n${written.join('\n')}` : ''}\n(${f(data.elapsedSeconds, 0)} s)`);
