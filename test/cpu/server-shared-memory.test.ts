// Triton's system shared-memory extension over HTTP and gRPC (both gRPC front-end modes): POSIX
// shm objects made here with fs under /dev/shm (what a client on the same host does), registered
// as regions, named in inputs and outputs instead of sending bytes. The Python tritonclient
// suite (server-tritonclient.test.ts) exercises the same extension with the stock client.
// Worker mode runs the built front-end thread (dist/server/grpc-worker.js): run `npm run
// build:ts` before running this file alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, cpSync, existsSync, ftruncateSync, mkdtempSync, openSync, readSync, readdirSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { spawnSync } from 'node:child_process';
import { loadNative, nativeBinaryPath } from '../../lib/native/binding.js';
import { SystemSharedMemory, isLoopbackHost, startServer, type RunningServer, type SharedMemoryMapping } from '../../lib/server/index.js';
import { Tensor } from '../../lib/tensor.js';

const EXAMPLES = path.resolve(__dirname, '../../examples/models');
const PROTO = path.resolve(__dirname, '../../proto');
const quiet = { info() {}, warn() {}, error() {} };
const HAVE_SHM = existsSync('/dev/shm');

/** A POSIX shm object of `size` bytes (a file under /dev/shm); removed by the returned function. */
function makeShm(tag: string, size: number): { key: string; write(offset: number, b: Uint8Array): void; read(offset: number, n: number): Buffer; truncate(n: number): void; remove(): void } {
  const key = `/trtn-test-${process.pid}-${tag}`;
  const file = `/dev/shm${key}`;
  const fd = openSync(file, 'w+');
  ftruncateSync(fd, size);
  return {
    key,
    write: (offset, b) => void writeSync(fd, b, 0, b.byteLength, offset),
    read: (offset, n) => {
      const out = Buffer.alloc(n);
      readSync(fd, out, 0, n, offset);
      return out;
    },
    truncate: (n) => ftruncateSync(fd, n),
    remove: () => {
      closeSync(fd);
      unlinkSync(file);
    },
  };
}

const f32 = (a: number[]) => new Uint8Array(new Float32Array(a).buffer);
const readF32 = (b: Buffer) => Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));

describe.skipIf(!HAVE_SHM)('native mapSharedMemory', () => {
  it('maps a range of a shm object read-write, shared with the file, from an unaligned offset', () => {
    const s = makeShm('map', 10_000);
    try {
      s.write(5000, f32([1.5, 2.5]));
      const mapped = loadNative().mapSharedMemory(s.key, 5000, 8, true);
      expect(mapped.pinned).toBe(false); // no GPU here: a plain mapping
      const view = new Uint8Array(mapped.buffer);
      expect(view.byteLength).toBe(8);
      expect(readF32(Buffer.from(view))).toEqual([1.5, 2.5]);
      view.set(f32([7]), 4);
      expect(readF32(s.read(5004, 4))).toEqual([7]);
    } finally {
      s.remove();
    }
  });

  it('refuses a missing key, a range beyond the object, an empty range and a bad name', () => {
    const s = makeShm('bad', 4096);
    try {
      const code = (f: () => unknown) => {
        try {
          f();
        } catch (e) {
          return [(e as { code: string }).code, (e as Error).message];
        }
        return ['no error'];
      };
      const map = loadNative().mapSharedMemory;
      expect(code(() => map('/trtn-test-does-not-exist', 0, 1))).toEqual(['ERR_INVALID_ARGUMENT', expect.stringMatching(/unable to open shared memory key .*No such file/)]);
      expect(code(() => map(s.key, 4000, 100))).toEqual(['ERR_INVALID_ARGUMENT', expect.stringMatching(/holds 4096 bytes; offset 4000 \+ byte_size 100 is beyond it/)]);
      expect(code(() => map(s.key, 0, 0))[0]).toBe('ERR_INVALID_ARGUMENT');
      expect(code(() => map('/a/b', 0, 1))[0]).toBe('ERR_INVALID_ARGUMENT');
      expect(code(() => map(s.key, -1, 1))[0]).toBe('ERR_INVALID_ARGUMENT');
    } finally {
      s.remove();
    }
  });
});

