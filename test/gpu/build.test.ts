// build() against the real TensorRT builder and ONNX parser: the classifier fixture built as
// trtexec would build it (same profile), its plan's IO and profile, its outputs against the
// references; TensorRT's progress events well nested; cancellation during the build; parse errors
// naming the ONNX node of a model written here with an operator no one has; and the repository's
// build on first load with the plan taken from the cache on the second.
// Needs the full TensorRT 10.6 (libnvinfer + builder resource + libnvonnxparser) where the runtime
// is found; without it the suite is skipped with the reason (TRTNODE_REQUIRE_BUILDER=1 makes that a failure).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { build, builderInfo, type BuildOptions, type BuildProgressEvent } from '../../lib/tensorrt/build.js';
import { Runtime } from '../../lib/tensorrt/runtime.js';
import { Session } from '../../lib/tensorrt/session.js';
import { ModelRepository } from '../../lib/repository/repository.js';
import { PLAN_CACHE_DIRNAME, PlanCache } from '../../lib/repository/plan-cache.js';
import { TensorRtError } from '../../lib/errors.js';
import { FIXTURES, GPU_READY, SKIP_REASON, refCase, relError, rows } from './helpers.js';

const TOL_FP32 = 1e-3; // TF32 on Hopper, as in session.test.ts
const TOL_FP16 = 2e-2;

function builderProbe(): { ready: boolean; reason: string } {
  if (!GPU_READY) return { ready: false, reason: SKIP_REASON.replace(/^ \[skipped: |\]$/g, '') };
  try {
    const info = builderInfo();
    const dirs = [path.dirname(info.libraryPath), ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)];
    if (!dirs.some((d) => existsSync(d) && readdirSync(d).some((f) => f.startsWith('libnvinfer_builder_resource')))) {
      return { ready: false, reason: `no libnvinfer_builder_resource beside ${info.libraryPath} or on LD_LIBRARY_PATH (stage.sh builder)` };
    }
    return { ready: true, reason: '' };
  } catch (e) {
    return { ready: false, reason: `${(e as TensorRtError).code}: ${(e as Error).message.split('\n')[0]}` };
  }
}
const probe = builderProbe();
if (!probe.ready && process.env.TRTNODE_REQUIRE_BUILDER === '1') throw new Error(`the build suite cannot run here: ${probe.reason}`);
const READY = probe.ready;
const SKIP = READY ? '' : ` [skipped: ${probe.reason}]`;

const CLASSIFIER = path.join(FIXTURES, 'onnx', 'classifier.onnx');
// the fixture's own build (tools/fixtures/build_fixtures.py): one profile 1 / 8 / 32
const CLASSIFIER_PROFILE = { input: { min: [1, 3, 32, 32], opt: [8, 3, 32, 32], max: [32, 3, 32, 32] } };

const tmp = mkdtempSync(path.join(tmpdir(), 'trtn-build-gpu-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ------------------------------------------------------------------ a minimal ONNX writer (protobuf)

type Bytes = Buffer;
function varint(v: number): Bytes {
  const out: number[] = [];
  let n = BigInt(v);
  if (n < 0n) n += 1n << 64n;
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) b |= 0x80;
    out.push(b);
  } while (n > 0n);
  return Buffer.from(out);
}
const cat = (parts: Bytes[]): Bytes => Buffer.concat(parts);
const tag = (field: number, wire: number): Bytes => varint(field * 8 + wire);
const int = (field: number, v: number): Bytes => cat([tag(field, 0), varint(v)]);
const bytes = (field: number, b: Uint8Array): Bytes => cat([tag(field, 2), varint(b.length), Buffer.from(b.buffer, b.byteOffset, b.byteLength)]);
const str = (field: number, s: string): Bytes => bytes(field, Buffer.from(s, 'utf8'));
const msg = (field: number, parts: Bytes[]): Bytes => bytes(field, cat(parts));

