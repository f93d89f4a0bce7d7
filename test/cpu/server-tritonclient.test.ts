/**
 * The stock Python tritonclient (pinned in tools/setup-python.sh) against our server:
 * this file starts the server on loopback over examples/models (ONNX Runtime, CPU), computes
 * the expected outputs in-process, and runs test/python/test_tritonclient.py with pytest from
 * .venv through test/python/harness.ts. The GPU twin is test/gpu/server-tritonclient.test.ts.
 * A working .venv is used as it is; making one needs PyPI, so it is made here only where network
 * tests are allowed (TRTNODE_NETWORK_TESTS=1, as .ci/run sets), and otherwise the test is skipped
 * with that reason. If the venv cannot be made, the test fails with the reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { RunningServer } from '../../lib/server/index.js';
import { Tensor } from '../../lib/tensor.js';
import { ROOT, runTritonclientSuite, startLoopbackServer, tail, urls, testImage, venvWorks, writeRaw, type SmallModelCase } from '../python/harness.js';

const PY = path.join(ROOT, '.venv', 'bin', 'python');

/** affine (y = 2x + 1): inputs exactly representable, so the expected outputs are exact in float32 */
function affineCases(): SmallModelCase[] {
  const shapes = [[2, 4], [1, 4], [8, 4], [1, 4]];
  return shapes.map((shape, k) => {
    const input = Array.from({ length: shape[0]! * 4 }, (_, i) => (i + k) * 0.5 - 2);
    return { shape, input, out_shape: shape, expected: input.map((x) => Math.fround(2 * x + 1)) };
  });
}

const skipReason =
  process.env.TRTNODE_NETWORK_TESTS === '1' || venvWorks(PY)
    ? undefined
    : 'no working .venv with tritonclient, and making one needs PyPI: set TRTNODE_NETWORK_TESTS=1 or run bash tools/setup-python.sh';

describe.skipIf(skipReason !== undefined)(`stock tritonclient (Python) against the server${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let server: RunningServer | undefined;
  let dir: string;
  let venvError: string | undefined;

  beforeAll(async () => {
    if (!venvWorks(PY)) {
      const r = spawnSync('bash', [path.join(ROOT, 'tools', 'setup-python.sh')], { cwd: ROOT, encoding: 'utf8', timeout: 540_000 });
      if (r.status !== 0 || !venvWorks(PY)) {
        venvError = `could not create the Python venv with tritonclient (tools/setup-python.sh exit ${r.status ?? r.signal}): ${tail(r)}`;
        return;
      }
    }
    dir = mkdtempSync(path.join(tmpdir(), 'trtn-pyclient-'));
    cpSync(path.join(ROOT, 'examples', 'models'), path.join(dir, 'models'), { recursive: true });
    server = await startLoopbackServer(path.join(dir, 'models'));
  }, 600_000);

  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes test/python/test_tritonclient.py over HTTP and gRPC', async () => {
    if (venvError) throw new Error(venvError);
    const s = server!;
    // the input and the in-process reference logits
    const x = testImage(3 * 224 * 224);
    const ref = await s.repository.getModel('classifier').scheduler.infer({ input: new Tensor('float32', x, [1, 3, 224, 224]) });
    const r = await runTritonclientSuite(PY, dir, urls(s), {
      batched: {
        name: 'classifier',
        platform: 'onnxruntime_onnx',
        input: 'input',
        output: 'logits',
        dims: [3, 224, 224],
        out_dims: [10],
        max_batch_size: 32,
        preferred_batch_size: [4, 8],
        instance_count: 2,
        input_file: writeRaw(path.join(dir, 'input.f32'), x),
        expected: Array.from(ref.logits!.data as Float32Array),
        rtol: 1e-4,
        atol: 1e-5,
      },
      small: { name: 'affine', input: 'x', output: 'y', dims: [4], cases: affineCases(), rtol: 0, atol: 0 },
    });
    if (r.code !== 0) console.error(r.output);
    expect(r.output).toMatch(/\d+ passed/);
    expect(r.code).toBe(0);
  }, 180_000);
});
