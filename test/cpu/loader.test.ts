/**
 * Where TensorRT and the addon come from (lib/native/loader.ts), on fake folder trees: pip
 * installs found without running Python, the tarball's TENSORRT_ROOT/lib, LD_LIBRARY_PATH,
 * ld.so.cache; each folder searched and reported once; the prebuild for the TensorRT major
 * found; and, through the real addon, a library that fails to load reported with its reason.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseAddon, findTensorRtLibraries, librarySearchFolders, majorOfLibrary, notFoundMessage, prebuildsIn, pythonSitePackages } from '../../lib/native/loader.js';
import { TensorRtError } from '../../lib/errors.js';
import { Runtime } from '../../lib/tensorrt/runtime.js';

let top: string;
const touch = (p: string, body = '') => {
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, body);
};
/** an environment that sees only the fake tree (no real HOME, PATH or ld.so.cache entries) */
const fakeEnv = (extra: Record<string, string>) => ({ HOME: join(top, 'empty-home'), PATH: join(top, 'nobin'), PYENV_ROOT: join(top, 'nopyenv'), ...extra });
const noCache = { ldCache: '/nonexistent/ld.so.cache' };

beforeAll(() => {
  top = mkdtempSync(join(tmpdir(), 'trtnode-loader-'));
});
afterAll(() => rmSync(top, { recursive: true, force: true }));

