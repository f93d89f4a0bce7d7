/**
 * A Triton-layout model repository:
 *
 *   <repo>/<model>/config.pbtxt          (optional for models whose file says everything)
 *   <repo>/<model>/<version>/model.onnx  (or model.plan, or config's default_model_filename)
 *
 * Each loaded version gets instance_group.count backend instances behind one scheduler.
 * Control modes follow Triton: 'none' loads everything at start, 'explicit' loads only what
 * is asked for (at start or through load()/unload()), 'poll' rescans on an interval.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TensorRtError, isTensorRtError } from '../errors.js';
import type { Backend, BackendCreateOptions, BackendInstance, ModelSignature } from '../backends/backend.js';
import type { InferenceScheduler, ModelStatistics } from '../batcher/types.js';
import { CONFIG_LIMITS, parseModelConfig, completeConfig, dynamicBatchingOptions, selectVersions, type ModelConfig, type ResolvedModelConfig } from './config.js';
import { backendFor, defaultBackends, PLATFORM_FILENAMES } from './backends.js';
import type { SchedulerFactory } from './scheduler-factory.js';
import { defaultPlanCache, planForOnnxModel, PLAN_CACHE_DIRNAME, type PlanCache } from './plan-cache.js';

export type ModelControlMode = 'none' | 'explicit' | 'poll';
export type ModelState = 'LOADING' | 'READY' | 'UNLOADING' | 'UNAVAILABLE';

export interface RepositoryLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface ModelRepositoryOptions {
  /** the repository directory */
  path: string;
  /** default 'none' */
  controlMode?: ModelControlMode;
  /** models to load at start in 'explicit' mode ('*' = all) */
  loadModels?: string[];
  /** poll interval in 'poll' mode, ms (default 15 000) */
  pollIntervalMs?: number;
  /** backends, tried in order by model file name (default: ONNX Runtime, TensorRT lazily) */
  backends?: Backend[];
  /** default: lib/repository/scheduler-factory.ts (DynamicBatcher), imported on first load */
  schedulerFactory?: SchedulerFactory;
  /** default: warnings and errors to stderr */
  logger?: RepositoryLogger;
  /** plans built from ONNX models (lib/repository/plan-cache.ts); default: the process's */
  planCache?: PlanCache;
}

export interface ModelVersionStatus {
  version: number;
  state: ModelState;
  reason: string;
}

export interface RepositoryIndexEntry {
  name: string;
  /** absent for a model that has no loaded or failed version */
  version?: string;
  state?: ModelState;
  reason?: string;
}

/** A version that is ready to serve. */
export interface LoadedModelVersion {
  name: string;
  version: number;
  config: ResolvedModelConfig;
  signature: ModelSignature;
  scheduler: InferenceScheduler;
}

interface VersionEntry {
  version: number;
  state: ModelState;
  reason: string;
  loaded?: LoadedModelVersion;
}

interface ModelEntry {
  name: string;
  state: ModelState;
  reason: string;
  warnings: string[];
  /** the config as written (before auto-complete) */
  rawConfig?: ModelConfig;
  versions: Map<number, VersionEntry>;
  fingerprint: string;
}

/** The default logger: warnings and errors to stderr. */
export const stderrLogger: RepositoryLogger = {
  info: () => {},
  warn: (m) => process.stderr.write(`[tensorrt-node] warning: ${m}\n`),
  error: (m) => process.stderr.write(`[tensorrt-node] error: ${m}\n`),
};

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Longest model name accepted (a directory name: NAME_MAX on Linux). */
const MAX_MODEL_NAME_BYTES = 255;

/**
 * Check a model name given to the repository API (load, unload, start-up list): one directory
 * name of the repository, nothing that path.join would walk out of it with ("..", "a/b", "x/."),
 * no empty name. Whether it exists is for the caller to check against scanNames().
 * ERR_INVALID_ARGUMENT when it is not such a name.
 */
