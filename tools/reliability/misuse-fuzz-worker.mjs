#!/usr/bin/env node
// One batch of the API misuse fuzzer (misuse-fuzz.mjs runs many, each in its own process, so a
// crash is counted and named instead of ending the run). Makes --calls calls into the native
// addon, drawn from a PRNG seeded with --seed: every exported function, constructor, method and
// accessor with hostile arguments and receivers (misuse-values.mjs), plus targeted sequences
// (copies with overlapping or detached memory, shared memory that shrinks, descriptors, the
// error factory, the TensorRT loader and, with --mode gpu, engines, contexts, runs in flight,
// benchmarks, dispose during flight, objects of another engine). Between them, known-good calls
// whose results are checked: the addon must keep working after every misuse.
//   node misuse-fuzz-worker.mjs --addon PATH --seed S --calls N [--mode cpu|gpu] [--trace] [--stop-after K]
//        [--exclude op,op] [--probe id,id] [--lean PATH] [--fixtures DIR]
// Every call's step and description goes to fd 3 when the parent opened it (the last one names
// the call that crashed a process). The last stdout line is the batch's JSON summary.
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FuzzSentinel, describe, detach, label, makeRng, makeValues, NUMBERS, STRINGS } from './misuse-values.mjs';
import { enumerateAddon, errorCodes, parseBinding, parseParams, compareSurface } from './misuse-surface.mjs';
import { KNOWN } from './misuse-known.mjs';
import { flag, opt } from './cli-args.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const addonPath = resolve(opt('addon', join(root, 'build', 'Release', 'tensorrt_node.node')));
const seed = Number(opt('seed', 1)) >>> 0;
const targetCalls = Number(opt('calls', 5000));
const mode = opt('mode', 'cpu');
const trace = flag('trace');
const stopAfter = Number(opt('stop-after', Infinity));
const excluded = new Set((opt('exclude', '') ?? '').split(',').filter(Boolean));
// known crashes (misuse-known.mjs CRASH_PROBES) are exercised only when asked (--probe id): none now
const fixtures = opt('fixtures', process.env.TRTNODE_FIXTURES ?? join(root, 'fixtures', 'gpu'));

const rng = makeRng(seed);
const { pick, chance, int } = rng;

// ----------------------------------------------------------------------------- the addon

const addon = createRequire(import.meta.url)(addonPath);
/** What lib/errors.ts's factory makes (TensorRtError): the class every addon error must be. */
class FuzzTensorRtError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'TensorRtError';
    this.code = code;
  }
}
const goodFactory = (code, message) => new FuzzTensorRtError(code, message);
if (typeof addon.setErrorFactory !== 'function') throw new Error(`${addonPath} has no setErrorFactory: not the tensorrt-node addon`);
addon.setErrorFactory(goodFactory);
const CODES = errorCodes(join(root, 'lib', 'errors.ts'));
const surface = enumerateAddon(addon);
const declared = parseBinding(join(root, 'lib', 'native', 'binding.ts'));
const mismatches = compareSurface(surface, declared);
const optionKeys = declared.optionKeys.length ? declared.optionKeys : ['stream', 'offset', 'byteLength', 'device'];
const paramHints = parseParams(join(root, 'lib', 'native', 'binding.ts'));
// setErrorFactory is the JS layer's hook, not a user call: fuzzed by its own op, which puts the real factory back.
const plainFunctions = surface.functions.filter((f) => f !== 'setErrorFactory');

// ----------------------------------------------------------------------------- bookkeeping

let step = 0;
let factoryHostile = false;
let progressFd = -1;
try {
  const st = fstatSync(3);
  if (st.isFIFO() || st.isSocket()) progressFd = 3;
} catch {
  /* run by hand: no progress channel */
}
const stats = {
  seed,
  mode,
  calls: 0,
  checks: 0,
  returned: 0,
  threw: 0,
  typed: {},
  typedFallback: 0,
  propagated: 0,
  v8Receiver: 0,
  untyped: 0,
  failures: [], // untyped errors and rejections, failed checks, lost promises (first 50)
  known: {},
  promises: { made: 0, resolved: 0, rejectedTyped: 0, rejectedOther: 0, lost: 0, abandonedAtExit: 0 },
  ops: {},
  surface: { classes: Object.fromEntries(Object.entries(surface.classes).map(([k, v]) => [k, [...v.methods, ...v.getters.map((g) => `get ${g}`)]])), functions: surface.functions },
  mismatches,
};
const failure = (kind, op, desc, error) => {
  const f = { kind, step, op, desc, error };
  const k = KNOWN.find((x) => x.match(f));
  if (k) {
    stats.known[k.id] = (stats.known[k.id] ?? 0) + 1;
    return;
  }
  if (kind === 'untyped') stats.untyped++;
  if (stats.failures.length < 50 || kind === 'fuzzer') stats.failures.push(f);
  else stats.failures.overflow = (stats.failures.overflow ?? 0) + 1;
};
// Reads a property of a thrown value that may be hostile itself (a getter that throws).
const read = (e, k) => {
  try {
    return e?.[k];
  } catch {
    return '<getter threw>';
  }
};
const errText = (e) => (e instanceof Error ? `${e.constructor.name} code=${read(e, 'code')} ${String(read(e, 'message')).split('\n')[0].slice(0, 240)}` : `thrown ${describe(e)}`);
const V8_RECEIVER = /Illegal invocation|cannot be invoked without 'new'|Class constructor/;

