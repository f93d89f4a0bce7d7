// Hostile argument values for the API misuse fuzzer (misuse-fuzz-worker.mjs): every kind of JS
// value a careless or hostile caller can hand a native function, including values that run JS
// when the addon reads them (getters, proxies, valueOf) and, from there, dispose, detach, resize
// or call back into the addon. All randomness comes from the seeded `rng`, so a batch replays.

/** A seeded PRNG (mulberry32) with the helpers the fuzzer draws from. */
export function makeRng(seed) {
  let a = seed >>> 0 || 1;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  return { next, int, chance: (p) => next() < p, pick: (arr) => arr[Math.floor(next() * arr.length)] };
}

/** Mixes a run seed and a batch index into the batch's seed. */
export function batchSeed(seed, index) {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (index + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0 || 1;
}

/** Thrown by the fuzzer's own getters and traps: must reach the caller unchanged. */
export class FuzzSentinel extends Error {
  constructor(where) {
    super(`fuzz sentinel thrown from ${where}`);
    this.name = 'FuzzSentinel';
  }
}

export const NUMBERS = [
  0, -0, 1, -1, 2, 3, 7, 8, 15, 16, 64, 255, 256, 1023, 1024, 4096, 65536, 0.5, -0.5, 1.5, 255.5, NaN, Infinity, -Infinity,
  2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53),
  2 ** 63, 2 ** 64, -(2 ** 63), 1e300, -1e300, Number.MIN_VALUE, Number.EPSILON, Number.MAX_VALUE, 1e-300,
];
export const BIGINTS = [0n, 1n, -1n, 2n ** 31n, 2n ** 32n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n, 2n ** 64n + 1n, -(2n ** 63n), -(2n ** 64n)];
const BIG_STRING = 'A'.repeat(1 << 20);
export const STRINGS = [
  '', 'x', 'input', 'logits', 'tokens', 'y', 'n', 'x\0y', '\0', 'input\0', '\uD800', '\u{1F600}', 'auto', 'full', 'lean', 'dispatch', 'turbo',
  'spin', 'block', 'adaptive', 'poll', 'wake', '0', '-1', 'NaN', '1e400', '/nonexistent/libnvinfer.so.10', '/nonexistent/plan.plan', '/dev/null',
  '/dev/zero', '/', '/tmp', '.', '..', '../../etc/passwd', '/etc/passwd\0.plan', 'libnvinfer.so.10', 'libnvinfer_lean.so.10', '%s%s%s%n',
  'a'.repeat(300), '/'.repeat(300), 'a'.repeat(5000), BIG_STRING,
];

