// Two throughput paths added for the performance targets: completions collected by polling the
// event loop ('poll' streams), and a batch gathered on the launch thread with the parallel copy
// pool (inputs of a megabyte or more: ResNet-50 images).
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Session } from '../../lib/tensorrt/session.js';
import { DeviceBuffer, HostBuffer, Stream } from '../../lib/tensorrt/cuda.js';
import { TensorRtBackend } from '../../lib/backends/tensorrt.js';
import { DynamicBatcher } from '../../lib/batcher/dynamic-batcher.js';
import { Tensor } from '../../lib/tensor.js';
import { GPU_READY, SKIP_REASON, expectRejectCode, plan, refCase, relError } from './helpers.js';

describe.skipIf(!GPU_READY)(`completion: 'poll'${SKIP_REASON}`, () => {
  it('tiny model: exact results over 500 runs, on 2 contexts at once', async () => {
    const s = await Session.create(plan('tiny'), { completion: 'poll', contexts: 2 });
    const r = refCase('tiny', 'b1');
    const y = Array.from(r.outputs.y!.data as Float32Array);
    const m = Array.from(r.outputs.m!.data as Int32Array);
    for (let i = 0; i < 250; i++) {
      const outs = await Promise.all([s.run(r.inputs), s.run(r.inputs)]);
      for (const out of outs) {
        expect(Array.from(out.y!.data as Float32Array)).toEqual(y);
        expect(Array.from(out.m!.data as Int32Array)).toEqual(m);
      }
    }
    await s.dispose();
  });

  it('copies and synchronize on a polled stream resolve, in stream order', async () => {
    const stream = new Stream({ completion: 'poll' });
    expect(stream.completion).toBe('poll');
    const n = 1 << 20;
    const host = new HostBuffer(n);
    const back = new HostBuffer(n);
    const dev = new DeviceBuffer(n);
    const src = new Uint8Array(host.buffer);
    for (let i = 0; i < n; i++) src[i] = (i * 31 + 7) & 0xff;
    await Promise.all([dev.copyFrom(host, { stream }), dev.copyTo(back, { stream }), stream.synchronize()]);
    expect(Buffer.compare(Buffer.from(back.buffer), Buffer.from(host.buffer))).toBe(0);
    expect(stream.pending).toBe(0);
    stream.dispose();
    await expectRejectCode(dev.copyFrom(host, { stream }), 'ERR_DISPOSED');
    dev.dispose();
    host.dispose();
    back.dispose();
  });

  it('a polled stream disposed with work in flight still delivers that work', async () => {
    // While polled, the watcher does not wake the event loop; dispose drops the stream from the
    // poller, so what completes afterwards (or completed unseen) must reach JS by the wake-up.
    const stream = new Stream({ completion: 'poll' });
    const n = 64 << 20;
    const host = new HostBuffer(n);
    const dev = new DeviceBuffer(n);
    const copies = Array.from({ length: 6 }, () => dev.copyFrom(host, { stream }));
    await new Promise((r) => setImmediate(r)); // the poller has looked at the stream once
    stream.dispose();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('copies never delivered')), 10_000)));
    await Promise.race([Promise.all(copies), timeout]);
    clearTimeout(timer);
    dev.dispose();
    host.dispose();
  });

  it('graph replays launched inline by the JS thread: exact results, in order with copies and synchronize, and dispose with them in flight', async () => {
    // A 'poll' stream is completed by the JS thread, which also launches a replayed graph itself
    // (no launch thread); other work still goes through the launch thread, in stream order.
    const s = await Session.create(plan('tiny'), { completion: 'poll', cudaGraph: true, contexts: 2 });
    const r = refCase('tiny', 'b1');
    const y = Array.from(r.outputs.y!.data as Float32Array);
    for (let i = 0; i < 300; i++) {
      const outs = await Promise.all([s.run(r.inputs), s.run(r.inputs), s.run(r.inputs)]);
      for (const out of outs) expect(Array.from(out.y!.data as Float32Array)).toEqual(y);
    }
    expect(s.graphStats().reduce((a, g) => a + g.launches, 0)).toBeGreaterThan(500);
    // a run-await-run loop, as the benchmark's JS loop does
    for (let i = 0; i < 300; i++) expect(Array.from((await s.run(r.inputs)).y!.data as Float32Array)).toEqual(y);
    // dispose with replays in flight: every promise settles
    const inflight = Array.from({ length: 8 }, () => s.run(r.inputs));
    const disposed = s.dispose();
    const settled = await Promise.allSettled(inflight);
    await disposed;
    for (const x of settled) if (x.status === 'rejected') expect((x.reason as { code?: string }).code).toBe('ERR_DISPOSED');
  });

  it('rejects an unknown completion mode', () => {
    expect(() => new Stream({ completion: 'busy' as 'poll' })).toThrow(/completion must be 'wake' or 'poll'/);
  });
});

const RESNET = plan('resnet50_fp16');
const HAVE_RESNET = GPU_READY && existsSync(RESNET);