export function checkModelName(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw new TensorRtError('ERR_INVALID_ARGUMENT', 'a model name is required');
  if (name === '.' || name === '..' || /[/\\\0]/.test(name) || Buffer.byteLength(name) > MAX_MODEL_NAME_BYTES) {
    throw new TensorRtError('ERR_INVALID_ARGUMENT', `invalid model name ${JSON.stringify(name.length > 300 ? `${name.slice(0, 300)}...` : name)}: a model name is the name of one directory of the model repository`, { model: name });
  }
  return name;
}

/** A version as a request names it: a decimal integer with no sign and no leading zero (as the repository lists it), else undefined. */
export function parseVersion(version: string): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(version)) return undefined;
  const n = Number(version);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Runs instance creations and disposals one at a time, each in its own turn of the event loop.
 * Backends do that work on libuv's thread pool (ONNX Runtime) or their own threads; a model with
 * many instances loaded or unloaded at once would queue them all ahead of every other model's
 * inferences, which share that pool, and stall the server for seconds. Before the server serves
 * (`parallel`), start-up loads run side by side.
 */
class InstanceWork {
  private tail: Promise<unknown> = Promise.resolve();
  parallel = true;

  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.parallel) return fn();
    const result = this.tail.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** A cheap content fingerprint of a model directory: relative path, size and mtime of every file. */
async function fingerprint(dir: string): Promise<string> {
  const parts: string[] = [];
  const walk = async (d: string, rel: string, depth: number): Promise<void> => {
    if (depth > 4) return;
    let ents;
    try {
      ents = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    ents.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of ents) {
      if (e.name === PLAN_CACHE_DIRNAME) continue; // plans built from the model, not the model
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p, `${rel}${e.name}/`, depth + 1);
      else {
        try {
          const st = await fs.stat(p);
          parts.push(`${rel}${e.name}:${st.size}:${st.mtimeMs}`);
        } catch {
          /* vanished */
        }
      }
    }
  };
  await walk(dir, '', 0);
  return parts.join('|');
}

export class ModelRepository {
  readonly path: string;
  readonly controlMode: ModelControlMode;
  private readonly backends: Backend[];
  private readonly logger: RepositoryLogger;
  private readonly pollIntervalMs: number;
  private readonly startupModels: string[];
  private schedulerFactory?: SchedulerFactory;
  private readonly planCache: PlanCache;
  private readonly models = new Map<string, ModelEntry>();
  /** per-model operation chain so that loads and unloads of one model never interleave */
  private readonly locks = new Map<string, Promise<unknown>>();
  private pollTimer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private readonly instanceWork = new InstanceWork();
  private started = false;
  private closed = false;

  constructor(options: ModelRepositoryOptions) {
    this.path = path.resolve(options.path);
    this.controlMode = options.controlMode ?? 'none';
    if (!['none', 'explicit', 'poll'].includes(this.controlMode)) {
      throw new TensorRtError('ERR_INVALID_ARGUMENT', `model control mode must be none, explicit or poll, not "${String(this.controlMode)}"`);
    }
    this.backends = options.backends ?? defaultBackends();
    this.logger = options.logger ?? stderrLogger;
    this.pollIntervalMs = options.pollIntervalMs ?? 15_000;
    this.startupModels = options.loadModels ?? [];
    if (options.schedulerFactory) this.schedulerFactory = options.schedulerFactory;
    this.planCache = options.planCache ?? defaultPlanCache();
    if (this.startupModels.length && this.controlMode !== 'explicit') {
      throw new TensorRtError('ERR_INVALID_ARGUMENT', 'models to load at start can only be named in explicit model control mode');
    }
  }

  /** Create and start a repository. */
  static async open(options: ModelRepositoryOptions): Promise<ModelRepository> {
    const r = new ModelRepository(options);
    await r.start();
    return r;
  }

