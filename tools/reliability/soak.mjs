#!/usr/bin/env node
// Soak: N inferences through the dynamic batcher while sampling host RSS, V8 external memory and
// GPU memory every few seconds. Growth after warm-up beyond the thresholds, or any error, fails.
//   node tools/reliability/soak.mjs --model tiny|resnet50|cpu [--requests N] [--concurrency C]
//        [--sample-seconds S] [--json out.json]
// Thresholds (growth from the end of the first 20% of requests to the end): RSS 64 MiB, V8
// external + ArrayBuffers 32 MiB, GPU memory 16 MiB. RSS moves with V8's heap sizing and glibc's
// arenas; a real leak of one buffer per request would exceed these within the first 100,000
// requests (at 4 KB each: 400 MB).
import { writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const lib = await import(process.env.TRTNODE_LIB ?? '../../dist/index.js');
const { DynamicBatcher, TensorRtBackend, createOnnxRuntimeInstances, Tensor, cudaInfo } = lib;

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
const model = opt('model', 'cpu');
const requests = Number(opt('requests', 200000));
const concurrency = Number(opt('concurrency', 64));
const sampleMs = Number(opt('sample-seconds', 10)) * 1000;
const out = opt('json');
const fixtures = process.env.TRTNODE_FIXTURES ?? join(here, '..', '..', 'fixtures', 'gpu');
const LIMITS = { rss: 64 << 20, external: 32 << 20, gpu: 16 << 20 };

let instances, options, makeRequest, check;
let seed = 1;
const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 2 - 1;
if (model === 'tiny') {
  instances = await Promise.all([0, 1].map(() => new TensorRtBackend().createInstance(join(fixtures, 'engines', 'tiny.plan'))));
  options = { maxBatchSize: 0 };
  makeRequest = () => {
    const x = new Float32Array(16).map(rnd);
    const n = new Int32Array(16).map(() => Math.floor(rnd() * 1000));
    return { feeds: { x: new Tensor('float32', x, [1, 16]), n: new Tensor('int32', n, [1, 16]) }, x, n };
  };
  check = (req, res) => res.y.data.every((v, i) => v === Math.fround(req.x[i] * 2 + 1)) && res.m.data.every((v, i) => v === req.n[i] * 3 + 1);
} else if (model === 'resnet50') {
  instances = await Promise.all([0, 1].map(() => new TensorRtBackend().createInstance(join(fixtures, 'engines', 'resnet50_fp16.plan'))));
  options = { maxBatchSize: 32, maxQueueDelayMicroseconds: 500 };
  const images = Array.from({ length: 8 }, () => new Float32Array(3 * 224 * 224).map(rnd));
  let k = 0;
  makeRequest = () => ({ feeds: { input: new Tensor('float32', images[k++ % 8], [1, 3, 224, 224]) } });
  check = (_req, res) => res.logits.dims[1] === 1000 && res.logits.data.every(Number.isFinite);
} else {
  const path = join(here, '..', '..', 'fixtures', 'onnx', 'classifier_small.onnx');
  instances = await createOnnxRuntimeInstances(path, 2, { maxBatchSize: 32, intraOpNumThreads: 1 });
  options = { maxBatchSize: 32, maxQueueDelayMicroseconds: 200 };
  const shape = instances[0].signature.inputs[0].shape.map((d, i) => (i === 0 ? 1 : d));
  const name = instances[0].signature.inputs[0].name;
  const size = shape.reduce((a, b) => a * b, 1);
  const inputs = Array.from({ length: 8 }, () => new Float32Array(size).map(rnd));
  let k = 0;
  makeRequest = () => ({ feeds: { [name]: new Tensor('float32', inputs[k++ % 8], shape) } });
  check = (_req, res) => Object.values(res).every((t) => t.data.every(Number.isFinite));
}

const batcher = new DynamicBatcher(instances, options);
const gpu = () => {
  try {
    return cudaInfo().devices[0].totalMemory - cudaInfo().devices[0].freeMemory;
  } catch {
    return null;
  }
};
const samples = [];
// Sample every 10 s (--sample-seconds) and every 1% of the requests, whichever comes first.
const sampleEvery = Math.max(1000, Math.floor(requests / 100));
let done = 0;
let errors = 0;
let badResults = 0;
const firstError = [];
const t0 = performance.now();
const sample = () => {
  global.gc?.();
  const m = process.memoryUsage();
  samples.push({ t: (performance.now() - t0) / 1000, done, rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers, gpu: gpu() });
};
sample();
const timer = setInterval(sample, sampleMs);
let started = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (started < requests) {
      started++;
      const req = makeRequest();
      try {
        const res = await batcher.infer(req.feeds);
        if (done % 997 === 0 && !check(req, res)) badResults++;
        if (done % sampleEvery === 0) sample();
      } catch (e) {
        errors++;
        if (firstError.length < 3) firstError.push(`${e.code}: ${e.message}`);
      }
      done++;
    }
  }),
);
clearInterval(timer);
sample();
await batcher.close();
const seconds = (performance.now() - t0) / 1000;
const warm = samples.find((s) => s.done >= requests * 0.2) ?? samples[0];
const last = samples[samples.length - 1];
const growth = { rss: last.rss - warm.rss, external: last.external - warm.external, gpu: last.gpu !== null && warm.gpu !== null ? last.gpu - warm.gpu : null };
const pass = errors === 0 && badResults === 0 && growth.rss <= LIMITS.rss && growth.external <= LIMITS.external && (growth.gpu === null || growth.gpu <= LIMITS.gpu);
const summary = { date: new Date().toISOString(), model, requests: done, concurrency, seconds, perSecond: done / seconds, errors, badResults, firstError, growth, limits: LIMITS, pass, samples };
if (out) writeFileSync(out, JSON.stringify(summary, null, 1));
console.log(JSON.stringify({ ...summary, samples: `${samples.length} samples` }, null, 1));
process.exit(pass ? 0 : 1);
