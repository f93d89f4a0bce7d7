import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, cpSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parsePbtxt, PbtxtSyntaxError } from '../../lib/repository/pbtxt.js';
import { CONFIG_LIMITS, parseModelConfig, selectVersions, completeConfig, dynamicBatchingOptions } from '../../lib/repository/config.js';
import { ModelRepository, parseVersion, type RepositoryLogger } from '../../lib/repository/repository.js';
import { isTensorRtError } from '../../lib/errors.js';
import { Tensor } from '../../lib/tensor.js';
import type { Backend, BackendCreateOptions, BackendInstance, ModelSignature } from '../../lib/backends/backend.js';
import { ConcatBatches } from '../../lib/backends/concat-batch.js';

const EXAMPLES = path.resolve(__dirname, '../../examples/models');

/** A backend for *.fake files: JSON {signature, fail?}; every output is 2x+1 of the first input. */
class FakeBackend implements Backend {
  readonly kind = 'fake';
  created = 0;
  disposed = 0;
  /** the options of every createInstance call */
  readonly options: BackendCreateOptions[] = [];
  accepts(f: string): boolean {
    return f.endsWith('.fake');
  }
  async createInstance(p: string, o: BackendCreateOptions = {}): Promise<BackendInstance> {
    this.options.push({ ...o });
    const { readFileSync } = await import('node:fs');
    const spec = JSON.parse(readFileSync(p, 'utf8')) as { signature: ModelSignature; fail?: string };
    if (spec.fail) throw new Error(spec.fail);
    this.created++;
    const self = this;
    const inst: BackendInstance = {
      kind: 'fake',
      signature: spec.signature,
      createBatch: () => batches.create(),
      async run(feeds) {
        const x = Object.values(feeds)[0]!;
        const out: Record<string, Tensor> = {};
        for (const o of spec.signature.outputs) {
          const d = new Float32Array(x.size);
          (x.data as Float32Array).forEach((v, i) => (d[i] = 2 * v + 1));
          out[o.name] = new Tensor('float32', d, x.dims);
        }
        return out;
      },
      async dispose() {
        self.disposed++;
      },
    };
    const batches = new ConcatBatches(spec.signature, (feeds) => inst.run(feeds));
    return inst;
  }
}

const SIG: ModelSignature = {
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 4] }],
  maxBatchSize: 8,
};

const quiet: RepositoryLogger & { lines: string[] } = Object.assign(
  { lines: [] as string[] },
  {
    info() {},
    warn(m: string) {
      quiet.lines.push(`warn ${m}`);
    },
    error(m: string) {
      quiet.lines.push(`error ${m}`);
    },
  },
);

