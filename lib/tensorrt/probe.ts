/**
 * Isolated plan probe. TensorRT trusts its input: some corrupted plans crash or hang it inside
 * deserialization or the first enqueue (seen when fuzzing: docs/benchmarks/reliability.md), and no
 * checksum in a plan lets us tell beforehand. For plans from untrusted places, probePlan() loads
 * the plan and runs it once in a child process first; the caller's process loads it only if the
 * child survived. Costs one process start and one TensorRT load (about a second).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TensorRtError, type ErrorCode } from '../errors.js';
import { nativeBinaryPath } from '../native/binding.js';
import type { RuntimeOptions } from './runtime.js';

export interface ProbeOptions extends Pick<RuntimeOptions, 'flavor' | 'libraryPath' | 'device' | 'hostCodeAllowed'> {
  /** Give up (and kill the child) after this long; default 60 s. */
  timeoutMs?: number;
  /** Also create a context and run once at the profile's opt shapes (default true). */
  run?: boolean;
}

// Runs in the child: deserialize, then one run at opt shapes with device buffers of max size.
const CHILD = `
const [addon, plan, optsJson] = process.argv.slice(1);
const o = JSON.parse(optsJson);
const b = require(addon);
const say = (x) => process.stdout.write(JSON.stringify(x) + '\\n');
(async () => {
  try {
    const rt = new b.Runtime({ flavor: o.flavor || 'auto', libraryPath: o.libraryPath, device: o.device || 0, logSeverity: 0, hostCodeAllowed: !!o.hostCodeAllowed });
    const e = rt.deserialize(plan);
    if (o.run !== false) {
      const s = new b.Stream({ device: o.device || 0 });
      const ctx = new b.ExecutionContext(e, s, { profile: 0 });
      const prof = e.profiles[0] || {};
      for (const t of e.io) if (t.mode === 'input') ctx.setInputShape(t.name, t.shape.map((d, i) => (d >= 0 ? d : prof[t.name].opt[i])));
      const bufs = [];
      for (const t of e.io) {
        const dims = t.mode === 'input' ? t.shape.map((d, i) => (d >= 0 ? d : prof[t.name].max[i])) : ctx.getTensorShape(t.name);
        const n = Math.max(256, dims.reduce((a, x) => a * Math.max(x, 1), 1) * 8);
        const d = new b.DeviceBuffer(n);
        bufs.push(d);
        ctx.setTensorAddress(t.name, d);
      }
      await ctx.run();
    }
    say({ ok: true });
  } catch (err) {
    say({ ok: false, code: err.code, message: String(err.message) });
  }
})();
`;

export async function probePlan(plan: string | ArrayBufferView, options: ProbeOptions = {}): Promise<void> {
  let dir: string | undefined;
  let path: string;
  if (typeof plan === 'string') {
    path = plan;
  } else {
    dir = mkdtempSync(join(tmpdir(), 'trtnode-probe-'));
    path = join(dir, 'model.plan');
    writeFileSync(path, new Uint8Array(plan.buffer, plan.byteOffset, plan.byteLength));
  }
  try {
    const result = await new Promise<{ ok: boolean; code?: string; message?: string; signal?: string | null; exit?: number | null; timedOut?: boolean }>((resolve) => {
      const child = spawn(process.execPath, ['-e', CHILD, nativeBinaryPath(), path, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, options.timeoutMs ?? 60_000);
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (exit, signal) => {
        clearTimeout(timer);
        const line = out.trim().split('\n').pop();
        try {
          if (line && !timedOut) return resolve(JSON.parse(line));
        } catch {
          /* fall through */
        }
        resolve({ ok: false, signal, exit, timedOut });
      });
    });
    if (result.ok) return;
    if (result.code) throw new TensorRtError(result.code as ErrorCode, result.message ?? 'the plan failed its probe');
    throw new TensorRtError(
      'ERR_PLAN_INVALID',
      result.timedOut
        ? `the plan did not load within ${(options.timeoutMs ?? 60_000) / 1000} s in an isolated probe process (TensorRT hung on it): not loaded`
        : `the plan crashed TensorRT in an isolated probe process (${result.signal ?? `exit ${result.exit}`}): not loaded`,
      { signal: result.signal, exit: result.exit, timedOut: result.timedOut },
    );
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
