/**
 * bench/server-overhead.mjs end to end on the CPU example model `affine`: a short run at two
 * concurrencies must produce all four methods with positive throughput and correct results.
 * The numbers themselves are not checked. The shared-memory methods (grpc-shm, http-shm) run end
 * to end against the server's system shared memory extension; their option parsing and the pure
 * functions that build their requests are checked here without a server (the module is imported).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { NATIVE_READY, NATIVE_SKIP_REASON } from './needs-native.js';

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
    // the server's default: front-end threads, which need the addon (without it gRPC runs on the main thread)
    if (NATIVE_READY) expect(r.server.grpcWorkers).toBeGreaterThanOrEqual(1);
    else expect(r.server.grpcWorkers).toBe(0);
  });

  // the path the GPU run takes (tools/gpu-host/serve-suite.sh: --model resnet50 --methods ... --repeat 2),
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

describe('bench/server-overhead.mjs shared-memory methods', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const load = (): Promise<any> => import(pathToFileURL(SCRIPT).href);
  const argv = (...a: string[]) => ['node', SCRIPT, ...a];

  it('--methods accepts grpc-shm and http-shm; the default is unchanged', async () => {
    const { parseArgs, METHODS, DEFAULT_METHODS } = await load();
    expect(DEFAULT_METHODS).toEqual(['in-process', 'http-json', 'http-binary', 'grpc']);
    expect(METHODS).toEqual([...DEFAULT_METHODS, 'grpc-shm', 'http-shm']);
    expect(parseArgs(argv()).methods).toEqual(DEFAULT_METHODS);
    // the baseline first, the rest in METHODS order whatever the order given
    expect(parseArgs(argv('--methods', 'http-shm,grpc-shm')).methods).toEqual(['in-process', 'grpc-shm', 'http-shm']);
    expect(parseArgs(argv('--methods', 'in-process,http-binary,grpc,grpc-shm,http-shm')).methods).toEqual(['in-process', 'http-binary', 'grpc', 'grpc-shm', 'http-shm']);
    expect(() => parseArgs(argv('--methods', 'grpc-shm,posix-shm'))).toThrow('unknown: posix-shm');
  });

  it('importing the module runs nothing (no server, no option parsing of the importer\'s argv)', async () => {
    const m = await load();
    expect(typeof m.parseArgs).toBe('function');
  });

  it('shmLayout: inputs from 0, then outputs, each 8-byte aligned', async () => {
    const { shmLayout } = await load();
    expect(shmLayout([602112], [40])).toEqual({ inputs: [0], outputs: [602112], byteSize: 602152 });
    expect(shmLayout([3, 5], [4, 2])).toEqual({ inputs: [0, 8], outputs: [16, 24], byteSize: 26 });
    expect(shmLayout([16], [4, 8])).toEqual({ inputs: [0], outputs: [16, 24], byteSize: 32 });
    expect(shmLayout([1], [1], 64)).toEqual({ inputs: [0], outputs: [64], byteSize: 65 });
    expect(() => shmLayout([-1], [4])).toThrow();
  });

  it('shmNames: a key per process, client thread and caller, its file under /dev/shm', async () => {
    const { shmNames } = await load();
    expect(shmNames(1234, 'w2', 17)).toEqual({ key: '/trtn-bench-1234-w2-17', name: 'trtn-bench-1234-w2-17', file: '/dev/shm/trtn-bench-1234-w2-17' });
    const keys = new Set<string>();
    for (const pid of [1, 2]) for (const w of ['main', 'w0', 'w1']) for (const c of [0, 1, 10]) keys.add(shmNames(pid, w, c).key);
    expect(keys.size).toBe(18);
  });

  it("proto/grpc_service.proto reads the shared-memory register/unregister requests as Triton's client writes them", async () => {
    const protoLoader = await import('@grpc/proto-loader');
    const dir = path.resolve(__dirname, '../../proto');
    const def = protoLoader.loadSync(path.join(dir, 'grpc_service.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [dir] });
    const svc = def['inference.GRPCInferenceService'] as Record<string, { requestDeserialize(b: Buffer): unknown }>;
    const read = (rpc: string, hex: string) => svc[rpc]!.requestDeserialize(Buffer.from(hex, 'hex'));
    // bytes written by tritonclient 2.73.0's service_pb2 (SystemSharedMemoryRegisterRequest(...).SerializeToString())
    expect(read('SystemSharedMemoryRegister', '0a017212022f6b20a8e024')).toEqual({ name: 'r', key: '/k', offset: 0, byte_size: 602152 });
    expect(read('SystemSharedMemoryRegister', '0a127472746e2d62656e63682d312d77302d633312132f7472746e2d62656e63682d312d77302d63331880800420ac02')).toEqual({
      name: 'trtn-bench-1-w0-c3',
      key: '/trtn-bench-1-w0-c3',
      offset: 65536,
      byte_size: 300,
    });
    expect(read('SystemSharedMemoryUnregister', '0a0172')).toEqual({ name: 'r' });
    expect(read('SystemSharedMemoryUnregister', '')).toEqual({ name: '' }); // every region
  });

  const inputs = [{ name: 'x', datatype: 'FP32', shape: [1, 4], bytes: new Uint8Array(16) }];
  const outputs = [{ name: 'y', datatype: 'FP32', byteSize: 16 }];
  const layout = { inputs: [0], outputs: [16], byteSize: 32 };

  it('shmHttpRequest: a JSON request with the shared_memory_* parameters and no data', async () => {
    const { shmHttpRequest } = await load();
    expect(shmHttpRequest('reg', layout, inputs, outputs)).toEqual({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { shared_memory_region: 'reg', shared_memory_offset: 0, shared_memory_byte_size: 16 } }],
      outputs: [{ name: 'y', parameters: { shared_memory_region: 'reg', shared_memory_offset: 16, shared_memory_byte_size: 16 } }],
    });
  });

  it('shmGrpcRequest: InferParameter values that survive ModelInferRequest encoding', async () => {
    const { shmGrpcRequest } = await load();
    const req = shmGrpcRequest('affine', 'reg', layout, inputs, outputs);
    expect(req.raw_input_contents).toEqual([]);
    const protoLoader = await import('@grpc/proto-loader');
    const protoDir = path.join(ROOT, 'proto');
    const def = protoLoader.loadSync(path.join(protoDir, 'grpc_service.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [protoDir] });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const infer = (def['inference.GRPCInferenceService'] as any).ModelInfer;
    const back = infer.requestDeserialize(infer.requestSerialize(req));
    expect(back.model_name).toBe('affine');
    expect(back.raw_input_contents).toEqual([]);
    expect(back.inputs[0]).toMatchObject({ name: 'x', datatype: 'FP32', shape: [1, 4] });
    expect(back.inputs[0].parameters).toMatchObject({
      shared_memory_region: { string_param: 'reg', parameter_choice: 'string_param' },
      shared_memory_offset: { int64_param: 0, parameter_choice: 'int64_param' },
      shared_memory_byte_size: { int64_param: 16, parameter_choice: 'int64_param' },
    });
    expect(back.outputs[0].name).toBe('y');
    expect(back.outputs[0].parameters).toMatchObject({
      shared_memory_region: { string_param: 'reg' },
      shared_memory_offset: { int64_param: 16, parameter_choice: 'int64_param' },
      shared_memory_byte_size: { int64_param: 16 },
    });
  });

  // needs the server's system shared memory extension, which maps regions through the addon
  it.skipIf(!haveDist || !NATIVE_READY)(`grpc-shm and http-shm run end to end with correct results, and leave no shm objects${NATIVE_SKIP_REASON}`, () => {
    const out = path.join(dir, 's.json');
    const before = readdirSync('/dev/shm').filter((f) => f.startsWith('trtn-bench-'));
    const r0 = spawnSync(process.execPath, [SCRIPT, '--methods', 'grpc-shm,http-shm', '--duration', '0.3', '--warmup', '0.1', '--concurrency', '1,5', '--client-workers', '2', '--json', out], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(readdirSync('/dev/shm').filter((f) => f.startsWith('trtn-bench-'))).toEqual(before);
    expect(r0.stderr).not.toContain('NOT CORRECT');
    expect(r0.status).toBe(0);
    const r = JSON.parse(readFileSync(out, 'utf8'));
    expect(r.options.methods).toEqual(['in-process', 'grpc-shm', 'http-shm']);
    expect(r.cases.map((c: { concurrency: number; method: string }) => `${c.concurrency}:${c.method}`)).toEqual([
      '1:in-process', '1:grpc-shm', '1:http-shm', '5:in-process', '5:grpc-shm', '5:http-shm',
    ]);
    for (const row of r.cases) {
      expect(row.errors).toBe(0);
      expect(row.requestsPerSecond).toBeGreaterThan(0);
      expect(row.check.checked).toBeGreaterThan(0);
      expect(row.correct).toBe(true);
    }
    // and a reference-checked model (classifier: 600 KB inputs), callers on the server's event loop
    const out2 = path.join(dir, 's2.json');
    execFileSync(process.execPath, [SCRIPT, '--model', 'classifier', '--methods', 'http-shm,grpc-shm', '--duration', '0.3', '--warmup', '0.1', '--concurrency', '2', '--client', 'main', '--json', out2], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
    const r2 = JSON.parse(readFileSync(out2, 'utf8'));
    expect(r2.checkKind).toBe('reference');
    expect(r2.cases.map((c: { method: string }) => c.method)).toEqual(['in-process', 'grpc-shm', 'http-shm']);
    for (const row of r2.cases) expect(row.correct).toBe(true);
    expect(readdirSync('/dev/shm').filter((f) => f.startsWith('trtn-bench-'))).toEqual(before);
  });

  it.skipIf(!haveDist)('a server without the extension: the shm cases fail with the reason, the run goes on', () => {
    // with the extension this checks nothing more than the test above; without it (a server
    // before the extension) the registration error is the case's error and the other methods still run
    const out = path.join(dir, 'f.json');
    spawnSync(process.execPath, [SCRIPT, '--methods', 'grpc,grpc-shm', '--duration', '0.2', '--warmup', '0', '--concurrency', '1', '--json', out], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    const r = JSON.parse(readFileSync(out, 'utf8'));
    expect(r.cases.map((c: { method: string }) => c.method)).toEqual(['in-process', 'grpc', 'grpc-shm']);
    const shm = r.cases[2];
    if (!shm.correct) expect(shm.firstError).toMatch(/grpc-shm setup: SystemSharedMemoryRegister/);
    expect(r.cases[1].correct).toBe(true);
  });
});
