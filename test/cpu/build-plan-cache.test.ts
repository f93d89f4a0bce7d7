// Plans built from a repository's ONNX models, on the CPU with a fake builder: the cache key (GPU,
// TensorRT version, ONNX sha256, files beside it, options), stale and damaged plans rebuilt and
// never loaded, atomic writes and no leftovers on failure, one build for concurrent loads (in this
// process and through the lock file), the options a model config asks for, and the repository's
// hook: tensorrt_plan + model.onnx, Triton's TensorRT accelerator, the fallback to ONNX Runtime.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PLAN_CACHE_DIRNAME, PlanCache, planOptionsFromConfig, type PlanEnvironment } from '../../lib/repository/plan-cache.js';
import { ModelRepository, type RepositoryLogger } from '../../lib/repository/repository.js';
import { parseModelConfig } from '../../lib/repository/config.js';
import { TensorRtError } from '../../lib/errors.js';
import { Tensor } from '../../lib/tensor.js';
import type { Backend, BackendCreateOptions, BackendInstance, ModelSignature } from '../../lib/backends/backend.js';
import { ConcatBatches } from '../../lib/backends/concat-batch.js';
import type { BuildOptions } from '../../lib/tensorrt/build.js';

const H100: PlanEnvironment = { tensorrtVersion: '10.6.0', gpuName: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' };

const dirs: string[] = [];
const repos: ModelRepository[] = [];
afterEach(async () => {
  await Promise.all(repos.splice(0).map((r) => r.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'trtn-plan-cache-'));
  dirs.push(d);
  return d;
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A builder that writes what it was asked for into the "plan": the fake backend checks it. */
/** `gate`: the build finishes only once it resolves. */
function fakeBuilder(env: () => PlanEnvironment, o: { delayMs?: number; gate?: Promise<void>; fail?: () => Error | undefined } = {}) {
  const calls: BuildOptions[] = [];
  const build = async (options: BuildOptions): Promise<{ plan: Uint8Array }> => {
    calls.push(options);
    if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
    if (o.gate) await o.gate;
    const err = o.fail?.();
    if (err) throw err;
    const onnx = readFileSync(options.onnx as string);
    return { plan: Buffer.from(JSON.stringify({ onnxSha256: sha(onnx), env: env(), options: { ...options, onnx: undefined } })) };
  };
  return { calls, build };
}

function cacheFor(env: { current: PlanEnvironment }, extra: ConstructorParameters<typeof PlanCache>[0] = {}, builder = fakeBuilder(() => env.current)) {
  const warnings: string[] = [];
  const cache = new PlanCache({ build: builder.build, environment: () => env.current, logger: { info() {}, warn: (m) => warnings.push(m) }, ...extra });
  return { cache, builder, warnings };
}

function modelDir(content = 'onnx bytes v1'): { dir: string; onnx: string } {
  const dir = path.join(tmp(), '1');
  mkdirSync(dir, { recursive: true });
  const onnx = path.join(dir, 'model.onnx');
  writeFileSync(onnx, content);
  return { dir, onnx };
}

const OPTS = { batchProfile: { min: 1, opt: 16, max: 32 }, fp16: true };

describe('PlanCache: keying', () => {
  it('builds once, then serves the same file from the cache; the manifest records what decided it', async () => {
    const env = { current: H100 };
    const { cache, builder } = cacheFor(env);
    const { dir, onnx } = modelDir();
    const first = await cache.get({ onnxPath: onnx, options: OPTS });
    expect(first.built).toBe(true);
    expect(path.dirname(first.planPath)).toBe(path.join(dir, PLAN_CACHE_DIRNAME));
    expect(path.basename(first.planPath)).toMatch(/^model\.[0-9a-f]{32}\.plan$/);
    const manifest = JSON.parse(readFileSync(first.planPath.replace(/\.plan$/, '.json'), 'utf8'));
    expect(manifest).toMatchObject({ key: first.key, onnx: { file: 'model.onnx', sha256: sha('onnx bytes v1') }, tensorrtVersion: '10.6.0', gpu: { name: H100.gpuName, computeCapability: '9.0' }, options: OPTS });
    expect(manifest.plan).toEqual({ bytes: readFileSync(first.planPath).byteLength, sha256: sha(readFileSync(first.planPath)) });
    expect(builder.calls).toHaveLength(1);
    expect(builder.calls[0]).toMatchObject({ ...OPTS, onnx, device: 0 });

    const again = await cache.get({ onnxPath: onnx, options: { fp16: true, batchProfile: { max: 32, opt: 16, min: 1 } } });
    expect(again).toEqual({ planPath: first.planPath, key: first.key, built: false });
    // a new cache object (another process, a restart) finds it on disk
    const other = cacheFor(env);
    expect((await other.cache.get({ onnxPath: onnx, options: OPTS })).built).toBe(false);
    expect(builder.calls.length + other.builder.calls.length).toBe(1);
  });

  it('another GPU, compute capability, TensorRT version, option set or device build a plan of their own', async () => {
    const env = { current: H100 };
    const { cache, builder } = cacheFor(env);
    const { onnx } = modelDir();
    const paths = new Set<string>();
    const get = async (options: object = OPTS, device?: number) => {
      const r = await cache.get({ onnxPath: onnx, options, ...(device !== undefined ? { device } : {}) });
      expect(r.built).toBe(true);
      paths.add(r.planPath);
    };
    await get();
    env.current = { ...H100, gpuName: 'NVIDIA H200' };
    await get();
    env.current = { ...H100, computeCapability: '8.9' };
    await get();
    env.current = { ...H100, tensorrtVersion: '10.7.0' };
    await get();
    env.current = H100;
    await get({ ...OPTS, fp16: false });
    await get({ ...OPTS, batchProfile: { min: 1, opt: 8, max: 16 } });
    expect(paths.size).toBe(6);
    expect(builder.calls).toHaveLength(6);
    // what each plan was built for is what the fake builder saw
    expect(JSON.parse(readFileSync([...paths][1]!, 'utf8')).env.gpuName).toBe('NVIDIA H200');
    // back to the first: a hit
    expect((await cache.get({ onnxPath: onnx, options: OPTS })).built).toBe(false);
  });

  it('a changed ONNX file, or a changed file beside it (external weights), is rebuilt; plans of the old model are removed', async () => {
    const env = { current: H100 };
    const { cache, builder } = cacheFor(env);
    const { dir, onnx } = modelDir();
    const a = await cache.get({ onnxPath: onnx, options: OPTS });
    env.current = { ...H100, gpuName: 'NVIDIA H200' };
    const h200 = await cache.get({ onnxPath: onnx, options: OPTS });
    env.current = H100;
    writeFileSync(onnx, 'onnx bytes v2');
    const b = await cache.get({ onnxPath: onnx, options: OPTS });
    expect(b.built).toBe(true);
    expect(b.planPath).not.toBe(a.planPath);
    expect(JSON.parse(readFileSync(b.planPath, 'utf8')).onnxSha256).toBe(sha('onnx bytes v2'));
    // the v1 plans (either GPU) can never be valid again
    expect(existsSync(a.planPath)).toBe(false);
    expect(existsSync(h200.planPath)).toBe(false);
    expect(readdirSync(path.join(dir, PLAN_CACHE_DIRNAME)).sort()).toEqual([path.basename(b.planPath), path.basename(b.planPath).replace('.plan', '.json')].sort());

    writeFileSync(path.join(dir, 'weights.bin'), 'w1');
    const c = await cache.get({ onnxPath: onnx, options: OPTS });
    expect(c.built).toBe(true);
    writeFileSync(path.join(dir, 'weights.bin'), 'w2');
    const d = await cache.get({ onnxPath: onnx, options: OPTS });
    expect(d.built).toBe(true);
    expect(new Set([b.key, c.key, d.key]).size).toBe(3);
    expect(builder.calls).toHaveLength(5);
  });

  it('TRTNODE_PLAN_CACHE_DIR (option dir) puts the plans elsewhere, one folder per model file', async () => {
    const env = { current: H100 };
    const elsewhere = tmp();
    const { cache } = cacheFor(env, { dir: elsewhere });
    const m1 = modelDir();
    const m2 = modelDir();
    const p1 = await cache.get({ onnxPath: m1.onnx, options: OPTS });
    const p2 = await cache.get({ onnxPath: m2.onnx, options: OPTS });
    expect(path.dirname(path.dirname(p1.planPath))).toBe(elsewhere);
    expect(path.dirname(p1.planPath)).not.toBe(path.dirname(p2.planPath));
    expect(existsSync(path.join(m1.dir, PLAN_CACHE_DIRNAME))).toBe(false);
  });
});

describe('PlanCache: stale and damaged plans are rebuilt, never loaded', () => {
  it('a plan whose bytes differ from its manifest, a plan without a manifest, an unreadable manifest', async () => {
    const env = { current: H100 };
    const { cache, builder, warnings } = cacheFor(env);
    const { onnx } = modelDir();
    const first = await cache.get({ onnxPath: onnx, options: OPTS });
    const good = readFileSync(first.planPath);
    // same size, other bytes: a damaged copy
    writeFileSync(first.planPath, Buffer.from(good.toString('utf8').replace('onnx', 'ONNX')));
    const r1 = await cache.get({ onnxPath: onnx, options: OPTS });
    expect(r1.built).toBe(true);
    expect(readFileSync(r1.planPath)).toEqual(good);
    expect(warnings.join('\n')).toMatch(/does not match its manifest/);
    // the process died between the plan's rename and the manifest's
    rmSync(first.planPath.replace(/\.plan$/, '.json'));
    expect((await cache.get({ onnxPath: onnx, options: OPTS })).built).toBe(true);
    writeFileSync(first.planPath.replace(/\.plan$/, '.json'), '{ torn');
    expect((await cache.get({ onnxPath: onnx, options: OPTS })).built).toBe(true);
    // a manifest of another key under this name (a copied file): not loaded
    const m = JSON.parse(readFileSync(first.planPath.replace(/\.plan$/, '.json'), 'utf8'));
    writeFileSync(first.planPath.replace(/\.plan$/, '.json'), JSON.stringify({ ...m, key: 'f'.repeat(64) }));
    expect((await cache.get({ onnxPath: onnx, options: OPTS })).built).toBe(true);
    expect(builder.calls).toHaveLength(5);
    expect((await cache.get({ onnxPath: onnx, options: OPTS })).built).toBe(false);
  });
});

describe('PlanCache: concurrency', () => {
  it('concurrent gets in one process build once', async () => {
    const env = { current: H100 };
    const builder = fakeBuilder(() => env.current, { delayMs: 50 });
    const { cache } = cacheFor(env, {}, builder);
    const { onnx } = modelDir();
    const rs = await Promise.all([0, 1, 2, 3].map(() => cache.get({ onnxPath: onnx, options: OPTS })));
    expect(builder.calls).toHaveLength(1);
    expect(new Set(rs.map((r) => r.planPath)).size).toBe(1);
  });

  it('two caches on one folder (two processes) build once: the second waits on the lock file, then loads the plan', async () => {
    const env = { current: H100 };
    let release!: () => void;
    const b1 = fakeBuilder(() => env.current, { gate: new Promise<void>((r) => (release = r)) });
    const b2 = fakeBuilder(() => env.current);
    const c1 = cacheFor(env, { lockPollMs: 10 }, b1);
    const c2 = cacheFor(env, { lockPollMs: 10 }, b2);
    const { onnx, dir } = modelDir();
    const p1 = c1.cache.get({ onnxPath: onnx, options: OPTS });
    // the first holds the lock while its build waits on the gate
    await vi.waitFor(() => expect(b1.calls).toHaveLength(1), { timeout: 10_000 });
    expect(readdirSync(path.join(dir, PLAN_CACHE_DIRNAME)).some((f) => f.endsWith('.lock'))).toBe(true);
    let secondDone = false;
    const p2 = c2.cache.get({ onnxPath: onnx, options: OPTS }).then((r) => ((secondDone = true), r));
    // the second polls the lock (every 10 ms) and neither builds nor returns while it is held
    await new Promise((r) => setTimeout(r, 50));
    expect(secondDone).toBe(false);
    release();
    const r1 = await p1;
    const r2 = await p2;
    expect(b1.calls.length + b2.calls.length).toBe(1);
    expect(r1.built).toBe(true);
    expect(r2).toEqual({ ...r1, built: false });
    expect(readdirSync(path.join(dir, PLAN_CACHE_DIRNAME)).some((f) => f.endsWith('.lock'))).toBe(false);
  });

  it('a lock left by a dead process on this host, or an old one from another host, is taken over', async () => {
    const env = { current: H100 };
    const { cache, builder, warnings } = cacheFor(env, { lockPollMs: 10, staleLockMs: 60_000 });
    const { onnx, dir } = modelDir();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    // find the plan's name first, then plant a lock beside it
    const first = await cache.get({ onnxPath: onnx, options: OPTS });
    rmSync(path.join(dir, PLAN_CACHE_DIRNAME), { recursive: true });
    mkdirSync(path.join(dir, PLAN_CACHE_DIRNAME));
    writeFileSync(`${first.planPath}.lock`, JSON.stringify({ pid: deadPid, host: hostname() }));
    expect((await cache.get({ onnxPath: onnx, options: OPTS })).built).toBe(true);
    expect(warnings.join('\n')).toMatch(new RegExp(`process ${deadPid} that held it is gone`));
    rmSync(path.join(dir, PLAN_CACHE_DIRNAME), { recursive: true });
    mkdirSync(path.join(dir, PLAN_CACHE_DIRNAME));
    writeFileSync(`${first.planPath}.lock`, JSON.stringify({ pid: 1, host: 'another-host' }));
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(`${first.planPath}.lock`, old, old);
    expect((await cache.get({ onnxPath: onnx, options: OPTS })).built).toBe(true);
    expect(warnings.join('\n')).toMatch(/it is 60 minutes old/);
    expect(builder.calls).toHaveLength(3);
  });

  it('a lock held by a live process is waited for', async () => {
    const env = { current: H100 };
    const { cache, builder } = cacheFor(env, { lockPollMs: 10 });
    const { onnx } = modelDir();
    const first = await cache.get({ onnxPath: onnx, options: OPTS });
    rmSync(first.planPath);
    writeFileSync(`${first.planPath}.lock`, JSON.stringify({ pid: process.pid, host: hostname() }));
    let done = false;
    const p = cache.get({ onnxPath: onnx, options: OPTS }).then((r) => ((done = true), r));
    await new Promise((r) => setTimeout(r, 100));
    expect(done).toBe(false);
    expect(builder.calls).toHaveLength(1);
    rmSync(`${first.planPath}.lock`);
    expect((await p).built).toBe(true);
    expect(builder.calls).toHaveLength(2);
  });
});

describe('PlanCache: errors', () => {
  it('a failed build propagates its error, leaves nothing behind and is retried by the next load', async () => {
    const env = { current: H100 };
    let failing = true;
    const builder = fakeBuilder(() => env.current, { fail: () => (failing ? new TensorRtError('ERR_ONNX_UNSUPPORTED', "node 3 'weird' (FancyOp): UNSUPPORTED_NODE", { node: 3 }) : undefined) });
    const { cache } = cacheFor(env, {}, builder);
    const { onnx, dir } = modelDir();
    await expect(cache.get({ onnxPath: onnx, options: OPTS })).rejects.toMatchObject({ code: 'ERR_ONNX_UNSUPPORTED', details: { node: 3 } });
    expect(readdirSync(path.join(dir, PLAN_CACHE_DIRNAME))).toEqual([]);
    failing = false;
    expect((await cache.get({ onnxPath: onnx, options: OPTS })).built).toBe(true);
    expect(builder.calls).toHaveLength(2);
  });

  it('no TensorRT (the environment probe fails): the error as it is, nothing written', async () => {
    const builder = fakeBuilder(() => H100);
    const cache = new PlanCache({ build: builder.build, environment: () => { throw new TensorRtError('ERR_TRT_NOT_FOUND', 'TensorRT runtime not found'); } });
    const { onnx, dir } = modelDir();
    await expect(cache.get({ onnxPath: onnx, options: OPTS })).rejects.toMatchObject({ code: 'ERR_TRT_NOT_FOUND' });
    expect(readdirSync(dir)).toEqual(['model.onnx']);
    expect(builder.calls).toHaveLength(0);
  });

  it('a cache folder that cannot be written: ERR_CONFIG saying how to fix it', async () => {
    const root = tmp();
    writeFileSync(path.join(root, 'a-file'), 'x');
    const { cache } = cacheFor({ current: H100 }, { dir: path.join(root, 'a-file', 'cache') });
    const { onnx } = modelDir();
    const e = await cache.get({ onnxPath: onnx, options: OPTS }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TensorRtError);
    expect((e as TensorRtError).code).toBe('ERR_CONFIG');
    expect((e as TensorRtError).message).toMatch(/cannot write the plan cache .*TRTNODE_PLAN_CACHE_DIR/);
  });
});

describe('build options from a model config', () => {
  const cfg = (text: string) => parseModelConfig(text).config;

  it("the profile: 1 / max/2 / max_batch_size on dimension 0, the config's dims for the rest", () => {
    expect(planOptionsFromConfig(cfg('max_batch_size: 32'))).toEqual({ batchProfile: { min: 1, opt: 16, max: 32 } });
    expect(planOptionsFromConfig(cfg('max_batch_size: 1'))).toEqual({ batchProfile: { min: 1, opt: 1, max: 1 } });
    expect(planOptionsFromConfig(cfg('max_batch_size: 7'))).toEqual({ batchProfile: { min: 1, opt: 3, max: 7 } });
    // Triton's default for ONNX models when the config gives none
    expect(planOptionsFromConfig(cfg(''))).toEqual({ batchProfile: { min: 1, opt: 2, max: 4 } });
    expect(planOptionsFromConfig(cfg('max_batch_size: 8 input [{ name: "tokens" data_type: TYPE_FP32 dims: [ -1, 16 ] }]'))).toEqual({
      batchProfile: { min: 1, opt: 4, max: 8 },
      inputDims: { tokens: [-1, 16] },
    });
    // no batch dimension: the dims are whole shapes
    expect(planOptionsFromConfig(cfg('max_batch_size: 0 input [{ name: "x" data_type: TYPE_FP32 dims: [ 3, 32 ] }]'))).toEqual({ inputDims: { x: [3, 32] } });
  });

  it("the TensorRT accelerator's parameters: precision_mode, max_workspace_size_bytes; others warned about", () => {
    const accel = (params: string) => cfg(`max_batch_size: 4 optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt" ${params} } ] } }`);
    expect(planOptionsFromConfig(accel('parameters { key: "precision_mode" value: "FP16" }'))).toMatchObject({ fp16: true });
    expect(planOptionsFromConfig(accel('parameters { key: "precision_mode" value: "bf16" }'))).toMatchObject({ bf16: true });
    expect(planOptionsFromConfig(accel('parameters { key: "precision_mode" value: "FP32" }'))).toEqual({ batchProfile: { min: 1, opt: 2, max: 4 } });
    expect(planOptionsFromConfig(accel('parameters { key: "max_workspace_size_bytes" value: "1073741824" }'))).toMatchObject({ memoryPools: { workspace: 1073741824 } });
    const warned: string[] = [];
    planOptionsFromConfig(accel('parameters { key: "trt_engine_cache_enable" value: "1" }'), (m) => warned.push(m));
    expect(warned).toEqual(["the TensorRT accelerator's parameter trt_engine_cache_enable is not used by tensorrt-node (ignored)"]);
    expect(() => planOptionsFromConfig(accel('parameters { key: "precision_mode" value: "INT8" }'))).toThrow(/INT8 needs calibration/);
    expect(() => planOptionsFromConfig(accel('parameters { key: "precision_mode" value: "FP8" }'))).toThrow(TensorRtError);
    expect(() => planOptionsFromConfig(accel('parameters { key: "max_workspace_size_bytes" value: "lots" }'))).toThrow(/max_workspace_size_bytes/);
  });

  it('config.pbtxt: execution_accelerators is read (Triton syntax), no longer an ignored field', () => {
    const r = parseModelConfig(`
      platform: "onnxruntime_onnx"
      optimization { execution_accelerators {
        gpu_execution_accelerator : [ { name : "tensorrt"
          parameters { key: "precision_mode" value: "FP16" }
          parameters { key: "max_workspace_size_bytes" value: "1073741824" } } ]
        cpu_execution_accelerator : [ { name : "openvino" } ]
      }}`);
    expect(r.config.optimization?.execution_accelerators).toEqual({
      gpu_execution_accelerator: [{ name: 'tensorrt', parameters: { precision_mode: 'FP16', max_workspace_size_bytes: '1073741824' } }],
      cpu_execution_accelerator: [{ name: 'openvino' }],
    });
    expect(r.warnings).toEqual([]);
  });
});

// ------------------------------------------------------------------------------- the repository

/** Loads the fake builder's "plans" (checking each was built from the ONNX beside it) or ONNX files. */
class RecordingBackend implements Backend {
  readonly created: string[] = [];
  constructor(
    readonly kind: 'tensorrt' | 'onnxruntime',
    private readonly ext: string,
  ) {}
  accepts(f: string): boolean {
    return f.toLowerCase().endsWith(this.ext);
  }
  async createInstance(p: string, _o: BackendCreateOptions = {}): Promise<BackendInstance> {
    this.created.push(p);
    let maxBatchSize = 8;
    if (this.kind === 'tensorrt') {
      const plan = JSON.parse(readFileSync(p, 'utf8')) as { onnxSha256: string; options: BuildOptions };
      const versionDir = path.basename(path.dirname(p)) === PLAN_CACHE_DIRNAME ? path.dirname(path.dirname(p)) : path.dirname(p);
      const onnx = path.join(versionDir, 'model.onnx');
      if (plan.onnxSha256 !== sha(readFileSync(onnx))) throw new Error(`stale plan loaded: ${p}`);
      maxBatchSize = plan.options.batchProfile?.max ?? 0;
    }
    const signature: ModelSignature = {
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 4] }],
      maxBatchSize,
    };
    const inst: BackendInstance = {
      kind: this.kind,
      signature,
      createBatch: () => batches.create(),
      async run(feeds) {
        const x = Object.values(feeds)[0]!;
        return { y: new Tensor('float32', new Float32Array(x.size), x.dims) };
      },
      async dispose() {},
    };
    const batches = new ConcatBatches(signature, (feeds) => inst.run(feeds));
    return inst;
  }
}