/** Sorts one error: typed (a TensorRtError with a known code), or why not. */
function sort(e, ctx, op, desc, kind) {
  const code = read(e, 'code');
  if (e instanceof FuzzTensorRtError && CODES.has(code)) {
    stats.typed[code] = (stats.typed[code] ?? 0) + 1;
    return true;
  }
  if (e instanceof FuzzSentinel) {
    stats.propagated++; // the caller's own exception, from its getter or callback: passed through unchanged
    return true;
  }
  if (ctx.factoryHostile && e instanceof Error && CODES.has(code)) {
    stats.typedFallback++; // the factory misbehaved; the addon's own Error with the code stood in
    return true;
  }
  if (ctx.receiverMisuse && e instanceof TypeError && V8_RECEIVER.test(read(e, 'message'))) {
    stats.v8Receiver++; // V8 refused the receiver before the addon ran
    return true;
  }
  failure(kind, op, desc, errText(e));
  return false;
}

const outstanding = new Set();
function track(p, op, desc, ctx) {
  stats.promises.made++;
  const rec = { op, desc, step, since: Date.now() };
  outstanding.add(rec);
  p.then(
    () => {
      stats.promises.resolved++;
    },
    (e) => {
      if (sort(e, ctx, op, desc, 'rejected') && !(e instanceof FuzzSentinel)) stats.promises.rejectedTyped++;
      else stats.promises.rejectedOther++;
    },
  ).finally(() => outstanding.delete(rec));
  return p;
}

/** One native call: counted, announced on fd 3, its outcome sorted. Returns { ok, value | error }. */
function invoke(op, desc, fn, ctx = {}) {
  if (stats.calls >= stopAfter) return { ok: false, error: new Error('stopped') };
  stats.calls++;
  step++;
  stats.ops[op] = (stats.ops[op] ?? 0) + 1;
  const line = `${step}\t${op}\t${desc}\n`;
  if (progressFd >= 0) writeSync(progressFd, line);
  if (trace) process.stderr.write(line);
  const c = { factoryHostile, ...ctx };
  let r;
  try {
    r = fn();
  } catch (e) {
    stats.threw++;
    sort(e, c, op, desc, 'untyped');
    return { ok: false, error: e };
  }
  stats.returned++;
  if (r !== null && typeof r === 'object' && typeof r.then === 'function') track(r, op, desc, c);
  return { ok: true, value: r };
}
const argsText = (args) => args.map((a) => describe(a)).join(', ');

// ----------------------------------------------------------------------------- native objects

// Everything the fuzzer made: live and disposed objects of every class (GPU), fakes that only
// look like one (a prototype without a native object), objects whose prototype was swapped.
const pool = { live: {}, disposed: {}, fakes: [] };
for (const [name, { ctor }] of Object.entries(surface.classes)) {
  pool.live[name] = [];
  pool.disposed[name] = [];
  pool.fakes.push(label(Object.create(ctor.prototype), `fake ${name}`));
}
/**
 * invoke()'s context for a call with `receiver` as `this` on a method of `cls`: a receiver the
 * fuzzer made up (not a live or disposed object of that class) is refused by V8 before the addon
 * runs ('Illegal invocation'), which counts as V8's refusal, not as an untyped error.
 */
function receiverOf(cls, receiver) {
  return { receiverMisuse: !((pool.live[cls] ?? []).includes(receiver) || (pool.disposed[cls] ?? []).includes(receiver)) };
}
let serial = 0;
function adopt(cls, obj) {
  label(obj, `${cls}#${++serial}`);
  const list = pool.live[cls];
  list.push(obj);
  if (list.length > 12) disposeObject(cls, list.shift());
  return obj;
}
function disposeObject(cls, obj) {
  invoke(`${cls}.dispose`, `${describe(obj)}.dispose()`, () => obj.dispose());
  const i = pool.live[cls].indexOf(obj);
  if (i >= 0) pool.live[cls].splice(i, 1);
  const d = pool.disposed[cls];
  d.push(obj);
  if (d.length > 6) d.shift();
}
function allInstances() {
  const out = [...pool.fakes];
  for (const k of Object.keys(pool.live)) out.push(...pool.live[k], ...pool.disposed[k]);
  for (const c of Object.values(surface.classes)) out.push(c.ctor);
  return out;
}
function disposeSome() {
  const classes = Object.keys(pool.live).filter((k) => pool.live[k].length);
  if (!classes.length) return;
  const cls = pick(classes);
  disposeObject(cls, pick(pool.live[cls]));
}

let reentryDepth = 0;
const values = makeValues(rng, {
  optionKeys,
  instances: allInstances,
  disposeSome,
  reenter: (depth) => {
    if (reentryDepth > 2) return;
    reentryDepth++;
    try {
      genericCall(depth, 'reentrant');
    } finally {
      reentryDepth--;
    }
  },
});
const V = (depth = 0) => values.value(depth);

// ----------------------------------------------------------------------------- generic calls

