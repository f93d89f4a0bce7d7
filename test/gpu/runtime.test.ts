// Runtime loading and plans: every fixture deserializes and shows its IO (the foundation's
// proof), and bad plans get the right error codes.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../../lib/tensorrt/runtime.js';
import { cudaInfo } from '../../lib/tensorrt/cuda.js';
import { Session } from '../../lib/tensorrt/session.js';
import { Tensor } from '../../lib/tensor.js';
import { isTensorRtError } from '../../lib/errors.js';
import { GPU_READY, SKIP_REASON, manifest, plan, refCase, expectCode } from './helpers.js';

// Fixture plans too large for git (tools/gpu-host/build-fixtures.sh builds them on the GPU host)
const BUILT_ON_HOST = new Set(['resnet50_fp16', 'wide_resnet101_2_fp16']);

describe.skipIf(!GPU_READY)(`runtime and plans${SKIP_REASON}`, () => {
  it('loads the full runtime and reports its version', () => {
    const rt = new Runtime();
    expect(rt.info.flavor).toBe('full');
    expect(rt.info.version).toBe(manifest.tensorrt_version.split('.').slice(0, 3).join('.'));
    rt.dispose();
  });

  it('deserializes every fixture plan and lists its IO tensors (record kept in $TRTNODE_RESULTS_DIR)', async () => {
    const rt = new Runtime({ hostCodeAllowed: true });
    const record: Record<string, unknown> = { date: new Date().toISOString(), runtime: rt.info, cuda: cudaInfo(), engines: {} };
    const absent: string[] = [];
    for (const name of Object.keys(manifest.engines)) {
      // the large plans are not in git: built on the GPU host (session.sh) or carried (stage.sh resnet)
      if (BUILT_ON_HOST.has(name) && !existsSync(plan(name))) {
        absent.push(name);
        continue;
      }
      const engine = await rt.deserializeAsync(plan(name));
      const want = manifest.engines[name]!;
      expect(engine.io.map((t) => t.name)).toEqual(want.io.map((t) => t.name));
      expect(engine.io.map((t) => t.shape)).toEqual(want.io.map((t) => t.shape));
      expect(engine.profiles.length).toBe(want.profiles.length);
      (record.engines as Record<string, unknown>)[name] = { io: engine.io, profiles: engine.profiles, deviceMemorySize: engine.deviceMemorySize };
      console.log(`${name}: ${engine.io.map((t) => `${t.mode} ${t.name} ${t.dtype}[${t.shape.join(',')}]`).join('; ')}; profiles ${engine.profiles.length}; activation memory ${engine.deviceMemorySize} B`);
      engine.dispose();
    }
    if (absent.length) console.log(`not on this host (large plans, not in git): ${absent.join(', ')}`);
    (record as { absent?: string[] }).absent = absent;
    const dir = process.env.TRTNODE_RESULTS_DIR;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'deserialize-proof.json'), JSON.stringify(record, null, 1));
    }
    rt.dispose();
  });

  // The lean runtime is staged separately (stage.sh lean, carried with .stage/lean): a run
  // without it says so in the test's name instead of failing on a missing file.
  const leanDir = process.env.TRTNODE_LEAN_DIR;
  const leanMissing = !leanDir ? 'TRTNODE_LEAN_DIR is not set' : !existsSync(join(leanDir, 'tensorrt_lean_libs', 'libnvinfer_lean.so.10')) ? `no lean runtime in ${leanDir} (stage.sh lean)` : undefined;
  it.skipIf(leanMissing !== undefined)(`the lean and dispatch runtimes of TensorRT 10.15 load and report their versions${leanMissing ? ` [skipped: ${leanMissing}]` : ''}`, () => {
    const lean = new Runtime({ flavor: 'lean', libraryPath: join(leanDir!, 'tensorrt_lean_libs', 'libnvinfer_lean.so.10') });
    expect(lean.info.flavor).toBe('lean');
    expect(lean.info.version).toBe('10.15.1');
    const dispatch = new Runtime({ flavor: 'dispatch', libraryPath: join(leanDir!, 'tensorrt_dispatch_libs', 'libnvinfer_dispatch.so.10') });
    expect(dispatch.info.flavor).toBe('dispatch');
    // A plan built by TensorRT 10.6 is refused by the 10.15 lean runtime, with a typed error.
    expectCode(() => lean.deserialize(plan('tiny')), 'ERR_TRT_VERSION');
    lean.dispose();
    dispatch.dispose();
  });

  it('rejects truncated plans, random bytes and a spliced plan with a typed error, and keeps working', () => {
    const rt = new Runtime();
    const bytes = readFileSync(plan('classifier_fp32'));
    expectCode(() => rt.deserialize(bytes.subarray(0, 10)), 'ERR_PLAN_INVALID');
    for (const frac of [0.1, 0.5, 0.9]) {
      try {
        rt.deserialize(bytes.subarray(0, Math.floor(bytes.length * frac))).dispose();
        expect.fail(`a plan truncated to ${frac} deserialized`);
      } catch (e) {
        expect(isTensorRtError(e)).toBe(true);
      }
    }
    let seed = 7;
    const random = Buffer.alloc(200_000).map(() => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) & 0xff);
    expect(() => rt.deserialize(random)).toThrow();
    expectCode(() => rt.deserialize('/nonexistent/model.plan'), 'ERR_INVALID_ARGUMENT');
    // still usable
    const e = rt.deserialize(bytes);
    expect(e.io.length).toBe(2);
    e.dispose();
    rt.dispose();
  });

  // Not tested: plans that embed host code (hostCodeAllowed / ERR_PLAN_HOST_CODE) and running
  // them on a newer dispatch runtime. Building one needs the lean runtime of the builder's own
  // version (10.6), which no reachable registry has (docs/toolchain.md).

  it('out of device memory is ERR_OUT_OF_MEMORY and nothing else breaks', async () => {
    const { DeviceBuffer } = await import('../../lib/tensorrt/cuda.js');
    expectCode(() => new DeviceBuffer(2 ** 50), 'ERR_OUT_OF_MEMORY');
    const b = new DeviceBuffer(1 << 20);
    expect(b.byteLength).toBe(1 << 20);
    b.dispose();
    expect(b.disposed).toBe(true);
    expect(new Tensor('float32', new Float32Array(4), [4]).size).toBe(4);
  });
});
