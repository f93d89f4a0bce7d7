#!/usr/bin/env node
/**
 * CPU micro-benchmarks of the JS layer with benchmark.js (no GPU; after `npm run build:ts`):
 * what tensorrt-node's own JavaScript costs per call, apart from any engine.
 *
 *   feeds     toTensorFeeds() as Session.run and DynamicBatcher.infer call it on every request
 *             (Tensor feeds: a pass-through), toTensor() of a contiguous ndarray view (no copy)
 *             and of a transposed one (a row-major copy of 3x224x224 floats)
 *   batcher   one request through DynamicBatcher on fake instances that answer at once
 *             (validation, queueing, batch formation, gather, scatter of outputs), 64 callers
 *             per cycle, with Tensor feeds and with ndarray feeds; the requests are small
 *             (16 floats) so that the copies do not hide the JS
 *
 * benchmark.js picks the iteration counts and reports the mean with its relative margin of
 * error; the ratios printed at the end compare cases measured in this same run (compare runs
 * on one machine only). GPU timing is not measured here: that is `tensorrt-node bench`, with
 * trtexec's method.
 *
 *   node bench/js-cost.mjs [--filter batcher] [--max-time 2] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Benchmark from 'benchmark';
import ndarray from 'ndarray';
import { loadLibrary } from './lib.mjs';

const { values } = parseArgs({ options: { filter: { type: 'string' }, 'max-time': { type: 'string', default: '2' }, json: { type: 'string' } } });
const { DynamicBatcher, Tensor, toTensor, toTensorFeeds } = await loadLibrary();
const maxTime = Number(values['max-time']);

const ITEM = 3 * 224 * 224;
const image = new Float32Array(ITEM).map((_, i) => i % 251);
const tensorFeed = { input: new Tensor('float32', image, [1, 3, 224, 224]) };
const ndFeed = { input: ndarray(image, [1, 3, 224, 224]) };
const transposed = ndarray(image, [224, 224, 3]).transpose(2, 0, 1); // HWC data viewed as CHW

/** A model instance that answers every batch at once: the batcher's own JS is all that is timed. */
function fakeInstance(maxBatch) {
  const out = new Float32Array(maxBatch * 10);
  return {
    kind: 'fake',
    signature: { inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 16] }], outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 10] }], maxBatchSize: maxBatch },
    run: (feeds) => Promise.resolve({ y: new Tensor('float32', out.subarray(0, feeds.x.dims[0] * 10), [feeds.x.dims[0], 10]) }),
    dispose: async () => {},
  };
}
const CALLERS = 64;
const small = new Float32Array(16).map((_, i) => i);
const smallTensorFeed = { x: new Tensor('float32', small, [1, 16]) };
const smallNdFeed = { x: ndarray(small, [1, 16]) };
const batcher = new DynamicBatcher([fakeInstance(32), fakeInstance(32)], { maxBatchSize: 32, maxQueueDelayMicroseconds: 0 });
const cycle = (feed) => (deferred) => {
  let left = CALLERS;
  for (let i = 0; i < CALLERS; i++) batcher.infer(feed).then(() => --left === 0 && deferred.resolve(), (e) => { console.error(e); process.exit(1); });
};

const suites = {
  feeds: new Benchmark.Suite('feeds')
    .add('toTensorFeeds(Tensor feeds)', () => toTensorFeeds(tensorFeed))
    .add('toTensor(contiguous ndarray)', () => toTensor(ndFeed.input, 'input'))
    .add('toTensor(transposed ndarray): copy', () => toTensor(transposed, 'input'))
    .add('new Tensor(float32, [1,3,224,224])', () => new Tensor('float32', image, [1, 3, 224, 224])),
  batcher: new Benchmark.Suite('batcher')
    .add(`batcher: ${CALLERS} requests, Tensor feeds`, { defer: true, fn: cycle(smallTensorFeed) })
    .add(`batcher: ${CALLERS} requests, ndarray feeds`, { defer: true, fn: cycle(smallNdFeed) }),
};

const results = {};
for (const [name, suite] of Object.entries(suites)) {
  if (values.filter && !name.includes(values.filter)) continue;
  await new Promise((resolve) => {
    suite
      .on('cycle', (e) => {
        const b = e.target;
        const perCall = name === 'batcher' ? b.stats.mean / CALLERS : b.stats.mean;
        results[b.name] = { meanMicroseconds: perCall * 1e6, rme: b.stats.rme, samples: b.stats.sample.length };
        console.log(`${b.name.padEnd(44)} ${(perCall * 1e6).toFixed(3).padStart(10)} µs${name === 'batcher' ? '/request' : '/call   '}  ±${b.stats.rme.toFixed(1)}%  (${b.stats.sample.length} samples)`);
      })
      .on('complete', resolve)
      .run({ async: true, maxTime });
  });
}
await batcher.close();

const ratio = (a, b) => (results[a] && results[b] ? (results[a].meanMicroseconds / results[b].meanMicroseconds).toFixed(3) : 'n/a');
if (results['toTensorFeeds(Tensor feeds)']) {
  console.log(`\nndarray feed through the batcher / Tensor feed: ${ratio(`batcher: ${CALLERS} requests, ndarray feeds`, `batcher: ${CALLERS} requests, Tensor feeds`)}`);
  console.log(`transposed ndarray (copy) / contiguous ndarray (view): ${ratio('toTensor(transposed ndarray): copy', 'toTensor(contiguous ndarray)')}`);
}
if (values.json) writeFileSync(values.json, `${JSON.stringify({ node: process.version, results }, null, 2)}\n`);
