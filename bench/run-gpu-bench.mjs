#!/usr/bin/env node
/**
 * The GPU benchmark matrix, on the GPU host (after `npm run build`):
 *
 *   [TRTNODE_FIXTURES=fixtures/gpu] [TRTEXEC=/path/to/trtexec] node bench/run-gpu-bench.mjs [out.json]
 *
 *  - tiny.plan, batch 1: CUDA graph off / on, completions woken / polled;
 *  - classifier_fp16.plan and classifier_fp32.plan at batch 1 and 32;
 *  - resnet50_fp16.plan and wide_resnet101_2_fp16.plan (when present) at batch 1, 16, 32 × streams
 *    1 (and 2 at batch 32) × CUDA graph off / on, against trtexec when TRTEXEC is set; one
 *    ResNet-50 case with the copies not overlapped (--exposeDMA), one with no transfers;
 *  - session.run with device-resident ResNet-50 tensors against the C++ loop;
 *  - the dynamic batcher on resnet50_fp16.plan (issue 18): the best static batch on 2 and 4
 *    contexts, then the defaults and the tuned configuration at 8/16/64/256 callers, on 2 and 4
 *    instances, and the trade-offs (no graphs, woken completions, no assembly on arrival).
 *
 * Every case runs the C++ reference loop and the JS loop (and trtexec when TRTEXEC is set and is
 * trtexec); each timed phase lasts DURATION_MS (default 2000) after WARMUP_MS (default 500).
 * SECTIONS=matrix,session,batcher (default: all) runs only the parts named; CASES=<regexp> only
 * the matrix cases whose id matches.
 * Writes one JSON file (default $OUT/bench-<date>.json, or bench/results/ without OUT), the
 * Markdown report and SVG chart next to it (bench/report.mjs), and prints a summary table.
 * Library: bench/lib.mjs (../dist, or the dist/index.js in TRTNODE_LIB).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadLibrary } from './lib.mjs';

const here = new URL('.', import.meta.url);
const lib = await loadLibrary();
const { runBench, checkTrtexec, cudaInfo, Runtime, Session, deviceTensor, DeviceBuffer, HostBuffer, Stream } = lib;
const { writeReport } = await import(new URL('./report.mjs', here).href);

// The .plan files: $TRTNODE_FIXTURES/engines (as the GPU suite finds them), else fixtures/gpu/engines.
const FIXTURES = resolve(join(process.env.TRTNODE_FIXTURES ?? 'fixtures/gpu', 'engines'));
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
// Completions collected by polling the event loop instead of waking it (the +5 µs target with a graph).
add({ id: 'tiny-b1-poll', group: 'tiny', model: 'tiny', batch: 1, completion: 'poll', methods: ['cpp', 'js'] });
add({ id: 'tiny-b1-graph-poll', group: 'tiny', model: 'tiny', batch: 1, cudaGraph: true, completion: 'poll', methods: ['cpp', 'js'] });
for (const model of ['classifier_fp16', 'classifier_fp32']) for (const batch of [1, 32]) add({ id: `${model}-b${batch}`, group: 'classifier', model, batch });
// Against trtexec (when TRTEXEC is set), same plan and options: batch 1, 16 and 32, one and two
// streams, with and without CUDA graphs; ResNet-50 FP16 and the workflow's wide_resnet101_2 FP16
// (built with a 1/16/32 profile). Two inferences in flight per stream, as trtexec runs them.
for (const model of ['resnet50_fp16', 'wide_resnet101_2_fp16'])
  for (const batch of [1, 16, 32])
    for (const streams of [1, 2])
      for (const cudaGraph of [false, true]) {
        if (streams === 2 && batch !== 32) continue;
        add({ id: `${model}-b${batch}-s${streams}${cudaGraph ? '-graph' : ''}`, group: model, model, batch, streams, cudaGraph });
      }
// Batch 32, one stream, no graph (where JS trailed trtexec most on 2026-12-07): the watcher
// spinning instead of sleeping adaptively, and completions polled by the JS thread; which one
// closes the gap says where the time goes.
for (const model of ['resnet50_fp16', 'wide_resnet101_2_fp16']) {
  add({ id: `${model}-b32-s1-spin`, group: model, model, batch: 32, waitMode: 'spin' });
  add({ id: `${model}-b32-s1-poll`, group: model, model, batch: 32, completion: 'poll' });
}
// One inference at a time (trtexec --exposeDMA): what overlapping the copies gains.
add({ id: 'resnet50_fp16-b32-s1-no-overlap', group: 'resnet50_fp16', model: 'resnet50_fp16', batch: 32, overlap: false });
// Device-resident inputs and outputs, and completions polled.
add({ id: 'resnet50_fp16-b32-s1-nodt', group: 'resnet50_fp16', model: 'resnet50_fp16', batch: 32, dataTransfers: false });
add({ id: 'resnet50_fp16-b32-s1-graph-poll', group: 'resnet50_fp16', model: 'resnet50_fp16', batch: 32, cudaGraph: true, completion: 'poll', methods: ['cpp', 'js'] });

// SECTIONS=matrix,session,batcher (default: all three) runs a part of the whole, e.g. to re-measure
// session.run alone in a short device call.
const SECTIONS = new Set((process.env.SECTIONS ?? 'matrix,session,batcher').split(','));
if (!SECTIONS.has('matrix')) cases.length = 0;
// CASES=<regular expression>: only the matrix cases whose id matches (a shorter device call).
if (process.env.CASES) {
  const only = new RegExp(process.env.CASES);
  for (let i = cases.length - 1; i >= 0; i--) if (!only.test(cases[i].id)) cases.splice(i, 1);
}
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
      ...(c.overlap === false ? { overlap: false } : {}),
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
// Issue 18: single-image callers of ResNet-50 FP16, max batch 32, 500 µs queue delay, against the
// best static batch of the same engine in the same run (the C++ loop with CUDA graphs and two
// inferences in flight per instance). "defaults": the plain user code, requests in ordinary JS
// arrays and nothing set on the backend; "tuned": requests in pinned memory and each caller's own
// output buffers. 2 instances at 8/16/64/256 callers, then 4 instances.
// BATCHER_MODEL=<fixture> runs the same section on another plan with a batch-32 profile (e.g.
// classifier_fp16 where the ResNet-50 plan could not be built); the issue's case is ResNet-50.
const BATCHER_MODEL = process.env.BATCHER_MODEL ?? 'resnet50_fp16';
const batcher = { id: `${BATCHER_MODEL}-batcher`, model: BATCHER_MODEL, plan: plan(BATCHER_MODEL), maxBatchSize: 32, maxQueueDelayUs: 500 };
const batcherVariants = [];
const BATCHER_VARIANTS = [
  { id: 'defaults', instances: 2, concurrency: [8, 16, 64, 256], plot: true },
  { id: 'tuned', instances: 2, concurrency: [8, 16, 64, 256], requestMemory: 'pinned', callerOutputs: true },
  { id: 'defaults-4-instances', instances: 4, concurrency: [64, 256] },
  { id: 'tuned-4-instances', instances: 4, concurrency: [64, 256], requestMemory: 'pinned', callerOutputs: true },
  // trade-offs against the defaults: no CUDA graphs; completions waking the event loop
  { id: 'no-graphs', instances: 2, concurrency: [64], cudaGraph: false },
  { id: 'wake', instances: 2, concurrency: [64], completion: 'wake' },
  { id: 'no-stage-on-arrival', instances: 2, concurrency: [64], stageOnArrival: false },
  // 64 callers fill only one batch of 32 per instance: batches of 16 give each instance two to
  // pipeline (the next one's copy under the current one's compute)
  { id: 'preferred-16', instances: 2, concurrency: [64], preferredBatchSizes: [16] },
];
if (!SECTIONS.has('batcher')) {
  batcher.skipped = 'not in SECTIONS';
} else if (!existsSync(batcher.plan)) {
  batcher.skipped = `missing ${batcher.plan}`;
} else {
  const staticBest = {};
  for (const instances of [2, 4]) {
    log(`batcher: static sweep on ${instances} instances (C++ loop, CUDA graphs)`);
    try {
      const r = await runBench({
        plan: batcher.plan,
        durationMs: DURATION_MS,
        warmupMs: WARMUP_MS,
        streams: instances,
        batcher: { concurrency: [1], maxBatchSize: batcher.maxBatchSize, maxQueueDelayUs: batcher.maxQueueDelayUs, staticDurationMs: Math.min(DURATION_MS, 1000), staticCudaGraph: true, staticBatchSizes: [8, 16, 32] },
      });
      staticBest[instances] = r.batcher.bestStatic;
      batcher[`static${instances}`] = { sweep: r.batcher.staticSweep, best: r.batcher.bestStatic, maxBatchLatencyUs: r.batcher.maxBatchLatencyUs };
    } catch (e) {
      batcher.error = errorInfo(e);
      log(`  error: ${batcher.error.message} [${batcher.error.code}]`);
    }
  }
  // A second reference with as many images in flight as 64 single-image callers can have: batch 32,
  // one batch at a time per context (the static loop above keeps two, 128 images on 2 contexts).
  // 64 callers cannot reach the two-in-flight figure whatever the batcher does; this one says how
  // far the batcher is from what 64 images in flight allow.
  log('batcher: static batch 32, one in flight per context, 2 contexts (64 images in flight)');
  try {
    const r = await runBench({ plan: batcher.plan, batch: 32, streams: 2, overlap: false, cudaGraph: true, durationMs: Math.min(DURATION_MS, 1000), warmupMs: WARMUP_MS, methods: ['cpp'] });
    batcher.static2OneInFlight = { batchSize: 32, inferencesPerSecond: r.results.cpp.inferencesPerSecond };
  } catch (e) {
    const err = errorInfo(e);
    log(`  error: ${err.message} [${err.code}]`);
  }
  for (const v of BATCHER_VARIANTS) {
    log(`batcher ${v.id}: ${v.instances} instances, callers ${v.concurrency.join(', ')}`);
    const entry = { ...v };
    batcherVariants.push(entry);
    try {
      const r = await runBench({
        plan: batcher.plan,
        durationMs: DURATION_MS,
        warmupMs: WARMUP_MS,
        streams: v.instances,
        ...(v.cudaGraph !== undefined ? { cudaGraph: v.cudaGraph } : {}),
        ...(v.completion !== undefined ? { completion: v.completion } : {}),
        batcher: {
          concurrency: v.concurrency,
          maxBatchSize: batcher.maxBatchSize,
          maxQueueDelayUs: batcher.maxQueueDelayUs,
          staticSweep: false,
          requestMemory: v.requestMemory ?? 'js',
          callerOutputs: v.callerOutputs === true,
          ...(v.stageOnArrival === false ? { stageOnArrival: false } : {}),
          ...(v.preferredBatchSizes ? { preferredBatchSizes: v.preferredBatchSizes } : {}),
        },
      });
      const best = staticBest[v.instances];
      const oneInFlight = batcher[`static${v.instances}OneInFlight`];
      entry.bestStatic = best;
      const bound = batcher[`static${v.instances}`]?.maxBatchLatencyUs;
      entry.runs = r.batcher.runs.map((x) => ({
        ...x,
        ratioToBestStatic: best ? x.inferencesPerSecond / best.inferencesPerSecond : undefined,
        ratioToOneInFlight: oneInFlight ? x.inferencesPerSecond / oneInFlight.inferencesPerSecond : undefined,
        // p99 ≤ max queue delay + 2 × one batch's compute time (the static batch-32 latency)
        p99BoundUs: bound !== undefined ? batcher.maxQueueDelayUs + 2 * bound : undefined,
        p99WithinBound: bound !== undefined ? x.latency.p99 <= batcher.maxQueueDelayUs + 2 * bound : undefined,
      }));
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
const rows = [['case', 'trtexec qps', 'C++ qps', 'JS qps', 'JS/C++', 'JS−C++ mean µs', 'JS−C++ p99 µs', 'JS/trtexec', 'trtexec median µs', 'JS median µs']];
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
    f(r.ratios.jsOverTrtexecThroughput, 3),
    f(r.results.trtexec?.latency?.median),
    f(r.results.js?.latency?.median),
  ]);
}
for (const n of [2, 4]) {
  const st = batcher[`static${n}`];
  if (st?.best) rows.push([`best static, ${n} instances`, f(st.best.inferencesPerSecond), `batch ${st.best.batchSize}`, '', '', '', '']);
  const one = batcher[`static${n}OneInFlight`];
  if (one) rows.push([`static, ${n} instances, 1 in flight each`, f(one.inferencesPerSecond), 'batch 32', '', '', '', '']);
}
if (batcher.skipped) rows.push(['batcher', batcher.skipped, '', '', '', '', '']);
for (const r of sessionRuns) rows.push([r.id, r.error ? `error ${r.error.code}` : '', f(r.cppQps), f(r.sessionQps), f(r.ratio, 3), '', '']);
if (batcherVariants.length) rows.push(['batcher variant ×callers', 'infer/s', '/best static (/1 in flight)', 'p50 ms', 'p99 ms', 'mean batch', 'p99 ≤ bound']);
for (const v of batcherVariants) {
  if (!v.runs) {
    rows.push([`batcher ${v.id}`, `error ${v.error?.code ?? ''}`, '', '', '', '', '']);
    continue;
  }
  for (const r of v.runs) rows.push([`${v.id} ×${r.concurrency}`, f(r.inferencesPerSecond), `${f(r.ratioToBestStatic, 3)}${r.ratioToOneInFlight !== undefined ? ` (${f(r.ratioToOneInFlight, 3)})` : ''}`, f(r.latency.median / 1000, 3), f(r.latency.p99 / 1000, 3), f(r.meanBatchSize, 2), String(r.p99WithinBound ?? '-')]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  '));
console.log(`\n${outPath}${written.length ? `\n${written.join('\n')}` : ''}\n(${f(data.elapsedSeconds, 0)} s)`);
