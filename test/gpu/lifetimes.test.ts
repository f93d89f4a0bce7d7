// Native lifetimes and threads (issue 20): streams and contexts collected without dispose() free
// their threads and memory; Workers that load the addon and exit leave the main thread's streams
// alone; a context running its benchmark refuses every other call; two runs in flight on one
// context (two IO sets) give the right results.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../../lib/tensorrt/runtime.js';
import { DeviceBuffer, HostBuffer, Stream } from '../../lib/tensorrt/cuda.js';
import { Session } from '../../lib/tensorrt/session.js';
import { packDims } from '../../lib/tensorrt/context.js';
import { Tensor } from '../../lib/tensor.js';
import { GPU_READY, SKIP_REASON, expectCode, expectRejectCode, plan, refCase, relError, rows } from './helpers.js';

const DIST = resolve('dist/index.js');
const CHILDREN = resolve('test/gpu/children');

describe.skipIf(!GPU_READY)(`native lifetimes and threads${SKIP_REASON}`, () => {
  it('10,000 streams and contexts dropped without dispose(): threads come back; GPU memory and RSS stop growing after the first round of each kind (no leak per object)', () => {
    expect(existsSync(DIST), 'dist/index.js is needed (npm run build:ts)').toBe(true);
    const r = spawnSync(process.execPath, ['--expose-gc', resolve(CHILDREN, 'gc-lifetimes.mjs'), DIST, plan('classifier_fp32'), '10000'], { encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      before: { threads: number; rss: number; free: number };
      after: { threads: number; rss: number; free: number };
      peakThreads: number;
      sessionFailures: number;
      threadsAroundFailures: [number, number];
    };
    type Round = { deviceLostBytes: number; rssGrowthBytes: number; threads: number };
    const phases = (o as unknown as { phases: Record<string, Round[]> }).phases;
    const mib = (b: number) => (b / 2 ** 20).toFixed(0);
    for (const [kind, rounds] of Object.entries(phases))
      console.log(`${kind}: per round, device memory lost ${rounds.map((r) => mib(r.deviceLostBytes)).join(' / ')} MiB, RSS growth ${rounds.map((r) => mib(r.rssGrowthBytes)).join(' / ')} MiB, threads ${rounds.map((r) => r.threads).join(' / ')}`);
    console.log(`collected without dispose: threads ${o.before.threads} → ${o.after.threads} (peak ${o.peakThreads}), RSS ${mib(o.before.rss)} → ${mib(o.after.rss)} MiB, device free ${mib(o.before.free)} → ${mib(o.after.free)} MiB`);
    expect(o.after.threads - o.before.threads).toBeLessThanOrEqual(2);
    // The first round of each kind may raise the driver's and the allocator's high-water marks
    // (see the child); a leak per object would cost as much in every later round (1,111 objects of
    // a kind per round: a leak of 8 KiB each would show as 9 MiB).
    for (const [kind, rounds] of Object.entries(phases)) {
      for (const r of rounds.slice(1)) {
        expect(r.deviceLostBytes, `${kind}: device memory lost in a later round`).toBeLessThanOrEqual(8 << 20);
        expect(r.rssGrowthBytes, `${kind}: RSS growth in a later round`).toBeLessThan(32 << 20);
        expect(r.threads, `${kind}: threads left by a later round`).toBeLessThanOrEqual(1);
      }
    }
    expect(o.sessionFailures).toBe(200);
    expect(o.threadsAroundFailures[1] - o.threadsAroundFailures[0]).toBeLessThanOrEqual(2);
  });

  it("a stream says whether the JS thread completes its work (completion 'poll'); a disposed one no longer does", () => {
    const polled = new Stream({ completion: 'poll' });
    const woken = new Stream();
    expect([polled.native.jsCompletion, woken.native.jsCompletion]).toEqual([true, false]);
    polled.dispose();
    woken.dispose();
    expect([polled.native.jsCompletion, woken.native.jsCompletion]).toEqual([false, false]);
  });

  // The GPU misuse fuzzer's "lost" runs (2026-12-07, H100): poll() of a stream the JS thread does
  // not complete (completion 'wake') while a run was in flight told its watcher that JS would
  // poll again, so the watcher stopped waking the event loop and the run never settled.
  it("poll() of a 'wake' stream with work in flight does not strand that work: every run settles", async () => {
    const rt = new Runtime();
    const engine = await rt.deserializeAsync(plan('classifier_fp32'));
    const stream = new Stream();
    const ctx = engine.createContext({ stream });
    const dIn = new DeviceBuffer(8 * 3 * 32 * 32 * 4);
    const dOut = new DeviceBuffer(8 * 10 * 4);
    ctx.setTensorAddress('input', dIn);
    ctx.setTensorAddress('logits', dOut);
    ctx.setInputShape('input', [8, 3, 32, 32]);
    const within = <T,>(p: Promise<T>) => Promise.race([p.then(() => 'settled'), new Promise<string>((r) => setTimeout(() => r('not settled after 10 s'), 10_000).unref())]);
    for (let i = 0; i < 20; i++) {
      const run = ctx.run();
      stream.native.poll(0);
      expect(await within(run), `run ${i}`).toBe('settled');
    }
    ctx.dispose();
    stream.dispose();
    engine.dispose();
  });

  it('8 Workers that load the addon, infer and exit, 20 times, while the main thread infers: nothing fails', async () => {
    expect(existsSync(DIST), 'dist/index.js is needed (npm run build:ts)').toBe(true);
    const ref = refCase('classifier', 'b32');
    const one = rows(ref.inputs.input!, 3, 4);
    const want = rows(ref.outputs.logits!, 3, 4).data as Float32Array;
    const s = await Session.create(plan('classifier_fp32'));
    let mainRuns = 0;
    let mainWorst = 0;
    let stop = false;
    const mainLoop = (async () => {
      while (!stop) {
        const out = await s.run({ input: one });
        mainWorst = Math.max(mainWorst, relError(out.logits!.data as Float32Array, want));
        mainRuns++;
      }
    })();
    let workerWorst = 0;
    for (let round = 0; round < 20; round++) {
      const results = await Promise.all(
        Array.from(
          { length: 8 },
          (_, i) =>
            new Promise<{ worst: number }>((ok, fail) => {
              const w = new Worker(resolve(CHILDREN, 'worker-infer.mjs'), {
                workerData: { lib: DIST, plan: plan('classifier_fp32'), input: Array.from(one.data as Float32Array), expected: Array.from(want), dispose: i % 2 === 0 },
              });
              let got: { worst: number } | undefined;
              w.on('message', (m: { worst: number }) => (got = m));
              w.on('error', fail);
              w.on('exit', (code) => (code === 0 && got ? ok(got) : fail(new Error(`worker exited with ${code}`))));
            }),
        ),
      );
      for (const r of results) workerWorst = Math.max(workerWorst, r.worst);
    }
    stop = true;
    await mainLoop;
    console.log(`workers: 160 loaded, inferred and exited; main thread ran ${mainRuns} inferences meanwhile; worst errors main ${mainWorst.toExponential(1)}, workers ${workerWorst.toExponential(1)}`);
    expect(mainRuns).toBeGreaterThan(20);
    expect(mainWorst).toBeLessThan(1e-3);
    expect(workerWorst).toBeLessThan(1e-3);
    await s.dispose();
  });

  it('a context running its benchmark refuses every other call with ERR_BUSY; dispose during it is safe; a failed benchmark restores the graph setting', async () => {
    const rt = new Runtime();
    const engine = await rt.deserializeAsync(plan('classifier_fp32'));
    const ctx = engine.createContext();
    const dIn = new DeviceBuffer(32 * 3 * 32 * 32 * 4);
    const dOut = new DeviceBuffer(8 * 10 * 4); // room for 8 rows of output only
    const hIn = new HostBuffer(dIn.byteLength);
    ctx.setTensorAddress('input', dIn);
    ctx.setTensorAddress('logits', dOut);
    ctx.setHostStaging('input', hIn);
    // no shape set yet: refused before the worker starts
    await expectRejectCode(ctx.benchmark({ iterations: 3, cudaGraph: true }), 'ERR_MISSING_TENSOR');
    // 32 rows do not fit the output buffer: the worker fails, and leaves the graph setting as it was (off)
    ctx.setInputShape('input', [32, 3, 32, 32]);
    await expectRejectCode(ctx.benchmark({ iterations: 3, cudaGraph: true }), 'ERR_BUFFER_TOO_SMALL');
    ctx.setInputShape('input', [8, 3, 32, 32]);
    await ctx.run();
    await ctx.run();
    expect(ctx.graphLaunches).toBe(0);
    const bench = ctx.benchmark({ durationMs: 400, warmupMs: 0, cudaGraph: true });
    const busy: [string, () => unknown][] = [
      ['setInputShape', () => ctx.setInputShape('input', [4, 3, 32, 32])],
      ['getTensorShape', () => ctx.getTensorShape('logits')],
      ['setTensorAddress', () => ctx.setTensorAddress('input', dIn)],
      ['setHostStaging', () => ctx.setHostStaging('input', hIn)],
      ['setCudaGraph', () => ctx.setCudaGraph(false)],
      ['setTiming', () => ctx.setTiming(true)],
      ['setOptimizationProfile', () => ctx.setOptimizationProfile(0)],
      ['stageInput', () => ctx.stageInput('input', 0, new Float32Array(4))],
      ['clearStaged', () => ctx.clearStaged()],
      ['graphCount', () => ctx.graphCount],
      ['graphLaunches', () => ctx.graphLaunches],
    ];
    for (const [what, f] of busy) expectCode(f, 'ERR_BUSY'), void what;
    await expectRejectCode(ctx.run(), 'ERR_BUSY');
    await expectRejectCode(ctx.benchmark({ iterations: 1 }), 'ERR_BUSY');
    const r = await bench;
    expect(r.iterations).toBeGreaterThan(0);
    expect(r.cudaGraph).toBe(true);
    expect(r.timingErrors).toBe(0);
    // usable again
    await ctx.run({ inputDims: packDims([[8, 3, 32, 32]]) });
    // dispose while a benchmark runs: it finishes, nothing crashes, later calls say ERR_DISPOSED
    const late = ctx.benchmark({ durationMs: 200, warmupMs: 0 });
    ctx.dispose();
    expect((await late).iterations).toBeGreaterThan(0);
    await expectRejectCode(ctx.run(), 'ERR_DISPOSED');
    for (const b of [dIn, dOut, hIn]) b.dispose();
    engine.dispose();
    rt.dispose();
  });

  for (const overlap of [true, false]) {
    it(`one context, 64 concurrent runs of distinct inputs${overlap ? ' (two IO sets: two in flight)' : ' (overlap off: one at a time)'} give each its own outputs`, async () => {
      const s = await Session.create(plan('classifier_fp32'), { overlap });
      const ref = refCase('classifier', 'b32');
      const runs = Array.from({ length: 64 }, (_, i) => {
        const from = i % 24;
        const k = 1 + (i % 8);
        return { input: rows(ref.inputs.input!, from, from + k), want: rows(ref.outputs.logits!, from, from + k) };
      });
      const outs = await Promise.all(runs.map((r) => s.run({ input: r.input })));
      outs.forEach((o, i) => expect(relError(o.logits!.data as Float32Array, runs[i]!.want.data as Float32Array)).toBeLessThan(1e-3));
      // host tensors of both kinds: pinned views and large JS arrays
      const big = rows(ref.inputs.input!, 0, 32);
      const pinned = new HostBuffer(big.data.byteLength);
      (pinned.view('float32') as Float32Array).set(big.data as Float32Array);
      const both = await Promise.all([s.run({ input: big }), s.run({ input: new Tensor('float32', pinned.view('float32'), big.dims) })]);
      for (const o of both) expect(relError(o.logits!.data as Float32Array, ref.outputs.logits!.data as Float32Array)).toBeLessThan(1e-3);
      await s.dispose();
      pinned.dispose();
    });
  }
});
