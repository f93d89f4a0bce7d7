#!/usr/bin/env node
/**
 * What staging a request costs (issue 4): the JS thread's time per Session.stageInput() call, and
 * how long the copy engine takes for a batch's pieces depending on how they are issued. Session of
 * one context on the plan, batch B (--batch, default 32) of single-item pieces, each piece in its own
 * HostBuffer (as the batcher's callers have them), against one HostBuffer holding the whole batch:
 *
 *   stage, back to back   B stageInput() calls in a row, then runParts({stagedParts: B})
 *   stage, spaced         one stageInput() every --gap-us (default 8, the callers' arrival pace)
 *   runParts, not staged  runParts() copies the B pieces itself (the launch thread)
 *   one piece             runParts() with the batch in one HostBuffer (one copy, as the static loop)
 *   pageable parts        runParts() with the B pieces in ordinary ArrayBuffers: the copy threads
 *                         gather them into pinned staging, DMA'd in 4 MiB segments as they fill
 *
 * Per case: µs of JS per stageInput() call (performance.now() around each), and the wall time from
 * the first copy issued to the run's completion, less the run's compute (the same run with
 * everything staged before timing starts), i.e. the copies' share of the critical path. That
 * baseline carries latency of its own (its GB/s column can exceed what PCIe carries): compare the
 * rows with each other, not with the bus.
 *
 *   [LOAD=1] [COMPLETION=poll] [TRTNODE_INLINE_STAGED_LAUNCH=1] [TRTNODE_STAGE_GROUP=k]
 *   node bench/stage-input-cost.mjs [plan] [--batch 32] [--rounds 200] [--gap-us 8]
 *
 * (TRTNODE_STAGE_GROUP is read by the addon, native/src/context.cc: staged pieces issued k at a
 * time, default 4; the per-call µs of JS then averages over calls that only queue and calls that
 * issue.)
 */
import { probeSetup } from './probe-setup.mjs';

const { lib, plan, values } = await probeSetup('stage-input-cost', 'resnet50_fp16.plan', { batch: 32, rounds: 200, 'gap-us': 8 });
const completion = process.env.COMPLETION === 'poll' ? 'poll' : 'wake';
const { Session, HostBuffer, timingStats } = lib;
const B = values.batch;

const session = await Session.create(plan, { contexts: 1, completion });
const input = session.inputNames[0];
const info = session.inputMetadata.find((t) => t.name === input);
const itemDims = [1, ...info.shape.slice(1)];
const itemElems = itemDims.reduce((a, b) => a * b, 1);
const itemBytes = itemElems * 4;
const pieces = Array.from({ length: B }, () => new HostBuffer(itemBytes));
const views = pieces.map((h) => new Float32Array(h.buffer, 0, itemElems).fill(0.5));
const pageable = Array.from({ length: B }, () => new Float32Array(itemElems).fill(0.5));
const whole = new HostBuffer(itemBytes * B);
const wholeView = new Float32Array(whole.buffer, 0, itemElems * B).fill(0.5);
const dims = [B, ...itemDims.slice(1)];
const feed = (parts) => ({ [input]: { dtype: info.dtype, dims, parts } });

const spin = (us) => {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
};
const median = (a) => timingStats(a).median;

async function round(kind) {
  const callUs = [];
  const t0 = performance.now();
  let p;
  if (kind === 'staged-b2b' || kind === 'staged-spaced') {
    for (let i = 0; i < B; i++) {
      if (kind === 'staged-spaced' && i > 0) spin(values['gap-us']);
      const c0 = performance.now();
      session.stageInput(input, itemBytes * i, views[i]);
      callUs.push((performance.now() - c0) * 1000);
    }
    p = session.runParts(feed(views), { stagedParts: B });
  } else if (kind === 'parts') {
    p = session.runParts(feed(views));
  } else if (kind === 'pageable-parts') {
    p = session.runParts(feed(pageable));
  } else {
    p = session.runParts(feed([wholeView]));
  }
  await p;
  return { wallUs: (performance.now() - t0) * 1000, callUs };
}

// compute alone: everything staged and finished before the clock starts
async function computeOnly() {
  for (let i = 0; i < B; i++) session.stageInput(input, itemBytes * i, views[i]);
  spin(2000); // the copies are done by then (19 MB at >10 GB/s)
  const t0 = performance.now();
  await session.runParts(feed(views), { stagedParts: B });
  return (performance.now() - t0) * 1000;
}

// LOAD=1: a second context runs batch-B inferences back to back meanwhile (the other instance of
// the batcher): the copies then compete with its compute as they do in the batcher.
let loading = process.env.LOAD === '1';
let loadRuns = 0;
const loadDone = (async () => {
  if (!loading) return;
  const other = await Session.create(plan, { contexts: 1, completion });
  while (loading) {
    await other.runParts(feed([wholeView]));
    loadRuns++;
  }
  await other.dispose();
})();
for (let i = 0; i < 20; i++) await round('parts');
const kinds = ['staged-b2b', 'staged-spaced', 'parts', 'pageable-parts', 'one-piece'];
const acc = Object.fromEntries(kinds.map((k) => [k, { wall: [], call: [] }]));
const compute = [];
for (let r = 0; r < values.rounds; r++) {
  compute.push(await computeOnly());
  for (const k of kinds) {
    const { wallUs, callUs } = await round(k);
    acc[k].wall.push(wallUs);
    acc[k].call.push(...callUs);
  }
}
const c = median(compute);
loading = false;
await loadDone;
const knobs = ['TRTNODE_INLINE_STAGED_LAUNCH', 'TRTNODE_STAGE_GROUP'].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]}`);
console.log(`${process.env.LOAD === '1' ? `with another context computing meanwhile (${loadRuns} runs); ` : ''}completion ${completion}${knobs.length ? `; ${knobs.join(' ')}` : ''}; plan ${plan}; batch ${B} pieces of ${itemBytes} bytes; ${values.rounds} rounds (interleaved); compute-only run (inputs staged beforehand): median ${c.toFixed(0)} µs`);
for (const k of kinds) {
  const w = median(acc[k].wall);
  const cs = timingStats(acc[k].call);
  const calls = cs.count ? `; stageInput() JS µs/call median ${cs.median.toFixed(2)}, mean ${cs.mean.toFixed(2)}` : '';
  console.log(`${k.padEnd(14)} wall median ${w.toFixed(0)} µs, less compute ${(w - c).toFixed(0)} µs (${((itemBytes * B) / ((w - c) * 1e3)).toFixed(1)} GB/s if that were all copy)${calls}`);
}
await session.dispose();
for (const h of [...pieces, whole]) h.dispose();
