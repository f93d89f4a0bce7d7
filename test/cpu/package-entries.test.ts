/**
 * The package's entries as built (dist/): what each exports, and what importing each loads.
 * `tensorrt-node` must reach no server module and no server dependency (fastify, grpc-js,
 * proto-loader, protobufjs, prom-client), nor onnxruntime-node, nor the bench harness or the CLI:
 * a child process imports it with hooks that record every module loaded (ESM resolve hook and
 * CommonJS Module._load), and every dist file it loaded is traced back to its lib/ sources
 * through the source maps. `tensorrt-node/server` is the positive control: there the same hooks
 * must see fastify and grpc-js, so the check cannot pass by seeing nothing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const DIST = join(ROOT, 'dist');
const built = ['index.js', 'index.cjs', 'server.js', 'server.cjs', 'internal/bench.js'].every((f) => existsSync(join(DIST, f)));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Packages the root entry must not load. */
const SERVER_PACKAGES = ['fastify', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'prom-client'];
const NOT_FROM_ROOT = [...SERVER_PACKAGES, 'onnxruntime-node', 'onnxruntime-common', 'cli-progress', 'commander'];
/** lib/ folders whose code the root entry must not contain. */
const NOT_FROM_ROOT_SOURCES = ['lib/server/', 'lib/repository/', 'lib/bench/', 'lib/cli/'];

let tmp: string;
let preload: string;
let hooks: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'trtn-entries-'));
  // ESM: a resolve hook on the loader thread posts every resolved URL to the main thread.
  hooks = join(tmp, 'hooks.mjs');
  writeFileSync(
    hooks,
    `let port;
export function initialize(data) {
  port = data.port;
  // answers after every URL posted before it: the main thread's way to know it has them all
  port.on('message', (m) => { if (m === 'flush') port.postMessage('flushed'); });
  port.unref();
}
export async function resolve(specifier, context, next) {
  if (process.env.HIDE_PACKAGE && (specifier === process.env.HIDE_PACKAGE || specifier.startsWith(process.env.HIDE_PACKAGE + '/'))) {
    const e = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
    e.code = 'ERR_MODULE_NOT_FOUND';
    throw e;
  }
  const r = await next(specifier, context);
  port.postMessage(r.url);
  return r;
}
`,
  );
  // CommonJS: wrap Module._load; the ESM hook is registered from here too (node --import).
  preload = join(tmp, 'preload.mjs');
  writeFileSync(
    preload,
    `import Module from 'node:module';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
const loaded = (globalThis.__loaded = new Set());
const load = Module._load;
Module._load = function (request, parent, isMain) {
  try { loaded.add(Module._resolveFilename(request, parent, isMain)); } catch {}
  return load.apply(this, arguments);
};
const { port1, port2 } = new MessageChannel();
let flushed;
port1.on('message', (url) => {
  if (url === 'flushed') flushed();
  else loaded.add(url.startsWith('file:') ? fileURLToPath(url) : url);
});
port1.unref();
Module.register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { port: port2 }, transferList: [port2] });
globalThis.__report = async (extra) => {
  // messages on one port arrive in order: once 'flushed' is here, so is every URL resolved before
  port1.ref();
  await new Promise((r) => ((flushed = r), port1.postMessage('flush')));
  port1.unref();
  process.stdout.write(JSON.stringify({ loaded: [...loaded], ...extra }));
};
`,
  );
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Loaded {
  loaded: string[];
  exports?: string[];
  [k: string]: unknown;
}

function runChild(code: string, type: 'module' | 'commonjs', env: NodeJS.ProcessEnv = {}): Loaded {
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(preload).href, '--input-type', type, '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout) as Loaded;
}

const importEsm = (entry: string) => runChild(`const m = await import(${JSON.stringify(pathToFileURL(join(DIST, entry)).href)}); await globalThis.__report({ exports: Object.keys(m) });`, 'module');
const requireCjs = (entry: string) => runChild(`const m = require(${JSON.stringify(join(DIST, entry))}); globalThis.__report({ exports: Object.keys(m) });`, 'commonjs');