/** Any exported function, constructor, method or accessor, with hostile arguments and receivers. */
function genericCall(depth = 0, prefix = 'generic') {
  // binding.ts says which parameters are options objects and their keys: those get such objects
  // (with hostile values) most of the time; any parameter may get one with random keys.
  const mkArgs = (target) => {
    const hints = paramHints[target];
    const n = hints && chance(0.7) ? Math.max(0, hints.length + int(-1, 1)) : int(0, 4);
    return Array.from({ length: n }, (_, i) =>
      hints?.[i] && chance(0.7) ? values.options(depth + 1, hints[i]) : i > 0 && chance(0.3) ? values.options(depth + 1) : V(depth + 1),
    );
  };
  const classNames = Object.keys(surface.classes);
  const kind = int(0, 9);
  if ((kind <= 1 || !classNames.length) && plainFunctions.length) {
    const name = pick(plainFunctions);
    const args = mkArgs(name);
    const r = invoke(`${prefix} ${name}`, `${name}(${argsText(args)})`, () => addon[name](...args));
    afterResult(name, r);
    return;
  }
  if (!classNames.length) return;
  const cls = pick(classNames);
  const { ctor, methods, getters } = surface.classes[cls];
  if (kind === 2 || kind === 3) {
    const args = mkArgs(`new ${cls}`);
    const r = invoke(`${prefix} new ${cls}`, `new ${cls}(${argsText(args)})`, () => new ctor(...args));
    if (r.ok) adopt(cls, r.value);
    return;
  }
  if (kind === 4) {
    const args = mkArgs(`new ${cls}`);
    invoke(`${prefix} ${cls}()`, `${cls}(${argsText(args)}) without new`, () => ctor(...args), { receiverMisuse: true });
    return;
  }
  const own = pool.live[cls].length ? pick(pool.live[cls]) : undefined;
  const disposed = pool.disposed[cls].length ? pick(pool.disposed[cls]) : undefined;
  const candidates = [own, own, disposed, pick(allInstances()), V(depth + 1), ctor.prototype, undefined, null, 7].filter((x, i) => i > 1 || x !== undefined);
  const receiver = pick(candidates);
  if ((kind <= 6 && methods.length) || !getters.length) {
    const m = pick(methods);
    const args = mkArgs(`${cls}.${m}`);
    const r = invoke(`${cls}.${m}`, `${describe(receiver)}.${m}(${argsText(args)})`, () => ctor.prototype[m].apply(receiver, args), receiverOf(cls, receiver));
    if (r.ok && m === 'dispose' && pool.live[cls].includes(receiver)) disposeObject(cls, receiver);
    return;
  }
  const g = pick(getters);
  const getter = Object.getOwnPropertyDescriptor(ctor.prototype, g).get;
  invoke(`${cls}.get ${g}`, `${describe(receiver)}.${g}`, () => getter.call(receiver), receiverOf(cls, receiver));
}

/** Results that hold resources: a descriptor from dupFd (always a new one) is closed; nothing else is kept. */
function afterResult(name, r) {
  if (!r.ok) return;
  if (name === 'dupFd' && Number.isInteger(r.value) && r.value >= 0) {
    try {
      closeSync(r.value);
    } catch {
      /* already closed */
    }
  }
}

// ----------------------------------------------------------------------------- shared memory

const shmDir = '/dev/shm';
const shmPrefix = `trtnode-fuzz-${process.pid}-`;
const shm = []; // { key, path, bytes: Buffer (what the file holds), size }
let shmMade = 0;
function shmCreate() {
  const i = shmMade++;
  const size = pick([1, 7, 4096, 4097, int(1, 65536)]);
  const bytes = Buffer.alloc(size);
  for (let k = 0; k < size; k++) bytes[k] = (k * 31 + i * 7 + seed) & 0xff;
  const path = join(shmDir, `${shmPrefix}${i}`);
  writeFileSync(path, bytes);
  shm.push({ key: `/${shmPrefix}${i}`, path, bytes, size });
}
function shmCleanup() {
  for (const s of shm) {
    try {
      unlinkSync(s.path);
    } catch {
      /* unlinked by an op */
    }
  }
}
const haveShm = existsSync(shmDir);
if (haveShm && typeof addon.mapSharedMemory === 'function') for (let i = 0; i < 4; i++) shmCreate();
process.on('exit', shmCleanup);

