#!/usr/bin/env node
/**
 * The batcher-vs-static gap on the GPU's own clock (issue 4). For each variant, the static C++
 * loop at the largest batch on 2 contexts at once, then 64 single-image callers through the
 * dynamic batcher on 2 instances, every run timed with CUDA events from one timeline mark
 * (markTimingEpoch): per stream the GPU span of a batch (h2d, compute, d2h), the time a stream
 * sits empty between batches ("off": the completion reaching JS, scatter, callers' next
 * requests, gather, launch), and the fraction of time the GPU had work from any / both streams.
 * If the batcher's spans equal the static loop's and the GPU is less busy, the gap is the off
 * time; if the GPU is as busy and the spans are longer, the batches themselves run slower.
 * Timing every run adds an event query and a small array per run: compare the ratios printed
 * here with each other, not with bench/batcher-phases.mjs.
 *
 *   node bench/batcher-timeline.mjs [plan] [--duration-ms 1500] [--callers 64]
 */
import { probeSetup } from './probe-setup.mjs';
import { formatTimeline, summarizeTimeline } from './timeline.mjs';

const { lib, plan, values } = await probeSetup('batcher-timeline', 'resnet50_fp16.plan', { 'duration-ms': 1500, callers: 64 });
const { runBench, ExecutionContext, markTimingEpoch } = lib;

// Every context's runs timed, tagged by context; the C++ loop's iterations likewise.
const ids = new WeakMap();
let nextId = 0;
const tag = (ctx) => {
  if (!ids.has(ctx)) ids.set(ctx, nextId++);
  return ids.get(ctx);
};
let runs = [];
let loops = [];
const timed = new WeakSet();
const run = ExecutionContext.prototype.run;
ExecutionContext.prototype.run = function (...args) {
  if (!timed.has(this)) {
    this.setTiming(true);
    timed.add(this);
  }
  const stream = tag(this);
  return run.apply(this, args).then((t) => {
    if (t && t.length >= 5) runs.push({ stream, h2d: t[0], compute: t[1], d2h: t[2], start: t[3], end: t[4] });
    return t;
  });
};
const benchmark = ExecutionContext.prototype.benchmark;
ExecutionContext.prototype.benchmark = function (...args) {
  const stream = tag(this);
  return benchmark.apply(this, args).then((r) => {
    for (let i = 0; i < r.startMs.length; i++) loops.push({ stream, start: r.startMs[i], end: r.endMs[i], h2d: r.h2dUs[i] / 1000, compute: r.computeUs[i] / 1000, d2h: r.d2hUs[i] / 1000 });
    return r;
  });
};

const variants = [];
for (const cudaGraph of [false, true]) for (const completion of ['poll', 'wake']) variants.push({ cudaGraph, completion });
const out = [];
for (const { cudaGraph, completion } of variants) {
  runs = [];
  loops = [];
  markTimingEpoch(0);
  const r = await runBench({
    plan,
    durationMs: values['duration-ms'],
    warmupMs: 500,
    streams: 2,
    cudaGraph,
    completion,
    batcher: { concurrency: [values.callers], maxBatchSize: 32, maxQueueDelayUs: 500, staticBatchSizes: [32], staticDurationMs: 1000, gather: 'backend', requestMemory: 'pinned', callerOutputs: true },
  });
  const b = r.batcher;
  const ratio = b.runs[0].inferencesPerSecond / (b.bestStatic?.inferencesPerSecond ?? Number.NaN);
  const label = `graph ${cudaGraph ? 'on ' : 'off'} ${completion.padEnd(4)}`;
  const st = summarizeTimeline(loops);
  const bt = summarizeTimeline(runs);
  console.log(`${label} batcher ${b.runs[0].inferencesPerSecond.toFixed(0)}/s (batch ${b.runs[0].meanBatchSize.toFixed(1)}) / static ${b.bestStatic?.inferencesPerSecond.toFixed(0)}/s = ${ratio.toFixed(3)}`);
  console.log('  ' + formatTimeline('static ', st));
  console.log('  ' + formatTimeline('batcher', bt));
  out.push({ cudaGraph, completion, ratio, batcherIps: b.runs[0].inferencesPerSecond, staticIps: b.bestStatic?.inferencesPerSecond, static: st, batcher: bt });
}
console.log(JSON.stringify(out));