describe.skipIf(!HAVE_SHM)('native mapSharedMemory under a client that truncates its object', () => {
  it('survives an access past the end of a truncated object (SIGBUS): reads zeros, and size() says the mapping faulted', () => {
    // in a process of its own: without the guard, the access kills the process with SIGBUS
    const script = `
      const fs = require('fs');
      const addon = require(${JSON.stringify(nativeBinaryPath())});
      const key = '/trtn-test-bus-' + process.pid;
      const fd = fs.openSync('/dev/shm' + key, 'w+');
      fs.ftruncateSync(fd, 65536);
      try {
        const m = addon.mapSharedMemory(key, 100, 40000, false);
        const view = new Uint8Array(m.buffer);
        view.fill(7);
        const size = () => (typeof m.size === 'function' ? m.size() : 'no size()');
        const before = size();
        fs.ftruncateSync(fd, 10);
        const truncated = size();
        const read = view[39000];
        view[20000] = 1;
        console.log(JSON.stringify({ before, truncated, read, after: size() }));
      } finally {
        fs.closeSync(fd);
        fs.unlinkSync('/dev/shm' + key);
      }`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect({ signal: r.signal, status: r.status, stderr: r.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ before: 65536, truncated: 10, read: 0, after: -1 });
  });

  // Found by the GPU misuse fuzzer's HostBuffer crash (2026-12-07): a region longer than an
  // ArrayBuffer of this Node (2^32 bytes before Node 22) was mapped, then Node refused its
  // ArrayBuffer and the finalizer data was freed twice: a client's register aborted the server.
  it('a region longer than an ArrayBuffer of this Node is refused with a typed error, not a crash (a sparse 4 GiB object)', () => {
    const script = `
      const fs = require('fs');
      const addon = require(${JSON.stringify(nativeBinaryPath())});
      const key = '/trtn-test-big-' + process.pid;
      const fd = fs.openSync('/dev/shm' + key, 'w+');
      fs.ftruncateSync(fd, 2 ** 32 + 8192);
      const out = {};
      try {
        try { out.length = addon.mapSharedMemory(key, 0, 2 ** 32 + 1, false).buffer.byteLength; } catch (e) { out.code = e.code; out.message = e.message; }
        out.next = addon.mapSharedMemory(key, 4096, 100, false).buffer.byteLength;
      } finally {
        fs.closeSync(fd);
        fs.unlinkSync('/dev/shm' + key);
      }
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect({ signal: r.signal, status: r.status }, r.stderr).toEqual({ signal: null, status: 0 });
    const out = JSON.parse(r.stdout);
    if (Number(process.versions.node.split('.')[0]) >= 22) expect(out).toEqual({ length: 2 ** 32 + 1, next: 100 });
    else {
      expect(out.code).toBe('ERR_INVALID_ARGUMENT');
      expect(out.message).toMatch(/byte_size 4294967297 is more than an ArrayBuffer of this Node holds \(4294967296 bytes\)/);
      expect(out.next).toBe(100);
    }
  });

  it('keeps its object open: size() follows the object, and a region past its end is refused before use', () => {
    const s = makeShm('size', 8192);
    try {
      // (the native binding's declared type predates size(): SharedMemoryMapping has it)
      const m: SharedMemoryMapping = loadNative().mapSharedMemory(s.key, 4096, 100);
      expect(m.size?.()).toBe(8192);
      s.truncate(4000);
      expect(m.size?.()).toBe(4000);
      const shm = new SystemSharedMemory();
      s.truncate(8192);
      shm.register('r', s.key, 4096, 100);
      expect(Array.from(shm.view('r', 0, 4, 'input "x"'))).toEqual([0, 0, 0, 0]);
      s.truncate(4100);
      expect(() => shm.view('r', 0, 4, 'input "x"')).toThrow(/input "x": shared memory region 'r' \(key '.*'\) needs 4196 bytes of its object, which now holds 4100; unregister it/);
      expect(() => shm.checkAfterUse(['r'])).toThrow(/the request: .*now holds 4100/);
    } finally {
      s.remove();
    }
  });

  it('holds a descriptor per registered region only: unregistering closes it (the mapping stays while views of it live)', () => {
    const s = makeShm('fds', 4096);
    try {
      const fds = () => readdirSync('/proc/self/fd').length;
      const shm = new SystemSharedMemory({ maxRegions: 64 });
      const before = fds();
      for (let i = 0; i < 20; i++) shm.register(`r${i}`, s.key, 0, 64);
      expect(fds() - before).toBe(20);
      const view = shm.view('r3', 0, 4, 'input "x"');
      shm.unregister('r3');
      expect(fds() - before).toBe(19);
      shm.unregister();
      expect(fds()).toBe(before);
      view[0] = 9; // still mapped
      expect(s.read(0, 1)[0]).toBe(9);
    } finally {
      s.remove();
    }
  });

  it('refuses a key with NUL (shm_open would open the object named by what precedes it) and objects that are not regular files', () => {
    const s = makeShm('nul', 4096);
    try {
      const map = loadNative().mapSharedMemory;
      expect(() => map(`${s.key}\0tail`, 0, 16)).toThrow(/no NUL/);
      const shm = new SystemSharedMemory();
      expect(() => shm.register('n', `${s.key}\0tail`, 0, 16)).toThrow(/is not a POSIX shm name .*no NUL/);
      const fifo = `/trtn-test-fifo-${process.pid}`;
      if (spawnSync('mkfifo', [`/dev/shm${fifo}`]).status === 0) {
        try {
          expect(() => map(fifo, 0, 16)).toThrow(/is not a regular shm object/);
        } finally {
          unlinkSync(`/dev/shm${fifo}`);
        }
      }
    } finally {
      s.remove();
    }
  });
});

describe('who may use shared memory', () => {
  it('SystemSharedMemory: off refuses everything; key prefixes (with or without the leading slash); at most maxRegions', () => {
    const backing = new ArrayBuffer(64);
    const map = (_key: string, offset: number, size: number) => ({ buffer: backing.slice(offset, offset + size), pinned: false });
    const off = new SystemSharedMemory({ map, enabled: false });
    expect(off.enabled).toBe(false);
    expect(() => off.register('a', '/k', 0, 8)).toThrow(/the system shared-memory extension is disabled on this server/);
    expect(() => off.status()).toThrow(/disabled/);
    expect(() => off.unregister()).toThrow(/disabled/);
    expect(() => off.inputBytes({ shared_memory_region: 'a', shared_memory_byte_size: 8 }, 'x')).toThrow(/disabled/);
    const some = new SystemSharedMemory({ map, keyPrefixes: ['/app-', 'tenant1-'], maxRegions: 2 });
    expect(() => some.register('v', '/victim', 0, 8)).toThrow(/key '\/victim' is not one this server allows/);
    expect(() => some.register('v', 'victim', 0, 8)).toThrow(/is not one this server allows/);
    some.register('a', 'app-1', 0, 8);
    some.register('b', '/tenant1-x', 0, 8);
    expect(() => some.register('c', '/app-2', 0, 8)).toThrow(/2 regions are registered, the most this server keeps/);
    expect(() => new SystemSharedMemory({ keyPrefixes: [''] })).toThrow(/keyPrefixes/);
  });

  it('startServer: on for a loopback address, off beyond it unless asked; the extension is listed only when on', async () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'].map(isLoopbackHost)).toEqual([true, true, true, true, true, true, true]);
    expect(['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '::ffff:10.0.0.1'].map(isLoopbackHost)).toEqual([false, false, false, false, false, false]);
    const dir = mkdtempSync(path.join(tmpdir(), 'trtn-shm-who-'));
    cpSync(path.join(EXAMPLES, 'affine'), path.join(dir, 'affine'), { recursive: true });
    try {
      for (const [host, mode, on] of [
        ['127.0.0.1', undefined, true],
        ['0.0.0.0', undefined, false],
        ['0.0.0.0', 'on', true],
        ['127.0.0.1', 'off', false],
      ] as const) {
        const server = await startServer({ modelRepository: dir, host, httpPort: 0, grpcPort: 0, metricsPort: false, grpcWorkers: 0, logger: quiet, ...(mode ? { systemSharedMemory: mode } : {}) });
        try {
          expect({ host, mode, on: server.sharedMemory.enabled }).toEqual({ host, mode, on });
          const base = `http://127.0.0.1:${server.httpPort}`;
          expect({ host, mode, listed: ((await (await fetch(`${base}/v2`)).json()) as { extensions: string[] }).extensions.includes('system_shared_memory') }).toEqual({ host, mode, listed: on });
          if (!on) {
            const r = await fetch(`${base}/v2/systemsharedmemory/region/r/register`, { method: 'POST', body: JSON.stringify({ key: '/k', offset: 0, byte_size: 8 }) });
            expect({ status: r.status, body: await r.json() }).toEqual({ status: 400, body: { error: expect.stringMatching(/disabled on this server/) } });
            const def = protoLoader.loadSync(path.join(PROTO, 'grpc_service.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO] });
            const client = new (grpc.loadPackageDefinition(def) as any).inference.GRPCInferenceService(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
            const e = await new Promise<grpc.ServiceError | null>((resolve) => client.SystemSharedMemoryStatus({ name: '' }, (err: grpc.ServiceError | null) => resolve(err)));
            client.close();
            expect(e).toMatchObject({ code: 3, details: expect.stringMatching(/disabled on this server/) });
          }
        } finally {
          await server.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SystemSharedMemory registry', () => {
  it('registers, views with bounds, reports status, unregisters one or all', () => {
    const backing = new Uint8Array(64).map((_, i) => i);
    const pins: boolean[] = [];
    let pin = false;
    const shm = new SystemSharedMemory({
      map: (key, offset, size, p) => (pins.push(p), { buffer: backing.slice(offset, offset + size).buffer, pinned: p }),
      pin: () => pin,
    });
    shm.register('a', '/k', 16, 32);
    pin = true;
    shm.register('b', '/k', 0, 8);
    expect(pins).toEqual([false, true]);
    expect(shm.status()).toEqual([
      { name: 'a', key: '/k', offset: 16, byteSize: 32, pinned: false },
      { name: 'b', key: '/k', offset: 0, byteSize: 8, pinned: true },
    ]);
    expect(Array.from(shm.view('a', 4, 2, 'input "x"'))).toEqual([20, 21]);
    expect(() => shm.view('a', 30, 4, 'input "x"')).toThrow(/input "x": shared_memory_offset 30 \+ shared_memory_byte_size 4 exceeds region 'a' of 32 bytes/);
    expect(() => shm.view('zz', 0, 1, 'output "y"')).toThrow(/output "y": unable to find system shared memory region: 'zz'/);
    expect(() => shm.register('a', '/k', 0, 1)).toThrow(/'a' is already registered/);
    expect(() => shm.register('c', '/k', 0, 0)).toThrow(/byte_size must be at least 1/);
    expect(() => shm.status('zz')).toThrow(/unable to find/);
    shm.unregister('a');
    shm.unregister('not-there');
    expect(shm.status().map((r) => r.name)).toEqual(['b']);
    shm.unregister();
    expect(shm.size).toBe(0);
  });

  it('outputView: a typed view of an output region for the scheduler to write into, only where it fits aligned', () => {
    const backing = new ArrayBuffer(64);
    const shm = new SystemSharedMemory({ map: (_key, offset, size) => ({ buffer: backing.slice(offset, offset + size), pinned: false }) });
    shm.register('o', '/k', 0, 64);
    const ref = { region: 'o', offset: 8, byteSize: 32 };
    const view = shm.outputView(ref, 'float32', 16) as Float32Array | undefined;
    expect(view).toBeInstanceOf(Float32Array);
    expect(view!.length).toBe(4);
    view!.set([1, 2, 3, 4]);
    expect(Array.from(new Float32Array(shm.view('o', 8, 16, 'output "y"').slice().buffer))).toEqual([1, 2, 3, 4]);
    // a tensor already in the region: nothing to copy; elsewhere: copied in
    expect(shm.writeOutput(ref, 'y', new Tensor('float32', view!, [1, 4]))).toBe(16);
    expect(shm.writeOutput(ref, 'y', new Tensor('float32', new Float32Array([5, 6, 7, 8]), [1, 4]))).toBe(16);
    expect(Array.from(view!)).toEqual([5, 6, 7, 8]);
    expect(shm.outputView(ref, 'float32', 36)).toBeUndefined(); // more than the region holds
    expect(shm.outputView({ region: 'o', offset: 6, byteSize: 32 }, 'float32', 16)).toBeUndefined(); // unaligned for float32
    expect(shm.outputView({ region: 'o', offset: 6, byteSize: 32 }, 'uint8', 16)).toBeInstanceOf(Uint8Array);
    expect(shm.outputView({ region: 'zz', offset: 0, byteSize: 4 }, 'float32', 4)).toBeUndefined();
  });
});

describe.skipIf(!HAVE_SHM).each([
  { mode: 'gRPC front-end threads', grpcWorkers: 2 },
  { mode: 'gRPC on the main thread', grpcWorkers: 0 },
])('system shared memory through the server ($mode)', ({ grpcWorkers }) => {
  let server: RunningServer;
  let dir: string;
  let client: any;
  let base: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'trtn-shm-'));
    cpSync(EXAMPLES, dir, { recursive: true });
    server = await startServer({ modelRepository: dir, httpPort: 0, grpcPort: 0, metricsPort: false, modelControlMode: 'explicit', loadModels: ['affine'], grpcWorkers, logger: quiet });
    base = `http://127.0.0.1:${server.httpPort}`;
    const def = protoLoader.loadSync(path.join(PROTO, 'grpc_service.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO] });
    const pkg = grpc.loadPackageDefinition(def) as any;
    client = new pkg.inference.GRPCInferenceService(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, req: unknown): Promise<any> =>
    new Promise((resolve, reject) => client[method](req, { deadline: Date.now() + 20_000 }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res))));
  const post = async (p: string, body: unknown) => {
    const r = await fetch(base + p, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : undefined };
  };
  const get = async (p: string): Promise<{ status: number; json: any }> => {
    const r = await fetch(base + p);
    return { status: r.status, json: await r.json() };
  };

  it('gRPC: register, infer with the input and the output in a region, status, unregister', async () => {
    const s = makeShm(`grpc-${grpcWorkers}`, 4096);
    try {
      s.write(100, f32([1, 2, 3, 4, 5, 6, 7, 8]));
      expect(await call('SystemSharedMemoryRegister', { name: 'r1', key: s.key, offset: 0, byte_size: 4096 })).toEqual({});
      expect(await call('SystemSharedMemoryStatus', { name: '' })).toEqual({ regions: { r1: { name: 'r1', key: s.key, offset: 0, byte_size: 4096 } } });
      const sp = (region: string, size: number, offset: number) => ({
        shared_memory_region: { string_param: region },
        shared_memory_byte_size: { int64_param: size },
        shared_memory_offset: { int64_param: offset },
      });
      const res = await call('ModelInfer', {
        model_name: 'affine',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4], parameters: sp('r1', 32, 100) }],
        outputs: [{ name: 'y', parameters: sp('r1', 64, 1024) }],
      });
      // as Triton answers (tritonclient's C++ client, perf_analyzer's, reads raw_output_contents[i]
      // for outputs[i] and crashed on the empty list this server used to send): one empty entry
      // per output written to shared memory, and no parameters on it
      expect(res.raw_output_contents).toHaveLength(1);
      expect(res.raw_output_contents[0].byteLength).toBe(0);
      expect(res.outputs).toMatchObject([{ name: 'y', datatype: 'FP32', shape: [2, 4] }]);
      expect(res.outputs[0].parameters).toEqual({});
      expect(readF32(s.read(1024, 32))).toEqual([3, 5, 7, 9, 11, 13, 15, 17]);
      // an output region at an offset not aligned for FP32 (copied there rather than written in place)
      const odd = await call('ModelInfer', {
        model_name: 'affine',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: sp('r1', 16, 100) }],
        outputs: [{ name: 'y', parameters: sp('r1', 16, 2050) }],
      });
      expect(odd.raw_output_contents[0].byteLength).toBe(0);
      expect(readF32(s.read(2050, 16))).toEqual([3, 5, 7, 9]);
      // shm input, output in the response
      const mixed = await call('ModelInfer', { model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: sp('r1', 16, 100) }] });
      expect(readF32(mixed.raw_output_contents[0])).toEqual([3, 5, 7, 9]);
      // errors: unknown region, out of bounds, too small for the output, region then unregistered
      const err = (req: unknown) => call('ModelInfer', req).then(() => ({ code: -1, details: '' }), (e: grpc.ServiceError) => ({ code: e.code, details: e.details }));
      expect(await err({ model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: sp('nope', 16, 0) }] })).toEqual({ code: 3, details: expect.stringMatching(/unable to find system shared memory region: 'nope'/) });
      expect(await err({ model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: sp('r1', 16, 4090) }] })).toMatchObject({ code: 3, details: expect.stringMatching(/exceeds region 'r1'/) });
      expect(await err({ model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: sp('r1', 12, 100) }] })).toMatchObject({ code: 3, details: expect.stringMatching(/needs 16 bytes, got 12/) });
      expect(
        await err({ model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: sp('r1', 16, 100) }], outputs: [{ name: 'y', parameters: sp('r1', 8, 0) }] }),
      ).toMatchObject({ code: 3, details: expect.stringMatching(/output "y" is 16 bytes; its shared memory .* holds 8/) });
      const dup = await call('SystemSharedMemoryRegister', { name: 'r1', key: s.key, offset: 0, byte_size: 16 }).catch((e: grpc.ServiceError) => e);
      expect(dup).toMatchObject({ code: 3, details: expect.stringMatching(/already registered/) });
      const missing = await call('SystemSharedMemoryRegister', { name: 'r2', key: '/trtn-test-missing', offset: 0, byte_size: 16 }).catch((e: grpc.ServiceError) => e);
      expect(missing).toMatchObject({ code: 3, details: expect.stringMatching(/unable to open shared memory key/) });
      expect(await call('SystemSharedMemoryUnregister', { name: 'r1' })).toEqual({});
      expect(await call('SystemSharedMemoryStatus', { name: '' })).toEqual({ regions: {} });
      expect(await err({ model_name: 'affine', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: sp('r1', 16, 100) }] })).toMatchObject({ code: 3 });
    } finally {
      s.remove();
    }
  });

  it('CUDA shared memory: answered as a Triton without GPUs (no regions, register fails, unregister succeeds)', async () => {
    // perf_analyzer --shared-memory system unregisters all CUDA regions too when it ends, and
    // reported "Unable to unregister all shared memory regions" while these RPCs were UNIMPLEMENTED
    expect(await call('CudaSharedMemoryStatus', { name: '' })).toEqual({ regions: {} });
    expect(await call('CudaSharedMemoryUnregister', { name: '' })).toEqual({});
    expect(await call('CudaSharedMemoryUnregister', { name: 'never-registered' })).toEqual({});
    const reg = await call('CudaSharedMemoryRegister', { name: 'c', raw_handle: Buffer.alloc(64), device_id: 0, byte_size: 16 }).catch((e: grpc.ServiceError) => e);
    expect(reg).toMatchObject({ code: 3, details: expect.stringMatching(/failed to register CUDA shared memory region: 'c', CUDA shared memory is not supported/) });
    const st = await call('CudaSharedMemoryStatus', { name: 'c' }).catch((e: grpc.ServiceError) => e);
    expect(st).toMatchObject({ code: 3, details: expect.stringMatching(/unable to find cuda shared memory region: 'c'/) });
    expect(await get('/v2/cudasharedmemory/status')).toEqual({ status: 200, json: [] });
    expect((await get('/v2/cudasharedmemory/region/c/status')).status).toBe(400);
    expect((await post('/v2/cudasharedmemory/unregister', {})).status).toBe(200);
    expect((await post('/v2/cudasharedmemory/region/c/unregister', {})).status).toBe(200);
    const hreg = await post('/v2/cudasharedmemory/region/c/register', { raw_handle: { b64: '' }, device_id: 0, byte_size: 16 });
    expect(hreg).toMatchObject({ status: 400, json: { error: expect.stringMatching(/CUDA shared memory is not supported/) } });
    expect((await get('/v2')).json.extensions).not.toContain('cuda_shared_memory');
  });

  it('HTTP: register, infer from and into a region, status, unregister all; regions are shared with gRPC', async () => {
    const s = makeShm(`http-${grpcWorkers}`, 256);
    try {
      s.write(0, f32([0.5, -1, 2, 10]));
      expect((await post('/v2/systemsharedmemory/region/in/register', { key: s.key, offset: 0, byte_size: 16 })).status).toBe(200);
      expect((await post('/v2/systemsharedmemory/region/out/register', { key: s.key, offset: 64, byte_size: 64 })).status).toBe(200);
      expect((await get('/v2/systemsharedmemory/status')).json).toEqual([
        { name: 'in', key: s.key, offset: 0, byte_size: 16 },
        { name: 'out', key: s.key, offset: 64, byte_size: 64 },
      ]);
      expect((await get('/v2/systemsharedmemory/region/out/status')).json).toEqual([{ name: 'out', key: s.key, offset: 64, byte_size: 64 }]);
      expect((await get('/v2/systemsharedmemory/region/nope/status')).status).toBe(400);
      const r = await post('/v2/models/affine/infer', {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { shared_memory_region: 'in', shared_memory_byte_size: 16 } }],
        outputs: [{ name: 'y', parameters: { shared_memory_region: 'out', shared_memory_byte_size: 16, shared_memory_offset: 8 } }],
      });
      expect(r.status).toBe(200);
      // as Triton answers: no data and no parameters (the C++ client reads any output parameters
      // as binary data and failed on "binary_data_size" missing)
      expect(r.json.outputs).toEqual([{ name: 'y', datatype: 'FP32', shape: [1, 4] }]);
      expect(readF32(s.read(72, 16))).toEqual([2, -1, 5, 21]);
      // registered over HTTP, used over gRPC
      const g = await call('ModelInfer', {
        model_name: 'affine',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { shared_memory_region: { string_param: 'in' }, shared_memory_byte_size: { int64_param: 16 } } }],
      });
      expect(readF32(g.raw_output_contents[0])).toEqual([2, -1, 5, 21]);
      const both = await post('/v2/models/affine/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4], parameters: { shared_memory_region: 'in', shared_memory_byte_size: 16 } }] });
      expect(both).toMatchObject({ status: 400, json: { error: expect.stringMatching(/both shared memory and data/) } });
      const noSize = await post('/v2/models/affine/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { shared_memory_region: 'in' } }] });
      expect(noSize).toMatchObject({ status: 400, json: { error: expect.stringMatching(/shared_memory_byte_size is required/) } });
      expect((await post('/v2/systemsharedmemory/region/x/register', { key: s.key, offset: 250, byte_size: 16 })).status).toBe(400);
      // a region longer than this Node's ArrayBuffers (a sparse object: no memory used) aborted
      // the server until 2026-12-07 (N-API's double free); now it is refused and the server serves on
      if (Number(process.versions.node.split('.')[0]) < 22) {
        const huge = makeShm(`huge-${grpcWorkers}`, 2 ** 32 + 4096);
        try {
          const r = await post('/v2/systemsharedmemory/region/huge/register', { key: huge.key, offset: 0, byte_size: 2 ** 32 + 1 });
          expect(r).toMatchObject({ status: 400, json: { error: expect.stringMatching(/more than an ArrayBuffer of this Node holds/) } });
        } finally {
          huge.remove();
        }
        expect((await get('/v2/systemsharedmemory/region/in/status')).status).toBe(200);
      }
      expect((await post('/v2/systemsharedmemory/unregister', {})).status).toBe(200);
      expect((await get('/v2/systemsharedmemory/status')).json).toEqual([]);
      expect((await get('/v2')).json.extensions).toContain('system_shared_memory');
    } finally {
      s.remove();
    }
  });
});
