#!/usr/bin/env node
/**
 * Fixed work for comparing the batcher's JavaScript CPU per request between two builds (issue 18:
 * it must not grow): CYCLES cycles of 64 single-row requests through DynamicBatcher on two
 * instances that answer at once (run() only: the batcher concatenates for them). Time the whole
 * process, e.g. `/usr/bin/time -f %U+%S node bench/batcher-cpu-fixed.mjs dist/index.js 12000`,
 * alternately for each build, and once with 0 cycles for the start-up (import) cost to subtract:
 * per request = (cpu(N) - cpu(0)) / (64 N).
 *
 *   node bench/batcher-cpu-fixed.mjs [<dist/index.js of the build>] [cycles = 3000]
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const lib = resolve(process.argv[2] ?? 'dist/index.js');
const cycles = Number(process.argv[3] ?? 3000);
const { DynamicBatcher, Tensor } = await import(pathToFileURL(lib).href);
const instance = () => {
  const out = new Float32Array(32 * 10);
  return {
    kind: 'fake',
    signature: { inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 16] }], outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 10] }], maxBatchSize: 32 },
    run: (f) => Promise.resolve({ y: new Tensor('float32', out.subarray(0, f.x.dims[0] * 10), [f.x.dims[0], 10]) }),
    dispose: async () => {},
  };
};
const batcher = new DynamicBatcher([instance(), instance()], { maxBatchSize: 32, maxQueueDelayMicroseconds: 0 });
const feed = { x: new Tensor('float32', new Float32Array(16), [1, 16]) };
for (let c = 0; c < cycles; c++) await Promise.all(Array.from({ length: 64 }, () => batcher.infer(feed)));
await batcher.close();