/** ValueInfoProto of a float tensor; a string dimension is symbolic (dynamic). */
function valueInfo(field: number, name: string, dims: Array<number | string>): Bytes {
  const shape = dims.map((d) => msg(1, [typeof d === 'number' ? int(1, d) : str(2, d)]));
  return msg(field, [str(1, name), msg(2, [msg(1, [int(1, 1), msg(2, shape)])])]);
}
function node(name: string, op: string, inputs: string[], outputs: string[], attrs: Bytes[] = []): Bytes {
  return msg(1, [...inputs.map((i) => str(1, i)), ...outputs.map((o) => str(2, o)), str(3, name), str(4, op), ...attrs.map((a) => bytes(5, a))]);
}
const intsAttr = (name: string, values: number[]): Bytes => cat([str(1, name), ...values.map((v) => int(8, v)), int(20, 7)]);
function floatTensor(name: string, dims: number[], data: Float32Array): Bytes {
  return msg(5, [...dims.map((d) => int(1, d)), int(2, 1), str(8, name), bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))]);
}
function model(graph: Bytes[]): Buffer {
  return cat([int(1, 8), str(2, 'tensorrt-node test'), msg(7, graph), msg(8, [str(1, ''), int(2, 17)])]);
}

/** x [N,4] → Relu → an operator nobody implements → y */
function unsupportedOpModel(): Buffer {
  return model([
    node('relu0', 'Relu', ['x'], ['r']),
    node('bad_node', 'ThisOpDoesNotExist', ['r'], ['y']),
    str(2, 'broken'),
    valueInfo(11, 'x', ['N', 4]),
    valueInfo(12, 'y', ['N', 4]),
  ]);
}

/** x [N,64,56,56] through `layers` 3x3 convolutions with ReLU: enough tactics to take a while to build. */
function convStackModel(layers: number): Buffer {
  const nodes: Bytes[] = [];
  const inits: Bytes[] = [];
  let prev = 'x';
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0), (seed / 2 ** 32 - 0.5) * 0.1);
  for (let i = 0; i < layers; i++) {
    inits.push(floatTensor(`w${i}`, [64, 64, 3, 3], new Float32Array(64 * 64 * 9).map(rand)), floatTensor(`b${i}`, [64], new Float32Array(64).map(rand)));
    nodes.push(node(`conv${i}`, 'Conv', [prev, `w${i}`, `b${i}`], [`c${i}`], [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1])]));
    nodes.push(node(`relu${i}`, 'Relu', [`c${i}`], [`r${i}`]));
    prev = `r${i}`;
  }
  return model([...nodes, str(2, 'convs'), ...inits, valueInfo(11, 'x', ['N', 64, 56, 56]), valueInfo(12, prev, ['N', 64, 56, 56])]);
}

// ------------------------------------------------------------------ tests

/** Phases start before their steps, end after them, and nest inside phases that are running. */
function checkNesting(events: BuildProgressEvent[]): void {
  const running = new Map<string, number>();
  for (const e of events) {
    if (e.type === 'phaseStart') {
      expect(running.has(e.phase), `phase ${e.phase} started twice`).toBe(false);
      if (e.parent !== null) expect(running.has(e.parent), `parent ${e.parent} of ${e.phase} is not running`).toBe(true);
      expect(e.steps).toBeGreaterThan(0);
      running.set(e.phase, e.steps);
    } else if (e.type === 'step') {
      expect(running.has(e.phase), `step of ${e.phase}, which is not running`).toBe(true);
      expect(e.step).toBeGreaterThanOrEqual(0);
      expect(e.step).toBeLessThan(running.get(e.phase)!);
    } else if (e.type === 'phaseEnd') {
      expect(running.delete(e.phase), `end of ${e.phase}, which is not running`).toBe(true);
    }
  }
  expect([...running.keys()]).toEqual([]);
}

