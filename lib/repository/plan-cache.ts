/**
 * Plans built from a repository's ONNX models on first load, cached next to them.
 *
 * A model version is built into a TensorRT plan when its config says TensorRT and the version
 * directory holds an ONNX model:
 *   - `platform: "tensorrt_plan"` (or `backend: "tensorrt"`) with `model.onnx` and no `model.plan`
 *     (or `default_model_filename` naming an .onnx file);
 *   - an ONNX Runtime model with Triton's TensorRT accelerator,
 *     `optimization { execution_accelerators { gpu_execution_accelerator: [{ name: "tensorrt" }] } }`
 *     (instance groups of KIND_CPU only keep ONNX Runtime, as in Triton; a machine that cannot build,
 *     without TensorRT or a GPU, serves the model with ONNX Runtime and says so).
 *
 * The profile comes from the config: dimension 0 of each dynamic input ranges over 1, max/2
 * (at least 1) and max_batch_size — the 1/16/32 of the trtexec workflow for max_batch_size 32;
 * other dynamic dimensions from the config's dims. Without max_batch_size, Triton's default of
 * 4 for ONNX models. The accelerator's parameters precision_mode (FP32, FP16, BF16) and
 * max_workspace_size_bytes apply to the build.
 *
 * The cache key covers all that decides the plan: the GPU (name and compute capability), the
 * TensorRT version, the sha256 of the ONNX file (and of the other files beside it: external
 * weights) and the build options. The key is in the file name and in a manifest that also holds
 * the plan's sha256, so a stale plan is never loaded (its name no longer matches) and a damaged
 * one is rebuilt. Plans are written atomically (temporary file, then rename). Loads of the same
 * model in this process share one build; other processes wait on a lock file beside the plan.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TensorRtError, isTensorRtError } from '../errors.js';
import type { Backend } from '../backends/backend.js';
import type { BuildOptions } from '../tensorrt/build.js';
import type { ModelConfig } from './config.js';

/** The folder, beside the ONNX model, that holds its cached plans. */
export const PLAN_CACHE_DIRNAME = '.tensorrt-node-plans';

/** What decides a plan besides the model and the options: the machine. */
export interface PlanEnvironment {
  tensorrtVersion: string;
  gpuName: string;
  computeCapability: string;
}

/** The build options the cache passes on (the model and the output file are its own). */
export type PlanBuildOptions = Omit<BuildOptions, 'onnx' | 'saveEngine' | 'timingCacheFile' | 'signal' | 'onProgress' | 'onLog' | 'device' | 'libraryPath'>;

export interface PlanRequest {
  /** the ONNX model */
  onnxPath: string;
  options: PlanBuildOptions;
  /** the GPU to build for (default 0) */
  device?: number;
}

export interface CachedPlan {
  planPath: string;
  key: string;
  /** false when the plan came from the cache */
  built: boolean;
}

export interface PlanCacheOptions {
  /** builds a plan; default lib/tensorrt/build.ts build() (tests inject a fake) */
  build?: (options: BuildOptions) => Promise<{ plan: Uint8Array }>;
  /** this machine's TensorRT and GPU; default builderInfo() of lib/tensorrt/build.ts */
  environment?: (device: number) => PlanEnvironment | Promise<PlanEnvironment>;
  /** put the plans under this folder (one subfolder per model file) instead of beside the models; default $TRTNODE_PLAN_CACHE_DIR */
  dir?: string;
  /** how often a process waiting for another's build looks again, ms (default 500) */
  lockPollMs?: number;
  /** a lock file older than this is taken over, ms (default 2 hours: longer than any build) */
  staleLockMs?: number;
  logger?: { info(msg: string): void; warn(msg: string): void };
}

