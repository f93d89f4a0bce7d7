// Numbers, strings and objects that cross from JS into the native addon are checked before use
// (issue 20, items 3 and 6): each case here is one the misuse fuzzer
// (tools/reliability/misuse-fuzz.mjs) found reaching native code unchecked: a wrapped-around
// descriptor, a float cast out of range, a region of memory freed under a copy, an untyped error.
// All run without a GPU. TRTNODE_ADDON=path runs them against another build of the addon.
import { closeSync, existsSync, fstatSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TensorRtError } from '../../lib/errors.js';

const addonPath = process.env.TRTNODE_ADDON ?? join(process.cwd(), 'build/Release/tensorrt_node.node');
const built = existsSync(addonPath);
const n: any = built ? createRequire(import.meta.url)(addonPath) : undefined;
const realFactory = (code: string, message: string) => new TensorRtError(code as never, message);
if (n) n.setErrorFactory(realFactory);

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!(e instanceof TensorRtError)) return `untyped ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`;
    return e.code;
  }
  return 'no error';
}
const libc = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6'].find(existsSync);
const detach = (ab: ArrayBufferLike) => structuredClone(ab, { transfer: [ab as ArrayBuffer] });

describe.skipIf(!built)(`native argument checks${built ? '' : ' [skipped: run `npm run build` first]'}`, () => {
  it('dupFd takes an integer descriptor: 2^32 + 1 does not wrap around to descriptor 1, NaN is not descriptor 0', () => {
    const fd = openSync(process.execPath, 'r');
    try {
      for (const bad of [2 ** 32 + fd, NaN, 1.5, -1, Infinity, 2 ** 31, 2 ** 53]) expect(codeOf(() => n.dupFd(bad)), String(bad)).toBe('ERR_INVALID_ARGUMENT');
      const dup = n.dupFd(fd);
      expect(fstatSync(dup).ino).toBe(fstatSync(fd).ino);
      closeSync(dup);
    } finally {
      closeSync(fd);
    }
  });

  it('a device ordinal is an integer >= 0, checked before CUDA is asked (DeviceBuffer, Runtime)', () => {
    for (const device of [NaN, -1, 1.5, 2 ** 31, 1e300, Infinity, '0', null]) {
      expect(codeOf(() => new n.DeviceBuffer(16, { device })), `DeviceBuffer device ${String(device)}`).toBe('ERR_INVALID_ARGUMENT');
      expect(codeOf(() => new n.Runtime({ device, libraryPath: '/nonexistent/libnvinfer.so.10' })), `Runtime device ${String(device)}`).toBe('ERR_INVALID_ARGUMENT');
    }
    expect(codeOf(() => new n.DeviceBuffer(16, 7))).toBe('ERR_INVALID_ARGUMENT'); // options that are not an object
  });

  it('allocation sizes: a positive integer up to 2^53 - 1, nothing else (no out-of-range float cast)', () => {
    for (const bytes of [0, -1, 0.5, NaN, Infinity, -Infinity, 2 ** 53, 1e300, '16', 16n]) {
      expect(codeOf(() => new n.DeviceBuffer(bytes)), String(bytes)).toBe('ERR_INVALID_ARGUMENT');
      expect(codeOf(() => new n.HostBuffer(bytes)), String(bytes)).toBe('ERR_INVALID_ARGUMENT');
    }
  });

  it('Runtime options of the wrong type are refused, not silently replaced by defaults', () => {
    const p = '/nonexistent/libnvinfer.so.10';
    expect(codeOf(() => new n.Runtime({ libraryPath: 42 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new n.Runtime({ flavor: 7, libraryPath: p }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new n.Runtime({ logSeverity: 9, libraryPath: p }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new n.Runtime({ logSeverity: NaN, libraryPath: p }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new n.Runtime({ onLog: 'x', libraryPath: p }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new n.Runtime({ hostCodeAllowed: 'yes', libraryPath: p }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new n.Runtime(5))).toBe('ERR_INVALID_ARGUMENT');
    // the right types get as far as the loader
    expect(codeOf(() => new n.Runtime({ libraryPath: p, logSeverity: 4, onLog: () => {}, hostCodeAllowed: true }))).toBe('ERR_TRT_NOT_FOUND');
  });

  it.skipIf(!libc)('a library path with a NUL is refused: dlopen would load the file named by the part before it', () => {
    try {
      new n.Runtime({ libraryPath: `${libc}\0/libnvinfer.so.10` });
      expect.fail('accepted');
    } catch (e) {
      expect((e as TensorRtError).code).toBe('ERR_INVALID_ARGUMENT');
      expect((e as Error).message).toContain('NUL');
    }
  });

  it('an accessor used on an object that is not of its class: a typed error, not an unwrap failure', () => {
    let checked = 0;
    for (const cls of ['DeviceBuffer', 'HostBuffer', 'Runtime', 'Engine', 'Stream', 'ExecutionContext']) {
      const proto = n[cls].prototype;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const get = Object.getOwnPropertyDescriptor(proto, name)?.get;
        if (!get) continue;
        expect(codeOf(() => get.call(Object.create(proto))), `${cls}.${name}`).toBe('ERR_INVALID_ARGUMENT');
        expect(codeOf(() => get.call({})), `${cls}.${name} on {}`).toBe('ERR_INVALID_ARGUMENT');
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('a method called on an object of another class: refused before it runs, never a read of the wrong C++ type', () => {
    let checked = 0;
    for (const cls of ['Stream', 'ExecutionContext', 'DeviceBuffer', 'HostBuffer']) {
      const proto = n[cls].prototype;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const d = Object.getOwnPropertyDescriptor(proto, name);
        if (name === 'constructor' || typeof d?.value !== 'function') continue;
        // another native class's prototype object (tagged as nothing) and a plain object: V8's own
        // receiver check (a method's signature) or, past it, the tag check answers; never a call
        for (const self of [Object.create(n.Runtime.prototype), {}, Object.create(proto)])
          expect(['ERR_INVALID_ARGUMENT', 'untyped TypeError: Illegal invocation']).toContain(codeOf(() => d.value.call(self)));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('Stream options are checked before CUDA is asked: integers in range, the right types', () => {
    const bad = [
      { device: -1 }, { device: NaN }, { device: 2 ** 31 }, { priority: 1e9 }, { priority: 0.5 }, { priority: NaN },
      { spinMicroseconds: -1 }, { spinMicroseconds: Infinity }, { spinMicroseconds: 1e12 }, { waitMode: 3 }, { waitMode: 'nap' },
      { jsCompletion: 'yes' },
    ];
    for (const o of bad) expect(codeOf(() => new n.Stream(o)), JSON.stringify(o) ?? String(o)).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new n.Stream(5))).toBe('ERR_INVALID_ARGUMENT');
    // the right options get as far as CUDA (none on a machine without a GPU)
    expect(['no error', 'ERR_CUDA_UNAVAILABLE']).toContain(codeOf(() => new n.Stream({ device: 0, priority: -1, waitMode: 'spin', spinMicroseconds: 50, jsCompletion: true }).dispose()));
  });

  it('ExecutionContext refuses an engine or stream that is not one before anything else', () => {
    expect(codeOf(() => new n.ExecutionContext({}, {}))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new n.ExecutionContext(Object.create(n.Engine.prototype), Object.create(n.Stream.prototype)))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('the error factory may misbehave: every error still carries its code', () => {
    try {
      for (const factory of [() => ({}), () => 'x', () => undefined, () => new Error('no code'), () => Object.assign(new Error('x'), { code: 'ERR_OTHER' }), () => { throw new Error('factory threw'); }]) {
        n.setErrorFactory(factory);
        let caught: unknown;
        try {
          n.dupFd(-1);
        } catch (e) {
          caught = e;
        }
        expect(caught, String(factory)).toBeInstanceOf(Error);
        expect((caught as { code: string }).code, String(factory)).toBe('ERR_INVALID_ARGUMENT');
      }
    } finally {
      n.setErrorFactory(realFactory);
    }
    expect(codeOf(() => n.dupFd(-1))).toBe('ERR_INVALID_ARGUMENT');
  });

  // Found by the GPU misuse fuzzer (2026-12-07): a factory that calls back into the addon, where
  // that call fails too, was asked again for that error, and again, until the stack ran out
  // (on the GPU each level also queried every device: 90 s without an answer).
  it('an error made while the error factory runs is a plain coded Error: the factory is asked once per error', () => {
    let asked = 0;
    let inner: unknown;
    try {
      n.setErrorFactory((code: string, message: string) => {
        asked++;
        try {
          n.dupFd(-1);
        } catch (e) {
          inner = e;
        }
        return new TensorRtError(code as never, message);
      });
      expect(codeOf(() => n.dupFd(-1))).toBe('ERR_INVALID_ARGUMENT');
      expect(asked).toBe(1);
      expect(inner).toBeInstanceOf(Error);
      expect(inner).not.toBeInstanceOf(TensorRtError);
      expect((inner as { code: string }).code).toBe('ERR_INVALID_ARGUMENT');
      // a factory that fails again without catching: the outer error still carries the code
      asked = 0;
      n.setErrorFactory(() => {
        asked++;
        n.dupFd(-1);
      });
      let caught: unknown;
      try {
        n.dupFd(-1);
      } catch (e) {
        caught = e;
      }
      expect(asked).toBe(1);
      expect((caught as { code: string }).code).toBe('ERR_INVALID_ARGUMENT');
    } finally {
      n.setErrorFactory(realFactory);
    }
    expect(codeOf(() => n.dupFd(-1))).toBe('ERR_INVALID_ARGUMENT');
  });
});