function shmKey() {
  if (!shm.length || chance(0.3)) return pick([...STRINGS, '/', '//x', `/${shmPrefix}missing`, `/${shmPrefix}0\0x`, `${shmPrefix}0`, `/${'k'.repeat(300)}`]);
  return pick(shm).key;
}
function shmOp() {
  if (!shm.length) return genericCall();
  const s = pick(shm);
  const r = int(0, 9);
  if (r <= 5) {
    // map: usually a region that fits, else offsets and sizes at and past the end, else hostile
    const size = s.size;
    const offset = chance(0.7) ? int(0, size) : chance(0.5) ? pick([size, size + 1, 2 ** 32, 2 ** 53, -1, -0, NaN, 1.5]) : V();
    const bytes = chance(0.7) ? int(0, Math.max(0, size - (typeof offset === 'number' ? offset : 0)) + 1) : V();
    const pin = chance(0.3) ? V() : chance(0.5);
    const key = chance(0.85) ? s.key : shmKey();
    const out = invoke('mapSharedMemory', `mapSharedMemory(${describe(key)}, ${describe(offset)}, ${describe(bytes)}, ${describe(pin)})`, () => addon.mapSharedMemory(key, offset, bytes, pin));
    if (out.ok && key === s.key && Number.isInteger(offset) && Number.isInteger(bytes) && s.valid !== false) {
      const buf = new Uint8Array(out.value.buffer);
      if (buf.length !== bytes) failure('check', 'mapSharedMemory', `length ${buf.length} for byteSize ${bytes}`, 'wrong length');
      else if (offset + bytes <= s.size) {
        for (let k = 0; k < bytes; k += Math.max(1, bytes >> 4)) {
          if (buf[k] !== s.bytes[offset + k]) {
            failure('check', 'mapSharedMemory', `${s.key} byte ${offset + k}`, `read ${buf[k]}, the file holds ${s.bytes[offset + k]}`);
            break;
          }
        }
      }
    }
    return;
  }
  if (r === 6) {
    // the object shrinks (or grows) under existing mappings; later maps must see the new size
    const size = pick([0, 1, Math.floor(s.size / 2), s.size + 4096]);
    try {
      const fd = openSync(s.path, 'r+');
      ftruncateSync(fd, size);
      closeSync(fd);
      s.bytes = Buffer.concat([s.bytes.subarray(0, Math.min(size, s.size)), Buffer.alloc(Math.max(0, size - s.size))]);
      s.size = size;
    } catch {
      /* unlinked */
    }
    return;
  }
  if (r === 7) {
    try {
      unlinkSync(s.path);
    } catch {
      /* unlinked before */
    }
    s.valid = false;
    const key = s.key;
    invoke('mapSharedMemory', `mapSharedMemory(${key} unlinked)`, () => addon.mapSharedMemory(key, 0, 1));
    shm.splice(shm.indexOf(s), 1);
    shmCreate();
    return;
  }
  if (r === 8 && s.size > 1) {
    // a mapping read after its object shrank below it: SIGBUS once (a crash probe until
    // 2026-12-07); the SIGBUS guard of shared_memory.cc makes it read zeros
    const m = invoke('mapSharedMemory', `mapSharedMemory(${s.key}, 0, ${s.size}) then truncate to 0 and read`, () => addon.mapSharedMemory(s.key, 0, s.size));
    if (m.ok) {
      const fd = openSync(s.path, 'r+');
      ftruncateSync(fd, 0);
      closeSync(fd);
      s.bytes = Buffer.alloc(0);
      s.size = 0;
      const view = new Uint8Array(m.value.buffer);
      const read = invoke('shm-truncate-touch', `read byte ${view.length - 1} of a mapping whose object is now empty`, () => view[view.length - 1]);
      if (read.ok && read.value !== 0) failure('check', 'shm-truncate-touch', `${s.key} byte ${view.length - 1}`, `read ${read.value} past the end of the object, not 0`);
    }
    return;
  }
  if (r === 9 && chance(0.3)) return shmHugeOp();
  const args = [shmKey(), V(), V(), V()];
  invoke('mapSharedMemory', `mapSharedMemory(${argsText(args)})`, () => addon.mapSharedMemory(...args));
}
// A region around 2^32 bytes of a sparse object (nothing is written or read: no memory is used):
// longer than an ArrayBuffer of Node 20, such a region once aborted the process (a double free in
// N-API's refusal); now it is mapped when this Node can hold it, else refused with a typed error.
let shmHuge;
function shmHugeOp() {
  shmHuge ??= (() => {
    const path = join(shmDir, `${shmPrefix}huge`);
    try {
      const fd = openSync(path, 'w');
      ftruncateSync(fd, 2 ** 32 + 8192);
      closeSync(fd);
    } catch {
      return null;
    }
    process.on('exit', () => rmSync(path, { force: true }));
    return { key: `/${shmPrefix}huge`, size: 2 ** 32 + 8192 };
  })();
  if (!shmHuge) return genericCall();
  const offset = pick([0, 1, 4096, 8191]);
  const bytes = pick([2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, shmHuge.size - offset]);
  const out = invoke('mapSharedMemory', `mapSharedMemory(${shmHuge.key}, ${offset}, ${bytes}) of a sparse ${shmHuge.size}-byte object`, () => addon.mapSharedMemory(shmHuge.key, offset, bytes, false));
  if (out.ok && out.value.buffer.byteLength !== bytes) failure('check', 'mapSharedMemory', `${shmHuge.key} ${offset}+${bytes}`, `length ${out.value.buffer.byteLength}`);
  if (out.ok) out.value.close();
}

// ----------------------------------------------------------------------------- descriptors

const selfFd = openSync(fileURLToPath(import.meta.url), 'r');
function dupFdOp() {
  const fd = chance(0.5) ? pick([0, 1, 2, selfFd, 3, 1023, 65535, 2 ** 31 - 1]) : pick([-1, -0, 0.5, NaN, Infinity, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 53, 2 ** 63, ...STRINGS.slice(0, 4), V()]);
  afterResult('dupFd', invoke('dupFd', `dupFd(${describe(fd)})`, () => addon.dupFd(fd)));
}

