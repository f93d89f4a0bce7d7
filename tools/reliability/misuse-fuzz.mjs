#!/usr/bin/env node
// API misuse fuzzer (issue 20): random sequences of calls on every class and function the native
// addon exports, with random and hostile arguments, in batches; each batch runs in its own
// process (misuse-fuzz-worker.mjs), so a crash or a hang is counted, with the seed, batch and step
// that reproduce it, and the run goes on. Passes when no process crashed or hung, every error was
// a typed TensorRtError (or the caller's own exception passed through, or V8 refusing a wrong
// receiver), every known-good call between the misuses worked and every promise settled.
//   node tools/reliability/misuse-fuzz.mjs [--calls 100000] [--batch 5000] [--jobs 2] [--seed S]
//        [--mode cpu|gpu] [--addon PATH] [--timeout 120] [--json OUT] [--only-batch I] [--trace]
//        [--exclude op,op] [--probe id,id] [--lean PATH] [--fixtures DIR] [--logs DIR]
//        [--env K=V] (for each worker, e.g. LD_PRELOAD for a sanitizer build; repeatable)
//        [--deadline S] (start no batch after S seconds: a run on a device with a fixed time
//        slot ends with its finished batches reported, exit 3 when they were clean but too few)
// --seed defaults to a random one (printed); batch i's seed is derived from (seed, i), so
// `--seed S --batch B --only-batch I` replays batch I alone (add --trace to print every call).
import { spawn } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchSeed } from './misuse-values.mjs';
import { CRASH_PROBES, KNOWN } from './misuse-known.mjs';
import { argv, flag, opt } from './cli-args.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const calls = Number(opt('calls', 100000));
const batchSize = Number(opt('batch', 5000));
const mode = opt('mode', 'cpu');
const jobs = Number(opt('jobs', Math.max(1, Math.min(2, cpus().length))));
const seed = Number(opt('seed', Math.floor(Math.random() * 2 ** 31))) >>> 0;
const timeoutMs = Number(opt('timeout', 120)) * 1000;
const addon = resolve(opt('addon', join(root, 'build', 'Release', 'tensorrt_node.node')));
const onlyBatch = opt('only-batch');
const deadlineMs = opt('deadline') === undefined ? Infinity : Number(opt('deadline')) * 1000;
const logsDir = opt('logs');
const workerEnv = { ...process.env };
argv.forEach((a, i) => {
  if (a === '--env') {
    const [k, ...v] = argv[i + 1].split('=');
    workerEnv[k] = v.join('=');
  }
});
const passThrough = [];
for (const name of ['exclude', 'probe', 'lean', 'fixtures']) if (opt(name) !== undefined) passThrough.push(`--${name}`, opt(name));
for (const name of ['trace']) if (flag(name)) passThrough.push(`--${name}`);
if (!Number.isInteger(calls) || calls < 1 || !Number.isInteger(batchSize) || batchSize < 1 || !Number.isInteger(jobs) || jobs < 1 || !(deadlineMs > 0)) {
  console.error('misuse-fuzz: --calls, --batch and --jobs take positive integers, --deadline a positive number of seconds');
  process.exit(2);
}

const batches = Math.ceil(calls / batchSize);
const indices = onlyBatch !== undefined ? [Number(onlyBatch)] : [...Array(batches).keys()];
const started = Date.now();
const total = {
  seed,
  mode,
  addon,
  requestedCalls: onlyBatch !== undefined ? Math.min(batchSize, calls) : calls,
  batches: indices.length,
  calls: 0,
  checks: 0,
  returned: 0,
  threw: 0,
  typed: {},
  typedFallback: 0,
  propagated: 0,
  v8Receiver: 0,
  untyped: 0,
  ubsan: 0,
  known: {},
  knownSites: [], // source locations of known undefined behaviour
  promises: { made: 0, resolved: 0, rejectedTyped: 0, rejectedOther: 0, lost: 0, abandonedAtExit: 0 },
  crashes: [],
  hangs: [],
  failures: [],
  ops: {},
  surface: null,
  mismatches: [],
};
const repro = (i) => `node tools/reliability/misuse-fuzz.mjs --mode ${mode} --seed ${seed} --calls ${calls} --batch ${batchSize} --only-batch ${i}${passThrough.length ? ` ${passThrough.join(' ')}` : ''} --trace`;

// The batches running now (index → worker and its last progress line), for a run stopped from
// outside (`timeout` sends SIGTERM): it says where each unfinished batch was, instead of nothing.
const running = new Map();
process.once('SIGTERM', () => {
  process.stderr.write(`misuse-fuzz: stopped (SIGTERM) after ${((Date.now() - started) / 1000).toFixed(1)} s: ${finished}/${indices.length} batches done, ${total.calls} calls in them\n`);
  for (const [i, r] of running) {
    const [step, op, desc] = (r.last() || '0\t-\t-').split('\t');
    process.stderr.write(`  batch ${i} unfinished after ${((Date.now() - r.since) / 1000).toFixed(1)} s, at step ${step}: ${op}: ${desc}\n    repro: ${repro(i)}\n`);
    r.child.kill('SIGKILL');
  }
  process.exit(124);
});

