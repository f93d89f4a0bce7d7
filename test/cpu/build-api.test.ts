// The build() API on a machine without TensorRT or a GPU: options are validated first, then files,
// then the libraries, each failure a TensorRtError with its code. The native loader of the builder
// is exercised with small stand-in libraries compiled here: a libnvinfer without a builder (a lean
// runtime), one without a parser beside it, a parser of another TensorRT major, and a complete pair
// (which then needs a GPU).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, builderInfo, validateBuildOptions, writeFileAtomic, type BuildOptions } from '../../lib/tensorrt/build.js';
import { loadNative, nativeBinaryPath } from '../../lib/native/binding.js';
import { cudaInfo } from '../../lib/tensorrt/cuda.js';
import { TensorRtError } from '../../lib/errors.js';
import { readdirSync, readFileSync } from 'node:fs';
import { NATIVE_READY, NATIVE_SKIP_REASON } from './needs-native.js';

const ONNX = path.resolve(__dirname, '../../fixtures/gpu/onnx/classifier.onnx');
const NO_TRT = '/nonexistent/trt/libnvinfer.so.10';

async function rejection(p: Promise<unknown>): Promise<TensorRtError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TensorRtError);
    return e as TensorRtError;
  }
  throw new Error('resolved');
}

function thrown(f: () => unknown): TensorRtError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TensorRtError);
    return e as TensorRtError;
  }
  throw new Error('did not throw');
}

