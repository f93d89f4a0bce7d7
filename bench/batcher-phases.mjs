#!/usr/bin/env node
/**
 * Where a batch's time goes in the dynamic batcher on TensorRT: for each variant (gather on the
 * JS thread or on the launch thread; CUDA graphs off or on; completion wake or poll), 64
 * single-image callers on 2 instances of ResNet-50, and per execution the mean time of the
 * batcher's three phases (gather on the JS thread, the backend call, scatter), next to the
 * throughput. A diagnostic for the batcher-vs-static gap (bench/results/2026-11-25-h100-*).
 *
 *   node bench/batcher-phases.mjs [plan] [--duration-ms 2000] [--callers 64]
 */
import { probeSetup } from './probe-setup.mjs';

const { lib, plan, values } = await probeSetup('batcher-phases', 'resnet50_fp16.plan', { 'duration-ms': 2000, callers: 64 });
const { runBench } = lib;
const durationMs = values['duration-ms'];
const callers = values.callers;

const rows = [];
const variants = [];
for (const gather of ['js', 'backend', 'backend-pinned']) for (const completion of ['wake', 'poll']) variants.push({ cudaGraph: false, gather, completion });
// with graphs (pinned requests are DMA'd before the graph of the inference)
for (const gather of ['js', 'backend-pinned']) for (const completion of ['wake', 'poll']) variants.push({ cudaGraph: true, gather, completion });
// callers reusing their own output buffers (no allocation per request)
for (const cudaGraph of [false, true]) variants.push({ cudaGraph, gather: 'backend-pinned-own', completion: 'poll' });
for (const { cudaGraph, gather, completion } of variants) {
  const r = await runBench({
    plan,
    durationMs,
    warmupMs: 500,
    streams: 2,
    cudaGraph,
    completion,
    batcher: { concurrency: [callers], maxBatchSize: 32, maxQueueDelayUs: 500, staticSweep: false, gather: gather.startsWith('backend') ? 'backend' : 'js', requestMemory: gather.includes('pinned') ? 'pinned' : 'js', callerOutputs: gather.endsWith('-own') },
  });
  const run = r.batcher.runs[0];
  const p = run.meanExecutionUs ?? { input: NaN, infer: NaN, output: NaN };
  rows.push({ cudaGraph, gather, completion, ips: run.inferencesPerSecond, batch: run.meanBatchSize, p50: run.latency.median, input: p.input, infer: p.infer, output: p.output, queue: run.meanQueueUs });
}
const f = (v, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '-');
console.log(`${callers} callers, 2 instances, maxBatchSize 32, maxQueueDelay 500 µs, ${durationMs} ms each; µs per execution (mean)`);
console.log('graph  gather          completion  infer/s  batch  p50 µs  queue µs  gather µs  run µs  scatter µs');
for (const x of rows) {
  console.log(
    `${(x.cudaGraph ? 'on' : 'off').padEnd(6)} ${x.gather.padEnd(15)} ${x.completion.padEnd(11)} ${f(x.ips).padStart(7)}  ${f(x.batch, 1).padStart(5)}  ${f(x.p50).padStart(6)}  ${f(x.queue).padStart(8)}  ${f(x.input).padStart(9)}  ${f(x.infer).padStart(6)}  ${f(x.output).padStart(10)}`,
  );
}
console.log(JSON.stringify(rows));