describe.skipIf(!READY)(`build() with TensorRT's builder${SKIP}`, () => {
  it('the builder resource beside libnvinfer is loaded ahead of TensorRT (no LD_LIBRARY_PATH needed), and builderInfo names it', () => {
    const info = builderInfo();
    const beside = readdirSync(path.dirname(info.libraryPath)).filter((f) => f.startsWith('libnvinfer_builder_resource') && f.endsWith(`.so.${info.tensorrtVersion}`));
    expect(info.builderResources.map((f) => path.basename(f)).sort()).toEqual(beside.sort());
  });

  it('builds the classifier as trtexec would (FP32, profile 1/8/32): IO, profile, outputs match the references; progress well nested', async () => {
    const events: BuildProgressEvent[] = [];
    const saveEngine = path.join(tmp, 'classifier.plan');
    const timingCacheFile = path.join(tmp, 'timing.cache');
    const r = await build({ onnx: CLASSIFIER, profiles: [CLASSIFIER_PROFILE], saveEngine, timingCacheFile, onProgress: (e) => events.push(e) });
    console.log(`classifier FP32 built in ${(r.buildMs / 1000).toFixed(1)} s on ${r.device.name}: ${r.plan.byteLength} bytes, ${events.length} progress events, warnings ${JSON.stringify(r.warnings)}`);
    expect(r.io).toEqual([
      { name: 'input', mode: 'input', dtype: 'float32', shape: [-1, 3, 32, 32] },
      { name: 'logits', mode: 'output', dtype: 'float32', shape: [-1, 10] },
    ]);
    expect(r.profiles).toBe(1);
    expect(readFileSync(saveEngine).equals(r.plan)).toBe(true);
    expect(readFileSync(timingCacheFile).byteLength).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === 'phaseStart').length).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === 'step').length).toBeGreaterThan(0);
    checkNesting(events);
    console.log(`phases: ${[...new Set(events.filter((e) => e.type === 'phaseStart').map((e) => (e as { phase: string }).phase))].join(' | ')}`);

    const rt = new Runtime();
    const engine = await rt.deserializeAsync(r.plan);
    expect(engine.profiles).toEqual([CLASSIFIER_PROFILE]);
    engine.dispose();
    rt.dispose();
    const s = await Session.create(saveEngine);
    for (const c of ['b1', 'b7', 'b32']) {
      const ref = refCase('classifier', c);
      const out = await s.run(ref.inputs);
      const err = relError(out.logits!.data as Float32Array, ref.outputs.logits!.data as Float32Array);
      console.log(`built classifier FP32 ${c}: relative L2 error ${err.toExponential(2)}`);
      expect(err).toBeLessThan(TOL_FP32);
    }
    await s.dispose();

    // the timing cache is taken up by the next build, and FP16 works through the same path
    const fp16 = await build({ onnx: readFileSync(CLASSIFIER), profiles: [CLASSIFIER_PROFILE], fp16: true, timingCacheFile });
    const s16 = await Session.create(fp16.plan);
    const ref = refCase('classifier', 'b32');
    expect(relError((await s16.run(ref.inputs)).logits!.data as Float32Array, ref.outputs.logits!.data as Float32Array)).toBeLessThan(TOL_FP16);
    await s16.dispose();
  });

  it('several profiles (trtexec --profile=0 ... --profile=1 ...) end up in the plan', async () => {
    const p1 = { input: { min: [1, 3, 32, 32], opt: [2, 3, 32, 32], max: [4, 3, 32, 32] } };
    const p2 = { input: { min: [8, 3, 32, 32], opt: [16, 3, 32, 32], max: [32, 3, 32, 32] } };
    const r = await build({ onnx: CLASSIFIER, profiles: [p1, p2] });
    expect(r.profiles).toBe(2);
    const rt = new Runtime();
    const engine = await rt.deserializeAsync(r.plan);
    expect(engine.profiles).toEqual([p1, p2]);
    engine.dispose();
    rt.dispose();
  });

  it('profiles that do not fit the model: ERR_UNKNOWN_TENSOR, ERR_SHAPE_MISMATCH naming the input', async () => {
    const e1 = await build({ onnx: CLASSIFIER, profiles: [{ inputs: { min: [1, 3, 32, 32], opt: [1, 3, 32, 32], max: [1, 3, 32, 32] } }] }).catch((e: unknown) => e);
    expect((e1 as TensorRtError).code).toBe('ERR_UNKNOWN_TENSOR');
    expect((e1 as Error).message).toMatch(/'inputs', which is not an input of the model \(inputs: input\)/);
    const e2 = await build({ onnx: CLASSIFIER, profiles: [{ input: { min: [1, 3, 64, 64], opt: [1, 3, 64, 64], max: [1, 3, 64, 64] } }] }).catch((e: unknown) => e);
    expect((e2 as TensorRtError).code).toBe('ERR_SHAPE_MISMATCH');
    expect((e2 as Error).message).toMatch(/input 'input'.*dimension 2 is static \(32\)/);
  });

  it('an operator no one implements: a typed error naming the ONNX node (index, name, operator)', async () => {
    const e = (await build({ onnx: unsupportedOpModel(), profiles: [{ x: { min: [1, 4], opt: [2, 4], max: [4, 4] } }] }).catch((x: unknown) => x)) as TensorRtError;
    expect(e).toBeInstanceOf(TensorRtError);
    console.log(`unsupported op: ${e.code}: ${e.message}`);
    expect(['ERR_ONNX_UNSUPPORTED', 'ERR_ONNX_INVALID']).toContain(e.code);
    expect(e.details).toMatchObject({ node: 1, nodeName: 'bad_node', operator: 'ThisOpDoesNotExist' });
    expect(e.message).toMatch(/node 1 'bad_node' \(ThisOpDoesNotExist\)/);
    const garbage = (await build({ onnx: Buffer.from('this is not a protobuf at all, just text') }).catch((x: unknown) => x)) as TensorRtError;
    expect(garbage.code).toBe('ERR_ONNX_INVALID');
  });

  it('cancels: an AbortSignal during the build rejects with ERR_ABORTED, and the builder works afterwards', async () => {
    const onnx = path.join(tmp, 'convs.onnx');
    writeFileSync(onnx, convStackModel(24));
    const controller = new AbortController();
    const events: BuildProgressEvent[] = [];
    let abortedAt = -1;
    const options: BuildOptions = {
      onnx,
      profiles: [{ x: { min: [1, 64, 56, 56], opt: [8, 64, 56, 56], max: [16, 64, 56, 56] } }],
      fp16: true,
      builderOptimizationLevel: 5,
      signal: controller.signal,
      onProgress: (e) => {
        events.push(e);
        if (abortedAt < 0 && e.type === 'phaseStart') {
          abortedAt = events.length;
          controller.abort(new Error('enough'));
        }
      },
    };
    const t0 = performance.now();
    const e = (await build(options).catch((x: unknown) => x)) as TensorRtError;
    console.log(`cancelled after ${((performance.now() - t0) / 1000).toFixed(1)} s; ${events.length - abortedAt} progress events after the abort`);
    expect(e).toBeInstanceOf(TensorRtError);
    expect(e.code).toBe('ERR_ABORTED');
    expect((e.cause as Error).message).toBe('enough');
    expect(abortedAt).toBeGreaterThan(0);
    // aborted before TensorRT started: refused at once
    const pre = new AbortController();
    pre.abort();
    expect(((await build({ ...options, signal: pre.signal, onProgress: () => {} }).catch((x: unknown) => x)) as TensorRtError).code).toBe('ERR_ABORTED');
    // the next build is unaffected
    const ok = await build({ onnx: CLASSIFIER, profiles: [CLASSIFIER_PROFILE] });
    expect(ok.plan.byteLength).toBeGreaterThan(0);
  });

  it('the repository builds model.onnx on first load (platform tensorrt_plan), serves it, and takes the plan from the cache on the second', async () => {
    const repo = path.join(tmp, 'repo');
    mkdirSync(path.join(repo, 'classifier', '1'), { recursive: true });
    copyFileSync(CLASSIFIER, path.join(repo, 'classifier', '1', 'model.onnx'));
    writeFileSync(path.join(repo, 'classifier', 'config.pbtxt'), 'platform: "tensorrt_plan"\nmax_batch_size: 32\ninput [{ name: "input" data_type: TYPE_FP32 dims: [3, 32, 32] }]\n');
    let builds = 0;
    const counting = () => new PlanCache({ build: (o) => (builds++, build(o)) });
    const lines: string[] = [];
    const logger = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(`warn ${m}`), error: (m: string) => lines.push(`error ${m}`) };

    const first = await ModelRepository.open({ path: repo, planCache: counting(), logger });
    expect(first.status('classifier').state, JSON.stringify(first.status('classifier'))).toBe('READY');
    expect(builds).toBe(1);
    const cached = readdirSync(path.join(repo, 'classifier', '1', PLAN_CACHE_DIRNAME));
    expect(cached.filter((f) => f.endsWith('.plan'))).toHaveLength(1);
    expect(cached.filter((f) => f.endsWith('.json'))).toHaveLength(1);
    const ref = refCase('classifier', 'b7');
    const m = first.getModel('classifier');
    expect(m.signature.maxBatchSize).toBe(32);
    const one = await m.scheduler.infer({ input: rows(ref.inputs.input!, 3, 4) });
    expect(relError(one.logits!.data as Float32Array, rows(ref.outputs.logits!, 3, 4).data as Float32Array)).toBeLessThan(TOL_FP32);
    await first.close();

    const second = await ModelRepository.open({ path: repo, planCache: counting(), logger });
    expect(second.status('classifier').state).toBe('READY');
    expect(builds).toBe(1);
    const again = await second.getModel('classifier').scheduler.infer({ input: rows(ref.inputs.input!, 5, 6) });
    expect(relError(again.logits!.data as Float32Array, rows(ref.outputs.logits!, 5, 6).data as Float32Array)).toBeLessThan(TOL_FP32);
    await second.close();
    console.log(lines.filter((l) => /build|plan/i.test(l)).join('\n'));
  });
});