const dirs: string[] = [];
const repos: ModelRepository[] = [];
afterEach(async () => {
  await Promise.all(repos.splice(0).map((r) => r.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmpRepo(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'trtn-repo-'));
  dirs.push(d);
  return d;
}

function addModel(repo: string, name: string, opts: { config?: string; versions?: number[]; sig?: ModelSignature; fail?: string } = {}): void {
  for (const v of opts.versions ?? [1]) {
    mkdirSync(path.join(repo, name, String(v)), { recursive: true });
    writeFileSync(path.join(repo, name, String(v), 'model.fake'), JSON.stringify({ signature: opts.sig ?? SIG, fail: opts.fail }));
  }
  if (opts.config !== undefined) writeFileSync(path.join(repo, name, 'config.pbtxt'), opts.config);
}

async function open(repo: string, extra: Partial<ConstructorParameters<typeof ModelRepository>[0]> = {}, backend = new FakeBackend()): Promise<ModelRepository> {
  const r = new ModelRepository({ path: repo, backends: [backend], logger: quiet, ...extra });
  repos.push(r);
  await r.start();
  return r;
}

describe('pbtxt parser', () => {
  it('parses the text format: nesting, lists, strings, numbers, comments, separators', () => {
    const f = parsePbtxt(`
      # comment
      name: "a" 'b'   # adjacent strings concatenate
      n: -12, h: 0x1F; o: 017 f: 1.5e3 inf_v: -inf
      e: TYPE_FP32
      m { x: 1 y < z: 2 > }
      m2: { }
      l: [1, 2, 3]
      ml [ { a: 1 }, { a: 2 } ]
      esc: "t\\"q\\n\\x41\\101"
    `);
    const by = (n: string) => f.filter((x) => x.name === n).map((x) => x.value);
    expect(by('name')).toEqual([{ kind: 'string', value: 'ab' }]);
    expect(by('n')[0]).toMatchObject({ kind: 'number', value: -12 });
    expect(by('h')[0]).toMatchObject({ value: 31 });
    expect(by('o')[0]).toMatchObject({ value: 15 });
    expect(by('f')[0]).toMatchObject({ value: 1500 });
    expect(by('inf_v')[0]).toMatchObject({ value: -Infinity });
    expect(by('e')).toEqual([{ kind: 'ident', value: 'TYPE_FP32' }]);
    expect(by('l').map((v) => (v as { value: number }).value)).toEqual([1, 2, 3]);
    expect(by('ml')).toHaveLength(2);
    expect(by('esc')[0]).toMatchObject({ value: 't"q\nAA' });
    const m = by('m')[0] as { kind: 'message'; fields: Array<{ name: string }> };
    expect(m.fields.map((x) => x.name)).toEqual(['x', 'y']);
    expect(f.find((x) => x.name === 'm')!.pos).toEqual({ line: 6, col: 7 });
  });

  it.each([
    ['name: "abc', '1:7', /unterminated string/],
    ['a { b: 1', '1:9', /expected "}"/],
    ['a: }', '1:4', /expected a value/],
    ['a 1', '1:3', /expected ":" or "\{"/],
    ['x: 1\n  y: [1, 2', '2:11', /expected "," or "\]"/],
    ['x: 12abc', '1:4', /invalid number/],
    ['x: 1 @', '1:6', /unexpected character/],
    ['}', '1:1', /expected a field name/],
  ])('reports %j at %s', (src, where, msg) => {
    let err: unknown;
    try {
      parsePbtxt(src);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PbtxtSyntaxError);
    expect((err as Error).message.startsWith(`${where}: `)).toBe(true);
    expect((err as Error).message).toMatch(msg);
    expect(isTensorRtError(err, 'ERR_CONFIG')).toBe(true);
  });
});

describe('model config', () => {
  const FULL = `
    name: "m"
    platform: "onnxruntime_onnx"
    backend: "onnxruntime"
    max_batch_size: 16
    version_policy: { specific: { versions: [1, 3] } }
    input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
    output [ { name: "y" data_type: TYPE_FP32 dims: [ -1 ] } ]
    dynamic_batching {
      preferred_batch_size: [ 4, 8 ]
      max_queue_delay_microseconds: 100
      preserve_ordering: true
      priority_levels: 2
      default_priority_level: 2
      default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 5000 allow_timeout_override: true max_queue_size: 10 }
      priority_queue_policy { key: 1 value { max_queue_size: 3 timeout_action: REJECT } }
    }
    instance_group [ { count: 2 kind: KIND_GPU gpus: [ 0, 1 ] } ]
  `;

  it('reads every supported field', () => {
    const { config, warnings } = parseModelConfig(FULL);
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      name: 'm',
      platform: 'onnxruntime_onnx',
      max_batch_size: 16,
      version_policy: { specific: { versions: [1, 3] } },
      input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [4] }],
      instance_group: [{ count: 2, kind: 'KIND_GPU', gpus: [0, 1] }],
      dynamic_batching: {
        preferred_batch_size: [4, 8],
        priority_queue_policy: { '1': { max_queue_size: 3, timeout_action: 'REJECT' } },
        default_queue_policy: { timeout_action: 'DELAY', default_timeout_microseconds: 5000, allow_timeout_override: true, max_queue_size: 10 },
      },
    });
  });

  it('maps dynamic_batching to batcher options, and no dynamic_batching to delay 0', () => {
    const { config } = parseModelConfig(FULL);
    const resolved = completeConfig('m', config, { ...SIG, maxBatchSize: 16 }, 'onnxruntime');
    expect(dynamicBatchingOptions(resolved)).toEqual({
      maxBatchSize: 16,
      preferredBatchSize: [4, 8],
      maxQueueDelayMicroseconds: 100,
      preserveOrdering: true,
      priorityLevels: 2,
      defaultPriorityLevel: 2,
      defaultQueuePolicy: { maxQueueSize: 10, defaultTimeoutMicroseconds: 5000, timeoutAction: 'delay', allowTimeoutOverride: true },
      priorityQueuePolicy: { 1: { maxQueueSize: 3, timeoutAction: 'reject' } },
    });
    // no dynamic_batching: Triton's default scheduler (requests run as they are, never batched together)
    const plain = completeConfig('m', { max_batch_size: 4 }, SIG, 'onnxruntime');
    expect(dynamicBatchingOptions(plain)).toEqual({ maxBatchSize: 0 });
    const zeroDelay = completeConfig('m', { max_batch_size: 4, dynamic_batching: {} }, SIG, 'onnxruntime');
    expect(dynamicBatchingOptions(zeroDelay)).toEqual({ maxBatchSize: 4, maxQueueDelayMicroseconds: 0 });
  });

  it('warns about unknown and ignored fields with their position, and keeps the rest', () => {
    const { config, warnings } = parseModelConfig(
      'name: "m"\nfoo: 1\noptimization { graph { level: 1 } cuda { graphs: true busy_wait_events: true } }\ndynamic_batching { bar: true max_queue_delay_microseconds: 7 }\nmodel_warmup { name: "w" }',
    );
    expect(config.dynamic_batching).toEqual({ max_queue_delay_microseconds: 7 });
    expect(config.optimization).toEqual({ cuda: { graphs: true } });
    expect(warnings).toEqual([
      '2:1: foo is an unknown field (ignored)',
      '3:16: optimization.graph is not used by tensorrt-node (ignored)',
      '3:55: optimization.cuda.busy_wait_events is not used by tensorrt-node (ignored)',
      '4:20: dynamic_batching.bar is an unknown field (ignored)',
      '5:1: model_warmup is not used by tensorrt-node (ignored)',
    ]);
  });

  it.each([
    ['max_batch_size: "8"', /1:1: max_batch_size expects an integer/],
    ['input [ { name: "x" data_type: TYPE_FOO } ]', /data_type: invalid value TYPE_FOO/],
    ['input [ { name: "x" data_type: TYPE_FP32 dims: [4] reshape { shape: [2, 2] } } ]', /reshape is not supported/],
    ['sequence_batching { }', /sequence_batching is not supported/],
    ['input [ { name: "x" data_type: TYPE_STRING dims: [1] } ]', /TYPE_STRING is not supported/],
    ['max_batch_size: 4 dynamic_batching { preferred_batch_size: [8] }', /exceeds max_batch_size/],
    ['name: "a" name: "b"', /given more than once/],
    ['version_policy { latest { num_versions: 0 } }', /at least 1/],
  ])('rejects %j', (src, msg) => {
    expect(() => parseModelConfig(src)).toThrow(msg);
  });

  it('selects versions by policy', () => {
    expect(selectVersions(undefined, [1, 3, 2])).toEqual([3]);
    expect(selectVersions({ latest: { num_versions: 2 } }, [1, 3, 2, 10])).toEqual([3, 10]);
    expect(selectVersions({ all: {} }, [3, 1, 2])).toEqual([1, 2, 3]);
    expect(selectVersions({ specific: { versions: [1, 5] } }, [1, 2, 3])).toEqual([1]);
  });

  it('completes inputs/outputs from the signature and checks what the config states', () => {
    const c = completeConfig('m', {}, SIG, 'onnxruntime');
    expect(c).toMatchObject({
      name: 'm',
      platform: 'onnxruntime_onnx',
      max_batch_size: 8,
      input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [4] }],
      output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [4] }],
      instance_group: [{ count: 1, kind: 'KIND_CPU', name: 'm_0' }],
      version_policy: { latest: { num_versions: 1 } },
    });
    expect(() => completeConfig('m', { input: [{ name: 'z', data_type: 'TYPE_FP32', dims: [4] }] }, SIG, 'fake')).toThrow(/input "z" is not in the model/);
    expect(() => completeConfig('m', { input: [{ name: 'x', data_type: 'TYPE_INT32', dims: [4] }] }, SIG, 'fake')).toThrow(/TYPE_INT32 in the config but TYPE_FP32/);
    expect(() => completeConfig('m', { input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [3] }] }, SIG, 'fake')).toThrow(/dims \[3\] in the config but \[4\]/);
    expect(() => completeConfig('m', { max_batch_size: 9 }, SIG, 'fake')).toThrow(/exceeds what the model accepts/);
    expect(() => completeConfig('m', { max_batch_size: 2 }, { ...SIG, maxBatchSize: 0 }, 'fake')).toThrow(/no batch dimension/);
    expect(() => completeConfig('m', { name: 'other' }, SIG, 'fake')).toThrow(/differs from the directory name/);
  });
});

