// The API misuse fuzzer (issue 20, item 6) as part of `npm test`: 100,000 calls of hostile
// misuse on every class and function the addon exports, in worker processes, against the normal
// build; no crash, no hang, every error a TensorRtError with a code, every known-good call
// between them right. The fuzzer itself is checked first: against a stand-in addon that crashes,
// hangs and throws untyped errors on some calls, it must say so and fail.
// The same run under ASan + UBSan is tools/reliability/asan.sh (.ci/run runs it); the GPU part
// is tools/reliability/misuse-fuzz-gpu.sh.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const addon = join(process.cwd(), 'build/Release/tensorrt_node.node');
const built = existsSync(addon);
// A fixed seed: the same calls on every run (another: TRTNODE_FUZZ_SEED=n). The summary names
// the batch and step of any failure and the command that replays it.
const seed = process.env.TRTNODE_FUZZ_SEED ?? '20261206';

interface Summary {
  calls: number;
  checks: number;
  threw: number;
  typed: Record<string, number>;
  untyped: number;
  crashes: { batch: number; step: number; op: string; call: string; exit: string | number; repro: string }[];
  hangs: { batch: number; step: number; call: string }[];
  failures: { kind: string; op: string; desc: string; error: string }[];
  promises: { lost: number };
  surface: { classes: Record<string, string[]>; functions: string[] };
  mismatches: string[];
  pass: boolean;
}

function fuzz(args: string[], timeoutMs: number): { status: number | null; out: string; summary: Summary } {
  const dir = mkdtempSync(join(tmpdir(), 'misuse-fuzz-'));
  const json = join(dir, 'summary.json');
  try {
    const r = spawnSync(process.execPath, ['tools/reliability/misuse-fuzz.mjs', ...args, '--json', json], { encoding: 'utf8', timeout: timeoutMs });
    return { status: r.status, out: `${r.stdout}${r.stderr}`, summary: JSON.parse(readFileSync(json, 'utf8')) as Summary };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('misuse fuzzer: it notices what it is for', () => {
  it('crashes, hangs and untyped errors of a stand-in addon are counted, named and fail the run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'misuse-standin-'));
    const standIn = join(dir, 'stand-in.cjs');
    // an "addon" whose functions crash on 7, hang on 8 and throw a plain TypeError for a string
    writeFileSync(
      standIn,
      `let factory = (code, message) => Object.assign(new Error(message), { code });
       const refuse = () => { throw factory('ERR_INVALID_ARGUMENT', 'refused'); };
       module.exports = {
         setErrorFactory(f) { if (typeof f === 'function') factory = f; },
         crashes(x) { if (x === 7) process.kill(process.pid, 'SIGSEGV'); refuse(); },
         hangs(x) { if (x === 8) for (;;); refuse(); },
         untyped(x) { if (typeof x === 'string') throw new TypeError('not typed'); refuse(); },
       };`,
    );
    try {
      const { status, out, summary } = fuzz(['--addon', standIn, '--calls', '12000', '--batch', '1000', '--seed', '1', '--timeout', '4'], 120_000);
      expect(status, out).toBe(1);
      expect(summary.pass).toBe(false);
      expect(summary.crashes.length).toBeGreaterThan(0);
      expect(summary.crashes[0]?.exit).toBe('SIGSEGV');
      expect(summary.crashes[0]?.call).toMatch(/^crashes\(/);
      expect(summary.crashes[0]?.repro).toContain('--only-batch');
      expect(summary.hangs.length).toBeGreaterThan(0);
      expect(summary.hangs[0]?.call).toMatch(/^hangs\(/);
      expect(summary.untyped).toBeGreaterThan(0);
      expect(summary.failures.some((f) => f.kind === 'untyped' && /not typed/.test(f.error))).toBe(true);
      expect(out).toMatch(/CRASH batch \d+ \(exit SIGSEGV\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('misuse fuzzer: a deadline ends a run early without calling it a pass', () => {
  // a stand-in whose every call is slow (2 ms) and refused with a typed error: a clean addon
  const standIn = (body: string): { dir: string; file: string } => {
    const dir = mkdtempSync(join(tmpdir(), 'misuse-deadline-'));
    const file = join(dir, 'stand-in.cjs');
    writeFileSync(
      file,
      `let factory = (code, message) => Object.assign(new Error(message), { code });
       module.exports = {
         setErrorFactory(f) { if (typeof f === 'function') factory = f; },
         slow(x) { ${body} const t = Date.now() + 2; while (Date.now() < t); throw factory('ERR_INVALID_ARGUMENT', 'refused'); },
       };`,
    );
    return { dir, file };
  };

  it('clean batches before the deadline: exit 3, INCOMPLETE, the batches run and calls made reported', () => {
    const { dir, file } = standIn('');
    try {
      // 40 batches of 200 calls of >= 2 ms each: about 16 s of work, one lane, a 1 s deadline
      const { status, out, summary } = fuzz(['--addon', file, '--calls', '8000', '--batch', '200', '--jobs', '1', '--seed', '3', '--deadline', '1'], 120_000);
      expect(status, out).toBe(3);
      expect(summary.pass).toBe(false);
      expect(summary.crashes).toEqual([]);
      expect(summary.calls).toBeGreaterThan(0);
      expect(summary.calls).toBeLessThan(8000);
      expect(out).toMatch(/deadline: no batch started after 1 s: \d+ of 40 batches ran \(\d+ of 8000 calls\), all of them clean/);
      expect(out).toMatch(/INCOMPLETE \(clean so far\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a crash before the deadline still fails the run (exit 1)', () => {
    const { dir, file } = standIn("if (x === 7) process.kill(process.pid, 'SIGSEGV');");
    try {
      const { status, out, summary } = fuzz(['--addon', file, '--calls', '40000', '--batch', '2000', '--jobs', '1', '--seed', '1', '--deadline', '3'], 120_000);
      expect(summary.crashes.length, out).toBeGreaterThan(0);
      expect(status, out).toBe(1);
      expect(out).not.toMatch(/INCOMPLETE/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!built)(`misuse fuzzer on the addon${built ? '' : ' [skipped: run `npm run build` first]'}`, () => {
  it('100,000 calls: no crash, no hang, every error typed, every known-good call right', () => {
    const { status, out, summary } = fuzz(['--calls', '100000', '--seed', seed, '--jobs', '2'], 280_000);
    expect(summary.crashes, out).toEqual([]);
    expect(summary.hangs, out).toEqual([]);
    expect(summary.failures, out).toEqual([]);
    expect(summary.untyped).toBe(0);
    expect(summary.promises.lost).toBe(0);
    expect(summary.calls).toBeGreaterThanOrEqual(100_000);
    expect(summary.checks).toBeGreaterThan(5_000);
    expect(summary.typed.ERR_INVALID_ARGUMENT).toBeGreaterThan(10_000);
    // the surface came from the addon itself: every class and function it exports was called
    const native = Object.keys(summary.surface.classes);
    for (const cls of ['DeviceBuffer', 'HostBuffer', 'Stream', 'Runtime', 'Engine', 'ExecutionContext']) expect(native).toContain(cls);
    for (const fn of ['cudaInfo', 'dupFd', 'markTimingEpoch', 'mapSharedMemory']) expect(summary.surface.functions).toContain(fn);
    // and lib/native/binding.ts declares exactly that surface (NativeBinding with what it extends
    // and merges): before the parser followed `extends`, every export read as undeclared
    expect(summary.mismatches).toEqual([]);
    expect(summary.pass).toBe(true);
    expect(status, out).toBe(0);
  }, 300_000);
});
