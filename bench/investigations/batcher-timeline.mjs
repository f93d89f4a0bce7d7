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
 * here with each other, not with untimed runs (`tensorrt-node bench --batcher`). The host's side
 * of the batcher's runs (performance.now() around run()) splits the off time: JS time in the
 * run() call, host run less GPU span (hand-off to the stream's watcher thread + completion
 * detection; split with the host time of the timeline mark, which is good to a few µs when the
 * GPU is idle at the mark), host off (JS turnaround).
 *
 *   [VARIANTS=on-poll,off-wake] node bench/investigations/batcher-timeline.mjs [plan] [--duration-ms 1500] [--callers 64]
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
let epochHost = 0; // performance.now() at markTimingEpoch
const timed = new WeakSet();
const run = ExecutionContext.prototype.run;
ExecutionContext.prototype.run = function (...args) {
  if (!timed.has(this)) {
    this.setTiming(true);
    timed.add(this);
  }
  const stream = tag(this);
  const call = performance.now();
  const p = run.apply(this, args);
  const returned = performance.now();
  return p.then((t) => {
    if (t && t.length >= 5) runs.push({ stream, h2d: t[0], compute: t[1], d2h: t[2], start: t[3], end: t[4], call, returned, resolved: performance.now() });
    return t;
  });
};

/**
 * The host's side of the same runs (performance.now(), ms): the JS time inside the native run()
 * call, the host's run (call → promise reaction) less the GPU span (launch hand-off + completion
 * detection), and the host's off time (a stream's reaction → its next run() call: scatter,
 * callers' next requests, batch formation). Skips the first quarter, as summarizeTimeline.
 */
function hostSide(records) {
  const byStream = new Map();
  for (const r of records) if (r.call !== undefined) (byStream.get(r.stream) ?? byStream.set(r.stream, []).get(r.stream)).push(r);
  const out = [];
  for (const [stream, rs] of byStream) {
    rs.sort((a, b) => a.call - b.call);
    const kept = rs.slice(Math.floor(rs.length / 4));
    const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
    const offs = [];
    for (let i = 1; i < kept.length; i++) offs.push(kept[i].call - kept[i - 1].resolved);
    out.push({
      stream,
      callUs: mean(kept.map((r) => (r.returned - r.call) * 1000)),
      runLessSpanUs: mean(kept.map((r) => (r.resolved - r.call - (r.end - r.start)) * 1000)),
      // split of the above on the host clock (GPU times are ms from the mark, made at epochHost):
      // run() call → the span's start on the GPU (hand-off, staged copies still going), and the
      // span's end → the promise reaction (completion detection, a JS thread busy elsewhere)
      toStartUs: mean(kept.map((r) => (epochHost + r.start - r.call) * 1000)),
      toReactionUs: mean(kept.map((r) => (r.resolved - (epochHost + r.end)) * 1000)),
      hostOffUs: mean(offs) * 1000,
    });
  }
  return out;
}
const benchmark = ExecutionContext.prototype.benchmark;
ExecutionContext.prototype.benchmark = function (...args) {
  const stream = tag(this);
  return benchmark.apply(this, args).then((r) => {
    for (let i = 0; i < r.startMs.length; i++) loops.push({ stream, start: r.startMs[i], end: r.endMs[i], h2d: r.h2dUs[i] / 1000, compute: r.computeUs[i] / 1000, d2h: r.d2hUs[i] / 1000 });
    return r;
  });
};

// VARIANTS=on-poll,off-wake,on-poll-nostage,... (graph on/off, completion, and -nostage: the
// batcher without stageOnArrival) picks some; default the four with staging
const picked = process.env.VARIANTS?.split(',');
const variants = [];
for (const cudaGraph of [false, true])
  for (const completion of ['poll', 'wake'])
    for (const stage of [true, false]) {
      const id = `${cudaGraph ? 'on' : 'off'}-${completion}${stage ? '' : '-nostage'}`;
      if (picked ? picked.includes(id) : stage) variants.push({ cudaGraph, completion, stage });
    }
const knobs = ['TRTNODE_COPY_THREADS'].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]}`);
if (knobs.length) console.log(`addon switches: ${knobs.join(' ')}`);
const out = [];
for (const { cudaGraph, completion, stage } of variants) {
  runs = [];
  loops = [];
  markTimingEpoch(0);
  epochHost = performance.now();
  const r = await runBench({
    plan,
    durationMs: values['duration-ms'],
    warmupMs: 500,
    streams: 2,
    cudaGraph,
    completion,
    batcher: { concurrency: [values.callers], maxBatchSize: 32, maxQueueDelayUs: 500, staticBatchSizes: [32], staticDurationMs: 1000, requestMemory: 'pinned', callerOutputs: true, stageOnArrival: stage },
  });
  const b = r.batcher;
  const ratio = b.runs[0].inferencesPerSecond / (b.bestStatic?.inferencesPerSecond ?? Number.NaN);
  const label = `graph ${cudaGraph ? 'on ' : 'off'} ${completion.padEnd(4)} ${stage ? 'staged ' : 'nostage'}`;
  const st = summarizeTimeline(loops);
  const bt = summarizeTimeline(runs);
  console.log(`${label} batcher ${b.runs[0].inferencesPerSecond.toFixed(0)}/s (batch ${b.runs[0].meanBatchSize.toFixed(1)}) / static ${b.bestStatic?.inferencesPerSecond.toFixed(0)}/s = ${ratio.toFixed(3)}`);
  console.log('  ' + formatTimeline('static ', st));
  console.log('  ' + formatTimeline('batcher', bt));
  const host = hostSide(runs);
  console.log('  host   : ' + host.map((h) => `run() call ${h.callUs.toFixed(0)}, host run − GPU span ${h.runLessSpanUs.toFixed(0)} (call → start ${h.toStartUs.toFixed(0)}, end → reaction ${h.toReactionUs.toFixed(0)}), host off ${h.hostOffUs.toFixed(0)}`).join(' | ') + ' (µs)');
  out.push({ cudaGraph, completion, stageOnArrival: stage, ratio, batcherIps: b.runs[0].inferencesPerSecond, staticIps: b.bestStatic?.inferencesPerSecond, static: st, batcher: bt, host });
}
console.log(JSON.stringify(out));
