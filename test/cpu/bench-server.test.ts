/**
 * bench/server-overhead.mjs end to end on the CPU example model `affine`: a short run at two
 * concurrencies must produce all four methods with positive throughput and correct results.
 * The numbers themselves are not checked.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
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
    expect(r.criterion).toMatchObject({ method: 'grpc', concurrency: 4, target: 0.9 });
    expect(r.criterion.ratios).toHaveLength(1);
    expect(r.options).toMatchObject({ client: 'worker', clientWorkers: 4, grpcWorkers: null });
    expect(r.server.grpcWorkers).toBeGreaterThanOrEqual(1); // the server's default: front-end threads
  });

  // the path the GPU run takes (scripts/gpu-host/serve-suite.sh: --model resnet50 --methods ... --repeat 2),
  // here with the CPU classifier: a reference-checked model, a subset of methods, two repeats
  it.skipIf(!haveDist)('--methods, --repeat and the criterion on a reference-checked model (classifier)', () => {
    const out = path.join(dir, 'c.json');
    execFileSync(process.execPath, [SCRIPT, '--model', 'classifier', '--methods', 'grpc,http-binary', '--repeat', '2', '--target', '0.5', '--duration', '0.3', '--warmup', '0.1', '--concurrency', '4', '--client-workers', '3', '--grpc-workers', '0', '--json', out], {
      cwd: ROOT,
      stdio: 'pipe',
      timeout: 120_000,
    });
    const r = JSON.parse(readFileSync(out, 'utf8'));
    expect(r.checkKind).toBe('reference');
    expect(r.options).toMatchObject({ methods: ['in-process', 'http-binary', 'grpc'], repeat: 2, target: 0.5, clientWorkers: 3, grpcWorkers: 0 });
    expect(r.server).toEqual({ grpcWorkers: 0 });
    expect(r.cases.map((c: { repeat: number; method: string }) => `${c.repeat}:${c.method}`)).toEqual([
      '1:in-process', '1:http-binary', '1:grpc', '2:in-process', '2:http-binary', '2:grpc',
    ]);
    for (const row of r.cases) {
      expect(row.concurrency).toBe(4);
      expect(row.check.checked).toBeGreaterThan(0);
      expect(row.correct).toBe(true);
    }
    const grpcRows = r.cases.filter((c: { method: string }) => c.method === 'grpc');
    expect(r.criterion.ratios).toEqual(grpcRows.map((c: { throughputRatioVsInProcess: number }) => c.throughputRatioVsInProcess));
    expect(r.criterion.met).toBe(grpcRows.every((c: { throughputRatioVsInProcess: number }) => c.throughputRatioVsInProcess >= 0.5));
    const md = readFileSync(out.replace(/\.json$/, '.md'), 'utf8');
    expect(md).toContain('| 4 #2 | grpc |');
    expect(md).not.toContain('http-json');
    expect(md).toContain('network callers on 3 client thread(s)');
    expect(md).toContain('gRPC served by the main thread (--grpc-workers 0)');
  });

  it('refuses an unknown method', () => {
    const r = spawnSync(process.execPath, [SCRIPT, '--methods', 'grpc,carrier-pigeon'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('unknown: carrier-pigeon');
  });
});