describe.skipIf(!HAVE_RESNET)(`ResNet-50 batches: assembled by the instance as requests arrive (copy threads, DMA in segments), CUDA graphs per batch size${HAVE_RESNET ? '' : ` [skipped: ${GPU_READY ? `no ${RESNET}` : SKIP_REASON}]`}`, () => {
  const images = Array.from({ length: 96 }, (_, k) => {
    const d = new Float32Array(3 * 224 * 224);
    // distinct per image and position: a misplaced chunk shows up in that image's logits
    for (let i = 0; i < d.length; i++) d[i] = Math.sin(i * 0.001 + k * 0.37) * 0.5 + ((i + k * 13) % 97) / 194;
    return new Tensor('float32', d, [1, 3, 224, 224]);
  });
  let expected: Tensor[] = [];
  beforeAll(async () => {
    const alone = await Session.create(RESNET);
    expected = [];
    for (const x of images) expected.push((await alone.run({ input: x })).logits!);
    await alone.dispose();
  });
  const worstError = (got: { logits?: Tensor }[], from = 0): number => {
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, relError(got[i]!.logits!.data as Float32Array, expected[from + i]!.data as Float32Array));
    return worst;
  };

  it('96 distinct images (JS arrays, Buffers) through 2 instances with the defaults equal running each alone (FP16 tolerance 2e-2)', async () => {
    const backend = new TensorRtBackend();
    const instances = await Promise.all([0, 1].map(() => backend.createInstance(RESNET)));
    const batcher = new DynamicBatcher(instances, { maxBatchSize: 32, maxQueueDelayMicroseconds: 2000 });
    // every other image in a Node Buffer (a view into Node's pool or a buffer of its own)
    const mixed = images.map((x, k) => {
      if (k % 2 === 0) return x;
      const b = Buffer.alloc(x.data.byteLength);
      b.set(new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength));
      return new Tensor('float32', new Float32Array(b.buffer, b.byteOffset, x.data.length), x.dims);
    });
    for (let round = 0; round < 3; round++) {
      const got = await Promise.all(mixed.map((x) => batcher.infer({ input: x })));
      const worst = worstError(got);
      if (round === 2) console.log(`ResNet-50 assembled from JS memory: worst relative L2 error ${worst.toExponential(2)}, ${batcher.statistics().executionCount} executions`);
      expect(worst).toBeLessThan(2e-2);
    }
    expect(batcher.statistics().executionCount).toBeLessThan(3 * 96);
    await batcher.close();
  });

  it('requests in pinned memory (views of HostBuffers) are DMA\'d straight into the batch, with and without CUDA graphs: results as running alone', async () => {
    // the first 48 images are adjacent slices of one HostBuffer (pieces coalesce into one copy),
    // the other 48 each have a HostBuffer of their own
    const bytes = 3 * 224 * 224 * 4;
    const shared = new HostBuffer(48 * bytes);
    const own = images.slice(48).map(() => new HostBuffer(bytes));
    const pinned = images.map((x, k) => {
      const view = k < 48 ? shared.view('float32', k * bytes, 3 * 224 * 224) : own[k - 48]!.view('float32', 0, 3 * 224 * 224);
      (view as Float32Array).set(x.data as Float32Array);
      return new Tensor('float32', view, [1, 3, 224, 224]);
    });
    // without and with CUDA graphs (then the pieces are copied before a graph of the inference)
    for (const cudaGraph of [false, true]) {
      const backend = new TensorRtBackend({ cudaGraph });
      const instances = await Promise.all([0, 1].map(() => backend.createInstance(RESNET)));
      const batcher = new DynamicBatcher(instances, { maxBatchSize: 32, maxQueueDelayMicroseconds: 2000 });
      for (let round = 0; round < 4; round++) {
        const got = await Promise.all(pinned.map((x) => batcher.infer({ input: x })));
        const worst = worstError(got);
        if (round === 3) console.log(`ResNet-50, pinned requests DMA'd into the batch, graph ${cudaGraph}: worst relative L2 error ${worst.toExponential(2)}, ${batcher.statistics().executionCount} executions`);
        expect(worst).toBeLessThan(2e-2);
      }
      const launches = instances.reduce((a, i) => a + (i as unknown as { session: Session }).session.graphStats()[0]!.launches, 0);
      if (cudaGraph) expect(launches).toBeGreaterThan(0);
      else expect(launches).toBe(0);
      await batcher.close();
    }
    shared.dispose();
    for (const h of own) h.dispose();
  });

  it('with CUDA graphs: sizes 5, 32, 17, 9 each twice in a row capture one graph each; later batches of those sizes replay them, results as running alone', async () => {
    const backend = new TensorRtBackend({ cudaGraph: true });
    const instance = await backend.createInstance(RESNET);
    const session = (instance as unknown as { session: Session }).session;
    const batcher = new DynamicBatcher([instance], { maxBatchSize: 32, maxQueueDelayMicroseconds: 20_000 });
    let worst = 0;
    let at = 0;
    const wave = async (n: number): Promise<void> => {
      const from = at % (96 - n);
      at += n;
      const got = await Promise.all(images.slice(from, from + n).map((x) => batcher.infer({ input: x })));
      worst = Math.max(worst, worstError(got, from));
    };
    // TensorRT needs one plain run at a shape right before capturing it: each size twice in a row
    for (const n of [5, 32, 17, 9]) for (let k = 0; k < 2; k++) await wave(n);
    const captured = session.graphStats()[0]!;
    // sizes coming back after others: replayed from the kept graphs, no capture, no plain run
    for (const n of [32, 5, 9, 17, 32, 1]) await wave(n);
    const after = session.graphStats()[0]!;
    console.log(`ResNet-50 with CUDA graphs: worst relative L2 error ${worst.toExponential(2)}; graphs kept ${captured.kept} → ${after.kept}, launches ${captured.launches} → ${after.launches}`);
    expect(worst).toBeLessThan(2e-2);
    expect(batcher.statistics().executionCount).toBe(14); // every wave was one batch
    expect(captured.kept).toBe(4);
    expect(after.kept).toBe(4); // size 1 came once: a plain run, nothing captured
    expect(after.launches - captured.launches).toBe(5);
    await batcher.close();
  });
});
