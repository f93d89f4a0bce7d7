#!/usr/bin/env node
/**
 * Dynamic batcher benchmark on CPU (ONNX Runtime), fixture fixtures/onnx/classifier_small.onnx.
 *
 *   npm run build:ts && node bench/batcher-cpu.mjs [--duration 3000] [--instances 2] [--threads 1]
 *
 * 1. Static batches: each of the `instances` ORT sessions runs batch size B back to back for
 *    `duration` ms (all instances at once); items/s for B = 1,2,4,8,16,32. The best is the reference.
 * 2. The batcher (maxBatchSize 32, `instances` instances, maxQueueDelay 500 µs) driven by C closed-loop
 *    callers sending single-item requests, C = 1, 8, 32, 64: items/s, p50/p99 latency, ratio to the
 *    best static throughput, mean batch size.
 * Writes bench/results/<date>-batcher-cpu.json and prints a table. Library module: ../dist/index.js,
 * or the path in TENSORRT_NODE_LIB (a module exporting DynamicBatcher, createOnnxRuntimeInstances, Tensor).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = new URL('.', import.meta.url);
const libPath = process.env.TENSORRT_NODE_LIB ? pathToFileURL(process.env.TENSORRT_NODE_LIB).href : new URL('../dist/index.js', here).href;
const { DynamicBatcher, createOnnxRuntimeInstances, Tensor } = await import(libPath);

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const DURATION_MS = arg('duration', 3000);
const INSTANCES = arg('instances', 2);
const THREADS = arg('threads', 1);
const MODEL = fileURLToPath(new URL('../fixtures/onnx/classifier_small.onnx', here));
const ITEM = 3 * 8 * 8;
const STATIC_SIZES = [1, 2, 4, 8, 16, 32];
const CALLERS = [1, 8, 32, 64];
const MAX_BATCH = 32;
const DELAY_US = 500;

function images(k, seed) {
  const a = new Float32Array(k * ITEM);
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(seed * 7.1 + i * 0.37);
  return new Tensor('float32', a, [k, 3, 8, 8]);
}

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function staticBatch(instances, b) {
  const input = images(b, 1);
  for (const inst of instances) for (let i = 0; i < 20; i++) await inst.run({ images: input }); // warm-up
  const t0 = performance.now();
  const end = t0 + DURATION_MS;
  const counts = await Promise.all(
    instances.map(async (inst) => {
      let runs = 0;
      while (performance.now() < end) {
        await inst.run({ images: input });
        runs++;
      }
      return runs;
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const runs = counts.reduce((a, b) => a + b, 0);
  return { batchSize: b, runs, itemsPerSecond: (runs * b) / secs, msPerRun: (secs * 1000 * instances.length) / runs };
}

async function batcherRun(callers) {
  const instances = await createOnnxRuntimeInstances(MODEL, INSTANCES, { maxBatchSize: MAX_BATCH, intraOpNumThreads: THREADS });
  const batcher = new DynamicBatcher(instances, { maxBatchSize: MAX_BATCH, maxQueueDelayMicroseconds: DELAY_US });
  const input = images(1, 2);
  // warm-up
  await Promise.all(Array.from({ length: callers }, () => batcher.infer({ images: input })));
  const before = batcher.statistics();
  const lat = [];
  const t0 = performance.now();
  const end = t0 + DURATION_MS;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        await batcher.infer({ images: input });
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const after = batcher.statistics();
  await batcher.close();
  lat.sort((a, b) => a - b);
  const execs = after.executionCount - before.executionCount;
  const items = after.inferenceCount - before.inferenceCount;
  return {
    callers,
    requests: lat.length,
    itemsPerSecond: lat.length / secs,
    p50Ms: pct(lat, 50),
    p99Ms: pct(lat, 99),
    meanBatchSize: execs > 0 ? items / execs : 0,
  };
}

const staticInstances = await createOnnxRuntimeInstances(MODEL, INSTANCES, { maxBatchSize: MAX_BATCH, intraOpNumThreads: THREADS });
const staticResults = [];
for (const b of STATIC_SIZES) staticResults.push(await staticBatch(staticInstances, b));
await Promise.all(staticInstances.map((i) => i.dispose()));
const best = staticResults.reduce((a, b) => (b.itemsPerSecond > a.itemsPerSecond ? b : a));

const batcherResults = [];
for (const c of CALLERS) {
  const r = await batcherRun(c);
  r.ratioToBestStatic = r.itemsPerSecond / best.itemsPerSecond;
  batcherResults.push(r);
}

const report = {
  date: new Date().toISOString(),
  host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.arch()}` },
  config: { model: 'fixtures/onnx/classifier_small.onnx', durationMs: DURATION_MS, instances: INSTANCES, intraOpNumThreads: THREADS, maxBatchSize: MAX_BATCH, maxQueueDelayMicroseconds: DELAY_US },
  static: staticResults,
  bestStatic: { batchSize: best.batchSize, itemsPerSecond: best.itemsPerSecond },
  batcher: batcherResults,
};

const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(`static batches (${INSTANCES} instances, ${THREADS} thread(s) each, ${DURATION_MS} ms each)`);
console.log('batch  items/s     ms/run');
for (const s of staticResults) console.log(`${String(s.batchSize).padStart(5)}  ${f(s.itemsPerSecond, 0).padStart(10)}  ${f(s.msPerRun, 3).padStart(9)}`);
console.log(`\ndynamic batcher (maxBatchSize ${MAX_BATCH}, delay ${DELAY_US} µs), single-item closed-loop callers`);
console.log('callers  items/s     p50 ms   p99 ms   vs best static  mean batch');
for (const r of batcherResults) {
  console.log(
    `${String(r.callers).padStart(7)}  ${f(r.itemsPerSecond, 0).padStart(10)}  ${f(r.p50Ms, 3).padStart(7)}  ${f(r.p99Ms, 3).padStart(7)}  ${f(r.ratioToBestStatic * 100, 1).padStart(13)}%  ${f(r.meanBatchSize, 2).padStart(10)}`,
  );
}
const outDir = fileURLToPath(new URL('./results/', here));
mkdirSync(outDir, { recursive: true });
const file = `${outDir}${report.date.slice(0, 10)}-batcher-cpu.json`;
writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
console.log(`\nwrote ${file}`);