/** A short printable description of a value, for traces and crash reports. */
export function describe(v, depth = 0) {
  const t = typeof v;
  if (v === null) return 'null';
  if (t === 'undefined') return 'undefined';
  if (t === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (t === 'bigint') return `${v}n`;
  if (t === 'boolean') return String(v);
  if (t === 'symbol') return 'Symbol()';
  if (t === 'string') return v.length > 24 ? `str(${v.length})` : JSON.stringify(v);
  if (t === 'function') return v.__fuzzName ?? `fn ${v.name || 'anon'}`;
  const label = labels.get(v);
  if (label) return label;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.length ?? v.byteLength})`;
  if (v instanceof ArrayBuffer) return `AB(${v.byteLength})`;
  if (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer) return `SAB(${v.byteLength})`;
  if (Array.isArray(v)) return depth > 1 ? `[${v.length}]` : `[${v.slice(0, 4).map((x) => describe(x, depth + 1)).join(',')}${v.length > 4 ? `,…${v.length}` : ''}]`;
  if (depth > 1) return '{…}';
  try {
    const keys = Object.keys(v).slice(0, 5);
    return `{${keys.map((k) => `${k}:${describe(Object.getOwnPropertyDescriptor(v, k)?.get ? '<getter>' : v[k], depth + 1)}`).join(',')}}`;
  } catch {
    return '{?}';
  }
}

const labels = new WeakMap(); // hostile objects → their description
export function label(obj, text) {
  if (obj !== null && (typeof obj === 'object' || typeof obj === 'function')) labels.set(obj, text);
  return obj;
}

/** Detaches an ArrayBuffer (as postMessage's transfer does). */
export function detach(ab) {
  if (!(ab instanceof ArrayBuffer)) return;
  try {
    structuredClone(ab, { transfer: [ab] });
  } catch {
    /* not transferable (an external one, say) */
  }
}

/**
 * The value factory of one worker. `env` gives it what it cannot know itself:
 *   env.optionKeys   option property names (from lib/native/binding.ts)
 *   env.instances()  live and disposed native objects, fakes, objects of swapped prototype
 *   env.reenter(depth) a nested native call with hostile arguments (reentrancy from JS the addon runs)
 *   env.disposeSome() disposes a random live native object
 */
export function makeValues(rng, env) {
  const { pick, chance, int } = rng;
  const buffers = []; // ArrayBuffers made here: candidates for detaching and resizing from getters
  const remember = (ab) => {
    if (buffers.length > 64) buffers.splice(int(0, buffers.length - 1), 1);
    buffers.push(ab);
    return ab;
  };

  function arrayBuffer() {
    switch (int(0, 6)) {
      case 0: return label(remember(new ArrayBuffer(int(0, 64))), 'AB');
      case 1: {
        const ab = new ArrayBuffer(int(1, 64));
        detach(ab);
        return label(ab, 'AB(detached)');
      }
      case 2: return label(remember(new ArrayBuffer(int(0, 64), { maxByteLength: 256 })), 'AB(resizable)');
      case 3: return label(new SharedArrayBuffer(int(0, 64)), 'SAB');
      case 4: return label(new SharedArrayBuffer(int(0, 64), { maxByteLength: 256 }), 'SAB(growable)');
      case 5: return label(remember(new ArrayBuffer(int(4096, 1 << 16))), 'AB(large)');
      default: return label(remember(new ArrayBuffer(8)), 'AB(8)');
    }
  }
  const VIEWS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array];
  function view() {
    const C = pick(VIEWS);
    const kind = int(0, 7);
    if (kind === 0) return label(new C(int(0, 16)), `${C.name}(fresh)`);
    if (kind === 1) {
      const t = new C(int(1, 16));
      detach(t.buffer);
      return label(t, `${C.name}(detached)`);
    }
    if (kind === 2) {
      const ab = new ArrayBuffer(C.BYTES_PER_ELEMENT * 8, { maxByteLength: C.BYTES_PER_ELEMENT * 64 });
      remember(ab);
      return label(new C(ab), `${C.name}(length-tracking)`);
    }
    if (kind === 3) return label(new C(new SharedArrayBuffer(C.BYTES_PER_ELEMENT * int(0, 16))), `${C.name}(SAB)`);
    if (kind === 4) {
      const base = new C(32);
      return label(base.subarray(int(0, 16), int(16, 32)), `${C.name}(subarray)`);
    }
    if (kind === 5) return label(new DataView(remember(new ArrayBuffer(16)), int(0, 8)), 'DataView');
    if (kind === 6) return label(Buffer.alloc(int(0, 64)), 'Buffer');
    return label(new C(remember(new ArrayBuffer(C.BYTES_PER_ELEMENT * 16)), C.BYTES_PER_ELEMENT * int(0, 8), int(0, 8)), `${C.name}(offset view)`);
  }

  /** JS that runs inside the addon's call: the worst a getter or trap can do. */
  function sideEffect(depth, where) {
    switch (int(0, 9)) {
      case 0:
        throw new FuzzSentinel(where);
      case 1:
        if (buffers.length) detach(pick(buffers));
        return;
      case 2: {
        const ab = buffers.length ? pick(buffers) : undefined;
        if (ab?.resizable && !ab.detached) {
          try {
            ab.resize(chance(0.5) ? 0 : ab.maxByteLength);
          } catch {
            /* detached meanwhile */
          }
        }
        return;
      }
      case 3:
        env.disposeSome();
        return;
      case 4:
      case 5:
        if (depth < 2) env.reenter(depth + 1);
        return;
      case 6:
        if (typeof globalThis.gc === 'function' && chance(0.05)) globalThis.gc();
        return;
      default:
        return;
    }
  }

  /** An object whose every listed property is a getter that runs a side effect first. */
  function trappedOptions(keys, depth) {
    const o = {};
    for (const k of new Set(keys)) {
      const v = value(depth + 1);
      Object.defineProperty(o, k, {
        enumerable: true,
        get() {
          sideEffect(depth, `getter ${k}`);
          return v;
        },
      });
    }
    return label(o, `{getters ${keys.join(',')}}`);
  }
  function proxy(depth) {
    const target = chance(0.5) ? [] : {};
    const handler = {};
    for (const trap of ['get', 'has', 'ownKeys', 'getOwnPropertyDescriptor', 'getPrototypeOf']) {
      handler[trap] = (...a) => {
        sideEffect(depth, `proxy ${trap}`);
        return Reflect[trap](...a);
      };
    }
    return label(new Proxy(target, handler), 'Proxy');
  }

  /** A plain options object: known keys with values that are sometimes right and often not. */
  function options(depth = 0, keys = env.optionKeys) {
    const chosen = new Set();
    const n = int(0, 4);
    for (let i = 0; i < n; i++) chosen.add(pick(keys));
    if (chance(0.25)) return trappedOptions([...chosen], depth);
    const o = {};
    for (const k of chosen) o[k] = value(depth + 1);
    return o;
  }

  function callable(depth) {
    switch (int(0, 5)) {
      case 0: return Object.assign(() => undefined, { __fuzzName: 'fn()' });
      case 1: return Object.assign(() => { throw new FuzzSentinel('callback'); }, { __fuzzName: 'fn(throws)' });
      case 2: return Object.assign(async () => undefined, { __fuzzName: 'async fn' });
      case 3: return Object.assign((...a) => { sideEffect(depth, 'callback'); return a[0]; }, { __fuzzName: 'fn(side effect)' });
      case 4: return Object.assign(function* gen() {}, { __fuzzName: 'generator' });
      default: return Object.assign(class Foo {}, { __fuzzName: 'class' });
    }
  }

  function object(depth) {
    switch (int(0, 17)) {
      case 0: return {};
      case 1: return [];
      case 2: return label(Object.create(null), 'Object.create(null)');
      case 3: return proxy(depth);
      case 4: return options(depth);
      case 5: {
        const a = [];
        a.length = 2 ** 32 - 1;
        return label(a, '[sparse 2^32-1]');
      }
      case 6: return label([, 1, , 2], '[holes]');
      case 7: return label({ length: 2 ** 53, 0: 1 }, '{length:2^53}');
      case 8: return label({ valueOf() { sideEffect(depth, 'valueOf'); return 1; }, toString() { sideEffect(depth, 'toString'); return 'x'; } }, '{valueOf}');
      case 9: return label({ [Symbol.toPrimitive]() { throw new FuzzSentinel('toPrimitive'); } }, '{toPrimitive throws}');
      case 10: {
        const a = [value(depth + 1), value(depth + 1)];
        Object.defineProperty(a, 1, { get() { sideEffect(depth, 'array element getter'); return view(); } });
        return label(a, '[getter element]');
      }
      case 11: return new Date(NaN);
      case 12: return /x/g;
      case 13: return new Map([[1, 2]]);
      case 14: return Promise.resolve(1);
      case 15: return label(Object.freeze({ stream: undefined, offset: -1 }), 'frozen');
      case 16: return label(Array.from({ length: int(0, 8) }, () => view()), '[views]');
      default: return globalThis;
    }
  }

  /** Any value, weighted toward the kinds that reach native argument checks. */
  function value(depth = 0) {
    if (depth > 3) return pick(NUMBERS);
    const r = rng.next();
    if (r < 0.22) return pick(NUMBERS);
    if (r < 0.25) return pick(BIGINTS);
    if (r < 0.35) return pick(STRINGS);
    if (r < 0.4) return pick([undefined, null, true, false, Symbol('s')]);
    if (r < 0.52) return view();
    if (r < 0.58) return arrayBuffer();
    if (r < 0.75) {
      const objs = env.instances();
      if (objs.length) return pick(objs);
    }
    if (r < 0.8) return callable(depth);
    return object(depth);
  }

  return { value, options, view, arrayBuffer, callable, trappedOptions, sideEffect, proxy, buffers };
}