// ----------------------------------------------------------------------------- _copySegments

const copyFn = typeof addon._copySegments === 'function' ? '_copySegments' : null;
function hostMemory(bytes) {
  switch (int(0, 7)) {
    case 0: return label(new Uint8Array(new SharedArrayBuffer(bytes)), 'u8(SAB)');
    case 1: return label(new Uint8Array(new ArrayBuffer(bytes, { maxByteLength: bytes * 2 + 8 })), 'u8(resizable)');
    case 2: return label(new Float64Array(Math.ceil(bytes / 8)), 'f64');
    case 3: return label(new DataView(new ArrayBuffer(bytes)), 'DataView');
    default: return new Uint8Array(bytes);
  }
}
function copySegmentsOp() {
  if (!copyFn) return genericCall();
  const big = chance(0.08);
  const total = big ? int(1 << 20, 3 << 20) : int(0, 4096);
  const dst = hostMemory(total + int(0, 64));
  const nParts = big ? int(1, 12) : int(0, 6);
  const parts = [];
  let left = total;
  let clean = !(dst instanceof DataView);
  for (let i = 0; i < nParts; i++) {
    const n = i === nParts - 1 ? left : int(0, left);
    left -= n;
    const r = rng.next();
    if (r < 0.06 && dst.byteLength > 0) {
      // a view of the destination itself: overlapping (refused) or in place
      const u8 = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
      parts.push(label(u8.subarray(int(0, Math.max(0, u8.length - 1)), u8.length), 'view of dst'));
      clean = false;
    } else if (r < 0.1) {
      parts.push(values.view());
      clean = false;
    } else if (r < 0.13) {
      const p = new Uint8Array(n);
      detach(p.buffer);
      parts.push(label(p, 'u8(detached)'));
      clean = false;
    } else {
      const p = hostMemory(n);
      const u8 = new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
      for (let k = 0; k < u8.length; k += 97) u8[k] = (k + i) & 0xff;
      parts.push(p);
    }
  }
  let partsArg = parts;
  if (chance(0.08)) {
    // reading the array runs JS that detaches the destination first
    partsArg = [...parts];
    Object.defineProperty(partsArg, 0, {
      get() {
        if (dst.buffer instanceof ArrayBuffer) detach(dst.buffer);
        return parts[0];
      },
    });
    label(partsArg, '[getter detaches dst]');
    clean = false;
  }
  const segment = chance(0.85) ? pick([0, 1, 4096, 65536, 1 << 20, 4 << 20, int(1, 1 << 21)]) : pick([...NUMBERS, V()]);
  const dstArg = chance(0.05) ? V() : dst;
  const expected = clean && dstArg === dst ? parts.map((p) => Buffer.from(new Uint8Array(p.buffer, p.byteOffset, p.byteLength))) : null;
  const r = invoke(`copy ${copyFn}`, `${copyFn}(${describe(dstArg)}, ${describe(partsArg)}, ${describe(segment)})`, () => addon[copyFn](dstArg, partsArg, segment));
  if (r.ok && expected) {
    const got = Buffer.from(new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength));
    const want = Buffer.concat(expected);
    if (!got.subarray(0, want.length).equals(want)) failure('check', `copy ${copyFn}`, `${want.length} bytes`, 'the destination does not hold the parts');
    checkSegments(r.value, want.length, `copy ${copyFn}`);
  }
}
function checkSegments(seg, total, op) {
  if (!Array.isArray(seg) || seg.length % 2) return failure('check', op, 'segments', `not [begin, end, ...]: ${describe(seg)}`);
  let at = 0;
  for (let i = 0; i < seg.length; i += 2) {
    if (seg[i] !== at || seg[i + 1] <= seg[i]) return failure('check', op, 'segments', `segment ${i / 2} is [${seg[i]}, ${seg[i + 1]}), expected to start at ${at}`);
    at = seg[i + 1];
  }
  if (at !== total) failure('check', op, 'segments', `the segments end at ${at}, not ${total}`);
}

// ----------------------------------------------------------------------------- the error factory

function factoryOp() {
  const kinds = {
    throws: () => {
      throw new FuzzSentinel('error factory');
    },
    undefined: () => undefined,
    string: (code) => code,
    object: () => ({}),
    'wrong code': (code, m) => Object.assign(new Error(m), { code: 'ERR_SOMETHING_ELSE' }),
    'no code': (code, m) => new Error(m),
    'code getter throws': () => Object.defineProperty(new Error('x'), 'code', { get() { throw new FuzzSentinel('code getter'); } }),
    reenters: (code, m) => {
      // an error made while making an error
      try {
        addon.cudaInfo();
        addon.dupFd(-1);
      } catch {
        /* a typed error of its own */
      }
      return new FuzzTensorRtError(code, m);
    },
    recursion: (code, m) => {
      // unbounded: every level errors again until the stack runs out
      addon.dupFd(-1);
      return new FuzzTensorRtError(code, m);
    },
    'disposes things': (code, m) => {
      disposeSome();
      return new FuzzTensorRtError(code, m);
    },
  };
  const name = pick(Object.keys(kinds));
  const hostile = kinds[name];
  invoke('setErrorFactory', `setErrorFactory(${name})`, () => addon.setErrorFactory(hostile));
  factoryHostile = true;
  try {
    for (let i = int(1, 3); i > 0; i--) {
      const fd = pick([-1, NaN, 'x']);
      const r = invoke('factory: failing call', `dupFd(${describe(fd)}) with the ${name} factory`, () => addon.dupFd(fd));
      if (r.ok) failure('check', 'factory', `dupFd(${describe(fd)})`, 'no error');
      afterResult('dupFd', r);
    }
    if (chance(0.3)) genericCall();
  } finally {
    factoryHostile = false;
    invoke('setErrorFactory', 'setErrorFactory(good)', () => addon.setErrorFactory(goodFactory));
  }
  // the real factory is back: errors are TensorRtErrors again
  const r = invoke('factory: restored', 'dupFd(-1) after restoring the factory', () => addon.dupFd(-1));
  if (r.ok || !(r.error instanceof FuzzTensorRtError)) failure('check', 'factory', 'dupFd(-1)', `after restoring the factory: ${r.ok ? 'no error' : errText(r.error)}`);
  if (chance(0.2)) invoke('setErrorFactory', 'setErrorFactory(42)', () => addon.setErrorFactory(42));
}