function runBatch(i) {
  return new Promise((done) => {
    const n = Math.min(batchSize, calls - i * batchSize);
    const s = batchSeed(seed, i);
    const args = [join(here, 'misuse-fuzz-worker.mjs'), '--addon', addon, '--seed', String(s), '--calls', String(n), '--mode', mode, ...passThrough];
    const child = spawn(process.execPath, ['--expose-gc', ...args], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: workerEnv });
    let out = '';
    let err = '';
    let last = '';
    let progress = '';
    running.set(i, { child, since: Date.now(), last: () => last });
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      if (err.length > 1 << 20) err = err.slice(-(1 << 19));
    });
    child.stdio[3].on('data', (d) => {
      progress += d;
      const cut = progress.lastIndexOf('\n', progress.length - 2);
      if (cut >= 0) progress = progress.slice(cut + 1);
      last = progress.trimEnd().split('\n').pop();
    });
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(i);
      // shared-memory objects and scratch files of a worker that could not clean up after itself
      for (const [dir, prefix] of [['/dev/shm', `trtnode-fuzz-${child.pid}-`], [tmpdir(), `trtnode-misuse-${child.pid}-`]]) {
        try {
          for (const f of readdirSync(dir)) if (f.startsWith(prefix)) rmSync(join(dir, f), { recursive: true, force: true });
        } catch {
          /* no such folder */
        }
      }
      const [step, op, desc] = (last || '0\t-\t-').split('\t');
      const where = { batch: i, seed: s, step: Number(step), op, call: desc, repro: repro(i) };
      let stats;
      try {
        stats = JSON.parse(out.trim().split('\n').pop());
      } catch {
        stats = undefined;
      }
      if (logsDir && (hung || code !== 0 || signal || !stats)) {
        mkdirSync(logsDir, { recursive: true });
        writeFileSync(join(logsDir, `batch-${i}.stderr.txt`), err);
      }
      if (hung) total.hangs.push({ ...where, after: `${timeoutMs / 1000} s` });
      else if (signal || code !== 0 || !stats) {
        const asan = /^SUMMARY: AddressSanitizer: .*$/m.exec(err)?.[0];
        total.crashes.push({ ...where, exit: signal ?? code, sanitizer: asan, stderr: err.slice(-3000) });
      }
      if (stats) merge(stats, i);
      else total.calls += Number(step); // a crashed or hung batch: the calls it made before
      undefinedBehaviour(err, i, s);
      done();
    });
  });
}

// UBSan (run with halt_on_error=0) reports every undefined-behaviour site once per process and
// goes on: each report is a failure, or a known one, by its source location.
function undefinedBehaviour(err, i, s) {
  for (const m of err.matchAll(/^(\S+?):(\d+):(\d+): runtime error: (.*)$/gm)) {
    // the location from the repository root, wherever the build was made
    const f = { batch: i, seed: s, kind: 'ubsan', step: 0, op: 'sanitizer', desc: `${m[1].replace(/^.*?(?=native\/src\/)/, '')}:${m[2]}`, error: m[4] };
    const k = KNOWN.find((x) => x.match(f));
    if (k) {
      total.known[k.id] = (total.known[k.id] ?? 0) + 1;
      if (!total.knownSites.includes(f.desc)) total.knownSites.push(f.desc);
    } else {
      total.ubsan++;
      if (!total.failures.some((x) => x.kind === 'ubsan' && x.desc === f.desc)) total.failures.push({ ...f, repro: repro(i) });
    }
  }
}

function merge(s, i) {
  for (const k of ['calls', 'checks', 'returned', 'threw', 'typedFallback', 'propagated', 'v8Receiver', 'untyped']) total[k] += s[k];
  for (const [k, v] of Object.entries(s.typed)) total.typed[k] = (total.typed[k] ?? 0) + v;
  for (const [k, v] of Object.entries(s.known)) total.known[k] = (total.known[k] ?? 0) + v;
  for (const [k, v] of Object.entries(s.ops)) total.ops[k] = (total.ops[k] ?? 0) + v;
  for (const [k, v] of Object.entries(s.promises)) total.promises[k] += v;
  for (const f of s.failures) if (total.failures.length < 100) total.failures.push({ batch: i, ...f });
  total.surface ??= s.surface;
  if (!total.mismatches.length) total.mismatches = s.mismatches;
}