describe('ModelRepository', () => {
  it('loads every model in none mode; a broken one reports its reason and the others serve', async () => {
    const repo = tmpRepo();
    addModel(repo, 'good', { config: 'max_batch_size: 8\ninstance_group [ { count: 3 } ]\nfrobnicate: 1\n' });
    addModel(repo, 'badsyntax', { config: 'max_batch_size: 8\ninput [ { name: "x" ' });
    addModel(repo, 'failing', { fail: 'engine exploded' });
    mkdirSync(path.join(repo, 'noversion'));
    const backend = new FakeBackend();
    const r = await open(repo, {}, backend);
    expect(r.isModelReady('good')).toBe(true);
    expect(r.isModelReady('good', 1)).toBe(true);
    expect(r.isModelReady('good', 2)).toBe(false);
    expect(backend.created).toBe(3);
    expect(r.warnings('good')).toEqual(['good/config.pbtxt:3:1: frobnicate is an unknown field (ignored)']);
    expect(quiet.lines.some((l) => l.includes('frobnicate'))).toBe(true);
    const idx = await r.index();
    const by = Object.fromEntries(idx.map((e) => [e.name, e]));
    expect(by.good).toMatchObject({ version: '1', state: 'READY' });
    expect(by.badsyntax).toMatchObject({ state: 'UNAVAILABLE' });
    expect(by.badsyntax!.reason).toMatch(/badsyntax\/config\.pbtxt:2:\d+: expected "\}" before end of input/);
    expect(by.failing!.reason).toMatch(/engine exploded/);
    expect(by.noversion!.reason).toMatch(/no version directory/);
    expect(await r.index({ readyOnly: true })).toEqual([{ name: 'good', version: '1', state: 'READY', reason: '' }]);
    const m = r.getModel('good');
    const out = await m.scheduler.infer({ x: new Tensor('float32', new Float32Array([1, 2, 3, 4]), [1, 4]) });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([3, 5, 7, 9]);
    expect(() => r.getModel('nope')).toThrow(expect.objectContaining({ code: 'ERR_MODEL_NOT_FOUND' }));
    expect(() => r.getModel('failing')).toThrow(expect.objectContaining({ code: 'ERR_MODEL_NOT_READY' }));
    expect(() => r.getModel('good', '7')).toThrow(expect.objectContaining({ code: 'ERR_MODEL_NOT_FOUND' }));
    await expect(r.load('good')).rejects.toThrow(/not allowed in model control mode "none"/);
    await r.close();
    expect(backend.disposed).toBe(3);
  });

  it("a model without dynamic_batching runs Triton's default scheduler: concurrent requests are never batched together", async () => {
    const repo = tmpRepo();
    addModel(repo, 'plain', { config: 'name: "plain"\nmax_batch_size: 8\ninstance_group [{ count: 2 }]' });
    addModel(repo, 'batched', { config: 'name: "batched"\nmax_batch_size: 8\ndynamic_batching { max_queue_delay_microseconds: 5000 }' });
    const r = await open(repo);
    const x = (k: number) => new Tensor('float32', new Float32Array(4 * k).fill(1), [k, 4]);
    for (const [name, batched] of [['plain', false], ['batched', true]] as const) {
      const m = r.getModel(name);
      const outs = await Promise.all([1, 2, 3, 1, 1].map((k) => m.scheduler.infer({ x: x(k) })));
      expect(outs.map((o) => o.y!.dims[0])).toEqual([1, 2, 3, 1, 1]);
      const s = m.scheduler.statistics();
      expect(s.inferenceCount).toBe(8);
      if (batched) expect(s.executionCount).toBeLessThan(5);
      else expect(s.executionCount).toBe(5);
    }
  });

  it("optimization { cuda { graphs: true } } asks the backend for CUDA graphs (TensorRT's cudaGraph), per model", async () => {
    const repo = tmpRepo();
    addModel(repo, 'g', { config: 'max_batch_size: 8\ninstance_group [ { count: 2 } ]\noptimization { cuda { graphs: true } }' });
    addModel(repo, 'p', { config: 'max_batch_size: 8' });
    const backend = new FakeBackend();
    const r = await open(repo, {}, backend);
    expect((await r.index()).map((m) => `${m.name}:${m.state}`).sort()).toEqual(['g:READY', 'p:READY']);
    const graphs = backend.options.map((o) => o.cudaGraph);
    expect(graphs.filter((g) => g === true)).toHaveLength(2); // both instances of g
    expect(graphs.filter((g) => g === undefined)).toHaveLength(1); // p leaves it to the backend's default
  });

  it('applies version policies when loading', async () => {
    const repo = tmpRepo();
    addModel(repo, 'latest2', { versions: [1, 2, 3], config: 'version_policy { latest { num_versions: 2 } }' });
    addModel(repo, 'all', { versions: [1, 2], config: 'version_policy: { all { } }' });
    addModel(repo, 'specific', { versions: [1, 2, 3], config: 'version_policy { specific { versions: [2] } }' });
    addModel(repo, 'default', { versions: [1, 5, 3] });
    addModel(repo, 'nomatch', { versions: [1], config: 'version_policy { specific { versions: [4] } }' });
    const r = await open(repo);
    const v = (n: string) => r.loadedVersions().filter((l) => l.name === n).map((l) => l.version);
    expect(v('latest2')).toEqual([2, 3]);
    expect(v('all')).toEqual([1, 2]);
    expect(v('specific')).toEqual([2]);
    expect(v('default')).toEqual([5]);
    expect(r.getModel('latest2').version).toBe(3);
    expect(r.getModel('latest2', '2').version).toBe(2);
    expect(r.status('nomatch').reason).toMatch(/no version of model "nomatch" matches its version_policy/);
  });

  it('explicit mode: loads only what is named, load/unload by API', async () => {
    const repo = tmpRepo();
    addModel(repo, 'a');
    addModel(repo, 'b');
    await expect(open(repo, { controlMode: 'explicit', loadModels: ['zzz'] })).rejects.toThrow(/"zzz" not found/);
    const r = await open(repo, { controlMode: 'explicit', loadModels: ['a'] });
    expect(r.isModelReady('a')).toBe(true);
    expect(r.isModelReady('b')).toBe(false);
    expect(await r.index()).toEqual([{ name: 'a', version: '1', state: 'READY', reason: '' }, { name: 'b' }]);
    await r.load('b');
    expect(r.isModelReady('b')).toBe(true);
    await r.unload('a');
    expect(r.isModelReady('a')).toBe(false);
    expect((await r.index()).find((e) => e.name === 'a')).toMatchObject({ state: 'UNAVAILABLE', reason: 'unloaded' });
    expect(() => r.getModel('a')).toThrow(expect.objectContaining({ code: 'ERR_MODEL_NOT_READY' }));
    await expect(r.load('missing')).rejects.toThrow(expect.objectContaining({ code: 'ERR_MODEL_NOT_FOUND' }));
    await expect(r.unload('missing')).rejects.toThrow(expect.objectContaining({ code: 'ERR_MODEL_NOT_FOUND' }));
    // a reload that fails keeps the serving version
    writeFileSync(path.join(repo, 'b', 'config.pbtxt'), 'max_batch_size: {');
    await expect(r.load('b')).rejects.toThrow(/config\.pbtxt:1:18: expected "\}" before end of input/);
    expect(r.isModelReady('b')).toBe(true);
    expect(r.status('b').reason).toMatch(/reload failed/);
  });

  it('poll mode: loads new, reloads changed, unloads removed models', async () => {
    const repo = tmpRepo();
    addModel(repo, 'a');
    const r = await open(repo, { controlMode: 'poll', pollIntervalMs: 60_000 });
    expect(r.loadedVersions().map((l) => l.name)).toEqual(['a']);
    await expect(r.unload('a')).rejects.toThrow(/not allowed/);
    addModel(repo, 'b');
    await r.poll();
    expect(r.loadedVersions().map((l) => `${l.name}/${l.version}`)).toEqual(['a/1', 'b/1']);
    const before = r.getModel('a').scheduler;
    addModel(repo, 'a', { versions: [2] });
    await r.poll();
    expect(r.getModel('a').version).toBe(2);
    expect(r.getModel('a').scheduler).not.toBe(before);
    const bSched = r.getModel('b').scheduler;
    const cfg = path.join(repo, 'b', 'config.pbtxt');
    writeFileSync(cfg, 'max_batch_size: 2');
    utimesSync(cfg, new Date(), new Date(Date.now() + 5000));
    await r.poll();
    expect(r.getModel('b').config.max_batch_size).toBe(2);
    expect(r.getModel('b').scheduler).not.toBe(bSched);
    rmSync(path.join(repo, 'a'), { recursive: true });
    await r.poll();
    expect(r.loadedVersions().map((l) => l.name)).toEqual(['b']);
    expect(() => r.getModel('a')).toThrow(expect.objectContaining({ code: 'ERR_MODEL_NOT_FOUND' }));
  });

  it('poll mode rescans on its timer', async () => {
    const repo = tmpRepo();
    const r = await open(repo, { controlMode: 'poll', pollIntervalMs: 50 });
    addModel(repo, 'late');
    const deadline = Date.now() + 5000;
    while (!r.isModelReady('late') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 25));
    expect(r.isModelReady('late')).toBe(true);
  });

  it('serves the ONNX example repository (ORT backend, DynamicBatcher, 2 instances)', async () => {
    const repo = tmpRepo();
    cpSync(EXAMPLES, repo, { recursive: true });
    const r = new ModelRepository({ path: repo, logger: quiet });
    repos.push(r);
    await r.start();
    expect(r.isModelReady('classifier')).toBe(true);
    expect(r.isModelReady('affine')).toBe(true);
    const c = r.getModel('classifier');
    expect(c.config).toMatchObject({ max_batch_size: 32, instance_group: [{ count: 2, kind: 'KIND_CPU' }], dynamic_batching: { preferred_batch_size: [4, 8] } });
    const a = r.getModel('affine');
    const y = await a.scheduler.infer({ x: new Tensor('float32', new Float32Array([0, 1, -1, 0.5]), [1, 4]) });
    expect(Array.from(y.y!.data as Float32Array)).toEqual([1, 3, -1, 2]);
  });

  it('loads an ONNX model without config.pbtxt (auto-complete)', async () => {
    const repo = tmpRepo();
    mkdirSync(path.join(repo, 'bare', '1'), { recursive: true });
    cpSync(path.join(EXAMPLES, 'affine', '1', 'model.onnx'), path.join(repo, 'bare', '1', 'model.onnx'));
    const r = new ModelRepository({ path: repo, logger: quiet });
    repos.push(r);
    await r.start();
    const m = r.getModel('bare');
    expect(m.config).toMatchObject({ platform: 'onnxruntime_onnx', max_batch_size: 0, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [-1, 4] }] });
  });
});

