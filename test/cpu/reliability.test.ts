// Issue 7's CPU parts, shortened: plan fuzzing on a machine without a GPU must fail every case
// cleanly (no crash, no hang), and a soak through the batcher on ONNX Runtime must neither
// fail nor grow. The full runs are scripts/reliability/*.mjs (results in test/results/).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const built = existsSync('dist/index.js') && existsSync('build/Release/tensorrt_node.node');

describe.skipIf(!built)(`reliability (CPU path)${built ? '' : ' [skipped: run `npm run build` first]'}`, () => {
  it('fuzzed plans: 256 cases, 0 crashes, 0 hangs, every error typed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
    const out = join(dir, 'fuzz.json');
    const r = spawnSync(process.execPath, ['scripts/reliability/fuzz-plans.mjs', '--cases', '256', '--workers', '2', '--timeout', '60', '--json', out], { encoding: 'utf8', timeout: 120_000 });
    const s = JSON.parse(readFileSync(out, 'utf8')) as { cases: number; crashes: number; hangs: number; cleanErrors: number; loadedAndRan: number; untypedErrors: number };
    rmSync(dir, { recursive: true, force: true });
    expect(r.status, r.stderr).toBe(0);
    expect(s.cases).toBe(256);
    expect(s.crashes).toBe(0);
    expect(s.hangs).toBe(0);
    expect(s.untypedErrors).toBe(0);
    expect(s.cleanErrors + s.loadedAndRan).toBe(256);
  });

  it('soak: 20,000 requests through the batcher on ONNX Runtime, no error, no growth', () => {
    const dir = mkdtempSync(join(tmpdir(), 'soak-'));
    const out = join(dir, 'soak.json');
    const r = spawnSync(process.execPath, ['--expose-gc', 'scripts/reliability/soak.mjs', '--model', 'cpu', '--requests', '20000', '--json', out], { encoding: 'utf8', timeout: 120_000 });
    const s = JSON.parse(readFileSync(out, 'utf8')) as { requests: number; errors: number; badResults: number; pass: boolean; samples: unknown[] };
    rmSync(dir, { recursive: true, force: true });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(s.requests).toBe(20000);
    expect(s.errors).toBe(0);
    expect(s.badResults).toBe(0);
    expect(s.samples.length).toBeGreaterThan(10);
    expect(s.pass).toBe(true);
  });
});

describe.skipIf(!built)('probePlan (isolated plan probe)', () => {
  it('a failure in the child comes back as the child’s typed error', async () => {
    const { probePlan } = await import('../../lib/tensorrt/probe.js');
    const e = await probePlan('fixtures/gpu/engines/tiny.plan', { libraryPath: '/nonexistent/libnvinfer.so.10', timeoutMs: 30_000 }).catch((x: unknown) => x);
    expect((e as { code?: string }).code).toBe('ERR_TRT_NOT_FOUND');
    expect((e as Error).message).toContain('/nonexistent/libnvinfer.so.10');
  });
});
