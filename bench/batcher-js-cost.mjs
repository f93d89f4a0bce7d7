#!/usr/bin/env node
/**
 * The JS thread's cost per request in the dynamic batcher, without a GPU (issue 4): the shape of
 * bench/batcher-timeline.mjs's workload (64 callers of one ResNet-50-sized image each, their own
 * output buffers, 2 instances, max batch 32, delay 500 µs) on fake instances whose batches take
 * --run-ms on a timer and which take every request as pinned (prefersParts) and stage it
 * (stageInput, a no-op here). Prints the process CPU per request and the batch turnaround on the
 * host (a batch's result resolved → the instance's next runParts call: the callers' next requests
 * and batch formation). Compare runs of one machine with each other; after `npm run build:ts`.
 *
 *   node bench/batcher-js-cost.mjs [--duration-ms 3000] [--run-ms 2] [--callers 64]
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { 'duration-ms': { type: 'string', default: '3000' }, 'run-ms': { type: 'string', default: '2' }, callers: { type: 'string', default: '64' } } });
const { DynamicBatcher, Tensor, timingStats } = await import(new URL('../dist/index.js', import.meta.url).href);
const B = 32;
const CALLERS = Number(values.callers);
const RUN_MS = Number(values['run-ms']);
const ITEM = 3 * 224 * 224;
const turnaroundUs = [];

function fakeInstance() {
  const out = new Float32Array(B * 1000);
  let resolvedAt = 0;
  return {
    kind: 'fake',
    signature: { inputs: [{ name: 'input', dtype: 'float32', shape: [-1, 3, 224, 224] }], outputs: [{ name: 'logits', dtype: 'float32', shape: [-1, 1000] }], maxBatchSize: B },
    prefersParts: () => true,
    stageInput: () => {},
    run: () => Promise.reject(new Error('the batcher should call runParts')),
    runParts: (inputs) => {
      const n = inputs.input.dims[0];
      if (resolvedAt) turnaroundUs.push((performance.now() - resolvedAt) * 1000);
      return new Promise((resolve) =>
        setTimeout(() => {
          resolvedAt = performance.now();
          resolve({ logits: new Tensor('float32', out.subarray(0, n * 1000), [n, 1000]) });
        }, RUN_MS),
      );
    },
    dispose: async () => {},
  };
}

const batcher = new DynamicBatcher([fakeInstance(), fakeInstance()], { maxBatchSize: B, maxQueueDelayMicroseconds: 500 });
const inputs = Array.from({ length: CALLERS }, () => ({ input: new Tensor('float32', new Float32Array(ITEM), [1, 3, 224, 224]) }));
const outs = Array.from({ length: CALLERS }, () => ({ logits: new Float32Array(1000) }));
const loop = (until, count) => Promise.all(inputs.map(async (inp, i) => {
  while (performance.now() < until) {
    await batcher.infer(inp, { outputBuffers: outs[i] });
    count();
  }
}));
await loop(performance.now() + 500, () => {});
turnaroundUs.length = 0;
let n = 0;
const c0 = process.cpuUsage();
const t0 = performance.now();
await loop(t0 + Number(values['duration-ms']), () => n++);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(c0);
const t = timingStats(turnaroundUs);
console.log(`${n} requests, ${((n / wall) * 1000).toFixed(0)}/s; process CPU ${((cpu.user + cpu.system) / n).toFixed(2)} µs/request; batch turnaround median ${t.median.toFixed(0)} µs, p90 ${t.p90.toFixed(0)} µs (${t.count} batches)`);
await batcher.close();
