// The native addon on a machine without a GPU (CI): it loads, says precisely what is missing,
// validates arguments, and never takes the process down.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../lib/native/binding.js';
import { Runtime } from '../../lib/tensorrt/runtime.js';
import { DeviceBuffer, HostBuffer, Stream, cudaInfo, markTimingEpoch } from '../../lib/tensorrt/cuda.js';
import { Session } from '../../lib/tensorrt/session.js';
import { TensorRtError } from '../../lib/errors.js';

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TensorRtError);
    return (e as TensorRtError).code;
  }
  return 'no error';
}

const hasGpu = (() => {
  try {
    return cudaInfo().devices.length > 0;
  } catch {
    return false;
  }
})();

describe('native addon without a GPU', () => {
  it('loads, and reports the TensorRT headers it was built against', () => {
    const n = loadNative();
    expect(n.headerVersion).toMatch(/^10\.\d+\.\d+$/);
    expect(n.napiVersion).toBe(8);
    expect(typeof n.Runtime).toBe('function');
  });

  it.skipIf(hasGpu)('CUDA probes fail with ERR_CUDA_UNAVAILABLE, not a crash', () => {
    expect(codeOf(() => cudaInfo())).toBe('ERR_CUDA_UNAVAILABLE');
    expect(codeOf(() => new DeviceBuffer(1024))).toBe('ERR_CUDA_UNAVAILABLE');
    expect(codeOf(() => new HostBuffer(1024))).toBe('ERR_CUDA_UNAVAILABLE');
    expect(codeOf(() => new Stream())).toBe('ERR_CUDA_UNAVAILABLE');
    expect(codeOf(() => new Stream({ completion: 'poll' }))).toBe('ERR_CUDA_UNAVAILABLE');
  });

  it('an unknown completion mode is refused before CUDA is asked', () => {
    expect(codeOf(() => new Stream({ completion: 'busy' as 'poll' }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('no TensorRT: ERR_TRT_NOT_FOUND naming every place it looked and how to fix it', () => {
    const env = { ...process.env, TENSORRT_LIB_DIR: '/nonexistent/trt', LD_LIBRARY_PATH: '' };
    const out = spawnSync(process.execPath, ['-e', `
      const b = require(${JSON.stringify(join(process.cwd(), 'build/Release/tensorrt_node.node'))});
      try { new b.Runtime({}); console.log('created'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`], { env, encoding: 'utf8' });
    const r = JSON.parse(out.stdout.trim()) as { code: string; message: string };
    if (r.code === 'ERR_TRT_NOT_FOUND') {
      expect(r.message).toContain('/nonexistent/trt/libnvinfer.so.10');
      expect(r.message).toContain('libnvinfer_lean.so.10');
      expect(r.message).toContain('libnvinfer_dispatch.so.10');
      expect(r.message).toMatch(/TENSORRT_LIB_DIR/);
    } else {
      // a machine with TensorRT installed system-wide: it was found, and then needs a GPU
      expect(['ERR_CUDA_UNAVAILABLE', 'created']).toContain(r.code ?? 'created');
    }
  });

  it('an explicit library that is not TensorRT, or a bad flavor, is refused with a typed error', () => {
    expect(codeOf(() => new Runtime({ libraryPath: '/nonexistent/libnvinfer.so.10' }))).toBe('ERR_TRT_NOT_FOUND');
    const libc = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'].find(existsSync);
    if (libc) {
      try {
        new Runtime({ libraryPath: libc });
        expect.fail('libc accepted as TensorRT');
      } catch (e) {
        expect((e as TensorRtError).code).toBe('ERR_TRT_NOT_FOUND');
        expect((e as Error).message).toContain('not a TensorRT runtime');
      }
    }
    expect(codeOf(() => new Runtime({ flavor: 'turbo' as 'full' }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('a truncated library (a cut copy of a real ELF) is refused with ERR_TRT_NOT_FOUND, not loaded: dlopen would die of SIGBUS', () => {
    const libc = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6'].find(existsSync);
    if (!libc) return expect.fail('no libc.so.6 to cut');
    const dir = mkdtempSync(join(tmpdir(), 'trtnode-truncated-'));
    try {
      const cut = join(dir, 'libnvinfer.so.10');
      writeFileSync(cut, readFileSync(libc).subarray(0, 8192));
      // in a child: before the check, the process itself died (SIGBUS in glibc's dlopen)
      const script = `const { Runtime } = require(${JSON.stringify(join(process.cwd(), 'dist/index.cjs'))});
        try { new Runtime({ libraryPath: ${JSON.stringify(cut)} }); console.log(JSON.stringify({ code: 'created' })); }
        catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
      expect(r.signal, r.stderr).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { code?: string; message?: string };
      expect(out.code).toBe('ERR_TRT_NOT_FOUND');
      expect(out.message).toMatch(/truncated ELF file .*past its 8192 bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // The lean runtime is a 43 MB wheel: fetched only where network tests are allowed (TRTNODE_NETWORK_TESTS=1, as
  // .ci/run sets) or already in the toolchain cache.
  const leanLib = join(process.env.TRTNODE_TOOLCHAIN_DIR ?? join(process.cwd(), '.cache/toolchain'), 'tensorrt-10.15.1.29-lean/tensorrt_lean_libs/libnvinfer_lean.so.10');
  const leanSkip = existsSync(leanLib) || process.env.TRTNODE_NETWORK_TESTS === '1' ? undefined : 'the lean runtime is not in the toolchain cache and TRTNODE_NETWORK_TESTS is not 1';
  it.skipIf(leanSkip !== undefined)(`the real TensorRT 10.15 lean runtime (PyPI) loads; the version guard or the missing GPU answers${leanSkip ? ` (skipped: ${leanSkip})` : ''}`, () => {
    const dir = leanLib;
    if (!existsSync(dir)) execFileSync(process.execPath, ['scripts/toolchain.mjs', 'lean'], { stdio: 'ignore' });
    const headers = loadNative().headerVersion;
    const minor = Number(headers.split('.')[1]);
    try {
      new Runtime({ flavor: 'lean', libraryPath: dir });
      expect(hasGpu).toBe(true);
    } catch (e) {
      const err = e as TensorRtError;
      if (minor > 15) {
        // built against newer headers than the runtime (CI's crates registry headers): refused up front
        expect(err.code).toBe('ERR_TRT_VERSION');
        expect(err.message).toContain('10.15.1');
        expect(err.message).toContain(headers);
      } else {
        expect(err.code).toBe('ERR_CUDA_UNAVAILABLE');
      }
    }
  });

  // The GPU host's TensorRT runtimes (scripts/toolchain.mjs runtime --tensorrt 10.6 | 11.2; about 1 GB each, never
  // fetched by a test): where the cache has them, the version guard's decisions on real libraries, without a GPU.
  const cacheDir = process.env.TRTNODE_TOOLCHAIN_DIR ?? join(process.cwd(), '.cache/toolchain');
  const trt = { 10: join(cacheDir, 'tensorrt-10.6.0/lib/libnvinfer.so.10'), 11: join(cacheDir, 'tensorrt-11.2.1/lib/libnvinfer.so.11') };
  for (const major of [10, 11] as const) {
    const skip = existsSync(trt[major]) ? undefined : `${trt[major]} is not in the toolchain cache (node scripts/toolchain.mjs runtime --tensorrt ${major === 10 ? '10.6' : '11.2'})`;
    it.skipIf(skip !== undefined)(`TensorRT ${major === 10 ? '10.6.0' : '11.2.1'} (Maven): the guard accepts it for a TensorRT ${major} build, refuses it for the other major${skip ? ` (skipped: ${skip})` : ''}`, () => {
      const built = Number(loadNative().headerVersion.split('.')[0]);
      try {
        new Runtime({ libraryPath: trt[major] });
        expect(hasGpu).toBe(true);
      } catch (e) {
        const err = e as TensorRtError;
        if (built === major) {
          expect(err.code).toBe('ERR_CUDA_UNAVAILABLE'); // loaded and accepted: only the GPU is missing
        } else {
          expect(err.code).toBe('ERR_TRT_VERSION');
          expect(err.message).toContain(`is TensorRT ${major}, and this tensorrt-node binary was built for TensorRT ${built}`);
        }
      }
    });
  }

  it('argument validation happens before any CUDA call', () => {
    const n = loadNative();
    expect(codeOf(() => new DeviceBuffer(-5))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new DeviceBuffer(1.5))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new HostBuffer(0))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new n.Stream({ waitMode: 'nap' as 'spin' }))).toBe('ERR_INVALID_ARGUMENT');
    for (const d of [-1, 0.5, '0' as unknown as number, Number.NaN]) expect(codeOf(() => markTimingEpoch(d))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('Session.create without TensorRT rejects with a typed error', async () => {
    const e = await Session.create('fixtures/gpu/engines/tiny.plan', { libraryPath: '/nonexistent/libnvinfer.so.10' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TensorRtError);
    expect((e as TensorRtError).code).toBe('ERR_TRT_NOT_FOUND');
  });

  it('a process that loaded the addon exits promptly (no watcher keeps it alive)', () => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(join(process.cwd(), 'build/Release/tensorrt_node.node'))}); console.log('ok')`], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('ok');
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});

describe('launch-thread gather: the segmented parallel copy (host memory, no GPU needed)', () => {
  const n = () => loadNative();
  const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
  function partsOf(sizes: number[], seed: number): Uint8Array[] {
    let x = seed;
    return sizes.map((s) => Uint8Array.from({ length: s }, () => ((x = (x * 1103515245 + 12345) >>> 0), x >>> 24)));
  }
  function segmentsOf(flat: number[]): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
    return out;
  }

  it('dupFd duplicates a descriptor, and refuses a bad one with a typed error', () => {
    const fd = n().dupFd(1);
    expect(fd).toBeGreaterThan(2);
    expect(fstatSync(fd).isFIFO() || fstatSync(fd).isFile() || fstatSync(fd).isCharacterDevice() || fstatSync(fd).isSocket()).toBe(true);
    closeSync(fd);
    expect(codeOf(() => n().dupFd(-1))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => n().dupFd(1 << 20))).toBe('ERR_INVALID_ARGUMENT');
  });
});