  /**
   * Scan the repository and load what the control mode says. Models that fail to load are
   * recorded with their reason; this resolves anyway (the others serve). It rejects only if the
   * repository directory cannot be read, or in explicit mode if a named model does not exist.
   */
  async start(): Promise<void> {
    if (this.started) return;
    const st = await fs.stat(this.path).catch(() => undefined);
    if (!st?.isDirectory()) throw new TensorRtError('ERR_INVALID_ARGUMENT', `model repository "${this.path}" is not a directory`);
    this.started = true;
    const names = await this.scanNames();
    let toLoad: string[] = [];
    if (this.controlMode === 'explicit') {
      toLoad = this.startupModels.includes('*') ? names : this.startupModels.map(checkModelName);
      const missing = toLoad.filter((n) => !names.includes(n));
      if (missing.length) throw new TensorRtError('ERR_MODEL_NOT_FOUND', `model(s) ${missing.map((m) => `"${m}"`).join(', ')} not found in ${this.path}`);
    } else {
      toLoad = names;
    }
    await Promise.all(toLoad.map((n) => this.withLock(n, () => this.loadModel(n)).catch(() => undefined)));
    // from now on requests are served: instances are created and disposed one at a time
    this.instanceWork.parallel = false;
    if (this.controlMode === 'poll') this.schedulePoll();
  }

  /** Is the repository serving (started, not closed)? */
  isReady(): boolean {
    return this.started && !this.closed;
  }

