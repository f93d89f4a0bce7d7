import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, symlinkSync, cpSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EventEmitter } from 'node:events';
import { runCli, type CliIo } from '../../lib/cli/cli.js';
import { drainOnSignals } from '../../lib/cli/serve.js';
import type { RunningServer } from '../../lib/server/index.js';
import { NATIVE_READY } from './needs-native.js';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLES = path.join(ROOT, 'examples', 'models');

function io(extra: Partial<CliIo> = {}): CliIo & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { out: (l) => outLines.push(l), err: (l) => errLines.push(l), handleSignals: false, outLines, errLines, ...extra };
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'trtn-cli-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('tensorrt-node CLI (in-process)', () => {
  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['serve'], /required option '--model-repository <dir>' not specified/],
    [['serve', '--model-repository', EXAMPLES, '--http-port', 'abc'], /--http-port must be an integer, got "abc"/],
    [['serve', '--model-repository', EXAMPLES, '--http-port', '70000'], /within 0\.\.65535/],
    [['serve', '--model-repository', EXAMPLES, '--model-control-mode', 'sometimes'], /Allowed choices are none, explicit, poll/],
    [['serve', '--model-repository', EXAMPLES, '--load-model', 'affine'], /--load-model needs --model-control-mode explicit/],
    [['serve', '--model-repository', '/nonexistent/dir'], /is not a directory/],
    [['inspect'], /missing required argument 'file'/],
    [['inspect', '/nonexistent.onnx'], /no such file/],
  ])('rejects %j with one line and a non-zero exit', async (argv, msg) => {
    const o = io();
    const code = await runCli(argv, o);
    expect(code).not.toBe(0);
    expect(o.errLines).toHaveLength(1);
    expect(o.errLines[0]).toMatch(msg);
    expect(o.errLines[0]).not.toMatch(/\n|    at /);
  });

  it('prints a stack only with --verbose', async () => {
    const o = io();
    expect(await runCli(['inspect', path.join(tmp, 'x.txt'), '--verbose'], o)).toBe(2);
    // a missing file is a usage error (no stack); a real failure with --verbose prints one
    const bad = path.join(tmp, 'broken.onnx');
    writeFileSync(bad, 'not an onnx file');
    const q = io();
    expect(await runCli(['inspect', bad], q)).toBe(1);
    expect(q.errLines).toHaveLength(1);
    const v = io();
    expect(await runCli(['inspect', bad, '--verbose'], v)).toBe(1);
    expect(v.errLines.length).toBeGreaterThan(1);
    expect(v.errLines.join('\n')).toMatch(/    at /);
  });

  it('inspects an ONNX file, as text and as JSON', async () => {
    const file = path.join(EXAMPLES, 'classifier', '1', 'model.onnx');
    const t = io();
    expect(await runCli(['inspect', file], t)).toBe(0);
    expect(t.outLines.join('\n')).toMatch(/input\s+input\s+FP32\s+\[-1, 3, 224, 224\]/);
    const j = io();
    expect(await runCli(['inspect', file, '--json'], j)).toBe(0);
    expect(JSON.parse(j.outLines.join('\n'))).toMatchObject({
      backend: 'onnxruntime',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
    });
  });

  it('inspect of a .plan prints the whole error where TensorRT is unavailable: every place it tried, and the fix', async () => {
    const plan = path.join(tmp, 'junk.plan');
    writeFileSync(plan, Buffer.alloc(64, 7));
    const o = io();
    expect(await runCli(['inspect', plan], o)).toBe(1);
    expect(o.errLines[0]).toMatch(/^error: /);
    const text = o.errLines.join('\n');
    if (/ERR_TRT_NOT_FOUND/.test(text)) {
      // the list after "Tried:" and the line that says what to do, not just the first line
      expect(o.errLines[0]).toMatch(/Tried:$/);
      expect(o.errLines.filter((l) => /^\s+- \S*libnvinfer/.test(l)).length).toBeGreaterThan(0);
      expect(o.errLines.at(-1)).toMatch(/TENSORRT_LIB_DIR.*\[ERR_TRT_NOT_FOUND\]$/);
    } else {
      expect(text).toMatch(/\[ERR_[A-Z_]+\]$/);
    }
    expect(text).not.toMatch(/    at /); // no stack without --verbose
  });

  it('rejects a bad --grpc-workers', async () => {
    const o = io();
    expect(await runCli(['serve', '--model-repository', EXAMPLES, '--grpc-workers', 'many'], o)).not.toBe(0);
    expect(o.errLines.join('\n')).toMatch(/--grpc-workers must be an integer/);
  });

  it('serves the example repository and stops', async () => {
    let server: RunningServer | undefined;
    const o = io({ onServe: (s) => (server = s) });
    const code = await runCli(['serve', '--model-repository', EXAMPLES, '--http-port', '0', '--grpc-port', '0', '--metrics-port', '0', '--grpc-workers', '1'], o);
    expect(code).toBe(0);
    expect(server).toBeDefined();
    try {
      expect(o.outLines.join('\n')).toMatch(/model affine version 1: READY/);
      // a connection is handed to a front-end thread through the addon (dupFd); without it gRPC runs on the main thread
      expect(o.outLines.join('\n')).toMatch(NATIVE_READY ? /gRPC {2}listening on 127\.0\.0\.1:\d+ \(1 front-end thread\)/ : /gRPC {2}listening on 127\.0\.0\.1:\d+$/m);
      expect((await fetch(`http://127.0.0.1:${server!.httpPort}/v2/health/ready`)).status).toBe(200);
      expect(await (await fetch(`http://127.0.0.1:${server!.metricsPort}/metrics`)).text()).toContain('nv_inference_count');
    } finally {
      await server!.close();
    }
  });
});

