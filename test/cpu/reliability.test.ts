// Issue 7's CPU parts, shortened: plan fuzzing on a machine without a GPU must fail every case
// cleanly (no crash, no hang), and a soak through the batcher on ONNX Runtime must neither
// fail nor grow. The full runs are tools/reliability/*.mjs (results in docs/benchmarks/reliability.md).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const built = existsSync('dist/index.js') && existsSync('build/Release/tensorrt_node.node');

describe.skipIf(!built)(`reliability (CPU path)${built ? '' : ' [skipped: run `npm run build` first]'}`, () => {
  it('fuzzed plans: 256 cases, 0 crashes, 0 hangs, every error typed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fuzz-'));
    const out = join(dir, 'fuzz.json');
    const r = spawnSync(process.execPath, ['tools/reliability/fuzz-plans.mjs', '--cases', '256', '--workers', '2', '--timeout', '60', '--json', out], { encoding: 'utf8', timeout: 120_000 });
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
    const r = spawnSync(process.execPath, ['--expose-gc', 'tools/reliability/soak.mjs', '--model', 'cpu', '--requests', '20000', '--json', out], { encoding: 'utf8', timeout: 120_000 });
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

// The crash and hang ids of the recorded H100 run (test/fixtures/reliability/2026-11-25-h100-fuzz-2048.json)
// name these bytes (first 16 hex digits of the sha256 of the mutated plan), over the six fixture
// plans in that run's order. Computed with mutations.mjs as it was for that run (unchanged since
// d09b042) and the committed plans (their manifest sha256s); 1084 mutates the ResNet-50 plan,
// which is not in git. If this fails, `--ids known` no longer reproduces the recorded cases.
const KNOWN_HASHES: Record<number, string> = {
  417: '4105b7ec628af222', 425: '7835e9138a2b2e4a', 452: '5e56c4b0e71717dc', 499: 'cbed37987dabc3b9',
  525: '1565992cf92f11ff', 619: '62e6cf101d19aede', 669: '737e3052ee3980d1', 707: '78d1309c4a2097c3',
  1101: '466b400492ed02ab', 1161: '6b59f9bd6fa8f0e5', 1412: '97bbd2561811f620', 1531: 'a42faff5e6cde2be',
  1740: 'dc6fcc2414bf3565',
};
const RECORDED_PLANS = ['classifier_fp16', 'classifier_fp32', 'dtypes', 'resnet50_fp16', 'seq_mlp_2prof', 'tiny'];

describe('fuzz case ids regenerate the same bytes (fuzz-plans.mjs --ids)', () => {
  type Row = { id: number; kind: string; plan: number; bytes: number; sha256: string };
  const hashes = (extra: string[]): { status: number | null; rows: Row[]; stderr: string } => {
    const r = spawnSync(process.execPath, ['tools/reliability/fuzz-plans.mjs', ...extra, '--print-hashes'], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stderr: r.stderr, rows: r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row) };
  };
  // ids covering every kind over the five committed plans (64 truncations each, then 8-case rounds)
  const ids = [1, 63, 70, 130, 320, 321, 322, 324, 326, 327, 400, 401, 404, 406, 407, 417, 1531, 2047];

  it('two processes, ids in opposite orders: byte-identical cases (sha256), every kind covered, different ids differ', () => {
    const a = hashes(['--ids', ids.join(',')]);
    const b = hashes(['--ids', [...ids].reverse().join(',')]);
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    expect(a.rows.map((r) => r.id)).toEqual(ids);
    const byId = new Map(b.rows.map((r) => [r.id, r]));
    for (const r of a.rows) expect(byId.get(r.id), `id ${r.id}`).toEqual(r);
    expect(new Set(a.rows.map((r) => r.kind))).toEqual(new Set(['truncate', 'flip-header', 'flip-body', 'zero', 'splice', 'random']));
    expect(new Set(a.rows.map((r) => r.sha256)).size).toBe(ids.length);
  });

  it('the recorded crash/hang ids still name the recorded cases (pinned hashes over the recorded plan order)', async () => {
    const m = (await import(pathToFileURL(resolve('tools/reliability/mutations.mjs')).href)) as {
      mutate: (plans: (Buffer | null)[], id: number) => Buffer;
      describe: (id: number, n: number) => { plan: number; kind: string };
    };
    const rec = JSON.parse(readFileSync('test/fixtures/reliability/2026-11-25-h100-fuzz-2048.json', 'utf8')) as { plans: string[]; failures: { id: number }[] };
    expect(rec.plans).toEqual(RECORDED_PLANS.map((p) => `${p}.plan`));
    expect(rec.failures.map((f) => f.id).sort((x, y) => x - y)).toEqual([...Object.keys(KNOWN_HASHES).map(Number), 1084].sort((x, y) => x - y));
    const plans = RECORDED_PLANS.map((p) => (existsSync(`fixtures/gpu/engines/${p}.plan`) ? readFileSync(`fixtures/gpu/engines/${p}.plan`) : null));
    for (const [id, want] of Object.entries(KNOWN_HASHES)) {
      const d = m.describe(Number(id), plans.length);
      expect(plans[d.plan], `id ${id} needs ${RECORDED_PLANS[d.plan]}`).not.toBeNull();
      const got = createHash('sha256').update(m.mutate(plans, Number(id))).digest('hex').slice(0, 16);
      expect(got, `id ${id} (${d.kind} of ${RECORDED_PLANS[d.plan]})`).toBe(want);
    }
  });

  it('--random N adds N distinct other ids, the same ones for the same seed; --ids known refuses another plan list', () => {
    const a = hashes(['--ids', '417,425', '--random', '50', '--cases', '2048']);
    const b = hashes(['--ids', '417,425', '--random', '50', '--cases', '2048']);
    const c = hashes(['--ids', '417,425', '--random', '50', '--cases', '2048', '--seed', '7']);
    expect(a.status, a.stderr).toBe(0);
    expect(a.rows.map((r) => r.id)).toEqual(b.rows.map((r) => r.id));
    expect(a.rows.length).toBe(52);
    expect(new Set(a.rows.map((r) => r.id)).size).toBe(52);
    expect(a.rows.slice(2).every((r) => r.id >= 0 && r.id < 2048 && r.id !== 417 && r.id !== 425)).toBe(true);
    expect(c.rows.map((r) => r.id)).not.toEqual(a.rows.map((r) => r.id));
    // without the ResNet-50 plan (not in git) the recorded ids would be other cases: refused
    const k = hashes(['--ids', 'known']);
    if (existsSync('fixtures/gpu/engines/resnet50_fp16.plan')) {
      expect(k.status, k.stderr).toBe(0);
      expect(k.rows.length).toBe(14);
    } else {
      expect(k.status).toBe(2);
      expect(k.stderr).toContain('needs the plans of the recorded run');
    }
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
