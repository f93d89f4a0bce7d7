/**
 * First contact, as a user has it: the package is packed with `npm pack` (with the prebuilt
 * addon from scripts/prebuild.mjs) and installed into an empty project with a plain
 * `npm install <tarball>`: no environment variable, install scripts allowed, compilers replaced by
 * traps. Nothing compiles, nothing but npm packages is fetched (onnxruntime-node, whose install
 * script downloads from elsewhere, is an optional peer and not installed), the prebuild is what
 * loads, `import { Session } from 'tensorrt-node'` loads no server code, and the ONNX Runtime
 * backend says how to get onnxruntime-node. Then onnxruntime-node is added, as the docs say, and
 * the README's CPU examples run as written, the batcher gives exact results, the servers serve
 * from the installed package, and the TensorRT backend says precisely what is missing on a
 * machine without TensorRT.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, ROOT, describeFailure, devDependency, folderBytes, listFiles, missingBuild, networkNotAllowed, npmInstall, packAndInstall, run, stagePackage, type Workspace } from '../consumer/harness.js';
import { exampleFileName, extractExamples } from '../consumer/examples.mjs';

const skipReason = missingBuild() ?? networkNotAllowed();
const PREBUILD = 'prebuilds/linux-x64/tensorrt-node.napi.node';
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const MiB = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
/** Packages the root entry must not load (server dependencies, the CPU backend, the CLI's). */
const NOT_FROM_ROOT = ['fastify', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'prom-client', 'onnxruntime-node', 'onnxruntime-common', 'cli-progress', 'commander'];

interface RuntimeOutcome {
  created?: boolean;
  isTensorRtError?: boolean;
  name?: string;
  code?: string;
  message?: string;
}

