/**
 * bench/server-overhead.mjs end to end on the CPU example model `affine`: a short run at two
 * concurrencies must produce all four methods with positive throughput and correct results.
 * The numbers themselves are not checked.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(ROOT, 'bench', 'server-overhead.mjs');
const haveDist = existsSync(path.join(ROOT, 'dist', 'index.js'));
const dir = mkdtempSync(path.join(tmpdir(), 'trtn-bench-server-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench/server-overhead.mjs', () => {
  it.skipIf(!haveDist)(`runs all four methods with correct results${haveDist ? '' : ' (skipped: dist/ missing, run npm run build:ts)'}`, () => {
    const out = path.join(dir, 'r.json');
    execFileSync(process.execPath, [SCRIPT, '--duration', '0.3', '--concurrency', '1,4', '--json', out], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
    const r = JSON.parse(readFileSync(out, 'utf8'));
    expect(r.checkKind).toBe('exact');
    expect(r.environment).toMatchObject({ node: process.version, cpus: expect.any(Number), cpuModel: expect.any(String) });
    expect(r.cases).toHaveLength(8);
    for (const c of [1, 4]) {
      const rows = r.cases.filter((x: { concurrency: number }) => x.concurrency === c);
      expect(rows.map((x: { method: string }) => x.method).sort()).toEqual(['grpc', 'http-binary', 'http-json', 'in-process']);
      for (const row of rows) {
        expect(row.requestsPerSecond).toBeGreaterThan(0);
        expect(row.errors).toBe(0);
        expect(row.check.checked).toBeGreaterThan(0);
        expect(row.correct).toBe(true);
        if (row.method !== 'in-process') {
          expect(Number.isFinite(row.addedUsVsInProcess)).toBe(true);
          expect(row.throughputRatioVsInProcess).toBeGreaterThan(0);
        }
      }
    }
    expect(r.allCorrect).toBe(true);
    expect(readFileSync(out.replace(/\.json$/, '.md'), 'utf8')).toContain('| 4 | grpc |');
  });
});
