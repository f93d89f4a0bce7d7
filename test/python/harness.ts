/**
 * Shared by the suites that run the stock Python tritonclient (test/python/test_tritonclient.py)
 * against a running server: test/cpu/server-tritonclient.test.ts (ONNX Runtime models, venv from
 * PyPI) and test/gpu/server-tritonclient.test.ts (TensorRT plans, venv from staged wheels).
 * The caller computes the expected outputs in-process and describes the two models in a spec.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { startServer, type RunningServer } from '../../lib/server/index.js';
import type { RepositoryLogger } from '../../lib/repository/repository.js';

export const ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(ROOT, 'test', 'python', 'test_tritonclient.py');

export interface Tolerance {
  /** both 0: bit-exact; else |got − want| ≤ atol + rtol·|want| element-wise */
  rtol: number;
  atol: number;
}

/** The dynamic-batching model: one FP32 input [-1, ...dims], one FP32 output [-1, ...out_dims]. */
export interface BatchedModelSpec extends Tolerance {
  name: string;
  platform?: string;
  input: string;
  output: string;
  dims: number[];
  out_dims: number[];
  max_batch_size: number;
  preferred_batch_size: number[];
  instance_count: number;
  /** raw FP32 [1, ...dims] */
  input_file: string;
  /** expected output of input_file, [1, ...out_dims] flattened */
  expected: number[];
}

export interface SmallModelCase {
  shape: number[];
  input: number[];
  out_shape: number[];
  expected: number[];
}

/** The second model: exactness, errors, explicit load/unload and concurrency. */
export interface SmallModelSpec extends Tolerance {
  name: string;
  input: string;
  output: string;
  /** per-item input dims (without the batch dimension) */
  dims: number[];
  cases: SmallModelCase[];
}

export interface TritonclientSpec {
  batched: BatchedModelSpec;
  small: SmallModelSpec;
}

/** Can this Python import everything test_tritonclient.py needs? */
export function venvWorks(python: string): boolean {
  if (!existsSync(python)) return false;
  return spawnSync(python, ['-c', 'import tritonclient.http, tritonclient.grpc, pytest, numpy'], { stdio: 'ignore', timeout: 60_000 }).status === 0;
}

/** Last lines of a failed command's output, for an error message. */
export function tail(r: { stdout?: string | null; stderr?: string | null }, lines = 3): string {
  return (r.stderr || r.stdout || '').trim().split('\n').slice(-lines).join(' | ');
}

/** Write the spec into dir and run the Python suite; resolves with pytest's exit code and output. */
export function runTritonclientSuite(
  python: string,
  dir: string,
  urls: { http: string; grpc: string },
  spec: TritonclientSpec,
  timeoutMs = 150_000,
): Promise<{ code: number | null; output: string }> {
  const specFile = path.join(dir, 'tritonclient-spec.json');
  writeFileSync(specFile, JSON.stringify(spec));
  return new Promise((resolve) => {
    // -v and unbuffered: if the suite hangs and is killed, the output still names the test it was in
    const child = spawn(python, ['-m', 'pytest', '-v', '-p', 'no:cacheprovider', SCRIPT], {
      cwd: ROOT,
      env: { ...process.env, TRTN_HTTP_URL: urls.http, TRTN_GRPC_URL: urls.grpc, TRTN_SPEC: specFile, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n(killed after ${timeoutMs} ms)\n`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The deterministic FP32 test image of both suites: values in [-0.5, 0.5). */
export function testImage(count: number): Float32Array {
  const x = new Float32Array(count);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  return x;
}

/** Write a Float32Array as a raw little-endian file. */
export function writeRaw(file: string, x: Float32Array): string {
  writeFileSync(file, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  return file;
}

/** The server as both suites run it: loopback, free ports, no metrics, explicit mode with every model loaded. */
export function startLoopbackServer(modelRepository: string, logger: RepositoryLogger = { info() {}, warn() {}, error() {} }): Promise<RunningServer> {
  return startServer({ modelRepository, host: '127.0.0.1', httpPort: 0, grpcPort: 0, metricsPort: false, modelControlMode: 'explicit', loadModels: ['*'], logger });
}

/** host:port of the two front ends of a running server, as tritonclient takes them. */
export function urls(s: RunningServer): { http: string; grpc: string } {
  return { http: `${s.host}:${s.httpPort}`, grpc: `${s.host}:${s.grpcPort}` };
}