describe('library search folders', () => {
  it('TENSORRT_LIB_DIR, TENSORRT_ROOT/lib, LD_LIBRARY_PATH, pip, ld.so.cache, system: in that order, each folder once', () => {
    const venv = join(top, 'venv');
    mkdirSync(join(venv, 'lib', 'python3.12', 'site-packages'), { recursive: true });
    const cache = join(top, 'ld.so.cache');
    writeFileSync(cache, Buffer.concat([Buffer.from('glibc-ld.so.cache1.1\0'), Buffer.from('libnvinfer.so.11\0/opt/trt11/lib/libnvinfer.so.11\0libc.so.6\0/lib/libc.so.6\0')]));
    const folders = librarySearchFolders(
      fakeEnv({ TENSORRT_LIB_DIR: `${join(top, 'a')}:${join(top, 'b')}:${join(top, 'a')}/`, TENSORRT_ROOT: join(top, 'tarball'), LD_LIBRARY_PATH: `${join(top, 'b')}:${join(top, 'c')}`, VIRTUAL_ENV: venv }),
      { ldCache: cache, arch: 'x64' },
    );
    const dirs = folders.map((f) => f.dir);
    expect(new Set(dirs).size).toBe(dirs.length);
    expect(folders.slice(0, 6)).toEqual([
      { dir: join(top, 'a'), origin: 'TENSORRT_LIB_DIR' },
      { dir: join(top, 'b'), origin: 'TENSORRT_LIB_DIR' },
      { dir: join(top, 'tarball', 'lib'), origin: 'TENSORRT_ROOT' },
      { dir: join(top, 'tarball', 'lib64'), origin: 'TENSORRT_ROOT' },
      { dir: join(top, 'c'), origin: 'LD_LIBRARY_PATH' },
      { dir: join(venv, 'lib', 'python3.12', 'site-packages', 'tensorrt_libs'), origin: 'pip: tensorrt_libs', only: 'full' },
    ]);
    expect(dirs).toContain('/opt/trt11/lib');
    expect(dirs.indexOf('/opt/trt11/lib')).toBeGreaterThan(dirs.indexOf(join(venv, 'lib', 'python3.12', 'site-packages', 'tensorrt_libs')));
    expect(dirs.slice(-4)).toEqual(['/usr/lib/x86_64-linux-gnu', '/usr/local/tensorrt/lib', '/opt/tensorrt/lib', '/usr/lib64']);
  });

  it("finds a pip install in the user's site-packages, a venv on PATH, conda and pyenv's selected version, without running Python", () => {
    const user = join(top, 'home', '.local', 'lib', 'python3.11', 'site-packages');
    const onPath = join(top, 'env2');
    const conda = join(top, 'conda');
    const pyenvRoot = join(top, 'pyenv');
    touch(join(onPath, 'bin', 'python3'));
    for (const p of [user, join(onPath, 'lib', 'python3.10', 'site-packages'), join(conda, 'lib', 'python3.13', 'site-packages'), join(pyenvRoot, 'versions', '3.12.4', 'lib', 'python3.12', 'site-packages')]) mkdirSync(p, { recursive: true });
    touch(join(pyenvRoot, 'version'), '3.12.4\n');
    const sites = pythonSitePackages({ HOME: join(top, 'home'), PATH: `${join(top, 'nobin')}:${join(onPath, 'bin')}`, CONDA_PREFIX: conda, PYENV_ROOT: pyenvRoot });
    expect(sites.slice(0, 4)).toEqual([
      join(conda, 'lib', 'python3.13', 'site-packages'),
      join(onPath, 'lib', 'python3.10', 'site-packages'),
      join(pyenvRoot, 'versions', '3.12.4', 'lib', 'python3.12', 'site-packages'),
      user,
    ]);

    touch(join(user, 'tensorrt_libs', 'libnvinfer.so.10'));
    const r = findTensorRtLibraries('auto', [10], fakeEnv({ HOME: join(top, 'home') }), noCache);
    expect(r.hits[0]).toEqual({ path: join(user, 'tensorrt_libs', 'libnvinfer.so.10'), major: 10, flavor: 'full', origin: 'pip: tensorrt_libs' });
  });

  it('the tarball via TENSORRT_ROOT/lib; the newest major first within a folder; a lean-only request skips pip full folders', () => {
    const root = join(top, 'TensorRT-11.2.1');
    touch(join(root, 'lib', 'libnvinfer.so.11'));
    touch(join(root, 'lib', 'libnvinfer.so.10'));
    touch(join(root, 'lib', 'libnvinfer_lean.so.11'));
    const env = fakeEnv({ TENSORRT_ROOT: root });
    expect(findTensorRtLibraries('auto', [10, 11], env, noCache).hits.map((h) => [h.major, h.flavor])).toEqual([[11, 'full'], [10, 'full'], [11, 'lean']]);
    expect(findTensorRtLibraries('auto', [10], env, noCache).hits[0]?.path).toBe(join(root, 'lib', 'libnvinfer.so.10'));
    const lean = findTensorRtLibraries('lean', [11], env, noCache);
    expect(lean.hits[0]?.path).toBe(join(root, 'lib', 'libnvinfer_lean.so.11'));
    expect(lean.tried.some((l) => l.includes('tensorrt_libs'))).toBe(false);
    expect(majorOfLibrary('/x/libnvinfer_dispatch.so.11')).toBe(11);
  });

  it('nothing found: every folder once, with why, the TENSORRT_LIB_DIR fix and the pip hint', () => {
    const env = fakeEnv({ TENSORRT_LIB_DIR: '/nonexistent/trt', LD_LIBRARY_PATH: '/nonexistent/trt' });
    const r = findTensorRtLibraries('auto', [10], env, noCache);
    expect(r.hits).toEqual([]);
    const msg = notFoundMessage('auto', r, [], env);
    const lines = msg.split('\n').filter((l) => l.startsWith('  - '));
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines[0]).toBe('  - /nonexistent/trt/libnvinfer.so.10, libnvinfer_lean.so.10, libnvinfer_dispatch.so.10: no such folder (TENSORRT_LIB_DIR)');
    expect(msg).toMatch(/Tried:\n {2}- /);
    expect(msg).toContain('set TENSORRT_LIB_DIR (or LD_LIBRARY_PATH) to the folder holding libnvinfer.so.10');
    expect(msg).toContain('import tensorrt_libs');
  });
});

