#!/usr/bin/env node
/**
 * Where the JS path's microseconds go on the tiny model at batch 1 (issue 3's "within 5 µs of
 * the C++ loop"): repeats the JS-vs-C++ comparison (4 alternating rounds each) several times per
 * variant, so that the spread between repeats shows the host's noise, and measures the floor of
 * the completion mechanism itself: `await stream.synchronize()` on an idle stream, i.e. one trip
 * JS → watcher → CUDA event → JS with no GPU work, against the same event record + query on one
 * thread (the C++ loop's way of waiting).
 *
 *   node bench/investigations/latency-probe.mjs [plan] [--repeats 3] [--duration-ms 2000]
 */
import { probeSetup } from './probe-setup.mjs';

const { lib, plan, values } = await probeSetup('latency-probe', 'tiny.plan', { repeats: 3, 'duration-ms': 2000 });
const { runBench, Stream } = lib;
const repeats = values.repeats;
const durationMs = values['duration-ms'];

const fmt = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '–');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// 1. The completion mechanism alone: synchronize() on a stream with nothing enqueued.
console.log('completion round trip with no GPU work: await stream.synchronize(), µs per call');
console.log('completion  waitMode   mean    median   p99');
for (const [completion, waitMode] of [
  ['wake', 'adaptive'],
  ['poll', 'adaptive'],
  ['poll', 'spin'],
]) {
  const stream = new Stream({ completion, waitMode });
  for (let i = 0; i < 2000; i++) await stream.synchronize();
  const xs = [];
  const end = performance.now() + 1000;
  while (performance.now() < end) {
    const t = performance.now();
    await stream.synchronize();
    xs.push((performance.now() - t) * 1000);
  }
  stream.dispose();
  xs.sort((a, b) => a - b);
  console.log(`${completion.padEnd(11)} ${waitMode.padEnd(9)} ${fmt(xs.reduce((a, x) => a + x, 0) / xs.length).padStart(6)} ${fmt(xs[xs.length >> 1]).padStart(8)} ${fmt(xs[Math.floor(xs.length * 0.99)]).padStart(6)}`);
}

// 2. The tiny model: JS − C++ per call, repeated.
const variants = [
  { name: 'wake', completion: 'wake' },
  { name: 'poll (spin watcher)', completion: 'poll' },
  { name: 'poll, adaptive watcher', completion: 'poll', waitMode: 'adaptive' },
  { name: 'poll + graph', completion: 'poll', cudaGraph: true },
  { name: 'poll + graph, adaptive', completion: 'poll', cudaGraph: true, waitMode: 'adaptive' },
];
const results = variants.map(() => []);
for (let r = 0; r < repeats; r++) {
  for (const [i, v] of variants.entries()) {
    const rep = await runBench({ plan, durationMs, warmupMs: 300, rounds: 4, methods: ['cpp', 'js'], completion: v.completion, cudaGraph: v.cudaGraph ?? false, ...(v.waitMode ? { waitMode: v.waitMode } : {}) });
    const { cpp, js } = rep.results;
    results[i].push({ cppUs: cpp.latency.mean, jsUs: js.latency.mean, d: rep.ratios.jsMinusCppLatencyUs.mean, dMedian: rep.ratios.jsMinusCppLatencyUs.median, jsEnqueueUs: js.enqueue.mean });
  }
}
console.log('');
console.log(`tiny b1, JS − C++ latency per call (µs), ${repeats} repeats of 4 alternating rounds × ${durationMs} ms`);
console.log('variant                      C++ mean   JS mean   JS−C++ mean each repeat        median of repeats   JS run() sync part');
for (const [i, v] of variants.entries()) {
  const xs = results[i];
  console.log(
    `${v.name.padEnd(28)} ${fmt(median(xs.map((x) => x.cppUs))).padStart(8)} ${fmt(median(xs.map((x) => x.jsUs))).padStart(9)}   ${xs
      .map((x) => (x.d >= 0 ? '+' : '') + fmt(x.d))
      .join(' / ')
      .padEnd(28)} ${('+' + fmt(median(xs.map((x) => x.d)))).padStart(10)} ${fmt(median(xs.map((x) => x.jsEnqueueUs))).padStart(18)}`,
  );
}
console.log(JSON.stringify(results));
