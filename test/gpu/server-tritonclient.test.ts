/**
 * The stock Python tritonclient against the server over TensorRT plans: the GPU twin of
 * test/cpu/server-tritonclient.test.ts, running the same test/python/test_tritonclient.py.
 *
 * The repository (tools/gpu-host/model-repository.mjs, configs in test/gpu/model-repository):
 *   resnet50    tensorrt_plan, resnet50_fp16.plan, max_batch_size 32, dynamic_batching, 2 instances
 *   classifier  tensorrt_plan, classifier_fp32.plan (3x32x32 → 10), 1 instance
 * Expected outputs come from Session.run on the same plans in this process (batch as sent).
 * Tolerances, element-wise |got − want| ≤ atol + rtol·|want|:
 *   resnet50 (FP16 engine; the server may run the image inside a batch of up to 32):
 *     rtol 1e-2, atol 1e-2·max|want|
 *   classifier (FP32 engine): rtol 1e-3, atol 1e-3·max|want|
 * The Python venv comes from staged wheels, offline (tools/gpu-host/tritonclient-venv.sh):
 * $TRTNODE_TRITONCLIENT_VENV (default /tmp/trtn-tritonclient-venv) if it already works, else built
 * from $TRTNODE_TRITONCLIENT_WHEELS, .stage/tritonclient or /tmp/tritonclient. Without GPU, without
 * the ResNet-50 plan or without wheels, the suite is skipped with the reason in its name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { RunningServer } from '../../lib/server/index.js';
import { Session } from '../../lib/tensorrt/session.js';
import { ROOT, runTritonclientSuite, startLoopbackServer, tail, urls, venvWorks, writeRaw, type SmallModelCase } from '../python/harness.js';
import { FIXTURES, GPU_READY, SKIP_REASON, plan, refCase, relError, rows } from './helpers.js';

const VENV = process.env.TRTNODE_TRITONCLIENT_VENV ?? '/tmp/trtn-tritonclient-venv';
const PY = path.join(VENV, 'bin', 'python');
const WHEELS = [process.env.TRTNODE_TRITONCLIENT_WHEELS, path.join(ROOT, '.stage', 'tritonclient'), '/tmp/tritonclient'].find(
  (d): d is string => !!d && existsSync(d) && readdirSync(d).some((f) => f.startsWith('tritonclient-') && f.endsWith('.whl')),
);
const HAVE_RESNET = existsSync(plan('resnet50_fp16'));

function skipReason(): string {
  if (!GPU_READY) return SKIP_REASON;
  if (!HAVE_RESNET) return ` [skipped: no ${plan('resnet50_fp16')} (stage.sh resnet, then run.sh joins the parts)]`;
  if (!WHEELS && !venvWorks(PY)) return ` [skipped: no tritonclient wheels (bash tools/gpu-host/stage.sh tritonclient, carry .stage/tritonclient) and no working venv at ${VENV}]`;
  return '';
}
const SKIP = skipReason();
if (SKIP && GPU_READY) console.warn(`GPU tritonclient suite${SKIP}`);

let server: RunningServer | undefined;
let dir: string;

/** at most k·max|want| apart in absolute terms: the atol of a tolerance relative to the output's scale */
function scaledAtol(want: ArrayLike<number>, k: number): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(want[i]!));
  return k * m;
}

describe.skipIf(SKIP !== '')(`stock tritonclient (Python) against the server on TensorRT${SKIP}`, () => {
  beforeAll(async () => {
    if (!venvWorks(PY)) {
      const r = spawnSync('bash', [path.join(ROOT, 'tools', 'gpu-host', 'tritonclient-venv.sh'), WHEELS!, VENV], { encoding: 'utf8', timeout: 240_000 });
      if (r.status !== 0 || !venvWorks(PY)) throw new Error(`tritonclient-venv.sh ${WHEELS} ${VENV} failed (exit ${r.status ?? r.signal}): ${tail(r)}`);
    }
    dir = mkdtempSync(path.join(tmpdir(), 'trtn-pyclient-gpu-'));
    execFileSync(process.execPath, [path.join(ROOT, 'tools', 'gpu-host', 'model-repository.mjs'), path.join(dir, 'models'), FIXTURES], { stdio: 'pipe' });
    server = await startLoopbackServer(path.join(dir, 'models'), { info() {}, warn: (m) => console.warn(m), error: (m) => console.error(m) });
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes test/python/test_tritonclient.py over HTTP and gRPC (resnet50 FP16 + classifier FP32 plans)', async () => {
    const s = server!;
    // ResNet-50: the first image of the fixture's reference batch, expected from Session.run at batch 1
    const fixture = refCase('resnet50_fp16', 'b2');
    const image = rows(fixture.inputs.input!, 0, 1);
    const resnet = await Session.create(plan('resnet50_fp16'));
    let expected: Float32Array;
    try {
      expected = (await resnet.run({ input: image })).logits!.data as Float32Array;
    } finally {
      await resnet.dispose();
    }
    expect(expected.length).toBe(1000);
    // the in-process reference itself agrees with ONNX Runtime FP32 (the manifest's reference), so the comparison is not on garbage
    expect(relError(expected, rows(fixture.outputs.logits!, 0, 1).data as Float32Array)).toBeLessThan(5e-2);

    // classifier: four cases of 1..3 images from the fixture's reference batch, expected from Session.run
    const batch = refCase('classifier', 'b7').inputs.input!;
    const classifier = await Session.create(plan('classifier_fp32'));
    const cases: SmallModelCase[] = [];
    let atol = 0;
    try {
      for (const [from, to] of [[0, 1], [1, 3], [3, 4], [4, 7]] as const) {
        const x = rows(batch, from, to);
        const y = (await classifier.run({ input: x })).logits!;
        atol = Math.max(atol, scaledAtol(y.data as Float32Array, 1e-3));
        cases.push({ shape: [...x.dims], input: Array.from(x.data as Float32Array), out_shape: [...y.dims], expected: Array.from(y.data as Float32Array) });
      }
    } finally {
      await classifier.dispose();
    }

    const r = await runTritonclientSuite(PY, dir, urls(s), {
      batched: {
        name: 'resnet50',
        platform: 'tensorrt_plan',
        input: 'input',
        output: 'logits',
        dims: [3, 224, 224],
        out_dims: [1000],
        max_batch_size: 32,
        preferred_batch_size: [16, 32],
        instance_count: 2,
        input_file: writeRaw(path.join(dir, 'resnet-input.f32'), image.data as Float32Array),
        expected: Array.from(expected),
        rtol: 1e-2,
        atol: scaledAtol(expected, 1e-2),
      },
      small: { name: 'classifier', input: 'input', output: 'logits', dims: [3, 32, 32], cases, rtol: 1e-3, atol },
    });
    console.log(r.output.trim().split('\n').slice(-3).join('\n'));
    if (r.code !== 0) console.error(r.output);
    expect(r.output).toMatch(/\d+ passed/);
    expect(r.code).toBe(0);
    // the requests really went through the TensorRT models and the batcher
    const stats = s.repository.getModel('resnet50').scheduler.statistics();
    expect(stats.inferenceCount).toBeGreaterThanOrEqual(35);
    expect(stats.executionCount).toBeLessThanOrEqual(stats.inferenceCount);
  }, 300_000);
});