// ----------------------------------------------------------------------------- the TensorRT loader

// (named by the pid: the parent removes what a crashed worker leaves behind)
const scratch = mkdtempSync(join(tmpdir(), `trtnode-misuse-${process.pid}-`));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const leanPath = (() => {
  const given = opt('lean', process.env.TRTNODE_LEAN_LIB);
  if (given && existsSync(given)) return given;
  if (mode === 'gpu') return undefined; // with a GPU, a second TensorRT in the process only when asked (--lean)
  for (const dir of [process.env.TRTNODE_TOOLCHAIN_DIR, join(root, '.cache', 'toolchain')].filter(Boolean)) {
    if (!existsSync(dir)) continue;
    for (const d of readdirSync(dir).filter((n) => /^tensorrt-.*-lean$/.test(n))) {
      const f = join(dir, d, 'tensorrt_lean_libs', 'libnvinfer_lean.so.10');
      if (existsSync(f)) return f;
    }
  }
  return undefined;
})();
// Library paths the loader is handed: none is a library whose loading could harm the process
// (only TensorRT's own, libc, and files that are no library at all).
const libraryPaths = (() => {
  const empty = join(scratch, 'empty.so');
  writeFileSync(empty, '');
  const text = join(scratch, 'text.so');
  writeFileSync(text, 'not an ELF file\n');
  const list = [empty, text, scratch, '/dev/null', '/nonexistent/libnvinfer.so.10', 'libnvinfer.so.10', 'libnvinfer_lean.so.10', '', `${scratch}\0/x`, 'x'.repeat(5000)];
  const libc = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6'].find(existsSync);
  if (libc) list.push(libc);
  if (leanPath) {
    const truncated = join(scratch, 'libnvinfer_lean_truncated.so.10');
    const fd = openSync(leanPath, 'r');
    const head = Buffer.alloc(8192);
    const n = readSyncSafe(fd, head);
    closeSync(fd);
    writeFileSync(truncated, head.subarray(0, n));
    list.push(leanPath, leanPath, leanPath.replace(/\/([^/]+)$/, '/./$1'), `${leanPath}\0.txt`);
    // a cut copy of a real library: dlopen died of SIGBUS on it until trt_library.cc checked the ELF's segments
    list.push(truncated, truncated, truncated);
  }
  return list;
})();
function readSyncSafe(fd, buf) {
  try {
    return readSync(fd, buf, 0, buf.length, 0);
  } catch {
    return 0;
  }
}
function runtimeOp() {
  const o = {};
  if (chance(0.85)) o.libraryPath = chance(0.85) ? pick(libraryPaths) : V();
  if (chance(0.5)) o.flavor = chance(0.6) ? pick(['auto', 'full', 'lean', 'dispatch']) : pick([...STRINGS, V()]);
  if (chance(0.4)) o.device = chance(0.5) ? pick([0, 1, 7]) : pick(NUMBERS);
  if (chance(0.3)) o.logSeverity = chance(0.5) ? int(0, 4) : V();
  if (chance(0.2)) o.onLog = values.callable(0);
  if (chance(0.2)) o.hostCodeAllowed = chance(0.5) ? chance(0.5) : V();
  const arg = chance(0.1) ? values.trappedOptions(Object.keys(o).length ? Object.keys(o) : ['libraryPath'], 0) : chance(0.05) ? V() : o;
  const r = invoke('new Runtime (loader)', `new Runtime(${describe(arg)})`, () => new addon.Runtime(arg));
  // (with a GPU, a runtime of another TensorRT version must not meet the fixture plans: dropped)
  if (r.ok && mode !== 'gpu') adopt('Runtime', r.value);
  else if (r.ok) invoke('Runtime.dispose', 'loader runtime.dispose()', () => r.value.dispose());
}

// ----------------------------------------------------------------------------- worker threads