  /** Names of the model directories in the repository right now. */
  async scanNames(): Promise<string[]> {
    const ents = await fs.readdir(this.path, { withFileTypes: true }).catch(() => []);
    return ents
      .filter((e) => (e.isDirectory() || e.isSymbolicLink()) && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  }

  /** Models known now: loaded, failed or unloaded ones and those that sit in the directory. */
  async index(options: { readyOnly?: boolean } = {}): Promise<RepositoryIndexEntry[]> {
    const names = new Set([...(await this.scanNames()), ...this.models.keys()]);
    const out: RepositoryIndexEntry[] = [];
    for (const name of [...names].sort()) {
      const m = this.models.get(name);
      if (!m || m.versions.size === 0) {
        if (options.readyOnly) continue;
        const e: RepositoryIndexEntry = { name };
        if (m) {
          e.state = m.state;
          e.reason = m.reason;
        }
        out.push(e);
        continue;
      }
      for (const v of [...m.versions.values()].sort((a, b) => a.version - b.version)) {
        if (options.readyOnly && v.state !== 'READY') continue;
        out.push({ name, version: String(v.version), state: v.state, reason: v.reason });
      }
    }
    return out;
  }

  /** Status of one model's versions; throws ERR_MODEL_NOT_FOUND for a name never seen. */
  status(name: string): { state: ModelState; reason: string; warnings: string[]; versions: ModelVersionStatus[] } {
    const m = this.models.get(name);
    if (!m) throw new TensorRtError('ERR_MODEL_NOT_FOUND', `unknown model "${name}"`);
    return {
      state: m.state,
      reason: m.reason,
      warnings: [...m.warnings],
      versions: [...m.versions.values()].map((v) => ({ version: v.version, state: v.state, reason: v.reason })),
    };
  }

  /** Warnings (unknown config fields and the like) of a model's last load. */
  warnings(name: string): string[] {
    return [...(this.models.get(name)?.warnings ?? [])];
  }

  /**
   * Is this model (a version, or any version) ready? Unknown models are not ready.
   */
  isModelReady(name: string, version?: string | number): boolean {
    try {
      this.getModel(name, version);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The version that serves a request: the given one, or the highest ready one.
   * Throws ERR_MODEL_NOT_FOUND (unknown model or version) or ERR_MODEL_NOT_READY.
   */
  getModel(name: string, version?: string | number): LoadedModelVersion {
    const m = this.models.get(name);
    if (!m) {
      throw new TensorRtError('ERR_MODEL_NOT_FOUND', `unknown model "${name}"`, { model: name });
    }
    if (version !== undefined && version !== '') {
      // one name per version: "01" or "+1" is not version 1
      const vn = typeof version === 'number' ? version : (parseVersion(version) ?? NaN);
      const v = m.versions.get(vn);
      if (!v) throw new TensorRtError('ERR_MODEL_NOT_FOUND', `model "${name}" has no version "${version}"`, { model: name, version });
      if (v.state !== 'READY' || !v.loaded) throw new TensorRtError('ERR_MODEL_NOT_READY', `model "${name}" version ${vn} is not ready${v.reason ? `: ${v.reason}` : ''}`, { model: name, version: vn });
      return v.loaded;
    }
    const ready = [...m.versions.values()].filter((v) => v.state === 'READY' && v.loaded).sort((a, b) => b.version - a.version);
    if (!ready.length) throw new TensorRtError('ERR_MODEL_NOT_READY', `model "${name}" is not ready${m.reason ? `: ${m.reason}` : ''}`, { model: name });
    return ready[0]!.loaded!;
  }

  /** Every ready version (for metrics and statistics). */
  loadedVersions(): LoadedModelVersion[] {
    const out: LoadedModelVersion[] = [];
    for (const m of this.models.values()) for (const v of m.versions.values()) if (v.state === 'READY' && v.loaded) out.push(v.loaded);
    return out.sort((a, b) => (a.name === b.name ? a.version - b.version : a.name < b.name ? -1 : 1));
  }

  /** Statistics of a model's ready versions (all models when name is omitted). */
  statistics(name?: string, version?: string): Array<{ name: string; version: number; stats: ModelStatistics }> {
    if (name !== undefined && name !== '') {
      if (version !== undefined && version !== '') {
        const l = this.getModel(name, version);
        return [{ name, version: l.version, stats: l.scheduler.statistics() }];
      }
      if (!this.models.has(name)) throw new TensorRtError('ERR_MODEL_NOT_FOUND', `unknown model "${name}"`);
      return this.loadedVersions()
        .filter((l) => l.name === name)
        .map((l) => ({ name, version: l.version, stats: l.scheduler.statistics() }));
    }
    return this.loadedVersions().map((l) => ({ name: l.name, version: l.version, stats: l.scheduler.statistics() }));
  }

  /**
   * Load (or reload) a model: explicit mode only. Rejects with the reason when no version
   * could be loaded; the model then reports UNAVAILABLE with that reason.
   */
  async load(name: string): Promise<void> {
    this.checkControl('load');
    checkModelName(name);
    if (!(await this.scanNames()).includes(name)) throw new TensorRtError('ERR_MODEL_NOT_FOUND', `model "${name}" was not found in the model repository`, { model: name });
    await this.withLock(name, () => this.loadModel(name));
  }

  /** Unload a model, draining its queued requests: explicit mode only. */
  async unload(name: string): Promise<void> {
    this.checkControl('unload');
    checkModelName(name);
    await this.withLock(name, () => this.unloadModel(name, 'unloaded'));
  }

  /** One rescan in poll mode (also what the timer runs): load new or changed, unload removed. */
  async poll(): Promise<void> {
    if (this.closed) return;
    if (this.polling) return this.polling;
    this.polling = (async () => {
      const names = await this.scanNames();
      const ops: Promise<unknown>[] = [];
      for (const name of names) {
        const m = this.models.get(name);
        const fp = await fingerprint(path.join(this.path, name));
        if (!m || m.fingerprint !== fp) ops.push(this.withLock(name, () => this.loadModel(name)).catch(() => undefined));
      }
      for (const name of this.models.keys()) {
        if (!names.includes(name)) ops.push(this.withLock(name, () => this.unloadModel(name, 'removed from the repository', true)));
      }
      await Promise.all(ops);
    })().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  /** Stop polling, stop accepting requests and drain every scheduler. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    await this.polling?.catch(() => undefined);
    await Promise.all([...this.models.keys()].map((n) => this.withLock(n, () => this.unloadModel(n, 'server shutting down'))));
  }

  // ------------------------------------------------------------------------------------------

  private checkControl(op: string): void {
    if (this.closed) throw new TensorRtError('ERR_CLOSED', 'the model repository is closed');
    if (this.controlMode !== 'explicit') {
      throw new TensorRtError('ERR_INVALID_ARGUMENT', `explicit model ${op} is not allowed in model control mode "${this.controlMode}"`);
    }
  }

  private schedulePoll(): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(() => {
      this.poll()
        .catch((e: unknown) => this.logger.error(`repository poll failed: ${errMessage(e)}`))
        .finally(() => this.schedulePoll());
    }, this.pollIntervalMs);
    this.pollTimer.unref();
  }

  private withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return run;
  }

  private async getFactory(): Promise<SchedulerFactory> {
    this.schedulerFactory ??= (await import('./scheduler-factory.js')).createScheduler;
    return this.schedulerFactory;
  }

  private async unloadModel(name: string, reason: string, forget = false): Promise<void> {
    const m = this.models.get(name);
    if (!m) {
      if (this.closed) return;
      if (!(await this.scanNames()).includes(name)) throw new TensorRtError('ERR_MODEL_NOT_FOUND', `unknown model "${name}"`, { model: name });
      return;
    }
    m.state = 'UNLOADING';
    const closing: Promise<void>[] = [];
    for (const v of m.versions.values()) {
      if (v.loaded) {
        v.state = 'UNLOADING';
        closing.push(v.loaded.scheduler.close({ drain: true }).catch((e: unknown) => this.logger.error(`closing ${name} version ${v.version}: ${errMessage(e)}`)));
      }
    }
    await Promise.all(closing);
    for (const v of m.versions.values()) {
      v.state = 'UNAVAILABLE';
      v.reason = reason;
      delete v.loaded;
    }
    m.state = 'UNAVAILABLE';
    m.reason = reason;
    if (forget) this.models.delete(name);
    this.logger.info(`unloaded model ${name} (${reason})`);
  }

  /** Load every selected version of a model; swap it in when at least one version is ready. */
  private async loadModel(name: string): Promise<void> {
    if (this.closed) throw new TensorRtError('ERR_CLOSED', 'the model repository is closed');
    const dir = path.join(this.path, name);
    const old = this.models.get(name);
    const entry: ModelEntry = { name, state: 'LOADING', reason: '', warnings: [], versions: new Map(), fingerprint: await fingerprint(dir) };
    if (!old) this.models.set(name, entry);
    if (!(await exists(dir))) {
      if (!old || old === entry) this.models.delete(name);
      throw new TensorRtError('ERR_MODEL_NOT_FOUND', `model "${name}" was not found in the model repository`, { model: name });
    }
    try {
      // config
      let config: ModelConfig = {};
      const cfgPath = path.join(dir, 'config.pbtxt');
      if (await exists(cfgPath)) {
        const size = (await fs.stat(cfgPath)).size;
        if (size > CONFIG_LIMITS.fileBytes) throw new TensorRtError('ERR_CONFIG', `${path.join(name, 'config.pbtxt')} is ${size} bytes; the limit is ${CONFIG_LIMITS.fileBytes}`);
        let parsed;
        try {
          parsed = parseModelConfig(await fs.readFile(cfgPath, 'utf8'));
        } catch (e) {
          throw new TensorRtError('ERR_CONFIG', `${path.join(name, 'config.pbtxt')}:${errMessage(e)}`, isTensorRtError(e) ? e.details : undefined, { cause: e });
        }
        config = parsed.config;
        entry.warnings = parsed.warnings.map((w) => `${name}/config.pbtxt:${w}`);
        for (const w of entry.warnings) this.logger.warn(w);
      }
      entry.rawConfig = config;
      // versions
      const ents = await fs.readdir(dir, { withFileTypes: true });
      const available = ents.filter((e) => e.isDirectory() && /^\d+$/.test(e.name)).map((e) => Number(e.name)).filter(Number.isSafeInteger);
      const versions = selectVersions(config.version_policy, available);
      if (!versions.length) {
        throw new TensorRtError('ERR_CONFIG', available.length ? `no version of model "${name}" matches its version_policy (found ${available.join(', ')})` : `model "${name}" has no version directory (expected ${name}/1/...)`);
      }
      const results = await Promise.all(versions.map((v) => this.loadVersion(name, dir, v, config)));
      for (const r of results) entry.versions.set(r.version, r);
      const ready = results.filter((r) => r.state === 'READY');
      if (!ready.length) {
        const reason = results.map((r) => `version ${r.version}: ${r.reason}`).join('; ');
        throw new TensorRtError('ERR_MODEL_NOT_READY', `failed to load model "${name}": ${reason}`);
      }
      entry.state = 'READY';
      entry.reason = results.filter((r) => r.state !== 'READY').map((r) => `version ${r.version}: ${r.reason}`).join('; ');
      this.models.set(name, entry);
      if (old && old !== entry) await this.retire(old);
      this.logger.info(`loaded model ${name} version(s) ${ready.map((r) => r.version).join(', ')}`);
    } catch (caught) {
      // what clients read (the load's answer, the index) names files relative to the repository
      const e = this.redacted(caught);
      const reason = errMessage(e);
      this.logger.error(reason);
      if (old && old !== entry && old.state === 'READY') {
        // a failed reload leaves the previous versions serving (Triton does the same)
        old.reason = `reload failed: ${reason}`;
        old.fingerprint = entry.fingerprint;
        old.warnings = entry.warnings;
      } else {
        entry.state = 'UNAVAILABLE';
        entry.reason = reason;
        for (const v of entry.versions.values()) {
          if (v.loaded) await v.loaded.scheduler.close({ drain: false }).catch(() => undefined);
        }
        entry.versions.clear();
        this.models.set(name, entry);
        if (old && old !== entry) await this.retire(old);
      }
      throw e;
    }
  }

  /**
   * `e` with the repository's absolute path taken out of its message (backends name the files
   * they failed on): model-relative paths instead, so that a client learns nothing of the
   * server's file system from a failed load.
   */
  private redacted(e: unknown): unknown {
    const message = errMessage(e);
    if (!message.includes(this.path)) return e;
    const text = message.split(this.path + path.sep).join('').split(this.path).join('<model repository>');
    return isTensorRtError(e) ? new TensorRtError(e.code, text, e.details, { cause: e }) : new TensorRtError('ERR_BACKEND', text, undefined, { cause: e });
  }

  private async retire(old: ModelEntry): Promise<void> {
    await Promise.all(
      [...old.versions.values()].map((v) => v.loaded?.scheduler.close({ drain: true }).catch((e: unknown) => this.logger.error(`closing ${old.name} version ${v.version}: ${errMessage(e)}`))),
    );
  }

  private async modelFile(name: string, vdir: string, config: ModelConfig): Promise<{ file: string; backend: Backend }> {
    const fromOnnx = await planForOnnxModel({ name, versionDir: vdir, config, backends: this.backends, cache: this.planCache, logger: this.logger });
    if (fromOnnx) return fromOnnx;
    const candidates: string[] = [];
    if (config.default_model_filename) candidates.push(config.default_model_filename);
    else {
      const byPlatform = PLATFORM_FILENAMES[config.platform ?? ''] ?? PLATFORM_FILENAMES[config.backend ?? ''];
      if (byPlatform) candidates.push(byPlatform);
      else {
        const files = await fs.readdir(vdir).catch(() => [] as string[]);
        const models = files.filter((f) => f.startsWith('model.')).sort();
        candidates.push(...models.filter((f) => backendFor(this.backends, f)));
        if (!candidates.length) candidates.push(...files.filter((f) => backendFor(this.backends, f)).sort());
      }
    }
    for (const c of candidates) {
      const p = path.join(vdir, c);
      if (await exists(p)) {
        const backend = backendFor(this.backends, c);
        if (!backend) throw new TensorRtError('ERR_CONFIG', `no backend accepts model file "${c}" (backends: ${this.backends.map((b) => b.kind).join(', ')})`);
        if (config.platform && PLATFORM_FILENAMES[config.platform] === undefined) {
          throw new TensorRtError('ERR_CONFIG', `platform "${config.platform}" is not supported (use tensorrt_plan or onnxruntime_onnx)`);
        }
        return { file: p, backend };
      }
    }
    throw new TensorRtError('ERR_MODEL_NOT_FOUND', candidates.length ? `model file ${candidates.map((c) => path.join(name, path.basename(vdir), c)).join(' or ')} not found` : `no model file in ${path.join(name, path.basename(vdir))} that a backend accepts`);
  }

  private async loadVersion(name: string, dir: string, version: number, config: ModelConfig): Promise<VersionEntry> {
    const instances: BackendInstance[] = [];
    try {
      const { file, backend } = await this.modelFile(name, path.join(dir, String(version)), config);
      // instance placement: count per group, per GPU for KIND_GPU groups with gpus
      const groups = config.instance_group?.length ? config.instance_group : [{}];
      const placements: Array<number | undefined> = [];
      for (const g of groups) {
        const count = g.count ?? 1;
        const gpus = g.kind === 'KIND_CPU' ? [] : (g.gpus ?? []);
        if (gpus.length) for (const gpu of gpus) for (let i = 0; i < count; i++) placements.push(gpu);
        else for (let i = 0; i < count; i++) placements.push(undefined);
      }
      const create = (device: number | undefined): Promise<BackendInstance> => {
        // maxBatchSize tells backends that cannot know it from the file (ONNX) how far dimension 0 may go
        const opts: BackendCreateOptions & { maxBatchSize?: number } = {};
        if (device !== undefined) opts.device = device;
        if (config.max_batch_size !== undefined) opts.maxBatchSize = config.max_batch_size;
        if (config.optimization?.cuda?.graphs !== undefined) opts.cudaGraph = config.optimization.cuda.graphs;
        return this.instanceWork.run(() => backend.createInstance(file, opts)).then((instance) => this.disposedInTurn(instance));
      };
      instances.push(await create(placements[0]));
      const signature = instances[0]!.signature;
      const resolved = completeConfig(name, config, signature, backend.kind);
      const rest = await Promise.allSettled(placements.slice(1).map(create));
      for (const r of rest) if (r.status === 'fulfilled') instances.push(r.value);
      const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const factory = await this.getFactory();
      const scheduler = factory(instances, dynamicBatchingOptions(resolved), { model: name, version });
      return { version, state: 'READY', reason: '', loaded: { name, version, config: resolved, signature, scheduler } };
    } catch (e) {
      await Promise.all(instances.map((i) => i.dispose().catch(() => undefined)));
      return { version, state: 'UNAVAILABLE', reason: errMessage(this.redacted(e)) };
    }
  }

  /**
   * Make `instance.dispose()` (which the scheduler calls for each instance when it closes) wait
   * its turn in instanceWork, as creation does. The method is replaced on the object itself, so
   * that the instance keeps its identity and every other method.
   */
  private disposedInTurn(instance: BackendInstance): BackendInstance {
    const dispose = instance.dispose.bind(instance);
    let disposing: Promise<void> | undefined;
    instance.dispose = () => (disposing ??= this.instanceWork.run(dispose));
    return instance;
  }
}
