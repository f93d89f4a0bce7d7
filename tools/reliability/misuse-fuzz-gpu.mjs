// The GPU part of the API misuse fuzzer (misuse-fuzz-worker.mjs --mode gpu): engines from the GPU
// fixtures (fixtures/gpu/engines/*.plan, TensorRT found through TENSORRT_LIB_DIR), contexts on
// several streams, buffers bound to several contexts at once, runs and benchmarks in flight while
// their context, engine, stream and buffers are reconfigured or disposed, names and objects of
// another engine, accessors called on objects of another class, and the tiny fixture run and
// checked against its reference outputs between all that (the addon must keep computing right).
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FuzzSentinel, NUMBERS, STRINGS, detach, label } from './misuse-values.mjs';
import { relError } from './rel-error.mjs';

const readFileSyncSafe = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

// trtDataType → bits per element (nvinfer1::DataType order)
const BITS = { 0: 32, 1: 16, 2: 8, 3: 32, 4: 8, 5: 8, 6: 8, 7: 16, 8: 64, 9: 4, 10: 4, 11: 8 };
const SETTLE_MS = 30_000;

export function makeGpuOps(f) {
  const { addon, rng, values, invoke, receiverOf, failure, adopt, disposeObject, pool, describe, argsText, fixtures, FuzzTensorRtError, errText, outstanding, stats, step } = f;
  const { pick, chance, int } = rng;
  const V = (d = 0) => values.value(d);
  const meta = new WeakMap(); // native object → what the fuzzer knows of it
  const live = (cls) => pool.live[cls] ?? [];
  const any = (cls) => [...live(cls), ...(pool.disposed[cls] ?? [])];
  // maybe() also hands out made-up receivers (NaN, a typed array...): calls on them pass receiverOf(cls, obj)
  const maybe = (cls) => (live(cls).length && chance(0.85) ? pick(live(cls)) : chance(0.5) && any(cls).length ? pick(any(cls)) : V());
  let ready = false;
  let good = null;
  const plans = [];

  // ------------------------------------------------------------------------- setup

  async function setup() {
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(fixtures, 'manifest.json'), 'utf8'));
    } catch (e) {
      failure('setup', 'gpu setup', `${fixtures}/manifest.json`, errText(e));
      return;
    }
    for (const [name, e] of Object.entries(manifest.engines)) {
      const path = join(fixtures, e.plan);
      // (the small plans: ResNet-50's would cost each context 130 MB and each deserialization a second)
      if (existsSync(path) && e.bytes < 8 << 20) plans.push({ name, path, bytes: readFileSync(path), manifest: e });
    }
    const rt = invoke('gpu setup', 'new Runtime({ logSeverity: 1 })', () => new addon.Runtime({ logSeverity: 1 }));
    if (!rt.ok) {
      failure('setup', 'gpu setup', 'new Runtime()', `${errText(rt.error)} (TENSORRT_LIB_DIR=${process.env.TENSORRT_LIB_DIR})`);
      return;
    }
    adopt('Runtime', rt.value);
    for (const p of plans) {
      const e = invoke('gpu setup', `deserialize(${p.name})`, () => rt.value.deserialize(p.bytes));
      if (e.ok) adoptEngine(e.value, p);
      else failure('setup', 'gpu setup', `deserialize ${p.name}`, errText(e.error));
    }
    good = makeGood(rt.value);
    ready = good !== null;
    if (ready) await selfTest(rt.value);
  }

  /** The fixes of issue 20 on paths only a GPU reaches, checked the same way in every batch. */
  async function selfTest(rt) {
    const expectCode = (what, fn, code) => {
      const r = invoke('gpu self-test', what, fn);
      const got = r.ok ? 'no error' : r.error instanceof FuzzTensorRtError ? r.error.code : errText(r.error);
      if (got !== code) failure('check', 'gpu self-test', what, `expected ${code}, got ${got}`);
      return r;
    };
    const stream = new addon.Stream({});
    const d = new addon.DeviceBuffer(4096);
    const h = new addon.HostBuffer(4096);
    const u8 = new Uint8Array(16);
    for (const offset of [-1, NaN, 1.5, 2 ** 53, 4097, '0']) expectCode(`copyFrom offset ${describe(offset)}`, () => d.copyFrom(u8, { stream, offset }), 'ERR_INVALID_ARGUMENT');
    for (const srcOffset of [-1, 17, Infinity]) expectCode(`copyFrom srcOffset ${srcOffset}`, () => d.copyFrom(u8, { stream, srcOffset }), 'ERR_INVALID_ARGUMENT');
    for (const byteLength of [-1, NaN, 0.5]) expectCode(`copyFrom byteLength ${byteLength}`, () => d.copyFrom(u8, { stream, byteLength }), 'ERR_INVALID_ARGUMENT');
    expectCode('copyFrom byteLength 17 of 16', () => d.copyFrom(u8, { stream, byteLength: 17 }), 'ERR_BUFFER_TOO_SMALL');
    expectCode('copyFrom options 7', () => d.copyFrom(u8, 7), 'ERR_INVALID_ARGUMENT');
    for (const v of [256, -1, 1.5, NaN]) expectCode(`fill(${v})`, () => d.fill(v, { stream }), 'ERR_INVALID_ARGUMENT');
    // a SharedArrayBuffer view is host memory: there and back
    const src = new Uint8Array(new SharedArrayBuffer(4096)).map((_, i) => (i * 7) & 0xff);
    const back = new Uint8Array(new SharedArrayBuffer(4096));
    const up = expectCode('copyFrom(SAB view)', () => d.copyFrom(src, { stream }), 'no error');
    const down = expectCode('copyTo(SAB view)', () => d.copyTo(back, { stream }), 'no error');
    if (up.ok && down.ok) {
      const r = await settle(down.value, 'copyTo(SAB view)');
      if (r.ok && !Buffer.from(back).equals(Buffer.from(src))) failure('check', 'gpu self-test', 'SAB round trip', 'the bytes came back different');
    }
    // a getter of the options disposes the stream the copy was to use: refused, nothing enqueued
    const s2 = new addon.Stream({});
    expectCode('copyFrom with a getter that disposes its stream', () => d.copyFrom(u8, { stream: s2, get offset() { s2.dispose(); return 0; } }), 'ERR_DISPOSED');
    // accessors and arguments of the wrong class
    const getter = (cls, name) => Object.getOwnPropertyDescriptor(addon[cls].prototype, name).get;
    expectCode('HostBuffer.byteLength on a DeviceBuffer', () => getter('HostBuffer', 'byteLength').call(d), 'ERR_INVALID_ARGUMENT');
    expectCode('DeviceBuffer.address on a HostBuffer', () => getter('DeviceBuffer', 'address').call(h), 'ERR_INVALID_ARGUMENT');
    expectCode('Runtime.info on a DeviceBuffer', () => getter('Runtime', 'info').call(d), 'ERR_INVALID_ARGUMENT');
    expectCode('Engine.io on a Runtime', () => getter('Engine', 'io').call(rt), 'ERR_INVALID_ARGUMENT');
    const proto = Object.getPrototypeOf(h);
    Object.setPrototypeOf(h, addon.DeviceBuffer.prototype);
    try {
      expectCode('setTensorAddress(HostBuffer with the prototype of a DeviceBuffer)', () => good.ctx.setTensorAddress('x', h), 'ERR_INVALID_ARGUMENT');
    } finally {
      Object.setPrototypeOf(h, proto);
      good.ctx.setTensorAddress('x', good.dev.x);
    }
    // plan files: only regular files, no NUL, no allocation of what a sparse file claims
    expectCode("deserialize('/dev/zero')", () => rt.deserialize('/dev/zero'), 'ERR_INVALID_ARGUMENT');
    expectCode('deserialize(a directory)', () => rt.deserialize(fixtures), 'ERR_INVALID_ARGUMENT');
    if (plans[0]) expectCode('deserialize(path with a NUL)', () => rt.deserialize(`${plans[0].path}\0.txt`), 'ERR_INVALID_ARGUMENT');
    expectCode('setLogSeverity(9)', () => rt.setLogSeverity(9), 'ERR_INVALID_ARGUMENT');
    expectCode("setLogSeverity('x')", () => rt.setLogSeverity('x'), 'ERR_INVALID_ARGUMENT');
    expectCode('setLogger(42)', () => rt.setLogger(42), 'ERR_INVALID_ARGUMENT');
    const count = addon.cudaInfo().devices.length;
    expectCode(`markTimingEpoch(${count}) (no such device)`, () => addon.markTimingEpoch(count), 'ERR_INVALID_ARGUMENT');
    expectCode(`new DeviceBuffer(16, { device: ${count} })`, () => new addon.DeviceBuffer(16, { device: count }), 'ERR_INVALID_ARGUMENT');
    for (let i = 0; i < 100; i++) addon.markTimingEpoch(0); // each mark frees the one before it once nothing measures from it
    for (const o of [d, h, stream]) o.dispose();
  }

  function adoptEngine(engine, plan) {
    meta.set(engine, { plan, io: engine.io, profiles: engine.profiles });
    adopt('Engine', engine);
  }

  /** The tiny fixture on its own stream, with staging, bound once and never touched by the fuzzer. */
  function makeGood(rt) {
    const plan = plans.find((p) => p.name === 'tiny');
    if (!plan) {
      failure('setup', 'gpu setup', 'tiny', `no tiny.plan in ${fixtures}`);
      return null;
    }
    const ref = plan.manifest.refs?.b1;
    const load = (t) => {
      const b = readFileSync(join(fixtures, t.file));
      return t.dtype === 'int32' ? new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) : new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    };
    try {
      const engine = rt.deserialize(plan.bytes);
      const g = { rt, engine, refs: { in: {}, out: {} } };
      for (const [k, t] of Object.entries(ref.inputs)) g.refs.in[k] = load(t);
      for (const [k, t] of Object.entries(ref.outputs)) g.refs.out[k] = load(t);
      Object.assign(g, bindGood(engine, new addon.Stream({})));
      return g;
    } catch (e) {
      failure('setup', 'gpu setup', 'the known-good tiny context', errText(e));
      return null;
    }
  }
  function bindGood(engine, stream) {
    const ctx = new addon.ExecutionContext(engine, stream, {});
    const host = {};
    const dev = {};
    for (const t of engine.io) {
      dev[t.name] = new addon.DeviceBuffer(64);
      host[t.name] = new addon.HostBuffer(64);
      ctx.setTensorAddress(t.name, dev[t.name]);
      ctx.setHostStaging(t.name, host[t.name]);
    }
    return { ctx, stream, host, dev };
  }

  // ------------------------------------------------------------------------- helpers

  // Streams made with jsCompletion: true leave their completions to the JS thread, which must
  // call poll() (the library's poller does, for completion: 'poll'). The fuzzer stands in for
  // that poller while it awaits something, or work on such a stream would never settle: the GPU
  // run of 2026-12-07 counted those waits as hangs of the known-good check.
  // (A stream says so itself: options with getters may have told the addon another value than
  // the fuzzer read, and streams made by generic calls are not in this set.)
  const jsStreams = new Set();
  const pollJsStreams = () => {
    for (const st of live('Stream')) {
      try {
        if (st.jsCompletion) jsStreams.add(st);
      } catch {
        /* a disposed or confused stream */
      }
    }
    for (const st of jsStreams) {
      try {
        addon.Stream.prototype.poll.call(st, 0);
      } catch {
        jsStreams.delete(st);
      }
    }
  };
  // state(): what to report of the objects involved if p does not settle in time
  const settle = (p, what, state) => {
    let waiting = true;
    const pump = () => {
      if (!waiting) return;
      pollJsStreams();
      setImmediate(pump);
    };
    setImmediate(pump);
    return Promise.race([
      p.then(
        (v) => ({ ok: true, value: v }),
        (e) => ({ ok: false, error: e }),
      ),
      new Promise((r) => setTimeout(() => r({ lost: true }), SETTLE_MS).unref()),
    ]).then((r) => {
      waiting = false;
      if (r.lost) failure('lost', what, what, `not settled after ${SETTLE_MS / 1000} s${state ? `; ${safeState(state)}` : ''}`);
      return r;
    });
  };
  const safeState = (state) => {
    try {
      return state();
    } catch (e) {
      return `(state unreadable: ${errText(e)})`;
    }
  };
  // A stream or context as the lost-promise report shows it: its own counters, read safely.
  const streamState = (st) => {
    if (!st) return 'no stream';
    const get = (k) => {
      try {
        return String(Object.getOwnPropertyDescriptor(addon.Stream.prototype, k).get.call(st));
      } catch (e) {
        return `<${e instanceof Error ? e.code : 'threw'}>`;
      }
    };
    return `${describe(st)} pending ${get('pending')}, jsCompletion ${get('jsCompletion')}, disposed ${get('disposed')}, live ${live('Stream').includes(st)}`;
  };
  const engineOf = (ctx) => meta.get(ctx)?.engine;
  const ioOf = (engine) => meta.get(engine)?.io ?? [];
  function tensorName(ctx) {
    const own = ioOf(engineOf(ctx));
    const r = rng.next();
    if (r < 0.7 && own.length) return pick(own).name;
    if (r < 0.85 && live('Engine').length) return pick(ioOf(pick(live('Engine'))))?.name ?? 'x'; // another engine's name
    return pick([...STRINGS.slice(0, 12), V()]);
  }
  function shapeFor(engine, t, profile) {
    const range = meta.get(engine)?.profiles?.[profile]?.[t.name];
    return t.shape.map((d, i) => (d >= 0 ? d : range ? int(range.min[i], range.max[i]) : 1));
  }
  const bytesOf = (t, dims) => Math.ceil((dims.reduce((a, b) => a * b, 1) * (BITS[t.trtDataType] ?? 32)) / 8);
  function hostileDims(t) {
    const r = rng.next();
    if (r < 0.3) return t.shape.map((d) => (d >= 0 ? d : pick([0, 1, 2, 33, 65, 257, -1])));
    if (r < 0.5) return [...t.shape.map(() => pick(NUMBERS))];
    if (r < 0.6) return Array.from({ length: int(0, 12) }, () => int(-2, 64));
    return V();
  }
  function offset() {
    return chance(0.6) ? pick([0, 0, 256, 512, 4096]) : pick([-1, -256, -0, 1, 255, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 2 ** 64, NaN, Infinity, -Infinity, 0.5, V()]);
  }

  /** Binds every IO tensor of ctx to fresh buffers of the right size (a valid configuration). */
  function configure(ctx) {
    const engine = engineOf(ctx);
    const m = meta.get(ctx);
    if (!engine || !m) return false;
    const profile = m.profile ?? 0;
    for (const t of ioOf(engine)) {
      if (t.mode === 'input') {
        const dims = shapeFor(engine, t, profile);
        invoke('ExecutionContext.setInputShape', `ctx.setInputShape(${t.name}, [${dims}])`, () => ctx.setInputShape(t.name, dims));
      }
    }
    for (const t of ioOf(engine)) {
      const dims = t.mode === 'input' ? shapeFor(engine, t, profile) : t.shape.map((d) => (d >= 0 ? d : 512));
      const bytes = Math.max(256, bytesOf(t, dims.map((d) => Math.max(d, 1))) * 2);
      const d = invoke('new DeviceBuffer', `new DeviceBuffer(${bytes})`, () => new addon.DeviceBuffer(bytes));
      const h = invoke('new HostBuffer', `new HostBuffer(${bytes})`, () => new addon.HostBuffer(bytes));
      if (d.ok) {
        meta.set(adopt('DeviceBuffer', d.value), { bytes });
        invoke('ExecutionContext.setTensorAddress', `ctx.setTensorAddress(${t.name}, dbuf)`, () => ctx.setTensorAddress(t.name, d.value));
      }
      if (h.ok) {
        meta.set(adopt('HostBuffer', h.value), { bytes });
        invoke('ExecutionContext.setHostStaging', `ctx.setHostStaging(${t.name}, hbuf)`, () => ctx.setHostStaging(t.name, h.value));
        m.staging ??= {};
        m.staging[t.name] = h.value;
      }
    }
    return true;
  }

  // ------------------------------------------------------------------------- ops

  function objectsOp() {
    const r = int(0, 2);
    if (r === 0) {
      const o = chance(0.6) ? { waitMode: pick(['adaptive', 'spin', 'block']), jsCompletion: chance(0.3), priority: int(-2, 1) } : values.options();
      const s = invoke('new Stream', `new Stream(${describe(o)})`, () => new addon.Stream(o));
      if (s.ok) adopt('Stream', s.value);
      if (s.ok && o?.jsCompletion === true) jsStreams.add(s.value);
      return;
    }
    const bytes = chance(0.7) ? pick([1, 64, 256, 4096, int(1, 1 << 20)]) : pick([0, -1, NaN, 2 ** 53 - 1, 2 ** 40, 2 ** 53, 1.5, V()]);
    const cls = r === 1 ? 'DeviceBuffer' : 'HostBuffer';
    const opts = chance(0.2) ? values.options() : chance(0.2) ? { device: pick([0, 1, 7, -1, NaN, 2 ** 31]) } : undefined;
    const b = invoke(`new ${cls}`, `new ${cls}(${describe(bytes)}, ${describe(opts)})`, () => new addon[cls](bytes, opts));
    if (b.ok) meta.set(adopt(cls, b.value), { bytes });
  }

  let sparsePath;
  function deserializeOp() {
    if (!live('Runtime').length) {
      const made = invoke('new Runtime', 'new Runtime({ logSeverity: 1 })', () => new addon.Runtime({ logSeverity: 1 }));
      if (made.ok) adopt('Runtime', made.value);
    }
    const rt = maybe('Runtime');
    const p = plans.length ? pick(plans) : null;
    let arg;
    const r = rng.next();
    if (r < 0.3 && p) arg = p.path;
    else if (r < 0.5 && p) arg = p.bytes;
    else if (r < 0.55 && p) {
      const h = live('HostBuffer').find((b) => b.byteLength >= p.bytes.length);
      arg = h ?? p.bytes;
      if (h) new Uint8Array(h.buffer).set(p.bytes);
    } else if (r < 0.6 && p) {
      const sab = new SharedArrayBuffer(p.bytes.length);
      new Uint8Array(sab).set(p.bytes);
      arg = label(new Uint8Array(sab), 'plan in a SAB');
    } else if (r < 0.65 && p) arg = label(p.bytes.subarray(0, int(0, 63)), 'plan truncated below 64 bytes');
    else if (r < 0.7) {
      const junk = Buffer.alloc(int(64, 4096));
      for (let i = 0; i < junk.length; i++) junk[i] = int(0, 255);
      junk.write('junk', 0); // not TensorRT's magic: refused at the header (corrupt plans are fuzz-plans.mjs's job)
      arg = label(junk, 'random bytes');
    } else if (r < 0.75) {
      sparsePath ??= (() => {
        const path = join(tmpdir(), `trtnode-misuse-${process.pid}-sparse.plan`);
        // Where the kernel grants any allocation (overcommit 1), reading it would be killed for
        // memory instead of refused: not there.
        if (readFileSyncSafe('/proc/sys/vm/overcommit_memory').trim() === '1') return '/nonexistent/sparse.plan';
        try {
          const fd = openSync(path, 'w');
          ftruncateSync(fd, 2 ** 42); // 4 TiB of nothing: the loader must refuse, not allocate
          closeSync(fd);
          process.on('exit', () => rmSync(path, { force: true }));
          return path;
        } catch {
          return '/nonexistent/sparse.plan';
        }
      })();
      arg = sparsePath;
    } else arg = pick([fixtures, '/dev/zero', '/dev/null', '/nonexistent/x.plan', `${p?.path}\0.txt`, '', V(), values.view()]);
    const async = chance(0.5);
    const call = invoke(`Runtime.${async ? 'deserializeAsync' : 'deserialize'}`, `rt.${async ? 'deserializeAsync' : 'deserialize'}(${describe(arg)})`, () =>
      async ? addon.Runtime.prototype.deserializeAsync.call(rt, arg) : addon.Runtime.prototype.deserialize.call(rt, arg),
      receiverOf('Runtime', rt),
    );
    const plan = typeof arg === 'string' ? plans.find((x) => x.path === arg) : p;
    if (call.ok && !async) adoptEngine(call.value, plan);
    if (call.ok && async) call.value.then((e) => adoptEngine(e, plan), () => {});
  }

  function contextOp() {
    const engine = chance(0.9) ? maybe('Engine') : pick(pool.fakes);
    const stream = chance(0.9) ? maybe('Stream') : V();
    const profiles = meta.get(engine)?.profiles?.length ?? 1;
    const profile = int(0, profiles - 1);
    const o = chance(0.7) ? { profile } : chance(0.5) ? { profile: pick([-1, profiles, NaN, 2 ** 31, 1.5, '0']) } : values.options();
    if (chance(0.15)) {
      try {
        o.deviceMemory = maybe('DeviceBuffer');
      } catch {
        /* options with getters only: used as they are */
      }
    }
    const c = invoke('new ExecutionContext', `new ExecutionContext(${describe(engine)}, ${describe(stream)}, ${describe(o)})`, () => new addon.ExecutionContext(engine, stream, o));
    if (c.ok) {
      let chosen = false;
      try {
        chosen = Object.getOwnPropertyDescriptor(o, 'profile')?.value === profile; // (read without running a getter)
      } catch {
        /* a proxy's trap threw */
      }
      meta.set(c.value, { engine, stream, profile: chosen ? profile : 0 });
      adopt('ExecutionContext', c.value);
      if (chance(0.6)) configure(c.value);
    }
  }

  function bindOp(ctx = maybe('ExecutionContext')) {
    const C = addon.ExecutionContext.prototype;
    const name = tensorName(ctx);
    const t = ioOf(engineOf(ctx)).find((x) => x.name === name);
    switch (int(0, 9)) {
      case 0:
      case 1: {
        const dims = t && chance(0.5) ? shapeFor(engineOf(ctx), t, meta.get(ctx)?.profile ?? 0) : t ? hostileDims(t) : hostileDims({ shape: [-1, 3] });
        invoke('ExecutionContext.setInputShape', `${describe(ctx)}.setInputShape(${describe(name)}, ${describe(dims)})`, () => C.setInputShape.call(ctx, name, dims), receiverOf('ExecutionContext', ctx));
        return;
      }
      case 2:
      case 3: {
        const buf = chance(0.8) ? maybe('DeviceBuffer') : chance(0.5) ? null : V();
        const off = chance(0.5) ? undefined : offset();
        invoke('ExecutionContext.setTensorAddress', `${describe(ctx)}.setTensorAddress(${describe(name)}, ${describe(buf)}, ${describe(off)})`, () => C.setTensorAddress.call(ctx, name, buf, off), receiverOf('ExecutionContext', ctx));
        return;
      }
      case 4:
      case 5: {
        const buf = chance(0.8) ? maybe('HostBuffer') : chance(0.5) ? null : V();
        const off = chance(0.5) ? undefined : offset();
        invoke('ExecutionContext.setHostStaging', `${describe(ctx)}.setHostStaging(${describe(name)}, ${describe(buf)}, ${describe(off)})`, () => C.setHostStaging.call(ctx, name, buf, off), receiverOf('ExecutionContext', ctx));
        return;
      }
      case 6: {
        const p = chance(0.6) ? int(0, 1) : pick([-1, 2, NaN, 2 ** 31, 2 ** 32, 1.5, V()]);
        const r = invoke('ExecutionContext.setOptimizationProfile', `${describe(ctx)}.setOptimizationProfile(${describe(p)})`, () => C.setOptimizationProfile.call(ctx, p), receiverOf('ExecutionContext', ctx));
        if (r.ok && meta.get(ctx)) meta.get(ctx).profile = p;
        return;
      }
      case 7: {
        const v = chance(0.8) ? chance(0.5) : V();
        invoke('ExecutionContext.setCudaGraph', `${describe(ctx)}.setCudaGraph(${describe(v)})`, () => C.setCudaGraph.call(ctx, v), receiverOf('ExecutionContext', ctx));
        return;
      }
      case 8: {
        const into = pick([undefined, null, new Float64Array(3), new Float64Array(5), new Float64Array(2), new Float32Array(5), V()]);
        const on = chance(0.7) ? chance(0.5) : V();
        invoke('ExecutionContext.setTiming', `${describe(ctx)}.setTiming(${describe(on)}, ${describe(into)})`, () => C.setTiming.call(ctx, on, into), receiverOf('ExecutionContext', ctx));
        return;
      }
      default: {
        const g = pick(['profile', 'pending', 'disposed', 'graphCaptured', 'graphCount', 'graphLaunches']);
        invoke(`ExecutionContext.get ${g}`, `${describe(ctx)}.${g}`, () => ctx?.[g]);
      }
    }
  }

  /** Packs input dims for run(): [rank, d0, d1, ...] per input, sometimes in the wrong array type or malformed. */
  function inputDims(ctx) {
    const engine = engineOf(ctx);
    if (chance(0.3)) return pick([null, undefined]);
    const packed = [];
    for (const t of ioOf(engine).filter((x) => x.mode === 'input')) {
      const d = chance(0.8) ? shapeFor(engine, t, meta.get(ctx)?.profile ?? 0) : hostileDims(t);
      // (read without running getters, and at most 16: a sparse 2^32-1 array is not spread)
      const list = Array.isArray(d) ? Array.from({ length: Math.min(d.length, 16) }, (_, i) => Object.getOwnPropertyDescriptor(d, i)?.value) : [];
      packed.push(list.length, ...list);
    }
    if (chance(0.1)) packed.length = int(0, packed.length);
    const nums = packed.map((x) => (typeof x === 'number' ? x : 0)); // hostile entries become 0: the array type and layout are what is fuzzed here
    const C = chance(0.85) ? Int32Array : pick([Int8Array, Uint8Array, Int16Array, Float64Array, BigInt64Array]);
    return C === BigInt64Array ? BigInt64Array.from(nums.map((x) => BigInt(Number.isFinite(x) ? Math.trunc(x) : 0))) : C.from(nums);
  }
  function outputDims() {
    if (chance(0.4)) return pick([null, undefined]);
    const n = pick([0, 1, 4, 16, 64]);
    return chance(0.85) ? new Int32Array(n) : new (pick([Int8Array, Uint8Array, Int16Array, Float32Array, Uint8ClampedArray]))(n);
  }
  /** Per input, pieces that add up to its bytes (pinned, pageable, SAB, the staging itself, detached…). */
  function gatherParts(ctx) {
    const engine = engineOf(ctx);
    const m = meta.get(ctx);
    const parts = [];
    for (const t of ioOf(engine).filter((x) => x.mode === 'input')) {
      if (chance(0.2)) {
        parts.push(null);
        continue;
      }
      let left = bytesOf(t, shapeFor(engine, t, m?.profile ?? 0));
      const list = [];
      while (left > 0 && list.length < 8) {
        const n = list.length === 7 ? left : int(1, left);
        left -= n;
        const r = rng.next();
        const hb = live('HostBuffer').find((h) => h.byteLength >= n);
        if (r < 0.3 && hb) list.push(label(new Uint8Array(hb.buffer, 0, n), 'pinned view'));
        else if (r < 0.35 && m?.staging?.[t.name] && !m.staging[t.name].disposed) list.push(label(new Uint8Array(m.staging[t.name].buffer, 0, Math.min(n, m.staging[t.name].byteLength)), 'view of its own staging'));
        else if (r < 0.4) list.push(label(new Uint8Array(new SharedArrayBuffer(n)), 'SAB'));
        else if (r < 0.43) {
          const u = new Uint8Array(n);
          detach(u.buffer);
          list.push(label(u, 'detached'));
        } else if (r < 0.46) list.push(V());
        else list.push(new Uint8Array(n));
      }
      parts.push(chance(0.05) ? values.trappedOptions(['0', '1'], 0) : list);
    }
    return chance(0.1) ? V() : parts;
  }

  /** run() with anything in flight, then misuse while it runs; sometimes awaited. */
  async function runOp() {
    const ctx = maybe('ExecutionContext');
    if (chance(0.3) && live('ExecutionContext').includes(ctx)) configure(ctx);
    const args = [inputDims(ctx), outputDims()];
    if (chance(0.3)) {
      args.push(gatherParts(ctx));
      if (chance(0.3)) args.push(pick([0, 1, 2, -1, NaN, 2 ** 53, V()]));
    }
    if (chance(0.1)) {
      // stage pieces ahead, then a run that says how many were staged
      const name = tensorName(ctx);
      const hb = live('HostBuffer').length ? pick(live('HostBuffer')) : undefined;
      const view = hb && !hb.disposed ? new Uint8Array(hb.buffer, 0, Math.min(hb.byteLength, int(0, 4096))) : V();
      const off = chance(0.7) ? 0 : offset();
      invoke('ExecutionContext.stageInput', `${describe(ctx)}.stageInput(${describe(name)}, ${describe(off)}, ${describe(view)})`, () => addon.ExecutionContext.prototype.stageInput.call(ctx, name, off, view), receiverOf('ExecutionContext', ctx));
    }
    const r = invoke('ExecutionContext.run', `${describe(ctx)}.run(${argsText(args)})`, () => addon.ExecutionContext.prototype.run.call(ctx, ...args), receiverOf('ExecutionContext', ctx));
    if (!r.ok) return;
    // while it runs: reconfigure, run again, read, dispose what it uses
    const startStep = step();
    const during = [];
    for (let i = int(0, 4); i > 0; i--) {
      const what = int(0, 9);
      during.push(['bind', 'bind', 'bind', 'bind', 'run again', 'dispose used', 'copy', 'benchmark', 'stream op', 'stream op'][what]);
      if (what <= 3) bindOp(ctx);
      else if (what === 4) invoke('ExecutionContext.run', `${describe(ctx)}.run() again in flight`, () => ctx.run(null, null));
      else if (what === 5) disposeUsed(ctx);
      else if (what === 6) copyOp();
      else if (what === 7) invoke('ExecutionContext.benchmark', `${describe(ctx)}.benchmark() with a run in flight`, () => ctx.benchmark({ iterations: 2, warmupMs: 0 }));
      else streamOp(meta.get(ctx)?.stream);
    }
    const stream = meta.get(ctx)?.stream;
    if (chance(0.5))
      await settle(r.value, 'run', () => `${describe(ctx)} (live ${live('ExecutionContext').includes(ctx)}) of the run at step ${startStep}; its stream ${streamState(stream)}; meanwhile: ${during.join(', ') || 'nothing'}; steps ${startStep}..${step()}`);
  }

  function disposeUsed(ctx) {
    const m = meta.get(ctx);
    const r = int(0, 4);
    if (r === 0) disposeObject('ExecutionContext', ctx);
    else if (r === 1 && m?.engine && live('Engine').includes(m.engine)) disposeObject('Engine', m.engine);
    else if (r === 2 && m?.stream && live('Stream').includes(m.stream)) disposeObject('Stream', m.stream);
    else if (r === 3 && live('DeviceBuffer').length) disposeObject('DeviceBuffer', pick(live('DeviceBuffer')));
    else if (live('HostBuffer').length) disposeObject('HostBuffer', pick(live('HostBuffer')));
  }

  function copyOp() {
    const dbuf = maybe('DeviceBuffer');
    const stream = chance(0.85) ? maybe('Stream') : V();
    const r = rng.next();
    const other =
      r < 0.25 ? maybe('DeviceBuffer') : r < 0.45 ? maybe('HostBuffer') : r < 0.55 && live('HostBuffer').length ? label(new Uint8Array(pick(live('HostBuffer')).buffer ?? new ArrayBuffer(0)), 'pinned view') : r < 0.85 ? values.view() : V();
    const o = chance(0.6) ? { stream } : chance(0.5) ? { stream, offset: offset(), srcOffset: offset(), dstOffset: offset(), byteLength: chance(0.5) ? int(0, 4096) : offset() } : chance(0.5) ? values.trappedOptions(['stream', 'offset', 'byteLength'], 0) : V();
    try {
      if (o && typeof o === 'object' && !Object.getOwnPropertyDescriptor(o, 'stream')?.get && chance(0.8)) o.stream = stream;
    } catch {
      /* a frozen object, or a proxy whose trap threw: used as it is */
    }
    const D = addon.DeviceBuffer.prototype;
    const which = pick(['copyFrom', 'copyTo', 'fill']);
    const a0 = which === 'fill' ? (chance(0.7) ? int(0, 255) : pick([256, -1, NaN, 1.5, 2 ** 32, V()])) : other;
    const c = invoke(`DeviceBuffer.${which}`, `${describe(dbuf)}.${which}(${describe(a0)}, ${describe(o)})`, () => D[which].call(dbuf, a0, o), receiverOf('DeviceBuffer', dbuf));
    if (c.ok && chance(0.3)) {
      // dispose the memory or the stream of a copy in flight
      if (chance(0.5) && live('DeviceBuffer').includes(dbuf)) disposeObject('DeviceBuffer', dbuf);
      else if (live('HostBuffer').includes(other)) disposeObject('HostBuffer', other);
      else if (live('Stream').includes(stream)) disposeObject('Stream', stream);
    }
  }

  async function benchOp(hostile) {
    const ctx = maybe('ExecutionContext');
    if (chance(0.5) && live('ExecutionContext').includes(ctx)) configure(ctx);
    const o = hostile
      ? { iterations: pick([NaN, -1, 1.5, Infinity, '10', 2 ** 53]), durationMs: pick([NaN, -1, Infinity, 1e300]), warmupMs: pick([NaN, -1, Infinity]), cudaGraph: V() }
      : { iterations: int(1, 20), warmupMs: int(0, 3), cudaGraph: chance(0.5) };
    const r = invoke('ExecutionContext.benchmark', `${describe(ctx)}.benchmark(${describe(o)})`, () => addon.ExecutionContext.prototype.benchmark.call(ctx, o), receiverOf('ExecutionContext', ctx));
    if (!r.ok) return;
    // the benchmark's worker thread uses the context: everything now must be refused or safe
    for (let i = int(1, 6); i > 0; i--) {
      const what = int(0, 5);
      if (what <= 2) bindOp(ctx);
      else if (what === 3) invoke('ExecutionContext.run', `${describe(ctx)}.run() during a benchmark`, () => ctx.run(null, null));
      else if (what === 4) disposeUsed(ctx);
      else invoke('ExecutionContext.get graphCaptured', 'graphCaptured during a benchmark', () => ctx.graphCaptured);
    }
    if (chance(0.7)) await settle(r.value, 'benchmark');
  }

  function streamOp(stream = maybe('Stream')) {
    const S = addon.Stream.prototype;
    const r = int(0, 4);
    if (r === 0) invoke('Stream.synchronize', `${describe(stream)}.synchronize()`, () => S.synchronize.call(stream), receiverOf('Stream', stream));
    else if (r === 1) {
      const spin = chance(0.6) ? pick([0, 10, 200]) : pick([-1, NaN, Infinity, 1e9, V()]);
      invoke('Stream.poll', `${describe(stream)}.poll(${describe(spin)})`, () => S.poll.call(stream, spin), receiverOf('Stream', stream));
    } else if (r === 2) {
      const g = pick(['device', 'pending', 'disposed', 'estimatedMicroseconds', 'handle']);
      invoke(`Stream.get ${g}`, `${describe(stream)}.${g}`, () => Object.getOwnPropertyDescriptor(S, g).get.call(stream), receiverOf('Stream', stream));
    } else if (r === 3 && live('Stream').includes(stream)) disposeObject('Stream', stream);
    else invoke('Stream.synchronize', `${describe(stream)}.synchronize() twice`, () => [S.synchronize.call(stream), S.synchronize.call(stream)][1], receiverOf('Stream', stream));
  }

  function engineOp() {
    const engine = maybe('Engine');
    const E = addon.Engine.prototype;
    const r = int(0, 3);
    if (r === 0) invoke('Engine.layerInformation', `${describe(engine)}.layerInformation()`, () => E.layerInformation.call(engine), receiverOf('Engine', engine));
    else if (r === 1 && live('Engine').includes(engine)) disposeObject('Engine', engine); // its contexts may be running
    else {
      const g = pick(['io', 'profiles', 'deviceMemorySize', 'name', 'disposed']);
      invoke(`Engine.get ${g}`, `${describe(engine)}.${g}`, () => Object.getOwnPropertyDescriptor(E, g).get.call(engine), receiverOf('Engine', engine));
    }
  }

  function runtimeOp() {
    const rt = maybe('Runtime');
    const R = addon.Runtime.prototype;
    const r = int(0, 3);
    if (r === 0) {
      const s = chance(0.5) ? int(0, 4) : pick([-1, 5, NaN, 2 ** 31, 'warning', V()]);
      invoke('Runtime.setLogSeverity', `${describe(rt)}.setLogSeverity(${describe(s)})`, () => R.setLogSeverity.call(rt, s), receiverOf('Runtime', rt));
    } else if (r === 1) {
      const fn = pick([undefined, null, () => {}, () => { throw new FuzzSentinel('log callback'); }, (s, msg) => { try { addon.cudaInfo(); } catch { /* typed */ } return msg; }, V()]);
      invoke('Runtime.setLogger', `${describe(rt)}.setLogger(${describe(fn)})`, () => R.setLogger.call(rt, fn), receiverOf('Runtime', rt));
    } else if (r === 2) invoke('Runtime.get info', `${describe(rt)}.info`, () => Object.getOwnPropertyDescriptor(R, 'info').get.call(rt), receiverOf('Runtime', rt));
    else if (live('Runtime').length > 1 && live('Runtime').includes(rt)) disposeObject('Runtime', rt); // engines keep what they need
  }

  /** An accessor of one class on an object of another; an object whose prototype says it is of another class. */
  function confuseOp() {
    const classes = Object.keys(pool.live).filter((k) => live(k).length);
    if (classes.length < 2) return objectsOp();
    const a = pick(classes);
    const b = pick(classes.filter((k) => k !== a));
    const victim = pick(live(b));
    if (chance(0.5)) {
      const proto = addon[a].prototype;
      const getters = Object.getOwnPropertyNames(proto).filter((k) => Object.getOwnPropertyDescriptor(proto, k).get);
      if (!getters.length) return;
      const g = pick(getters);
      invoke(`${a}.get ${g}`, `${a}.${g} getter on ${describe(victim)}`, () => Object.getOwnPropertyDescriptor(proto, g).get.call(victim), { receiverMisuse: true });
      return;
    }
    const original = Object.getPrototypeOf(victim);
    Object.setPrototypeOf(victim, addon[a].prototype);
    try {
      const r = int(0, 3);
      // (the object called is never the victim itself: its methods are the other class's now)
      const others = (cls) => live(cls).filter((o) => o !== victim);
      if (r === 0) bindWith(victim, others('ExecutionContext')[0]);
      else if (r === 1 && others('DeviceBuffer').length) invoke('DeviceBuffer.copyFrom', `dbuf.copyFrom(${describe(victim)} as ${a}, { stream })`, () => pick(others('DeviceBuffer')).copyFrom(victim, { stream: others('Stream')[0] }));
      else if (r === 2) invoke('new ExecutionContext', `new ExecutionContext(${describe(victim)} as ${a}, ${describe(victim)} as ${a})`, () => new addon.ExecutionContext(victim, victim));
      else invoke('DeviceBuffer.copyFrom', `dbuf.copyFrom(u8, { stream: ${describe(victim)} as ${a} })`, () => (others('DeviceBuffer')[0] ?? {}).copyFrom?.(new Uint8Array(4), { stream: victim }));
    } finally {
      Object.setPrototypeOf(victim, original);
    }
  }
  function bindWith(obj, ctx) {
    if (!ctx) return; // (no default: undefined would pick the victim itself)
    const name = tensorName(ctx);
    invoke('ExecutionContext.setTensorAddress', `ctx.setTensorAddress(${describe(name)}, ${describe(obj)} of swapped prototype)`, () => ctx.setTensorAddress(name, obj));
    invoke('ExecutionContext.setHostStaging', `ctx.setHostStaging(${describe(name)}, ${describe(obj)} of swapped prototype)`, () => ctx.setHostStaging(name, obj));
  }

  function disposeOp() {
    const classes = Object.keys(pool.live).filter((k) => live(k).length);
    if (!classes.length) return objectsOp();
    const cls = pick(classes);
    const obj = pick(live(cls));
    disposeObject(cls, obj);
    if (chance(0.3)) invoke(`${cls}.dispose`, `${describe(obj)}.dispose() again`, () => obj.dispose());
  }

  // ------------------------------------------------------------------------- known-good

  async function check() {
    if (!ready) return;
    stats.checks++;
    let g = good;
    let temp = null;
    if (chance(0.2)) {
      // fresh objects all the way: stream, context, buffers
      try {
        const so = pick([{}, { waitMode: 'spin' }, { jsCompletion: true }]);
        temp = bindGood(good.engine, new addon.Stream(so));
        if (so.jsCompletion) jsStreams.add(temp.stream);
        g = { ...good, ...temp };
      } catch (e) {
        failure('check', 'gpu check', 'fresh stream + context', errText(e));
        return;
      }
    }
    for (const [k, data] of Object.entries(g.refs.in)) new data.constructor(g.host[k].buffer, 0, data.length).set(data);
    for (const k of Object.keys(g.refs.out)) new Uint8Array(g.host[k].buffer).fill(0xff);
    const r = invoke('gpu check', 'tiny run (known-good)', () => g.ctx.run(null, null));
    if (!r.ok) return failure('check', 'gpu check', 'tiny run', errText(r.error));
    const done = await settle(r.value, 'gpu check');
    if (done.lost) return;
    if (!done.ok) return failure('check', 'gpu check', 'tiny run', errText(done.error));
    // integers exactly; floats within 1e-3 relative L2 error of the reference (FP32 engines vs
    // ONNX Runtime, TF32 on Hopper: the tolerance of test/gpu/session.test.ts)
    for (const [k, want] of Object.entries(g.refs.out)) {
      const got = new want.constructor(g.host[k].buffer, 0, want.length);
      if (want instanceof Int32Array) {
        const i = want.findIndex((w, j) => got[j] !== w);
        if (i >= 0) return failure('check', 'gpu check', `tiny output ${k}[${i}]`, `got ${got[i]}, the reference is ${want[i]}`);
      } else {
        const rel = relError(got, want);
        if (!(rel <= 1e-3)) return failure('check', 'gpu check', `tiny output ${k}`, `relative error ${rel} against the reference (first: got ${got[0]}, want ${want[0]})`);
      }
    }
    if (temp) {
      temp.ctx.dispose();
      temp.stream.dispose();
      jsStreams.delete(temp.stream);
      for (const b of [...Object.values(temp.dev), ...Object.values(temp.host)]) b.dispose();
    }
  }

  // ------------------------------------------------------------------------- pacing

  async function breathe() {
    await new Promise((r) => setImmediate(r));
    pollJsStreams();
    if (outstanding.size <= 64) return;
    const until = Date.now() + SETTLE_MS;
    while (outstanding.size > 32 && Date.now() < until) {
      pollJsStreams();
      await new Promise((r) => setTimeout(r, 2));
    }
  }
  async function finish() {
    for (const cls of ['ExecutionContext', 'Engine', 'Stream', 'DeviceBuffer', 'HostBuffer', 'Runtime']) for (const o of [...live(cls)]) disposeObject(cls, o);
  }

  const guard = (fn) => () => (ready ? fn() : undefined);
  return {
    setup,
    breathe,
    finish,
    check,
    ops: [
      ['gpu-objects', 6, guard(objectsOp)],
      ['gpu-deserialize', 3, guard(deserializeOp)],
      ['gpu-context', 5, guard(contextOp)],
      ['gpu-bind', 10, guard(() => bindOp())],
      ['gpu-run', 12, guard(runOp)],
      ['gpu-copy', 8, guard(copyOp)],
      ['gpu-bench', 3, guard(() => benchOp(false))],
      ['gpu-bench-hostile', 1, guard(() => benchOp(true))],
      ['gpu-stream', 4, guard(() => streamOp())],
      ['gpu-engine', 3, guard(engineOp)],
      ['gpu-runtime', 2, guard(runtimeOp)],
      ['gpu-confuse', 3, guard(confuseOp)],
      ['gpu-dispose', 3, guard(disposeOp)],
      ['gpu-check', 5, check],
    ],
  };
}