// The addon loaded in a worker_threads Worker (its own environment: its own instance data and
// error factory) that misuses it and exits, or is terminated in the middle of its calls. The
// environment's teardown must neither crash nor disturb this thread's use of the addon, which
// the known-good checks after it see.
const workerSource = `
  const { parentPort, workerData } = require('node:worker_threads');
  const b = require(workerData.addon);
  b.setErrorFactory((code, message) => Object.assign(new Error(message), { code, typed: true }));
  const calls = [
    () => b.dupFd(-1), () => b.cudaInfo(), () => new b.DeviceBuffer(16), () => new b.HostBuffer(16), () => new b.Stream({}),
    () => new b.HostBuffer(-1), () => new b.DeviceBuffer(2 ** 60),
    () => new b.Runtime({ libraryPath: '/nonexistent/libnvinfer.so.10' }), () => b.markTimingEpoch(NaN), () => b.dupFd(2 ** 32 + 1),
    () => Object.getOwnPropertyDescriptor(b.HostBuffer.prototype, 'byteLength').get.call({}),
  ];
  let typed = 0, returned = 0;
  const other = [];
  for (let i = 0; i < workerData.n; i++) {
    try {
      const r = calls[i % calls.length]();
      returned++;
      if (r && typeof r.dispose === 'function' && i % 2) r.dispose(); // the rest are left to the environment's teardown
    } catch (e) {
      if (e && e.typed && typeof e.code === 'string') typed++;
      else other.push(String(e && e.message));
    }
  }
  parentPort.postMessage({ typed, returned, other: other.slice(0, 5) });
`;
async function workerThreadOp() {
  const n = int(1, 200);
  const terminate = chance(0.4);
  const w = new Worker(workerSource, { eval: true, workerData: { addon: addonPath, n } });
  const step0 = step;
  invoke('worker-thread', `a Worker loads the addon, makes ${n} calls and ${terminate ? 'is terminated meanwhile' : 'exits'}`, () => undefined);
  let report;
  w.on('message', (m) => (report = m));
  const exited = new Promise((resolve) => w.once('exit', resolve));
  w.once('error', (e) => failure('worker-thread', 'worker-thread', `Worker after step ${step0}`, errText(e)));
  if (terminate) setTimeout(() => w.terminate(), int(0, 5));
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
  if (code === 'timeout') {
    failure('worker-thread', 'worker-thread', `Worker after step ${step0}`, 'did not exit within 30 s');
    await w.terminate();
    return;
  }
  if (report) {
    stats.calls += report.typed + report.returned + report.other.length;
    stats.ops['worker-thread calls'] = (stats.ops['worker-thread calls'] ?? 0) + report.typed + report.returned + report.other.length;
    for (const m of report.other) failure('untyped', 'worker-thread', 'a call in a Worker', m);
  } else if (!terminate) failure('worker-thread', 'worker-thread', `Worker after step ${step0}`, `exited with ${code} without its report`);
}

// ----------------------------------------------------------------------------- known-good calls

// Each answers the same way all through the batch (a result signature: 'ok' or the error's
// code), as it did at its start; the copy and descriptor checks also verify their results.
const signature = (f) => {
  try {
    const r = f();
    return { sig: 'ok', value: r };
  } catch (e) {
    return { sig: e instanceof FuzzTensorRtError ? e.code : `untyped ${errText(e)}` };
  }
};
const has = (name) => typeof addon[name] === 'function';
const goodChecks = Object.fromEntries(
  [
    ['cudaInfo', has('cudaInfo') && (() => addon.cudaInfo())],
    ['markTimingEpoch', has('markTimingEpoch') && (() => addon.markTimingEpoch(0))],
    ['deviceBuffer', has('DeviceBuffer') && (() => new addon.DeviceBuffer(4096).dispose())],
    ['hostBuffer', has('HostBuffer') && (() => new addon.HostBuffer(4096).dispose())],
    ['stream', has('Stream') && (() => new addon.Stream({}).dispose())],
    ['leanRuntime', has('Runtime') && leanPath && (() => new addon.Runtime({ libraryPath: leanPath, flavor: 'lean' }).dispose())],
  ].filter(([, f]) => f),
);
const baseline = {};
function checkOp() {
  stats.checks++;
  const kind = int(0, 5);
  if (kind === 0 && copyFn) {
    const total = chance(0.1) ? int(1 << 20, 2 << 20) : int(1, 8192);
    const dst = new Uint8Array(total);
    const parts = [];
    for (let at = 0; at < total; ) {
      const n = Math.min(total - at, int(1, Math.max(1, total >> 2)));
      const p = new Uint8Array(n);
      for (let k = 0; k < n; k++) p[k] = (at + k) * 13;
      parts.push(p);
      at += n;
    }
    const seg = pick([0, 4096, 1 << 20]);
    const r = invoke('check copy', `${copyFn}(u8(${total}), ${parts.length} parts, ${seg})`, () => addon[copyFn](dst, parts, seg));
    if (!r.ok) return failure('check', 'check copy', `${total} bytes`, errText(r.error));
    for (let k = 0; k < total; k += 61) if (dst[k] !== ((k * 13) & 0xff)) return failure('check', 'check copy', `byte ${k}`, `got ${dst[k]}`);
    return checkSegments(r.value, total, 'check copy');
  }
  if (kind === 1 && typeof addon.dupFd === 'function') {
    const r = invoke('check dupFd', `dupFd(${selfFd})`, () => addon.dupFd(selfFd));
    if (!r.ok) return failure('check', 'check dupFd', `dupFd(${selfFd})`, errText(r.error));
    const same = fstatSync(r.value).ino === fstatSync(selfFd).ino;
    closeSync(r.value);
    if (!same) failure('check', 'check dupFd', `dupFd(${selfFd})`, 'the duplicate is another file');
    return;
  }
  if (kind === 2 && shm.length) {
    const s = shm.find((x) => x.size > 0 && x.valid !== false);
    if (!s) return;
    const off = int(0, s.size - 1);
    const n = int(1, s.size - off);
    const r = invoke('check mapSharedMemory', `mapSharedMemory(${s.key}, ${off}, ${n})`, () => addon.mapSharedMemory(s.key, off, n));
    if (!r.ok) return failure('check', 'check mapSharedMemory', `${s.key} ${off}+${n} of ${s.size}`, errText(r.error));
    const view = new Uint8Array(r.value.buffer);
    if (view.length !== n || view[0] !== s.bytes[off] || view[n - 1] !== s.bytes[off + n - 1]) return failure('check', 'check mapSharedMemory', `${s.key} ${off}+${n}`, 'contents differ from the file');
    view[0] ^= 0xff; // shared: the file sees the write
    s.bytes[off] ^= 0xff;
    if (readFileSync(s.path)[off] !== s.bytes[off]) failure('check', 'check mapSharedMemory', `${s.key} byte ${off}`, 'a write through the mapping did not reach the object');
    return;
  }
  if (mode === 'gpu' && kind === 3) return gpu.check();
  const names = Object.keys(goodChecks);
  if (!names.length) return;
  const name = pick(names);
  let got;
  invoke(`check ${name}`, `${name} (known-good)`, () => {
    got = signature(goodChecks[name]);
  });
  if (got.sig !== baseline[name].sig) failure('check', `check ${name}`, name, `answered ${got.sig}, at the start of the batch ${baseline[name].sig}`);
  else if (name === 'cudaInfo' && got.sig === 'ok' && got.value.devices.length !== baseline.cudaInfo.value.devices.length) failure('check', 'check cudaInfo', 'devices', 'the device count changed');
}