let next = 0;
let finished = 0;
let cutByDeadline = false;
async function lane() {
  while (next < indices.length) {
    if (Date.now() - started >= deadlineMs) {
      cutByDeadline = true;
      return;
    }
    const i = indices[next++];
    await runBatch(i);
    finished++;
    // on a terminal one line rewritten; in a log a line per batch, so a run cut off by a time
    // limit still shows how far it got (the first GPU run, given 40 s, left an empty log)
    if (process.stderr.isTTY) process.stderr.write(`\rmisuse-fuzz: ${finished}/${indices.length} batches, ${total.calls} calls`);
    else process.stderr.write(`misuse-fuzz: ${finished}/${indices.length} batches, ${total.calls} calls, ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
}
await Promise.all(Array.from({ length: Math.min(jobs, indices.length) }, lane));
if (process.stderr.isTTY) process.stderr.write('\n');
total.seconds = (Date.now() - started) / 1000;
const failed = total.failures;
total.pass = total.crashes.length === 0 && total.hangs.length === 0 && total.untyped === 0 && total.ubsan === 0 && failed.length === 0 && total.calls >= total.requestedCalls;

total.deadline = Number.isFinite(deadlineMs) ? { seconds: deadlineMs / 1000, batchesRun: finished, cut: cutByDeadline } : null;
const clean = total.crashes.length === 0 && total.hangs.length === 0 && total.untyped === 0 && total.ubsan === 0 && failed.length === 0;

const line = (s) => console.log(s);
const codes = Object.entries(total.typed).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
line(`misuse-fuzz: ${mode} mode, seed ${seed}, ${total.batches} batch(es) of up to ${batchSize} calls, ${jobs} at a time, addon ${addon}`);
line(`calls made: ${total.calls} (of them known-good checks: ${total.checks}); returned ${total.returned}, threw ${total.threw}`);
line(`errors: typed ${Object.values(total.typed).reduce((a, b) => a + b, 0)} (${codes || 'none'}); with a hostile error factory, the addon's own coded Error ${total.typedFallback}`);
line(`        the caller's own exception passed through ${total.propagated}; V8 refused the receiver ${total.v8Receiver}; untyped ${total.untyped}`);
line(`promises: ${total.promises.made} made, ${total.promises.resolved} resolved, ${total.promises.rejectedTyped} rejected with a typed error, ${total.promises.rejectedOther} otherwise, ${total.promises.lost} never settled${total.promises.abandonedAtExit ? `, ${total.promises.abandonedAtExit} left in flight at exit on purpose` : ''}`);
line(`crashes: ${total.crashes.length}, hangs: ${total.hangs.length}, undefined behaviour (UBSan) reports: ${total.ubsan}, failed checks and untyped errors: ${failed.length}`);
for (const c of total.crashes) line(`  CRASH batch ${c.batch} (exit ${c.exit}) at step ${c.step}: ${c.op}: ${c.call}${c.sanitizer ? `\n    ${c.sanitizer}` : ''}\n    repro: ${c.repro}\n    ${c.stderr.split('\n').filter(Boolean).slice(-6).join('\n    ')}`);
for (const h of total.hangs) line(`  HANG batch ${h.batch} after ${h.after}, last call step ${h.step}: ${h.op}: ${h.call}\n    repro: ${h.repro}`);
for (const f of failed.slice(0, 20)) line(`  ${f.kind.toUpperCase()} batch ${f.batch} step ${f.step}: ${f.op}: ${f.desc}: ${f.error}${f.repro ? `\n    repro: ${f.repro}` : ''}`);
for (const [id, n] of Object.entries(total.known)) line(`known (not fixed yet, ${KNOWN.find((k) => k.id === id)?.owner}): ${id}: ${n} calls`);
if (total.knownSites.length) line(`known undefined behaviour at: ${total.knownSites.sort().join(', ')}`);
// (an entry about undefined behaviour can only match where UBSan runs)
const sanitized = 'UBSAN_OPTIONS' in workerEnv;
const stale = KNOWN.filter((k) => !total.known[k.id] && (sanitized || !k.ubsan));
if (stale.length && total.calls >= 50000) line(`known entries no call matched (fixed? remove them from misuse-known.mjs): ${stale.map((k) => k.id).join(', ')}`);
total.staleKnown = stale.map((k) => k.id);
const probed = (opt('probe') ?? '').split(',');
for (const p of CRASH_PROBES.filter((x) => !probed.includes(x.id))) line(`known crash not run (--probe ${p.id} runs it; ${p.owner}): ${p.what.split(':')[0]}`);
if (total.mismatches.length) line(`binding.ts vs the addon: ${total.mismatches.join('; ')}`);
const classes = total.surface ? Object.entries(total.surface.classes).map(([k, v]) => `${k} (${v.length})`).join(', ') : '?';
line(`surface fuzzed: classes ${classes}; functions ${total.surface?.functions.join(', ') ?? '?'}`);
if (cutByDeadline) line(`deadline: no batch started after ${deadlineMs / 1000} s: ${finished} of ${indices.length} batches ran (${total.calls} of ${total.requestedCalls} calls)${clean ? ', all of them clean' : ''}`);
line(`time: ${total.seconds.toFixed(1)} s; ${total.pass ? 'PASS' : clean && cutByDeadline ? 'INCOMPLETE (clean so far)' : 'FAIL'}`);
const out = opt('json');
if (out) writeFileSync(out, JSON.stringify(total, null, 1));
process.exit(total.pass ? 0 : clean && cutByDeadline ? 3 : 1);