interface Manifest {
  format: 1;
  key: string;
  onnx: { file: string; sha256: string };
  tensorrtVersion: string;
  gpu: { name: string; computeCapability: string };
  options: PlanBuildOptions;
  plan: { bytes: number; sha256: string };
  builtAt: string;
  buildMs: number;
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** JSON with object keys sorted: the same options always give the same key. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

export class PlanCache {
  readonly #build?: PlanCacheOptions['build'];
  readonly #environment?: PlanCacheOptions['environment'];
  readonly #dir?: string;
  readonly #lockPollMs: number;
  readonly #staleLockMs: number;
  readonly #logger: { info(msg: string): void; warn(msg: string): void };
  /** builds (and cache checks) under way in this process, by plan file */
  readonly #inflight = new Map<string, Promise<CachedPlan>>();

  constructor(options: PlanCacheOptions = {}) {
    if (options.build) this.#build = options.build;
    if (options.environment) this.#environment = options.environment;
    const dir = options.dir ?? process.env.TRTNODE_PLAN_CACHE_DIR;
    if (dir) this.#dir = path.resolve(dir);
    this.#lockPollMs = options.lockPollMs ?? 500;
    this.#staleLockMs = options.staleLockMs ?? 2 * 3600_000;
    this.#logger = options.logger ?? { info: () => {}, warn: (m) => process.stderr.write(`[tensorrt-node] warning: ${m}\n`) };
  }

  /** The folder that holds the plans of one ONNX model. */
  cacheDirFor(onnxPath: string): string {
    const abs = path.resolve(onnxPath);
    if (!this.#dir) return path.join(path.dirname(abs), PLAN_CACHE_DIRNAME);
    return path.join(this.#dir, createHash('sha256').update(abs).digest('hex').slice(0, 16));
  }

  async #env(device: number): Promise<PlanEnvironment> {
    if (this.#environment) return this.#environment(device);
    const { builderInfo } = await import('../tensorrt/build.js');
    const i = builderInfo({ device });
    return { tensorrtVersion: i.tensorrtVersion, gpuName: i.device.name, computeCapability: i.device.computeCapability };
  }

  /** sha256 of the model and of every other file beside it (an ONNX model may keep its weights in them). */
  async #modelDigest(onnxPath: string): Promise<{ onnx: string; siblings: string[] }> {
    const onnx = await sha256File(onnxPath);
    const dir = path.dirname(onnxPath);
    const siblings: string[] = [];
    const ents = await fs.readdir(dir, { withFileTypes: true });
    for (const e of ents.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name === path.basename(onnxPath) || e.name.startsWith('.') || !e.isFile()) continue;
      siblings.push(`${e.name}:${await sha256File(path.join(dir, e.name))}`);
    }
    return { onnx, siblings };
  }

  /**
   * The plan for this model and options on this machine: from the cache when a valid one is
   * there, else built and cached. Throws what build() throws (ERR_TRT_NOT_FOUND, ERR_ONNX_*,
   * ...), and ERR_CONFIG when the cache folder cannot be written.
   */
  async get(request: PlanRequest): Promise<CachedPlan> {
    const onnxPath = path.resolve(request.onnxPath);
    const device = request.device ?? 0;
    const env = await this.#env(device);
    const digest = await this.#modelDigest(onnxPath);
    const key = createHash('sha256')
      .update(canonical({ format: 1, onnx: digest.onnx, siblings: digest.siblings, tensorrt: env.tensorrtVersion, gpu: env.gpuName, cc: env.computeCapability, options: request.options }))
      .digest('hex');
    const dir = this.cacheDirFor(onnxPath);
    const stem = path.basename(onnxPath).replace(/\.onnx$/i, '');
    const planPath = path.join(dir, `${stem}.${key.slice(0, 32)}.plan`);
    const running = this.#inflight.get(planPath);
    if (running) return running;
    const work = this.#getOrBuild({ onnxPath, device, env, digest: digest.onnx, key, dir, stem, planPath, options: request.options }).finally(() => this.#inflight.delete(planPath));
    this.#inflight.set(planPath, work);
    return work;
  }