/** The packages (by node_modules path) among loaded files. */
function packagesIn(files: string[]): string[] {
  const out = new Set<string>();
  for (const f of files) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f.replace(/\\/g, '/'));
    if (m) out.add(m[1]!);
  }
  return [...out].sort();
}

/** The lib/ sources compiled into the loaded dist files (from their source maps). */
function sourcesIn(files: string[]): string[] {
  const out = new Set<string>();
  for (const f of files) {
    if (!f.startsWith(DIST + '/') || !/\.c?js$/.test(f)) continue;
    const map = JSON.parse(readFileSync(`${f}.map`, 'utf8')) as { sources: string[] };
    for (const s of map.sources) out.add(relative(ROOT, resolve(dirname(f), s)));
  }
  return [...out].sort();
}

describe.skipIf(!built)(`package entries (dist/)${built ? '' : ' (skipped: dist/ not built, run npm run build:ts)'}`, () => {
  it("package.json exports '.', './server' and './package.json' only, each with import/require, types first", () => {
    expect(Object.keys(pkg.exports)).toEqual(['.', './server', './package.json']);
    for (const key of ['.', './server']) {
      const e = pkg.exports[key] as Record<'import' | 'require', Record<string, string>>;
      for (const cond of ['import', 'require'] as const) {
        expect(Object.keys(e[cond])).toEqual(['types', 'default']); // TypeScript reads the first match
        for (const file of Object.values(e[cond])) expect(existsSync(join(ROOT, file)), file).toBe(true);
      }
    }
  });

  it('onnxruntime-node is an optional peer dependency (and a devDependency, so CI tests it); no @types/* at run time', () => {
    expect(pkg.dependencies['onnxruntime-node']).toBeUndefined();
    expect(pkg.peerDependencies['onnxruntime-node']).toBeDefined();
    expect(pkg.peerDependenciesMeta['onnxruntime-node']?.optional).toBe(true);
    expect(pkg.devDependencies['onnxruntime-node']).toBeDefined();
    expect(Object.keys(pkg.dependencies).filter((d) => d.startsWith('@types/'))).toEqual([]);
  });

  for (const [format, load, entry] of [
    ['ESM', importEsm, 'index.js'],
    ['CommonJS', requireCjs, 'index.cjs'],
  ] as const) {
    it(`${format}: the root entry loads no server module or dependency, no onnxruntime-node, no bench or CLI code, and not the native addon`, () => {
      const r = load(entry);
      expect(r.exports).toContain('Session');
      const packages = packagesIn(r.loaded);
      expect(packages.filter((p) => NOT_FROM_ROOT.includes(p))).toEqual([]);
      const sources = sourcesIn(r.loaded);
      expect(sources).toContain('lib/tensorrt/session.ts');
      expect(sources.filter((s) => NOT_FROM_ROOT_SOURCES.some((d) => s.startsWith(d)))).toEqual([]);
      // the addon is loaded at first use (a Runtime, a buffer), not by the import
      expect(r.loaded.filter((f) => f.endsWith('.node'))).toEqual([]);
    });
  }

  for (const [format, load, entry] of [
    ['ESM', importEsm, 'server.js'],
    ['CommonJS', requireCjs, 'server.cjs'],
  ] as const) {
    it(`${format}: the server entry loads the server (the hooks do see what is loaded)`, () => {
      const r = load(entry);
      expect(r.exports).toEqual(expect.arrayContaining(['startServer', 'ModelRepository', 'createHttpServer', 'createGrpcServer', 'createMetricsRegistry', 'parseModelConfig']));
      expect(packagesIn(r.loaded)).toEqual(expect.arrayContaining(['fastify', '@grpc/grpc-js', 'prom-client']));
      expect(sourcesIn(r.loaded)).toEqual(expect.arrayContaining(['lib/server/index.ts', 'lib/repository/repository.ts']));
    });
  }

  it('no public entry exports the bench harness; the internal bench entry does', () => {
    const bench = importEsm('internal/bench.js').exports!;
    expect(bench).toEqual(expect.arrayContaining(['runBench', 'fillRandom', 'markTimingEpoch', 'timingStats', 'parseTrtexecOutput']));
    for (const [load, entry] of [
      [importEsm, 'index.js'],
      [requireCjs, 'index.cjs'],
      [importEsm, 'server.js'],
      [requireCjs, 'server.cjs'],
    ] as const) {
      expect(load(entry).exports!.filter((n) => bench.includes(n)), entry).toEqual([]);
    }
  });

  it('the root and server entries share one TensorRtError class (one chunk, not two copies), in ESM and in CommonJS', () => {
    // an error thrown by server code (a config.pbtxt syntax error) is an instance of the root entry's class
    const probe = (a: string, b: string) =>
      `let e; try { ${b}.parseModelConfig('name: "x" {'); } catch (x) { e = x; } globalThis.__report({ threw: e !== undefined, code: e?.code, same: e instanceof ${a}.TensorRtError });`;
    const esm = runChild(
      `const a = await import(${JSON.stringify(pathToFileURL(join(DIST, 'index.js')).href)}); const b = await import(${JSON.stringify(pathToFileURL(join(DIST, 'server.js')).href)}); ${probe('a', 'b')}`,
      'module',
    );
    expect(esm).toMatchObject({ threw: true, same: true });
    expect(esm.code).toMatch(/^ERR_/);
    const cjs = runChild(`const a = require(${JSON.stringify(join(DIST, 'index.cjs'))}); const b = require(${JSON.stringify(join(DIST, 'server.cjs'))}); ${probe('a', 'b')}`, 'commonjs');
    expect(cjs).toMatchObject({ threw: true, same: true });
  });

  it('OnnxRuntimeBackend loads onnxruntime-node on first use; where it is missing, the error names the package and the install command', () => {
    const model = join(ROOT, 'examples', 'models', 'affine', '1', 'model.onnx');
    const code = `const t = await import(${JSON.stringify(pathToFileURL(join(DIST, 'index.js')).href)});
      const before = [...globalThis.__loaded].some((f) => f.includes('/onnxruntime-node/'));
      let out;
      try { const i = await new t.OnnxRuntimeBackend().createInstance(${JSON.stringify(model)}); out = { ok: true, maxBatch: i.signature.maxBatchSize }; await i.dispose(); }
      catch (e) { out = { ok: false, typed: e instanceof t.TensorRtError, code: e.code, message: e.message, details: e.details }; }
      await globalThis.__report({ before, ...out });`;
    const present = runChild(code, 'module');
    expect(present.before).toBe(false);
    expect(present.ok).toBe(true);
    expect(packagesIn(present.loaded)).toContain('onnxruntime-node');

    const missing = runChild(code, 'module', { HIDE_PACKAGE: 'onnxruntime-node' });
    expect(missing).toMatchObject({ ok: false, typed: true, code: 'ERR_DEPENDENCY_MISSING', details: { package: 'onnxruntime-node', range: pkg.peerDependencies['onnxruntime-node'] } });
    expect(missing.message).toContain(`npm install onnxruntime-node@${pkg.peerDependencies['onnxruntime-node']}`);
    expect(missing.message).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
  });

  it('the published declarations import no module outside node: builtins, the package itself and its runtime dependencies', () => {
    const allowed = new Set(Object.keys(pkg.dependencies));
    const files = ['index.d.ts', 'index.d.cts', 'server.d.ts', 'server.d.cts'];
    const seen = new Set<string>();
    const queue = [...files];
    const bad: string[] = [];
    while (queue.length) {
      const f = queue.shift()!;
      if (seen.has(f)) continue;
      seen.add(f);
      const text = readFileSync(join(DIST, f), 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith('./')) queue.push(spec.replace(/^\.\//, '').replace(/\.c?js$/, f.endsWith('.d.cts') ? '.d.cts' : '.d.ts'));
        else if (!spec.startsWith('node:') && !allowed.has(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!)) bad.push(`${f}: ${spec}`);
        // 'ndarray' ships no types; scripts/dts-ndarray.mjs points the import at dist/ndarray-view.d.ts
        if (spec === 'ndarray') bad.push(`${f}: ndarray (types not rewritten)`);
      }
    }
    expect(bad).toEqual([]);
    expect(seen.has('ndarray-view.d.ts')).toBe(true);
  });
});