describe('which addon binary loads', () => {
  const pkg = () => join(top, 'pkg');
  beforeAll(() => {
    const dir = join(pkg(), 'prebuilds', `${process.platform}-${process.arch}`);
    touch(join(dir, 'tensorrt-node.napi.node'));
    touch(join(dir, 'tensorrt-node.json'), JSON.stringify({ tensorrt: { headerVersion: '10.3.0' } }));
    touch(join(dir, 'tensorrt-node.trt11.napi.node'));
    touch(join(dir, 'tensorrt-node.trt11.json'), JSON.stringify({ tensorrt: { headerVersion: '11.0.0' } }));
    touch(join(dir, 'unrelated.node'));
  });
  const file = (c: ReturnType<typeof chooseAddon>) => ('file' in c ? c.file.slice(pkg().length + 1) : c.error);

  it('lists the prebuilds with their TensorRT majors (the untagged one from its JSON)', () => {
    expect(prebuildsIn(join(pkg(), 'prebuilds', `${process.platform}-${process.arch}`)).map((p) => p.major)).toEqual([10, 11]);
  });

  it('picks the prebuild of the TensorRT major found first; TensorRT 10 when none is', () => {
    const d11 = join(top, 'only11');
    touch(join(d11, 'libnvinfer.so.11'));
    const d10 = join(top, 'only10');
    touch(join(d10, 'libnvinfer.so.10'));
    const at = `prebuilds/${process.platform}-${process.arch}`;
    expect(file(chooseAddon(pkg(), fakeEnv({ TENSORRT_LIB_DIR: d11 })))).toBe(`${at}/tensorrt-node.trt11.napi.node`);
    expect(file(chooseAddon(pkg(), fakeEnv({ TENSORRT_LIB_DIR: d10 })))).toBe(`${at}/tensorrt-node.napi.node`);
    expect(file(chooseAddon(pkg(), fakeEnv({ TENSORRT_LIB_DIR: `${d10}:${d11}` })))).toBe(`${at}/tensorrt-node.napi.node`);
    expect(file(chooseAddon(pkg(), fakeEnv({ TENSORRT_LIB_DIR: '/nonexistent' })))).toBe(`${at}/tensorrt-node.napi.node`);
    // an explicit libraryPath of the first Runtime decides
    expect(file(chooseAddon(pkg(), fakeEnv({ TENSORRT_LIB_DIR: d10 }), { libraryPath: '/opt/x/libnvinfer.so.11' }))).toBe(`${at}/tensorrt-node.trt11.napi.node`);
  });

  it('TRTNODE_ADDON first, then build/Release (unless PREBUILDS_ONLY), then prebuilds', () => {
    touch(join(pkg(), 'build', 'Release', 'tensorrt_node.node'));
    expect(file(chooseAddon(pkg(), fakeEnv({})))).toBe('build/Release/tensorrt_node.node');
    expect(file(chooseAddon(pkg(), fakeEnv({ PREBUILDS_ONLY: '1' })))).toBe(`prebuilds/${process.platform}-${process.arch}/tensorrt-node.napi.node`);
    const mine = join(top, 'mine.node');
    touch(mine);
    expect(chooseAddon(pkg(), fakeEnv({ TRTNODE_ADDON: mine }))).toMatchObject({ file: mine, reason: 'TRTNODE_ADDON' });
    expect(chooseAddon(pkg(), fakeEnv({ TRTNODE_ADDON: join(top, 'missing.node') }))).toEqual({ error: `TRTNODE_ADDON=${join(top, 'missing.node')} does not exist` });
    expect(chooseAddon(join(top, 'empty'), fakeEnv({}))).toMatchObject({ error: expect.stringContaining('no prebuilt binary') });
  });
});