// ----------------------------------------------------------------------------- GPU mode

const gpu = mode === 'gpu' ? await import('./misuse-fuzz-gpu.mjs').then((m) => m.makeGpuOps({ addon, rng, values, invoke, receiverOf, failure, adopt, disposeObject, pool, describe, argsText, fixtures, FuzzTensorRtError, errText, outstanding, stats, step: () => step })) : null;

// ----------------------------------------------------------------------------- the batch

// Each targeted op runs where the addon has what it targets (a newer or older addon, or a stand-in
// in the fuzzer's own test, may lack some); the generic op fuzzes whatever is there.
const ops = [
  ['generic', 40, genericCall],
  ['copy', 10, copySegmentsOp, copyFn !== null],
  ['shm', 8, shmOp, has('mapSharedMemory') && shm.length > 0],
  ['dupfd', 4, dupFdOp, has('dupFd')],
  ['factory', 2, factoryOp, has('dupFd')],
  ['runtime', 6, runtimeOp, has('Runtime')],
  ['check', 8, checkOp],
  ['worker-thread', 0.025, workerThreadOp],
  ...(gpu ? gpu.ops : []),
].filter(([name, , , available = true]) => available && !excluded.has(name));
const totalWeight = ops.reduce((s, [, w]) => s + w, 0);
function pickOp() {
  let r = rng.next() * totalWeight;
  for (const o of ops) if ((r -= o[1]) < 0) return o;
  return ops[ops.length - 1];
}

for (const name of Object.keys(goodChecks)) {
  baseline[name] = signature(goodChecks[name]);
  if (baseline[name].sig.startsWith('untyped')) failure('check', `baseline ${name}`, name, baseline[name].sig);
}
if (gpu) await gpu.setup();
const started = Date.now();
const exitInFlight = gpu ? chance(0.25) : false; // leave work in flight and exit: the cleanup hook must cope
while (stats.calls < targetCalls && stats.calls < stopAfter) {
  const [name, , fn] = pickOp();
  try {
    await fn();
  } catch (e) {
    // a bug of the fuzzer itself, not of the addon: say so and stop
    failure('fuzzer', name, 'the fuzzer threw outside a native call', `${errText(e)}\n${e?.stack}`);
    break;
  }
  if (gpu && stats.calls % 64 === 0) await gpu.breathe();
}
if (gpu && !exitInFlight) await gpu.finish();
// what is still outstanding after the settle time never settled
const deadline = Date.now() + (gpu && !exitInFlight ? 60_000 : 2_000);
while (outstanding.size && Date.now() < deadline && !exitInFlight) await new Promise((r) => setTimeout(r, 10));
for (const rec of outstanding) {
  if (exitInFlight) stats.promises.abandonedAtExit++;
  else {
    stats.promises.lost++;
    failure('lost', rec.op, rec.desc, `never settled (made at step ${rec.step})`);
  }
}
stats.seconds = (Date.now() - started) / 1000;
stats.exitInFlight = exitInFlight;
closeSync(selfFd);
process.stdout.write(`${JSON.stringify(stats)}\n`, () => process.exit(0));