const hasGpu = (() => {
  try {
    return cudaInfo().devices.length > 0;
  } catch {
    return false;
  }
})();

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'trtn-build-api-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('build(): options are checked before anything is loaded', () => {
  const cases: Array<[string, Partial<BuildOptions> & Record<string, unknown>, RegExp]> = [
    ['no model', { onnx: undefined }, /onnx must be a file path or the model bytes/],
    ['empty bytes', { onnx: new Uint8Array(0) }, /onnx is empty/],
    ['a profile that is not an object', { profiles: [5 as unknown as Record<string, never>] }, /profile 0 must be an object/],
    ['a profile without inputs', { profiles: [{}] }, /profile 0 names no input/],
    ['an input without a name', { profiles: [{ '': { min: [1], opt: [1], max: [1] } }] }, /profile 0 has an input without a name/],
    ['min > opt', { profiles: [{ x: { min: [4, 2], opt: [2, 2], max: [8, 2] } }] }, /dimension 0 needs min <= opt <= max, got 4 \/ 2 \/ 8/],
    ['opt > max', { profiles: [{ x: { min: [1], opt: [9], max: [8] } }] }, /got 1 \/ 9 \/ 8/],
    ['ranks differ', { profiles: [{ x: { min: [1], opt: [1, 2], max: [1, 2] } }] }, /different ranks/],
    ['negative dimension', { profiles: [{ x: { min: [-1], opt: [1], max: [1] } }] }, /min\[0\] must be an integer within 0\.\./],
    ['fractional dimension', { profiles: [{ x: { min: [1.5], opt: [2], max: [2] } }] }, /must be an integer/],
    ['batch profile out of order', { batchProfile: { min: 4, opt: 2, max: 8 } }, /batchProfile needs min <= opt <= max/],
    ['batch profile with profiles', { batchProfile: { min: 1, opt: 2, max: 8 }, profiles: [{ x: { min: [1], opt: [1], max: [1] } }] }, /exclude each other/],
    ['calibration without int8', { calibrationCache: new Uint8Array(4) }, /needs int8/],
    ['lean runtime flag without version compatibility', { excludeLeanRuntime: true }, /needs versionCompatible/],
    ['strongly typed with fp16', { stronglyTyped: true, fp16: true }, /strongly typed/],
    ['optimization level 6', { builderOptimizationLevel: 6 }, /0\.\.5/],
    ['an unknown pool', { memoryPools: { heap: 1 } as never }, /unknown memory pool 'heap'/],
    ['a negative pool', { memoryPools: { workspace: -1 } }, /workspace must be a number of bytes/],
    ['hardware level', { hardwareCompatibilityLevel: 'hopper+' as never }, /'none' or 'ampere\+'/],
    ['verbosity', { profilingVerbosity: 'loud' as never }, /layer_names_only/],
    ['device', { device: -1 }, /device must be an integer/],
    ['a boolean that is not one', { fp16: 'yes' as never }, /fp16 must be a boolean/],
    ['a signal that is not one', { signal: {} as never }, /AbortSignal/],
    ['log severity', { logSeverity: 'chatty' as never }, /logSeverity must be one of/],
  ];
  for (const [what, extra, re] of cases) {
    it(what, async () => {
      const options = { onnx: ONNX, libraryPath: NO_TRT, ...extra } as BuildOptions;
      expect(thrown(() => validateBuildOptions(options)).message).toMatch(re);
      const e = await rejection(build(options));
      expect(e.code).toBe('ERR_INVALID_ARGUMENT');
      expect(e.message).toMatch(re);
    });
  }

  it('a missing ONNX file, a directory, a missing calibration cache: ERR_INVALID_ARGUMENT naming the path', async () => {
    expect((await rejection(build({ onnx: path.join(tmp, 'nope.onnx'), libraryPath: NO_TRT }))).message).toMatch(/no such ONNX model: '.*nope\.onnx'/);
    expect((await rejection(build({ onnx: tmp, libraryPath: NO_TRT }))).message).toMatch(/is not a file/);
    const e = await rejection(build({ onnx: ONNX, int8: true, calibrationCache: path.join(tmp, 'calib.cache'), libraryPath: NO_TRT }));
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).toMatch(/cannot read the calibration cache '.*calib\.cache': no such file/);
  });

  it('an aborted signal rejects with ERR_ABORTED before TensorRT is looked for', async () => {
    const c = new AbortController();
    c.abort(new Error('user gave up'));
    const e = await rejection(build({ onnx: ONNX, libraryPath: NO_TRT, signal: c.signal }));
    expect(e.code).toBe('ERR_ABORTED');
    expect((e.cause as Error).message).toBe('user gave up');
  });

  it.skipIf(!NATIVE_READY)(`without TensorRT: ERR_TRT_NOT_FOUND from build() and builderInfo(), naming where it looked${NATIVE_SKIP_REASON}`, async () => {
    const e = await rejection(build({ onnx: ONNX, fp16: true, libraryPath: NO_TRT }));
    expect(e.code).toBe('ERR_TRT_NOT_FOUND');
    expect(e.message).toContain(NO_TRT);
    expect(thrown(() => builderInfo({ libraryPath: NO_TRT })).code).toBe('ERR_TRT_NOT_FOUND');
    expect((await rejection(build({ onnx: new Uint8Array([8, 1, 2]), libraryPath: NO_TRT }))).code).toBe('ERR_TRT_NOT_FOUND');
  });

  it.skipIf(!NATIVE_READY)(`without TensorRT anywhere (default search): ERR_TRT_NOT_FOUND listing TENSORRT_LIB_DIR${NATIVE_SKIP_REASON}`, () => {
    const env = { ...process.env, TENSORRT_LIB_DIR: '/nonexistent/trt', LD_LIBRARY_PATH: '' };
    const addon = nativeBinaryPath();
    const out = spawnSync(process.execPath, ['-e', `
      const b = require(${JSON.stringify(addon)});
      const r = {};
      try { b.builderInfo({}); r.info = 'ok'; } catch (e) { r.info = e.code; r.message = e.message; }
      try { b.startBuild({ onnx: ${JSON.stringify(ONNX)} }, () => {}); r.start = 'ok'; } catch (e) { r.start = e.code; }
      console.log(JSON.stringify(r));`], { env, encoding: 'utf8' });
    const r = JSON.parse(out.stdout.trim()) as { info: string; start: string; message?: string };
    if (r.info === 'ERR_TRT_NOT_FOUND') {
      expect(r.start).toBe('ERR_TRT_NOT_FOUND');
      expect(r.message).toContain('/nonexistent/trt/libnvinfer.so.10');
    } else {
      // TensorRT installed system-wide: found, then the GPU (or the parser) is what is missing
      expect(['ERR_CUDA_UNAVAILABLE', 'ok', 'ERR_TRT_NOT_FOUND']).toContain(r.info);
    }
  });

  it.skipIf(!NATIVE_READY)(`the native entry points check their arguments before loading anything${NATIVE_SKIP_REASON}`, () => {
    const n = loadNative();
    const code = (f: () => unknown) => thrown(f).code;
    expect(code(() => n.startBuild(undefined as never, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.startBuild({ onnx: 5 as never }, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.startBuild({ onnx: '' }, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.startBuild({ onnx: ONNX, device: -1 }, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.startBuild({ onnx: ONNX, profiles: [[{ name: 'x', min: [1.5], opt: [2], max: [2] }]] }, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.startBuild({ onnx: ONNX, profiles: [[{ name: '', min: [1], opt: [2], max: [2] }]] }, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.startBuild({ onnx: ONNX, profiles: [[{ name: 'x', min: new Array(65).fill(1), opt: [2], max: [2] }]] }, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.startBuild({ onnx: ONNX, batchProfile: { min: 3, opt: 2, max: 4 } }, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.startBuild({ onnx: ONNX, builderOptimizationLevel: 9 }, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.startBuild({ onnx: ONNX, workspaceBytes: -5 }, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.startBuild({ onnx: ONNX, fp16: 1 as never }, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.startBuild({ onnx: ONNX, calibrationCache: new Uint8Array(0) }, () => {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => n.builderInfo({ device: 1.5 }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe.skipIf(!NATIVE_READY)(`the builder loader with stand-in TensorRT libraries${NATIVE_SKIP_REASON}`, () => {
  const cc = ['cc', 'gcc'].find((c) => spawnSync(c, ['--version']).status === 0);
  const headerVersion = (): number => {
    const [a, b, c] = loadNative().headerVersion.split('.').map(Number) as [number, number, number];
    return a * 10000 + b * 100 + c;
  };

  /** A folder with a libnvinfer.so.10 (builder or not) and maybe a libnvonnxparser.so.10 of `parserVersion`. */
  function fakeTensorRt(name: string, o: { builder: boolean; parserVersion?: number }): string {
    const dir = path.join(tmp, name);
    mkdirSync(dir, { recursive: true });
    const src = path.join(dir, 'nvinfer.c');
    writeFileSync(
      src,
      `int getInferLibVersion(void) { return ${headerVersion()}; }\n` +
        'void* createInferRuntime_INTERNAL(void* logger, int version) { return 0; }\n' +
        (o.builder ? 'void* createInferBuilder_INTERNAL(void* logger, int version) { return 0; }\n' : ''),
    );
    execFileSync(cc!, ['-shared', '-fPIC', '-o', path.join(dir, 'libnvinfer.so.10'), src]);
    if (o.parserVersion !== undefined) {
      const psrc = path.join(dir, 'parser.c');
      writeFileSync(psrc, `int getNvOnnxParserVersion(void) { return ${o.parserVersion}; }\nvoid* createNvOnnxParser_INTERNAL(void* n, void* l, int v) { return 0; }\n`);
      execFileSync(cc!, ['-shared', '-fPIC', '-o', path.join(dir, 'libnvonnxparser.so.10'), psrc]);
    }
    return path.join(dir, 'libnvinfer.so.10');
  }

  it.skipIf(!cc)(`a runtime without a builder (lean, dispatch): ERR_TRT_NOT_FOUND saying the full library is needed${cc ? '' : ' [skipped: no C compiler]'}`, async () => {
    const lib = fakeTensorRt('nobuilder', { builder: false, parserVersion: headerVersion() });
    const e = thrown(() => builderInfo({ libraryPath: lib }));
    expect(e.code).toBe('ERR_TRT_NOT_FOUND');
    expect(e.message).toMatch(/has no builder \(createInferBuilder_INTERNAL\).*full TensorRT library/);
    expect((await rejection(build({ onnx: ONNX, libraryPath: lib }))).code).toBe('ERR_TRT_NOT_FOUND');
  });

  it.skipIf(!cc)('no ONNX parser beside libnvinfer: ERR_TRT_NOT_FOUND naming libnvonnxparser and the folder', () => {
    const lib = fakeTensorRt('noparser', { builder: true });
    const e = thrown(() => builderInfo({ libraryPath: lib }));
    expect(e.code).toBe('ERR_TRT_NOT_FOUND');
    expect(e.message).toContain(`${path.dirname(lib)}/libnvonnxparser.so.10`);
    expect(e.message).toMatch(/ONNX parser \(libnvonnxparser\.so\.10\) was not found/);
  });

  it.skipIf(!cc)('a parser of another TensorRT major: ERR_TRT_VERSION', () => {
    const lib = fakeTensorRt('oldparser', { builder: true, parserVersion: 80601 });
    const e = thrown(() => builderInfo({ libraryPath: lib }));
    expect(e.code).toBe('ERR_TRT_VERSION');
    expect(e.message).toMatch(/parser .* is version 8\.6\.1/);
  });

  it.skipIf(!cc)(`the builder resources of this version beside libnvinfer are loaded, so that TensorRT's dlopen by bare name finds them without LD_LIBRARY_PATH; others are not, a truncated one is skipped${cc ? '' : ' [skipped: no C compiler]'}`, () => {
    const lib = fakeTensorRt('resources', { builder: true, parserVersion: headerVersion() });
    const dir = path.dirname(lib);
    const v = loadNative().headerVersion;
    const marker = (tag: string): string => path.join(dir, `loaded-${tag}`);
    // A stand-in resource whose constructor leaves a marker file: proof that it was mapped.
    const resource = (file: string, tag: string): void => {
      const src = path.join(dir, `${tag}.c`);
      writeFileSync(src, `#include <stdio.h>\n__attribute__((constructor)) static void mark(void) { FILE* f = fopen(${JSON.stringify(marker(tag))}, "w"); if (f) fclose(f); }\n`);
      execFileSync(cc!, ['-shared', '-fPIC', `-Wl,-soname,${file}`, '-o', path.join(dir, file), src]);
    };
    const mine = `libnvinfer_builder_resource.so.${v}`;
    resource(mine, 'mine');
    resource('libnvinfer_builder_resource.so.9.9.9', 'other');
    // an ELF header and nothing else: dlopen would map past the file's end
    writeFileSync(path.join(dir, `libnvinfer_builder_resource_sm90.so.${v}`), readFileSync(lib).subarray(0, 64));
    const bare = (): string => {
      try {
        process.dlopen({ exports: {} }, mine);
        return 'loaded';
      } catch (e) {
        return (e as Error).message;
      }
    };
    // Not on the loader's search path: a bare name does not find it before.
    expect(bare()).toMatch(/cannot open shared object file/);
    let info: { builderResources?: string[] } | undefined;
    try {
      info = builderInfo({ libraryPath: lib }) as never;
    } catch (e) {
      expect((e as TensorRtError).code).toBe('ERR_CUDA_UNAVAILABLE'); // the libraries load before the GPU is asked for
    }
    expect(existsSync(marker('mine'))).toBe(true);
    expect(existsSync(marker('other'))).toBe(false);
    if (info) expect(info.builderResources).toEqual([path.join(dir, mine)]);
    // The same bare name now finds the loaded library (Node then says it is no Node module).
    expect(bare()).not.toMatch(/cannot open shared object file/);
  });

  it.skipIf(!cc || hasGpu)('builder and parser found, no GPU: ERR_CUDA_UNAVAILABLE from builderInfo(), startBuild and build()', async () => {
    const lib = fakeTensorRt('complete', { builder: true, parserVersion: headerVersion() });
    expect(thrown(() => builderInfo({ libraryPath: lib })).code).toBe('ERR_CUDA_UNAVAILABLE');
    let events = 0;
    expect(thrown(() => loadNative().startBuild({ onnx: ONNX, libraryPath: lib }, () => events++)).code).toBe('ERR_CUDA_UNAVAILABLE');
    expect((await rejection(build({ onnx: ONNX, libraryPath: lib }))).code).toBe('ERR_CUDA_UNAVAILABLE');
    expect(events).toBe(0);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file whole and leaves no temporary file, also when the write fails', async () => {
    const dir = path.join(tmp, 'atomic');
    mkdirSync(dir);
    const f = path.join(dir, 'model.plan');
    await writeFileAtomic(f, Buffer.from('first'));
    await writeFileAtomic(f, Buffer.from('second, longer'));
    expect(readFileSync(f, 'utf8')).toBe('second, longer');
    expect(readdirSync(dir)).toEqual(['model.plan']);
    // the target is a directory: the rename fails, the old content and the folder stay clean
    mkdirSync(path.join(dir, 'sub.plan'));
    await expect(writeFileAtomic(path.join(dir, 'sub.plan'), Buffer.from('x'))).rejects.toThrow();
    expect(readdirSync(dir).sort()).toEqual(['model.plan', 'sub.plan']);
  });
});