describe('hardening (issue 19): names, config bounds, versions, instance work', () => {
  it('takes a model name as one directory of the repository: no path out of it, no alias, no empty name, no path in errors', async () => {
    const repo = tmpRepo();
    addModel(repo, 'a');
    addModel(repo, 'noconf');
    // a model next to the repository, reachable as "../outside" by path.join
    const outside = path.join(path.dirname(repo), `${path.basename(repo)}-outside`);
    dirs.push(outside);
    addModel(path.dirname(outside), path.basename(outside));
    const backend = new FakeBackend();
    const r = await open(repo, { controlMode: 'explicit' }, backend);
    for (const name of [`../${path.basename(outside)}`, '..', '.', 'noconf/.', 'noconf/./.', '/etc', 'a\\b', 'a\0b', 'x'.repeat(256)]) {
      const e = await r.load(name).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e, name).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/model name/) });
      await expect(r.unload(name)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    }
    await expect(r.load('')).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: 'a model name is required' });
    expect(backend.created).toBe(0);
    const missing = await r.load('missing').catch((e: Error) => e);
    expect(missing).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND' });
    expect((missing as Error).message).not.toContain(repo);
    await r.load('noconf');
    expect((await r.index()).map((e) => e.name)).toEqual(['a', 'noconf']);
    await expect(open(repo, { controlMode: 'explicit', loadModels: ['../x'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('names files relative to the repository in load failures (the backend names them absolute)', async () => {
    const repo = tmpRepo();
    addModel(repo, 'boom', { fail: 'placeholder' });
    writeFileSync(path.join(repo, 'boom', '1', 'model.fake'), JSON.stringify({ signature: SIG, fail: `cannot read ${path.join(repo, 'boom', '1', 'model.fake')} under ${repo}` }));
    const r = await open(repo, { controlMode: 'explicit' });
    const e = (await r.load('boom').catch((err: Error) => err)) as Error;
    expect(e.message).toMatch(/cannot read boom\/1\/model\.fake under <model repository>/);
    expect(e.message).not.toContain(repo);
    expect(JSON.stringify(await r.index())).not.toContain(repo);
  });

  it('bounds every numeric config field, with a load error that says which (and accepts the boundary)', () => {
    const T = CONFIG_LIMITS.timerMicroseconds;
    const refused: Array<[string, RegExp]> = [
      ['dynamic_batching { priority_levels: 4294967295 }', /priority_levels 4294967295 exceeds the limit of 1024/],
      ['dynamic_batching { priority_levels: 1025 }', /priority_levels 1025 exceeds/],
      [`dynamic_batching { max_queue_delay_microseconds: ${T + 1} }`, /max_queue_delay_microseconds 2147483646001 exceeds the limit of 2147483646000/],
      [`dynamic_batching { default_queue_policy { default_timeout_microseconds: ${T + 1} } }`, /default_queue_policy.default_timeout_microseconds 2147483646001 exceeds/],
      [`dynamic_batching { priority_levels: 2 priority_queue_policy { key: 1 value { default_timeout_microseconds: ${T + 1} } } }`, /priority_queue_policy\[1\]\.default_timeout_microseconds/],
      ['dynamic_batching { priority_levels: 2 priority_queue_policy { key: 3 value { max_queue_size: 1 } } }', /level 3 is not one of the priority levels 1..2/],
      ['max_batch_size: 2147483648', /max_batch_size 2147483648 exceeds/],
      ['max_batch_size: 8 dynamic_batching { preferred_batch_size: [ 9 ] }', /preferred_batch_size 9 exceeds max_batch_size 8/],
      [`dynamic_batching { preferred_batch_size: [ ${Array.from({ length: 1025 }, () => 1).join(',')} ] }`, /preferred_batch_size entries 1025 exceeds/],
      ['instance_group [ { count: 1000 } ]', /instance_group.count 1000 exceeds the limit of 128/],
      ['instance_group [ { count: 100 kind: KIND_GPU gpus: [0, 1] } ]', /asks for 200 instances of each version; the limit is 128/],
      ['instance_group [ { gpus: [ 5000 ] } ]', /GPU 5000 is not in 0..1023/],
      ['input [ { name: "x" dims: [ 4294967296 ] } ]', /invalid dimension 4294967296/],
      [`input [ { name: "x" dims: [ ${Array.from({ length: 33 }, () => 1).join(',')} ] } ]`, /33 dimensions exceed the rank limit of 32/],
      [`max_batch_size: 4 input [ { name: "x" dims: [ ${Array.from({ length: 32 }, () => 1).join(',')} ] } ]`, /32 dimensions \(plus the batch dimension\) exceed/],
      ['version_policy { latest { num_versions: 100000 } }', /num_versions 100000 exceeds/],
      ['max_batch_size: 9007199254740993', /beyond the integers this server represents exactly/],
      ['max_batch_size: 0x20000000000001', /beyond the integers/],
      [`${'a { '.repeat(100)}${'} '.repeat(100)}`, /nested more than 64 deep/],
    ];
    for (const [text, message] of refused) {
      let error: unknown;
      try {
        parseModelConfig(text);
      } catch (e) {
        error = e;
      }
      expect({ text: text.slice(0, 80), error: (error as Error | undefined)?.message }).toEqual({ text: text.slice(0, 80), error: expect.stringMatching(message) });
      expect(isTensorRtError(error, 'ERR_CONFIG')).toBe(true);
    }
    const accepted = [
      'dynamic_batching { priority_levels: 1024 }',
      `dynamic_batching { max_queue_delay_microseconds: ${T} default_queue_policy { default_timeout_microseconds: ${T} } }`,
      'max_batch_size: 2147483647',
      'instance_group [ { count: 64 kind: KIND_GPU gpus: [0, 1] } ]',
      'instance_group [ { count: 128 } ]',
      `input [ { name: "x" dims: [ 2147483647, ${Array.from({ length: 31 }, () => -1).join(',')} ] } ]`,
    ];
    for (const text of accepted) expect(() => parseModelConfig(text), text).not.toThrow();
  });

  it('refuses a config.pbtxt over 1 MiB at load, without reading it', async () => {
    const repo = tmpRepo();
    addModel(repo, 'big', { config: `max_batch_size: 8\n${'#'.repeat(CONFIG_LIMITS.fileBytes)}\n` });
    const r = await open(repo, { controlMode: 'explicit' });
    await expect(r.load('big')).rejects.toThrow(/big\/config\.pbtxt is \d+ bytes; the limit is 1048576/);
  });

  it('serves a version under its canonical name only: "01", "+1", "1.0" are not version 1', async () => {
    const repo = tmpRepo();
    addModel(repo, 'm', { versions: [1, 10] , config: 'version_policy { all { } }' });
    const r = await open(repo);
    expect(r.getModel('m', '1').version).toBe(1);
    expect(r.getModel('m', '10').version).toBe(10);
    for (const v of ['01', '+1', '1.0', ' 1', '1e1', '0x1', '010']) expect(() => r.getModel('m', v), v).toThrow(expect.objectContaining({ code: 'ERR_MODEL_NOT_FOUND' }));
    expect(parseVersion('9007199254740993')).toBeUndefined();
  });

  it('creates and disposes instances one at a time once serving, each in its own turn of the event loop', async () => {
    const repo = tmpRepo();
    addModel(repo, 'first');
    addModel(repo, 'many', { config: 'instance_group [ { count: 6 } ]' });
    /** a backend whose creations and disposals take a while (a timer) and record how many overlap */
    class SlowBackend extends FakeBackend {
      inFlight = 0;
      maxInFlight = 0;
      /** event-loop turns (setImmediate callbacks) seen between the start of one operation and the end of the previous */
      readonly gaps: number[] = [];
      private turns = 0;
      private lastEnd = -1;
      private ticking = true;
      constructor() {
        super();
        const tick = (): void => {
          this.turns++;
          if (this.ticking) setImmediate(tick);
        };
        setImmediate(tick);
      }
      stop(): void {
        this.ticking = false;
      }
      private async op<T>(fn: () => Promise<T>): Promise<T> {
        if (this.lastEnd >= 0) this.gaps.push(this.turns - this.lastEnd);
        this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        try {
          return await fn();
        } finally {
          this.inFlight--;
          this.lastEnd = this.turns;
        }
      }
      override async createInstance(p: string, o?: BackendCreateOptions): Promise<BackendInstance> {
        const instance = await this.op(() => super.createInstance(p, o));
        const dispose = instance.dispose.bind(instance);
        return { ...instance, dispose: () => this.op(dispose) };
      }
    }
    const backend = new SlowBackend();
    try {
      const r = await open(repo, { controlMode: 'explicit', loadModels: ['first'] }, backend);
      backend.maxInFlight = 0;
      backend.gaps.length = 0;
      await r.load('many');
      expect(backend.maxInFlight).toBe(1);
      await r.unload('many');
      expect(backend.maxInFlight).toBe(1);
      // between two operations, the event loop ran (other requests get served)
      expect(backend.gaps.length).toBe(12);
      expect(backend.gaps.every((g) => g >= 1)).toBe(true);
    } finally {
      backend.stop();
    }
  });
});
