/**
 * The stock Python tritonclient (pinned in scripts/setup-python.sh) against our server:
 * this file starts the server on loopback, computes expected logits in-process, and runs
 * test/python/test_tritonclient.py with pytest from .venv (created here if missing).
 * If the venv cannot be created, the test fails with that reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, cpSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startServer, type RunningServer } from '../../lib/server/index.js';
import { Tensor } from '../../lib/tensor.js';

const ROOT = path.resolve(__dirname, '../..');
const PY = path.join(ROOT, '.venv', 'bin', 'python');

let server: RunningServer | undefined;
let dir: string;
let venvError: string | undefined;

function venvWorks(): boolean {
  if (!existsSync(PY)) return false;
  return spawnSync(PY, ['-c', 'import tritonclient.http, tritonclient.grpc, pytest, numpy'], { stdio: 'ignore', timeout: 60_000 }).status === 0;
}

beforeAll(async () => {
  if (!venvWorks()) {
    const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'setup-python.sh')], { cwd: ROOT, encoding: 'utf8', timeout: 540_000 });
    if (r.status !== 0 || !venvWorks()) {
      venvError = `could not create the Python venv with tritonclient (scripts/setup-python.sh exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')}`;
      return;
    }
  }
  dir = mkdtempSync(path.join(tmpdir(), 'trtn-pyclient-'));
  cpSync(path.join(ROOT, 'examples', 'models'), path.join(dir, 'models'), { recursive: true });
  server = await startServer({
    modelRepository: path.join(dir, 'models'),
    host: '127.0.0.1',
    httpPort: 0,
    grpcPort: 0,
    metricsPort: false,
    modelControlMode: 'explicit',
    loadModels: ['*'],
    logger: { info() {}, warn() {}, error() {} },
  });
}, 600_000);

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function runPytest(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(PY, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', path.join(ROOT, 'test', 'python', 'test_tritonclient.py')], {
      cwd: ROOT,
      env: { ...process.env, ...env, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('stock tritonclient (Python) against the server', () => {
  it('passes test/python/test_tritonclient.py over HTTP and gRPC', async () => {
    if (venvError) throw new Error(venvError);
    const s = server!;
    // the input and the in-process reference logits
    const x = new Float32Array(3 * 224 * 224);
    for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 1000) / 1000 - 0.5;
    const inputFile = path.join(dir, 'input.f32');
    writeFileSync(inputFile, Buffer.from(x.buffer));
    const ref = await s.repository.getModel('classifier').scheduler.infer({ input: new Tensor('float32', x, [1, 3, 224, 224]) });
    const expectedFile = path.join(dir, 'expected.json');
    writeFileSync(expectedFile, JSON.stringify({ input_file: inputFile, logits: Array.from(ref.logits!.data as Float32Array) }));
    const r = await runPytest({
      TRTN_HTTP_URL: `127.0.0.1:${s.httpPort}`,
      TRTN_GRPC_URL: `127.0.0.1:${s.grpcPort}`,
      TRTN_EXPECTED: expectedFile,
    });
    if (r.code !== 0) console.error(r.output);
    expect(r.output).toMatch(/\d+ passed/);
    expect(r.code).toBe(0);
  }, 180_000);
});