describe.skipIf(skipReason !== undefined || process.platform !== 'linux' || process.arch !== 'x64')(
  `npm pack → npm install (plain, no environment variable) → require/import${skipReason ? ` (skipped: ${skipReason})` : process.platform !== 'linux' || process.arch !== 'x64' ? ' (skipped: prebuilds exist for linux-x64 only)' : ''}`,
  () => {
    let ws: Workspace;
    let prebuildJson: { addonVersion: string; napiVersion: number; sha256: string; tensorrt: { headerVersion: string; accepts: string } };
    let installBytes: number;

    let staged: string;
    let prebuilds: string;
    /** prebuilds/ of this repository: file → sha256 (empty when there is none) */
    const repoPrebuilds = (): Record<string, string> => {
      const dir = join(ROOT, 'prebuilds');
      return existsSync(dir) ? Object.fromEntries(listFiles(dir).map((f) => [f, sha256(join(dir, f))])) : {};
    };
    let prebuildsBefore: Record<string, string>;
    beforeAll(() => {
      prebuildsBefore = repoPrebuilds();
      // The real script: builds (a no-op after `npm run build`), strips, and writes the prebuild
      // to a folder of this test's (never this repository's prebuilds/); the package is packed
      // from a staged copy holding it.
      prebuilds = mkdtempSync(join(tmpdir(), 'trtnode-prebuilds-'));
      const pre = run(process.execPath, [join(ROOT, 'scripts', 'prebuild.mjs'), '--out', prebuilds], { cwd: ROOT, timeoutMs: 110_000 });
      if (pre.status !== 0) throw new Error(`scripts/prebuild.mjs failed: ${describeFailure(pre)}`);
      prebuildJson = JSON.parse(readFileSync(join(prebuilds, 'linux-x64', 'tensorrt-node.json'), 'utf8'));
      staged = stagePackage(prebuilds);
      ws = packAndInstall('install', [], { from: staged });
      installBytes = folderBytes(join(ws.app, 'node_modules'));
      // The scripts run from inside the consumer project: from test/consumer/ here, 'tensorrt-node'
      // would resolve to this repository itself (a package may import its own name).
      for (const f of ['check-require.cjs', 'check-import.mjs', 'check-gpu-example.mjs', 'check-root.mjs', 'record-loads.mjs', 'check-no-ort.mjs']) copyFileSync(join(CONSUMER, 'app', f), join(ws.app, f));
      console.log(`npm pack ${ws.timings.pack.toFixed(1)} s, npm install ${ws.timings.install.toFixed(1)} s, node_modules ${MiB(installBytes)} without onnxruntime-node`);
    }, 240_000);
    afterAll(() => {
      ws?.cleanup();
      for (const d of [staged, prebuilds]) if (d) rmSync(d, { recursive: true, force: true });
    });

    it('scripts/pack-check.mjs accepts the package contents', () => {
      const r = run(process.execPath, [join(ROOT, 'scripts', 'pack-check.mjs'), '--json', '--dir', staged], { cwd: ROOT });
      const report = JSON.parse(r.stdout) as { violations: string[]; size: number; files: string[] };
      expect(report.violations).toEqual([]);
      expect(r.status).toBe(0);
      expect(report.files).toContain(PREBUILD);
      expect(report.files.some((f) => /^(fixtures|bench|test|build|\.cache|lib)\//.test(f))).toBe(false);
    });

    it('a plain npm install: no environment variable, no warning about tensorrt-node, and onnxruntime-node (an optional peer) not installed', () => {
      expect(Object.keys(ws.env).filter((k) => /ONNXRUNTIME/i.test(k))).toEqual([]);
      expect(ws.installLog.split('\n').filter((l) => /warn/i.test(l) && /tensorrt-node/.test(l))).toEqual([]);
      // no dependency's engines refuse Node 20 (fastify's inject helper is held at 6.6.0, whose cookie accepts it)
      expect(ws.installLog).not.toMatch(/EBADENGINE/);
      expect(existsSync(join(ws.app, 'node_modules', 'onnxruntime-node'))).toBe(false);
      const manifest = JSON.parse(readFileSync(join(ws.installed, 'package.json'), 'utf8')) as { peerDependenciesMeta?: Record<string, { optional?: boolean }> };
      expect(manifest.peerDependenciesMeta?.['onnxruntime-node']?.optional).toBe(true);
      // onnxruntime-node alone was 288 MB of a 331 MB install; what is left is tensorrt-node and its server dependencies
      expect(installBytes).toBeLessThan(64 * 2 ** 20);
    });

    it('installs without building: no install scripts, no build/, no compiler called, the prebuild in place', () => {
      const manifest = JSON.parse(readFileSync(join(ws.installed, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
      // nothing would compile even without --ignore-scripts
      for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) expect(manifest.scripts?.[s], s).toBeUndefined();
      expect(existsSync(join(ws.installed, 'build'))).toBe(false);
      expect(existsSync(ws.trapLog) ? readFileSync(ws.trapLog, 'utf8') : '').toBe('');
      expect(sha256(join(ws.installed, PREBUILD))).toBe(prebuildJson.sha256);
      expect(sha256(join(ws.installed, PREBUILD))).toBe(sha256(join(prebuilds, 'linux-x64', 'tensorrt-node.napi.node')));
      // the repository's prebuilds/ is exactly as it was before the test built and packed
      expect(repoPrebuilds()).toEqual(prebuildsBefore);
      const files = listFiles(ws.installed);
      expect(files.filter((f) => !/^(dist|prebuilds|native|proto|scripts)\/|^(package\.json|README\.md|CHANGELOG\.md|CMakeLists\.txt|LICENSE.*)$/.test(f))).toEqual([]);
      expect(files).toContain('proto/grpc_service.proto');
    });

    it("require('tensorrt-node') loads the prebuilt binary; new Runtime() names what is missing", () => {
      const env = { ...ws.env, TENSORRT_LIB_DIR: '/nonexistent/trt', LD_LIBRARY_PATH: '' };
      const r = run(process.execPath, [join(ws.app, 'check-require.cjs')], { cwd: ws.app, env });
      expect(r.status, describeFailure(r)).toBe(0);
      const out = JSON.parse(r.stdout) as { packageRoot: string; headerVersion: string; addonVersion: string; resolved: string; loaded: string[]; runtime: RuntimeOutcome; exports: number };
      const prebuild = join(ws.installed, PREBUILD);
      expect(out.packageRoot).toBe(ws.installed);
      expect(out.resolved).toBe(prebuild);
      expect(out.loaded).toEqual([prebuild]); // the only .node file mapped into the process
      expect(out.headerVersion).toBe(prebuildJson.tensorrt.headerVersion);
      expect(out.addonVersion).toBe(prebuildJson.addonVersion);
      expect(out.exports).toBeGreaterThan(20);
      expectMissingTensorRt(out.runtime);
      expect(existsSync(ws.trapLog)).toBe(false);
    });

    it("import { Session } from 'tensorrt-node' loads no server dependency, no onnxruntime-node and not the addon", () => {
      const r = run(process.execPath, ['--import', './record-loads.mjs', join(ws.app, 'check-root.mjs')], { cwd: ws.app, env: ws.env });
      expect(r.status, describeFailure(r)).toBe(0);
      const out = JSON.parse(r.stdout) as { importMs: number; session: string; loaded: string[] };
      expect(out.session).toBe('function');
      const packages = [...new Set(out.loaded.flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1] ?? []))].sort();
      expect(packages).toContain('tensorrt-node');
      expect(packages.filter((p) => NOT_FROM_ROOT.includes(p))).toEqual([]);
      expect(out.loaded.filter((f) => f.endsWith('.node'))).toEqual([]);
      console.log(`import { Session } from 'tensorrt-node': ${out.importMs.toFixed(1)} ms in this run, ${out.loaded.length} modules (${packages.join(', ')})`);
    });

    it('without onnxruntime-node, the ONNX Runtime backend and `tensorrt-node inspect x.onnx` say what to install', () => {
      const model = join(ROOT, 'fixtures', 'onnx', 'affine.onnx');
      const r = run(process.execPath, [join(ws.app, 'check-no-ort.mjs'), model], { cwd: ws.app, env: ws.env });
      expect(r.status, describeFailure(r)).toBe(0);
      const out = JSON.parse(r.stdout) as { error?: { typed: boolean; code: string; message: string; details: Record<string, string> } };
      expect(out.error).toMatchObject({ typed: true, code: 'ERR_DEPENDENCY_MISSING', details: { package: 'onnxruntime-node' } });
      expect(out.error!.message).toMatch(/npm install onnxruntime-node@\^1\.30\.0/);
      const cli = run(join(ws.app, 'node_modules', '.bin', 'tensorrt-node'), ['inspect', model], { cwd: ws.app, env: ws.env });
      expect(cli.status).toBe(1);
      expect(cli.stderr).toMatch(/^error: the ONNX Runtime backend needs onnxruntime-node.*npm install onnxruntime-node@\^1\.30\.0.*\[ERR_DEPENDENCY_MISSING\]$/m);
    });

    it('adding onnxruntime-node, as the docs say, brings the CPU backend', () => {
      const before = installBytes;
      npmInstall(ws.app, { ...ws.env, ONNXRUNTIME_NODE_INSTALL: 'skip' }, [devDependency('onnxruntime-node')]);
      expect(existsSync(join(ws.app, 'node_modules', 'onnxruntime-node', 'package.json'))).toBe(true);
      console.log(`node_modules with onnxruntime-node: ${MiB(folderBytes(join(ws.app, 'node_modules')))} (${MiB(before)} without)`);
    }, 180_000);

    it("the README's CPU examples run as written in the user's project", () => {
      cpSync(join(ROOT, 'examples'), join(ws.app, 'examples'), { recursive: true });
      const readme = extractExamples(ROOT, [join(ROOT, 'README.md')]).filter((e) => e.kind === 'cpu');
      expect(readme.length).toBeGreaterThanOrEqual(2);
      for (const e of readme) {
        const file = join(ws.app, exampleFileName(e));
        writeFileSync(file, e.code);
        const r = run(process.execPath, [file], { cwd: ws.app, env: { ...ws.env, TENSORRT_LIB_DIR: '/nonexistent/trt' }, timeoutMs: 120_000 });
        expect(r.status, `README.md:${e.line}\n${describeFailure(r)}`).toBe(0);
      }
    });

    it("import('tensorrt-node'): the batcher on ONNX Runtime gives exact results; gRPC/HTTP serve from tensorrt-node/server", () => {
      const scratch = join(ws.dir, 'scratch');
      mkdirSync(scratch);
      const model = join(ROOT, 'fixtures', 'onnx', 'affine.onnx');
      const env = { ...ws.env, TENSORRT_LIB_DIR: '/nonexistent/trt', LD_LIBRARY_PATH: '' };
      const r = run(process.execPath, [join(ws.app, 'check-import.mjs'), model, scratch], { cwd: ws.app, env, timeoutMs: 60_000 });
      expect(r.status, describeFailure(r)).toBe(0);
      const out = JSON.parse(r.stdout) as {
        y: number[][];
        z: number[][];
        dims: number[][][];
        stats: { success: number; inferenceCount: number; executionCount: number; batchSizes: number[] };
        server: { grpcPort: number; httpStatus: number; body: { outputs: { name: string; data: number[] }[] } };
        loaded: string[];
        runtime: RuntimeOutcome;
      };
      // affine.onnx (tools/make_cpu_fixtures.py): y = 2x + 1, z = 3 * x_int; request i sends
      // x = [i, i/4, -i, 0.5], x_int = [i, -7i], all exact in float32/int32.
      const N = 64;
      expect(out.y).toEqual(Array.from({ length: N }, (_, i) => [2 * i + 1, i / 2 + 1, -2 * i + 1, 2]));
      expect(out.z).toEqual(Array.from({ length: N }, (_, i) => [3 * i, 0 - 21 * i]));
      expect(out.dims).toEqual(Array.from({ length: N }, () => [[1, 4], [1, 2]]));
      expect(out.stats.success).toBe(N);
      expect(out.stats.inferenceCount).toBe(N);
      expect(out.stats.executionCount).toBeLessThan(N); // the requests were batched
      expect(Math.max(...out.stats.batchSizes)).toBeLessThanOrEqual(32);
      // the gRPC server found proto/ from dist/ of the installed package; HTTP answered
      expect(out.server.grpcPort).toBeGreaterThan(0);
      expect(out.server.httpStatus).toBe(200);
      expect(out.server.body.outputs.find((o) => o.name === 'y')?.data).toEqual([3, 5, 7, 9]);
      expect(out.server.body.outputs.find((o) => o.name === 'z')?.data).toEqual([15, 18]);
      // onnxruntime-node's binding is loaded too; of tensorrt-node's, only the installed prebuild
      expect(out.loaded.filter((p) => /tensorrt[-_]node/.test(p))).toEqual([join(ws.installed, PREBUILD)]);
      expect(out.loaded.filter((p) => p.startsWith(ROOT))).toEqual([]);
      expectMissingTensorRt(out.runtime);
      expect(existsSync(ws.trapLog)).toBe(false);
    });

    it("the GPU example script of tools/gpu-host/install-check.sh runs from the installed package; without TensorRT it reports exactly that", () => {
      const env = { ...ws.env, TENSORRT_LIB_DIR: '/nonexistent/trt', LD_LIBRARY_PATH: '' };
      const missing = run(process.execPath, [join(ws.app, 'check-gpu-example.mjs'), '--expect', 'missing'], { cwd: ws.app, env });
      const m = JSON.parse(missing.stdout) as { pass: boolean; addonFromPrebuild: boolean; packageRoot: string; error?: RuntimeOutcome; runtime?: RuntimeOutcome };
      expect(m.packageRoot).toBe(ws.installed);
      expect(m.addonFromPrebuild).toBe(true);
      // the GPU branch on this machine: with no TensorRT it must fail, never pass vacuously
      const gpu = run(process.execPath, [join(ws.app, 'check-gpu-example.mjs'), '--expect', 'ok', '--fixtures', join(ROOT, 'fixtures', 'gpu')], { cwd: ws.app, env, timeoutMs: 60_000 });
      const g = JSON.parse(gpu.stdout) as { pass: boolean; error?: RuntimeOutcome };
      if (m.error?.code === 'ERR_TRT_NOT_FOUND') {
        expect(missing.status, describeFailure(missing)).toBe(0);
        expect(m.pass).toBe(true);
        expectMissingTensorRt(m.error);
        expect(gpu.status).toBe(1);
        expect(g.pass).toBe(false);
        expect(g.error?.code).toBe('ERR_TRT_NOT_FOUND');
      } else {
        // TensorRT in a standard place here: 'missing' is not what happens, and says so
        expect(missing.status).toBe(1);
        expect(m.pass).toBe(false);
      }
    });

    it('the tensorrt-node command works from node_modules/.bin', () => {
      const r = run(join(ws.app, 'node_modules', '.bin', 'tensorrt-node'), ['inspect', join(ROOT, 'fixtures', 'onnx', 'affine.onnx'), '--json'], { cwd: ws.app, env: ws.env });
      expect(r.status, describeFailure(r)).toBe(0);
      const info = JSON.parse(r.stdout) as { backend: string; inputs: { name: string }[] };
      expect(info.backend).toBe('onnxruntime');
      expect(info.inputs.map((i) => i.name)).toEqual(['x', 'x_int']);
    });
  },
);

/** No TensorRT here (CI): ERR_TRT_NOT_FOUND listing where it looked and how to fix it. */
function expectMissingTensorRt(r: RuntimeOutcome): void {
  if (r.code === 'ERR_TRT_NOT_FOUND') {
    expect(r.isTensorRtError).toBe(true);
    expect(r.message).toContain('/nonexistent/trt/libnvinfer.so.10');
    expect(r.message).toMatch(/Tried:\n {2}- /);
    expect(r.message).toContain('set TENSORRT_LIB_DIR (or LD_LIBRARY_PATH) to the folder holding libnvinfer.so.10');
  } else if (r.code === 'ERR_CUDA_UNAVAILABLE') {
    // TensorRT installed system-wide but no GPU: it was found, and then the GPU is what is missing
    expect(r.isTensorRtError).toBe(true);
    expect(r.message).toContain('cudaGetDeviceCount');
  } else {
    // a GPU machine with TensorRT in a standard place: the runtime was created
    expect(r, JSON.stringify(r)).toEqual({ created: true });
  }
}