describe("serve takes tritonserver's common flags, or refuses them with a pointer", () => {
  const free = ['--http-port=0', '--grpc-port=0', '--metrics-port=0', '--grpc-workers=0'];

  it('a tritonserver command line serves: --model-store=, --allow-*=true, --*-address, --strict-model-config=false, --log-verbose, --exit-on-error', async () => {
    let server: RunningServer | undefined;
    const o = io({ onServe: (s) => (server = s) });
    const argv = [
      'serve',
      `--model-store=${EXAMPLES}`,
      ...free,
      '--allow-http=true',
      '--allow-grpc=true',
      '--allow-metrics=false',
      '--http-address=127.0.0.1',
      '--grpc-address=127.0.0.1',
      '--strict-model-config=false',
      '--strict-readiness=false',
      '--log-verbose=1',
      '--exit-on-error=true',
      '--exit-timeout-secs=5',
      '--allow-sagemaker=false',
      '--grpc-use-ssl', 'false',
      '--model-control-mode=explicit',
      '--load-model=affine',
    ];
    expect(await runCli(argv, o), o.errLines.join('\n')).toBe(0);
    try {
      expect(server!.httpPort).toBeGreaterThan(0);
      expect(server!.grpcPort).toBeGreaterThan(0);
      expect(server!.metricsPort).toBeUndefined(); // --allow-metrics=false
      expect(server!.host).toBe('127.0.0.1');
      const index = await server!.repository.index();
      expect(index.filter((e) => e.state === 'READY').map((e) => e.name)).toEqual(['affine']); // explicit + --load-model
      expect((await fetch(`http://127.0.0.1:${server!.httpPort}/v2/health/ready`)).status).toBe(200);
    } finally {
      await server?.close();
    }
  });

  it.each([
    [['--backend-config=onnxruntime,default-max-batch-size=8'], /--backend-config is a tritonserver flag that tensorrt-node does not support: .*built in.*docs\/migration\.md#tritonserver-flags/],
    [['--pinned-memory-pool-byte-size', '268435456'], /--pinned-memory-pool-byte-size is a tritonserver flag/],
    [['--grpc-use-ssl=true'], /--grpc-use-ssl is a tritonserver flag .*terminate TLS/],
    [['--allow-sagemaker=true'], /--allow-sagemaker is a tritonserver flag/],
    [['--strict-model-config=true'], /--strict-model-config=true is not supported/],
    [['--strict-readiness=true'], /--strict-readiness=true is not supported.*\/v2\/models\/<name>\/ready/],
    [['--http-address=0.0.0.0', '--grpc-address=127.0.0.1'], /share one address.*--http-address is 0\.0\.0\.0, --grpc-address is 127\.0\.0\.1/],
    [[`--model-repository=${path.join(EXAMPLES, 'affine')}`], /one model repository per server/],
    [['--exit-on-error=maybe'], /--exit-on-error must be true or false, got "maybe"/],
  ])('refuses %j in one line naming why', async (extra, msg) => {
    const o = io();
    expect(await runCli(['serve', '--model-repository', EXAMPLES, ...free, ...extra], o)).toBe(2);
    expect(o.errLines).toHaveLength(1);
    expect(o.errLines[0]).toMatch(msg);
  });

  it('--exit-on-error (default true, as tritonserver): a model that fails to load stops the server with exit 1; =false serves the rest', async () => {
    const repo = path.join(tmp, 'repo-broken');
    cpSync(path.join(EXAMPLES, 'affine'), path.join(repo, 'affine'), { recursive: true });
    mkdirSync(path.join(repo, 'broken', '1'), { recursive: true });
    writeFileSync(path.join(repo, 'broken', '1', 'model.onnx'), 'not an onnx file');
    const o = io();
    expect(await runCli(['serve', '--model-repository', repo, ...free], o)).toBe(1);
    expect(o.outLines.join('\n')).toMatch(/model broken: UNAVAILABLE \(failed to load model "broken": version 1: onnxruntime could not load/);
    expect(o.errLines.join('\n')).toMatch(/1 model failed to load \(broken\); exiting \(--exit-on-error=false serves the others\)/);

    let server: RunningServer | undefined;
    const k = io({ onServe: (s) => (server = s) });
    expect(await runCli(['serve', '--model-repository', repo, ...free, '--exit-on-error=false'], k)).toBe(0);
    try {
      expect(k.outLines.join('\n')).toMatch(/model affine version 1: READY/);
      expect(k.outLines.join('\n')).toMatch(/model broken: UNAVAILABLE \(failed to load model "broken": version 1: onnxruntime could not load/);
    } finally {
      await server?.close();
    }
  });

  it('SIGTERM drains; past --exit-timeout-secs it exits 1; a second signal exits at once', async () => {
    const signals = new EventEmitter();
    const codes: number[] = [];
    const lines: string[] = [];
    const ctxIo: CliIo = { out: (l) => lines.push(l), err: (l) => lines.push(l), exit: (c) => codes.push(c) };
    // a server whose requests never finish
    const off = drainOnSignals({ close: () => new Promise<void>(() => {}) }, 0, { io: ctxIo, verbose: false }, signals);
    signals.emit('SIGTERM');
    await vi.waitFor(() => expect(codes).toEqual([1]), { timeout: 10_000 });
    expect(lines.join('\n')).toMatch(/requests still in flight after --exit-timeout-secs 0; exiting/);
    signals.emit('SIGINT');
    expect(codes).toEqual([1, 1]);
    off();
    // one that drains
    codes.length = 0;
    const off2 = drainOnSignals({ close: () => Promise.resolve() }, 30, { io: ctxIo, verbose: false }, signals);
    signals.emit('SIGTERM');
    await vi.waitFor(() => expect(codes).toEqual([0]), { timeout: 10_000 });
    off2();
    expect(signals.listenerCount('SIGTERM')).toBe(0);
  });
});

describe('tensorrt-node CLI (bundled, as a process)', () => {
  it('serves, answers health checks, and exits 0 on SIGTERM after draining', async () => {
    // bundle lib/cli/main.ts as tsup would, next to a proto/ folder and node_modules
    const { build } = await import('esbuild');
    const out = path.join(tmp, 'pkg');
    mkdirSync(out, { recursive: true });
    cpSync(path.join(ROOT, 'proto'), path.join(out, 'proto'), { recursive: true });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules'), 'dir');
    await build({
      entryPoints: [path.join(ROOT, 'lib', 'cli', 'main.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outfile: path.join(out, 'cli', 'main.mjs'),
      logLevel: 'silent',
      plugins: [
        {
          // modules other sessions may not have written yet (TensorRT, bench) stay lazy imports
          name: 'optional-modules',
          setup(b) {
            b.onResolve({ filter: /(tensorrt|bench)(\/index)?\.js$/ }, (a) => ({ path: a.path, external: true }));
          },
        },
      ],
    });
    const child = spawn(process.execPath, [path.join(out, 'cli', 'main.mjs'), 'serve', '--model-repository', EXAMPLES, '--http-port', '0', '--grpc-port', '0', '--metrics-port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`server did not start: ${stdout} ${stderr}`)), 30_000);
      child.stdout.on('data', (d) => {
        stdout += d;
        const m = /HTTP\s+listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
      child.on('exit', (c) => reject(new Error(`exited ${c}: ${stderr}`)));
    });
    expect((await fetch(`http://127.0.0.1:${port}/v2/health/live`)).status).toBe(200);
    const r = await fetch(`http://127.0.0.1:${port}/v2/models/affine/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }),
    });
    expect(((await r.json()) as { outputs: Array<{ data: number[] }> }).outputs[0]!.data).toEqual([3, 5, 7, 9]);
    const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    child.kill('SIGTERM');
    const code = await Promise.race([exit, new Promise<string>((r) => setTimeout(() => r('timeout'), 20_000))]);
    if (code === 'timeout') child.kill('SIGKILL');
    expect(code).toBe(0);
    expect(stdout).toMatch(/SIGTERM: shutting down/);
    expect(stdout).toMatch(/stopped/);
  }, 60_000);
});
