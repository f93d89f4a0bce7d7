// Child process of test/gpu/lifetimes.test.ts (run with --expose-gc): creates and drops streams
// and contexts without dispose() and prints what the process holds before and after, as JSON.
//   node --expose-gc gc-lifetimes.mjs <dist/index.js> <plan> <count>
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [lib, plan, countArg] = process.argv.slice(2);
const { Runtime, Stream, Session, cudaInfo } = await import(pathToFileURL(lib).href);
const count = Number(countArg);
const threads = () => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
const settle = async () => {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 20)); // finalizers run on later turns
  }
};
const snapshot = () => ({ threads: threads(), rss: process.memoryUsage().rss, free: cudaInfo().devices[0].freeMemory });

const rt = new Runtime();
const engine = await rt.deserializeAsync(plan);
// warm-up: the first contexts load kernels and allocator pools
for (let i = 0; i < 50; i++) engine.createContext().dispose();
await settle();
const before = snapshot();
let peakThreads = before.threads;
// One kind of object at a time, in ROUNDS rounds of the same size. The first round of a kind may
// take device memory and RSS that stay taken: the CUDA driver keeps what its peak of live streams
// needed (on the 2026-12-07 H100 run each kind's first pass cost 136 MiB per ~250 more streams
// alive at once before the collector ran, whatever the count). A leak per object shows in every
// round; a high-water mark only in the first. So the later rounds are what the test bounds.
const ROUNDS = 3;
const kinds = {
  streams: () => new Stream(), // a stream alone
  contexts: () => engine.createContext(), // a context with the stream it made itself (and its input stream)
  'contexts-2-sets': () => engine.createContext({ stream: new Stream(), ioSets: 2 }),
};
const phases = {};
for (const [name, make] of Object.entries(kinds)) {
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = snapshot();
    for (let i = 0; i < Math.ceil(count / 3 / ROUNDS); i++) {
      make();
      if (i % 250 === 249) {
        peakThreads = Math.max(peakThreads, threads());
        await settle();
      }
    }
    await settle();
    const end = snapshot();
    rounds.push({ deviceLostBytes: start.free - end.free, rssGrowthBytes: end.rss - start.rss, threads: end.threads - start.threads });
  }
  phases[name] = rounds;
}
await settle();
const after = snapshot();
// A session over a disposed engine fails to create its context: its stream must not leak.
const doomed = await rt.deserializeAsync(plan);
doomed.dispose();
const t0 = threads();
let failures = 0;
for (let i = 0; i < 200; i++) {
  try {
    Session.fromEngine(doomed);
  } catch {
    failures++;
  }
}
await settle();
engine.dispose();
rt.dispose();
console.log(JSON.stringify({ count, before, after, phases, peakThreads, sessionFailures: failures, threadsAroundFailures: [t0, threads()] }));