function logger(): RepositoryLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: () => {}, warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

function repoWith(config: string, files: Record<string, string> = { 'model.onnx': 'onnx bytes v1' }): string {
  const repo = tmp();
  mkdirSync(path.join(repo, 'm', '1'), { recursive: true });
  writeFileSync(path.join(repo, 'm', 'config.pbtxt'), config);
  for (const [f, c] of Object.entries(files)) writeFileSync(path.join(repo, 'm', '1', f), c);
  return repo;
}

async function openRepo(repo: string, cache: PlanCache, extra: Partial<ConstructorParameters<typeof ModelRepository>[0]> = {}) {
  const trt = new RecordingBackend('tensorrt', '.plan');
  const ort = new RecordingBackend('onnxruntime', '.onnx');
  const log = logger();
  const r = new ModelRepository({ path: repo, backends: [ort, trt], logger: log, planCache: cache, ...extra });
  repos.push(r);
  await r.start();
  return { r, trt, ort, log };
}

describe('repository: plans built on first load', () => {
  it('platform tensorrt_plan with model.onnx: built with the profile from max_batch_size, served by TensorRT, cached for the next load', async () => {
    const repo = repoWith('platform: "tensorrt_plan"\nmax_batch_size: 32\ninstance_group [{ count: 2 kind: KIND_GPU gpus: [1] }]');
    const env = { current: H100 };
    const c1 = cacheFor(env);
    const { r, trt, ort } = await openRepo(repo, c1.cache);
    expect(r.status('m').state, JSON.stringify(r.status('m'))).toBe('READY');
    expect(ort.created).toEqual([]);
    expect(trt.created).toHaveLength(2);
    expect(new Set(trt.created).size).toBe(1);
    expect(path.dirname(trt.created[0]!)).toBe(path.join(repo, 'm', '1', PLAN_CACHE_DIRNAME));
    expect(c1.builder.calls).toHaveLength(1);
    expect(c1.builder.calls[0]).toMatchObject({ onnx: path.join(repo, 'm', '1', 'model.onnx'), device: 1, batchProfile: { min: 1, opt: 16, max: 32 } });
    expect(r.getModel('m').config.max_batch_size).toBe(32);
    await r.close();

    // a restart: the cache on disk serves it, nothing is built
    const c2 = cacheFor(env);
    const second = await openRepo(repo, c2.cache);
    expect(second.r.status('m').state).toBe('READY');
    expect(c2.builder.calls).toHaveLength(0);
    expect(second.trt.created[0]).toBe(trt.created[0]);

    // the ONNX model changes: rebuilt, the stale plan is never loaded (the backend would throw)
    await second.r.close();
    writeFileSync(path.join(repo, 'm', '1', 'model.onnx'), 'onnx bytes v2');
    const c3 = cacheFor(env);
    const third = await openRepo(repo, c3.cache);
    expect(third.r.status('m').state, JSON.stringify(third.r.status('m'))).toBe('READY');
    expect(c3.builder.calls).toHaveLength(1);
    expect(third.trt.created[0]).not.toBe(trt.created[0]);
  });

  it('tensorrt_plan with a model.plan: loaded as it is, nothing built', async () => {
    const repo = repoWith('platform: "tensorrt_plan"\nmax_batch_size: 8', { 'model.onnx': 'onnx', 'model.plan': JSON.stringify({ onnxSha256: sha('onnx'), options: { batchProfile: { max: 8 } } }) });
    const { cache, builder } = cacheFor({ current: H100 });
    const { r, trt } = await openRepo(repo, cache);
    expect(r.status('m').state).toBe('READY');
    expect(trt.created).toEqual([path.join(repo, 'm', '1', 'model.plan')]);
    expect(builder.calls).toHaveLength(0);
  });

  it("Triton's TensorRT accelerator on an ONNX Runtime model: built (FP16) and served by TensorRT; KIND_CPU keeps ONNX Runtime", async () => {
    const accel = 'optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt" parameters { key: "precision_mode" value: "FP16" } } ] } }';
    const repo = repoWith(`platform: "onnxruntime_onnx"\nmax_batch_size: 8\n${accel}`);
    const { cache, builder } = cacheFor({ current: H100 });
    const { r, trt, ort } = await openRepo(repo, cache);
    expect(r.status('m').state).toBe('READY');
    expect(trt.created).toHaveLength(1);
    expect(ort.created).toEqual([]);
    expect(builder.calls[0]).toMatchObject({ fp16: true, batchProfile: { min: 1, opt: 4, max: 8 } });

    const cpuRepo = repoWith(`platform: "onnxruntime_onnx"\nmax_batch_size: 8\ninstance_group [{ kind: KIND_CPU }]\n${accel}`);
    const cpu = cacheFor({ current: H100 });
    const second = await openRepo(cpuRepo, cpu.cache);
    expect(second.r.status('m').state).toBe('READY');
    expect(second.ort.created).toEqual([path.join(cpuRepo, 'm', '1', 'model.onnx')]);
    expect(cpu.builder.calls).toHaveLength(0);
  });

  it('where nothing can build: the accelerator falls back to ONNX Runtime with a warning; tensorrt_plan says why it cannot load', async () => {
    const unavailable = () => new PlanCache({ environment: () => { throw new TensorRtError('ERR_TRT_NOT_FOUND', 'TensorRT runtime not found (flavor \'full\'). Tried: ...'); } });
    const accelRepo = repoWith('max_batch_size: 8\noptimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt" } ] } }');
    const a = await openRepo(accelRepo, unavailable());
    expect(a.r.status('m').state).toBe('READY');
    expect(a.ort.created).toHaveLength(1);
    expect(a.log.lines.join('\n')).toMatch(/m: the TensorRT accelerator cannot build here \(TensorRT runtime not found.*serving model\.onnx with ONNX Runtime/);

    const planRepo = repoWith('platform: "tensorrt_plan"\nmax_batch_size: 8');
    const p = await openRepo(planRepo, unavailable());
    expect(p.r.status('m').state).toBe('UNAVAILABLE');
    expect(p.r.status('m').reason).toMatch(/TensorRT runtime not found/);
    expect(p.ort.created).toEqual([]);
  });

  it('a parse error from the build makes the version UNAVAILABLE with the node named', async () => {
    const repo = repoWith('platform: "tensorrt_plan"\nmax_batch_size: 8');
    const builder = fakeBuilder(() => H100, { fail: () => new TensorRtError('ERR_ONNX_UNSUPPORTED', "TensorRT's ONNX parser rejected the model\n  - node 3 'weird' (FancyOp): UNSUPPORTED_NODE") });
    const { cache } = cacheFor({ current: H100 }, {}, builder);
    const { r } = await openRepo(repo, cache);
    expect(r.status('m').state).toBe('UNAVAILABLE');
    expect(r.status('m').reason).toMatch(/node 3 'weird' \(FancyOp\)/);
  });

  it('default_model_filename outside the version directory is refused', async () => {
    const repo = repoWith('platform: "tensorrt_plan"\nmax_batch_size: 8\ndefault_model_filename: "../../other.onnx"');
    writeFileSync(path.join(repo, 'other.onnx'), 'x');
    const { cache, builder } = cacheFor({ current: H100 });
    const { r } = await openRepo(repo, cache);
    expect(r.status('m').state).toBe('UNAVAILABLE');
    expect(r.status('m').reason).toMatch(/must name a file in the version directory/);
    expect(builder.calls).toHaveLength(0);
  });

  it('poll mode: the plans written into the model folder do not count as a change (no reload)', async () => {
    const repo = repoWith('platform: "tensorrt_plan"\nmax_batch_size: 8');
    const { cache, builder } = cacheFor({ current: H100 });
    const { r, trt } = await openRepo(repo, cache, { controlMode: 'poll', pollIntervalMs: 60_000 });
    expect(trt.created).toHaveLength(1);
    await r.poll();
    await r.poll();
    expect(trt.created).toHaveLength(1);
    expect(builder.calls).toHaveLength(1);
    // a real change still reloads
    writeFileSync(path.join(repo, 'm', '1', 'model.onnx'), 'onnx bytes v3');
    await r.poll();
    expect(trt.created).toHaveLength(2);
    expect(builder.calls).toHaveLength(2);
  });
});