describe('Runtime through the real addon, on this GPU-less machine', () => {
  it('a libnvinfer.so.10 that does not load is reported with the loader\'s reason and where it was found, once', () => {
    const bad = join(top, 'bad-trt');
    touch(join(bad, 'libnvinfer.so.10'), 'not an ELF file');
    const saved = { ...process.env };
    Object.assign(process.env, { TENSORRT_LIB_DIR: bad, LD_LIBRARY_PATH: '' });
    try {
      new Runtime();
      expect.fail('a broken library was accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(TensorRtError);
      const err = e as TensorRtError;
      expect(err.code).toBe('ERR_TRT_NOT_FOUND');
      const lines = err.message.split('\n').filter((l) => l.startsWith('  - '));
      expect(lines[0]).toMatch(new RegExp(`^ {2}- ${join(bad, 'libnvinfer.so.10')}: .*(invalid ELF header|file too short).* \\(TENSORRT_LIB_DIR\\)$`));
      expect(lines.filter((l) => l.includes(bad))).toHaveLength(1);
      expect(new Set(lines).size).toBe(lines.length);
    } finally {
      process.env = saved;
    }
  });

  it('the native search names each folder once even when TENSORRT_LIB_DIR repeats a standard one', () => {
    const out = spawnSync(process.execPath, ['-e', `
      const b = require(${JSON.stringify(join(process.cwd(), 'build/Release/tensorrt_node.node'))});
      try { new b.Runtime({}); console.log('{}'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`], { env: { ...process.env, TENSORRT_LIB_DIR: '/opt/tensorrt/lib:/opt/tensorrt/lib', LD_LIBRARY_PATH: '' }, encoding: 'utf8' });
    const r = JSON.parse(out.stdout.trim()) as { code?: string; message?: string };
    if (r.code !== 'ERR_TRT_NOT_FOUND') return; // a machine with TensorRT installed system-wide
    const lines = r.message!.split('\n').filter((l) => l.startsWith('  - '));
    expect(lines.filter((l) => l.startsWith('  - /opt/tensorrt/lib/libnvinfer.so.10:'))).toHaveLength(1);
    expect(new Set(lines).size).toBe(lines.length);
  });
});

// The real thing, where this machine has it: both builds (build/ for TensorRT 10, build-trt11/ for 11) as
// the prebuilds of a package, and the GPU host's TensorRT 10.6 and 11.2 libraries in the toolchain cache
// (node scripts/toolchain.mjs runtime --tensorrt 10.6 | 11.2). CI has neither: skipped there, with why.
describe('the loader picks the prebuild for the TensorRT it finds, with real builds and libraries', () => {
  const cache = process.env.TRTNODE_TOOLCHAIN_DIR ?? join(process.cwd(), '.cache', 'toolchain');
  const lib = { 10: join(cache, 'tensorrt-10.6.0', 'lib'), 11: join(cache, 'tensorrt-11.2.1', 'lib') };
  const builds = { 10: join(process.cwd(), 'build', 'Release', 'tensorrt_node.node'), 11: join(process.cwd(), 'build-trt11', 'Release', 'tensorrt_node.node') };
  const missing = [lib[10] + '/libnvinfer.so.10', lib[11] + '/libnvinfer.so.11', builds[10], builds[11], join(process.cwd(), 'dist', 'index.cjs')].filter((f) => !existsSync(f));
  const skip = missing.length ? `missing here: ${missing.join(', ')}` : undefined;
  it.skipIf(skip !== undefined)(`TENSORRT_LIB_DIR at 10.6 loads the TensorRT 10 binary, at 11.2 the TensorRT 11 one; each accepts its library${skip ? ` (skipped: ${skip})` : ''}`, () => {
    const pkgDir = join(top, 'real-pkg');
    const dir = join(pkgDir, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(builds[10], join(dir, 'tensorrt-node.napi.node'));
    copyFileSync(builds[11], join(dir, 'tensorrt-node.trt11.napi.node'));
    for (const major of [10, 11] as const) {
      const r = spawnSync(process.execPath, ['-e', `
        const t = require(${JSON.stringify(join(process.cwd(), 'dist', 'index.cjs'))});
        const out = {};
        try { new t.Runtime(); out.created = true; } catch (e) { out.code = e.code; out.message = e.message; }
        out.loaded = require('fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.endsWith('.node')).map((l) => l.split(/\\s+/).pop());
        console.log(JSON.stringify(out));`], { env: { ...process.env, PREBUILDS_ONLY: '1', TENSORRT_NODE_PREBUILD: pkgDir, TENSORRT_LIB_DIR: lib[major], LD_LIBRARY_PATH: '', TRTNODE_ADDON: '' }, encoding: 'utf8' });
      const o = JSON.parse(r.stdout.trim()) as { created?: boolean; code?: string; message?: string; loaded: string[] };
      expect([...new Set(o.loaded)]).toEqual([join(dir, major === 10 ? 'tensorrt-node.napi.node' : 'tensorrt-node.trt11.napi.node')]);
      // the library was found, loaded and accepted by the version guard: only the GPU is missing
      expect(o.created ? 'created' : o.code, o.message).toBe(o.created ? 'created' : 'ERR_CUDA_UNAVAILABLE');
    }
  });
});