  async #valid(planPath: string, key: string): Promise<boolean> {
    let manifest: Manifest;
    try {
      manifest = JSON.parse(await fs.readFile(manifestPathOf(planPath), 'utf8')) as Manifest;
    } catch (e) {
      if (errno(e) !== 'ENOENT') this.#logger.warn(`the plan cache manifest ${manifestPathOf(planPath)} is unreadable (${(e as Error).message}): rebuilding`);
      return false;
    }
    if (manifest.key !== key) return false;
    try {
      const st = await fs.stat(planPath);
      if (st.size === manifest.plan.bytes && (await sha256File(planPath)) === manifest.plan.sha256) return true;
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
    this.#logger.warn(`the cached plan ${planPath} does not match its manifest (damaged or replaced): rebuilding`);
    return false;
  }

  async #getOrBuild(j: { onnxPath: string; device: number; env: PlanEnvironment; digest: string; key: string; dir: string; stem: string; planPath: string; options: PlanBuildOptions }): Promise<CachedPlan> {
    if (await this.#valid(j.planPath, j.key)) return { planPath: j.planPath, key: j.key, built: false };
    try {
      await fs.mkdir(j.dir, { recursive: true });
    } catch (e) {
      throw this.#unwritable(j.dir, e);
    }
    const release = await this.#lock(j.planPath, j.dir);
    try {
      // another process may have built it while this one waited for the lock
      if (await this.#valid(j.planPath, j.key)) return { planPath: j.planPath, key: j.key, built: false };
      this.#logger.info(`building a TensorRT plan from ${j.onnxPath} (TensorRT ${j.env.tensorrtVersion}, ${j.env.gpuName}); it is cached in ${j.dir}`);
      const started = performance.now();
      const run = this.#build ?? (await import('../tensorrt/build.js')).build;
      const { plan } = await run({ ...j.options, onnx: j.onnxPath, device: j.device });
      const buildMs = performance.now() - started;
      const { writeFileAtomic } = await import('../tensorrt/build.js');
      const manifest: Manifest = {
        format: 1,
        key: j.key,
        onnx: { file: path.basename(j.onnxPath), sha256: j.digest },
        tensorrtVersion: j.env.tensorrtVersion,
        gpu: { name: j.env.gpuName, computeCapability: j.env.computeCapability },
        options: j.options,
        plan: { bytes: plan.byteLength, sha256: createHash('sha256').update(plan).digest('hex') },
        builtAt: new Date().toISOString(),
        buildMs: Math.round(buildMs),
      };
      try {
        // the plan first: a manifest never describes a plan that is not complete on disk
        await writeFileAtomic(j.planPath, plan);
        await writeFileAtomic(manifestPathOf(j.planPath), Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`));
      } catch (e) {
        throw this.#unwritable(j.dir, e);
      }
      this.#logger.info(`built ${j.planPath} in ${(buildMs / 1000).toFixed(1)} s`);
      await this.#removeOutdated(j.dir, j.stem, j.digest, j.planPath);
      return { planPath: j.planPath, key: j.key, built: true };
    } finally {
      await release();
    }
  }

  #unwritable(dir: string, e: unknown): TensorRtError {
    if (isTensorRtError(e)) return e;
    return new TensorRtError(
      'ERR_CONFIG',
      `cannot write the plan cache in ${dir} (${errno(e) ?? (e as Error).message}): make the model's folder writable, or set TRTNODE_PLAN_CACHE_DIR to a writable folder`,
      { dir },
      { cause: e },
    );
  }

  /**
   * Exclusive right to build this plan among processes: a lock file created with O_EXCL. A lock
   * whose owner on this host is gone, or older than staleLockMs (an owner on another host that
   * died), is taken over; otherwise this waits until it is released.
   */
  async #lock(planPath: string, dir: string): Promise<() => Promise<void>> {
    const lockPath = `${planPath}.lock`;
    const me = JSON.stringify({ pid: process.pid, host: os.hostname() });
    let told = false;
    for (;;) {
      try {
        const h = await fs.open(lockPath, 'wx', 0o644);
        try {
          await h.writeFile(me);
        } finally {
          await h.close();
        }
        return async () => {
          await fs.rm(lockPath, { force: true }).catch(() => undefined);
        };
      } catch (e) {
        if (errno(e) !== 'EEXIST') throw this.#unwritable(dir, e);
      }
      let owner: { pid?: number; host?: string } = {};
      let age = 0;
      try {
        age = Date.now() - (await fs.stat(lockPath)).mtimeMs;
        owner = JSON.parse(await fs.readFile(lockPath, 'utf8')) as typeof owner;
      } catch {
        // being written or just removed: look again
      }
      const gone = owner.host === os.hostname() && typeof owner.pid === 'number' && !isProcessAlive(owner.pid);
      if (gone || age > this.#staleLockMs) {
        this.#logger.warn(`taking over ${lockPath}: ${gone ? `process ${owner.pid} that held it is gone` : `it is ${Math.round(age / 60000)} minutes old`}`);
        await fs.rm(lockPath, { force: true });
        continue;
      }
      if (!told) {
        told = true;
        this.#logger.info(`waiting for ${owner.pid !== undefined ? `process ${owner.pid} on ${owner.host ?? '?'}` : 'another process'}, which is building ${planPath}`);
      }
      await new Promise((r) => setTimeout(r, this.#lockPollMs));
    }
  }

  /** Plans of this model built from another version of the ONNX file can never be valid again. */
  async #removeOutdated(dir: string, stem: string, digest: string, keep: string): Promise<void> {
    const ents = await fs.readdir(dir).catch(() => [] as string[]);
    for (const f of ents) {
      if (!f.startsWith(`${stem}.`) || !f.endsWith('.json')) continue;
      const m = path.join(dir, f);
      const plan = m.replace(/\.json$/, '.plan');
      if (plan === keep) continue;
      try {
        const manifest = JSON.parse(await fs.readFile(m, 'utf8')) as Manifest;
        if (manifest.onnx?.sha256 === digest) continue;
      } catch {
        continue; // not ours to judge
      }
      await fs.rm(plan, { force: true }).catch(() => undefined);
      await fs.rm(m, { force: true }).catch(() => undefined);
    }
  }
}

function manifestPathOf(planPath: string): string {
  return planPath.replace(/\.plan$/, '.json');
}

let shared: PlanCache | undefined;

/** The process's plan cache: repositories share it, so two loads of one model build once. */
export function defaultPlanCache(): PlanCache {
  shared ??= new PlanCache();
  return shared;
}

/** Triton's default max_batch_size for ONNX models whose config gives none. */
const DEFAULT_MAX_BATCH = 4;

/** The build options a model config asks for (profile, precision, workspace). Throws ERR_CONFIG. */
export function planOptionsFromConfig(config: ModelConfig, warn: (m: string) => void = () => {}): PlanBuildOptions {
  const o: PlanBuildOptions = {};
  const maxBatch = config.max_batch_size ?? DEFAULT_MAX_BATCH;
  const dims = Object.fromEntries((config.input ?? []).filter((t) => t.dims !== undefined).map((t) => [t.name, [...t.dims]]));
  // without a batch dimension (max_batch_size 0) the config's dims are the whole shapes
  if (maxBatch > 0) o.batchProfile = { min: 1, opt: Math.max(1, Math.floor(maxBatch / 2)), max: maxBatch };
  if (Object.keys(dims).length) o.inputDims = dims;
  const trt = config.optimization?.execution_accelerators?.gpu_execution_accelerator?.find((a) => a.name === 'tensorrt');
  for (const [k, v] of Object.entries(trt?.parameters ?? {})) {
    if (k === 'precision_mode') {
      const p = v.toUpperCase();
      if (p === 'FP16') o.fp16 = true;
      else if (p === 'BF16') o.bf16 = true;
      else if (p === 'INT8') throw new TensorRtError('ERR_CONFIG', 'the TensorRT accelerator\'s precision_mode INT8 needs calibration, which the repository does not do: build the plan with `tensorrt-node build --int8 --calib=<cache>` and serve model.plan');
      else if (p !== 'FP32') throw new TensorRtError('ERR_CONFIG', `the TensorRT accelerator's precision_mode must be FP32, FP16 or BF16, not "${v}"`);
    } else if (k === 'max_workspace_size_bytes') {
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new TensorRtError('ERR_CONFIG', `the TensorRT accelerator's max_workspace_size_bytes must be a number of bytes, not "${v}"`);
      o.memoryPools = { workspace: Number(v) };
    } else {
      warn(`the TensorRT accelerator's parameter ${k} is not used by tensorrt-node (ignored)`);
    }
  }
  return o;
}

async function isFile(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => undefined))?.isFile() === true;
}

/**
 * The repository's hook where a version's model file is chosen: when the config asks for TensorRT
 * and the version directory holds an ONNX model to build it from, the plan to load (cached or
 * built now) and the backend that loads it; undefined when the model is not such a case (or, for
 * the ONNX Runtime accelerator, when this machine cannot build: it then runs on ONNX Runtime).
 */
export async function planForOnnxModel(args: {
  name: string;
  versionDir: string;
  config: ModelConfig;
  backends: readonly Backend[];
  cache: PlanCache;
  logger: { info(msg: string): void; warn(msg: string): void };
}): Promise<{ file: string; backend: Backend } | undefined> {
  const { name, versionDir, config, logger } = args;
  const tensorrtPlatform = config.platform === 'tensorrt_plan' || (config.platform === undefined && config.backend === 'tensorrt');
  const accelerators = config.optimization?.execution_accelerators;
  const accelerated = accelerators?.gpu_execution_accelerator?.some((a) => a.name === 'tensorrt') === true;
  for (const a of [...(accelerators?.gpu_execution_accelerator ?? []), ...(accelerators?.cpu_execution_accelerator ?? [])]) {
    if (a.name !== 'tensorrt') logger.warn(`${name}: the execution accelerator "${a.name ?? ''}" is not used by tensorrt-node (ignored)`);
  }
  let onnxFile: string | undefined;
  if (tensorrtPlatform) {
    const given = config.default_model_filename;
    if (given?.toLowerCase().endsWith('.onnx')) onnxFile = given;
    else if (given === undefined && !(await isFile(path.join(versionDir, 'model.plan'))) && (await isFile(path.join(versionDir, 'model.onnx')))) onnxFile = 'model.onnx';
  } else if (accelerated) {
    const ortModel = (config.platform === undefined || config.platform === 'onnxruntime_onnx') && (config.backend === undefined || config.backend === 'onnxruntime');
    const groups = config.instance_group ?? [];
    const cpuOnly = groups.length > 0 && groups.every((g) => g.kind === 'KIND_CPU');
    const file = config.default_model_filename ?? 'model.onnx';
    if (ortModel && !cpuOnly && file.toLowerCase().endsWith('.onnx')) onnxFile = file;
  }
  if (onnxFile === undefined) return undefined;
  const onnxPath = path.join(versionDir, onnxFile);
  if (path.dirname(onnxPath) !== path.normalize(versionDir)) throw new TensorRtError('ERR_CONFIG', `${name}: default_model_filename "${onnxFile}" must name a file in the version directory`);
  if (!(await isFile(onnxPath))) return undefined;
  const backend = args.backends.find((b) => b.accepts('model.plan'));
  if (!backend) throw new TensorRtError('ERR_CONFIG', `${name}: no backend loads TensorRT plans (backends: ${args.backends.map((b) => b.kind).join(', ')})`);
  const options = planOptionsFromConfig(config, (m) => logger.warn(`${name}: ${m}`));
  const device = config.instance_group?.find((g) => g.kind !== 'KIND_CPU' && g.gpus?.length)?.gpus?.[0] ?? 0;
  try {
    const { planPath } = await args.cache.get({ onnxPath, options, device });
    return { file: planPath, backend };
  } catch (e) {
    if (!tensorrtPlatform) {
      const { isBuilderUnavailable } = await import('../tensorrt/build.js');
      if (isBuilderUnavailable(e)) {
        logger.warn(`${name}: the TensorRT accelerator cannot build here (${(e as Error).message.split('\n')[0]}): serving ${onnxFile} with ONNX Runtime`);
        return undefined;
      }
    }
    throw e;
  }
}
