#!/usr/bin/env node
/**
 * CPU per plain-gRPC ModelInfer call of the gRPC front-end worker threads (issue 6), Linux only:
 *
 *   npm run build:ts && bash tools/perf-analyzer.sh --fetch
 *   node [--perf-basic-prof] bench/investigations/server-grpc-frontend-cpu.mjs [--seconds S] [--warmup S]
 *       [--concurrency C | --rate R] [--grpc-workers N] [--model-repository DIR] [--model NAME]
 *       [--real] [--perf FILE [--perf-process]] [--bytes-per-call B]
 *
 * Starts the server in this process as bench/server-overhead.mjs does (image-stub from
 * bench/models, ONNX Runtime with 1 intra-op thread, N gRPC front-end threads, default 1). Unless
 * --real, the model's scheduler.infer is replaced by a stub that answers every request queued in
 * one turn together, after a setImmediate, with a fresh [1,1000] FP32 tensor each: the main thread
 * then does little, and what the front-end thread costs is what there is to see. perf_analyzer runs
 * against it (`-i grpc`: 602,112 bytes of raw_input_contents per request; sync mode with C client
 * threads, default 8, or --rate R requests/s; -x 1; one measurement window longer than the run, so
 * that it never stops by itself). After --warmup S (default 3) it samples for --seconds S (default 6)
 * the CPU time (utime+stime, /proc/self/task/<tid>/stat) of every thread of this process and of
 * perf_analyzer, and the calls answered (the stub's count; without one, e.g. when a front-end thread
 * answers by itself, the bytes this process read (/proc/self/io rchar) / --bytes-per-call, default
 * 603000, which matches the stub's count within 0.1 %).
 *
 * The front-end threads are the busiest threads started by startServer() (threads not there before
 * it) other than the main thread; with the stub nothing else among them is nearly as busy.
 *
 * Prints one JSON line: calls/s, µs of CPU per call of the front-end threads, the main thread, the
 * whole process (V8's GC helper threads included) and perf_analyzer, and the busiest threads
 * (name(tid) share of one core; * = started by the server).
 *
 * --perf FILE: `perf record -F 999 -g` over the sampling window, of the busiest front-end thread
 * (or of the whole process with --perf-process); run node with --perf-basic-prof for JS symbols.
 * docs/benchmarks/server.md (gRPC front-end CPU): how the samples were attributed.
 */
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadLibrary, startBenchServer } from '../server-overhead.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: f } = parseArgs({
  options: {
    seconds: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    rate: { type: 'string' },
    'bytes-per-call': { type: 'string', default: '603000' },
    'grpc-workers': { type: 'string', default: '1' },
    'model-repository': { type: 'string', default: path.join(ROOT, 'bench', 'models') },
    model: { type: 'string', default: 'image-stub' },
    real: { type: 'boolean', default: false },
    perf: { type: 'string' },
    'perf-process': { type: 'boolean', default: false },
  },
});

const lib = await loadLibrary();
const tidsBefore = new Set(readdirSync('/proc/self/task'));
const server = await startBenchServer(lib, { modelRepository: f['model-repository'], model: f.model, grpcWorkers: Number(f['grpc-workers']), ortThreads: 1 });
let answered = 0;
if (!f.real) {
  const model = server.repository.getModel(f.model);
  let queue = [];
  model.scheduler.infer = () =>
    new Promise((resolve) => {
      if (queue.length === 0) {
        setImmediate(() => {
          const q = queue;
          queue = [];
          for (const r of q) r({ output: new lib.Tensor('float32', new Float32Array(1000), [1, 1000]) });
          answered += q.length;
        });
      }
      queue.push(resolve);
    });
}
const stats = () => {
  const s = server.repository.statistics(f.model)[0]?.stats;
  return f.real ? Number(s?.inference_stats?.success?.count ?? s?.successCount ?? 0) : answered;
};

const secs = (file) => {
  const x = readFileSync(file, 'utf8').split(') ')[1].split(' ');
  return (Number(x[11]) + Number(x[12])) / 100;
};
const comm = (tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
const threadCpu = () => {
  const m = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      m.set(tid, secs(`/proc/self/task/${tid}/stat`));
    } catch {
      /* gone */
    }
  }
  return m;
};
// the threads the server started: the front-end Worker()s' own threads are among them; the
// busiest of those not named like a pool thread are taken as the front-end threads
const newTids = [...readdirSync('/proc/self/task')].filter((t) => !tidsBefore.has(t));

const rchar0 = Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))[1]);
const pa = execFileSync('bash', [path.join(ROOT, 'tools', 'perf-analyzer.sh'), '--where'], { encoding: 'utf8' }).trim();
const paArgs = ['-m', f.model, '-x', '1', '-u', `127.0.0.1:${server.grpcPort}`, '-i', 'grpc', ...(f.rate ? ['--request-rate-range', f.rate, '--max-threads', '16'] : ['--concurrency-range', f.concurrency]), '--measurement-interval', String((Number(f.warmup) + Number(f.seconds) + 30) * 1000), '-s', '100', '-r', '100'];
const child = spawn(pa, paArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
let paErr = '';
child.stderr.on('data', (d) => (paErr += d));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await sleep(Number(f.warmup) * 1000);
const rchar = () => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))[1]);
const sample = () => ({ t: performance.now(), n: stats(), rchar: rchar(), threads: threadCpu(), proc: secs('/proc/self/stat'), pa: secs(`/proc/${child.pid}/stat`) });
let perf;
const a = sample();
if (f.perf) {
  await sleep(300);
  const b0 = threadCpu();
  const busiest = newTids.filter((t) => a.threads.has(t) && b0.has(t)).sort((x, y) => b0.get(y) - a.threads.get(y) - (b0.get(x) - a.threads.get(x)))[0];
  perf = spawn('perf', ['record', '-F', '999', '-g', ...(f['perf-process'] ? ['-p', String(process.pid)] : ['-t', busiest]), '-o', f.perf], { stdio: 'ignore' });
  process.stderr.write(`perf: front-end tid ${busiest}\n`);
}
await sleep(Number(f.seconds) * 1000);
const b = sample();
if (perf) {
  perf.kill('SIGINT');
  await new Promise((r) => perf.on('exit', r));
}
child.kill('SIGINT');
await new Promise((r) => child.on('exit', r));
const s = (b.t - a.t) / 1000;
const readPerCall = (b.rchar - a.rchar) / (b.n - a.n);
// no stub count (the front-end threads answered without the main thread): calls from the bytes read
const calls = b.n > a.n ? b.n - a.n : Math.round((b.rchar - a.rchar) / Number(f['bytes-per-call']));
const rate = calls / s;
const delta = (tid) => (b.threads.get(tid) ?? 0) - (a.threads.get(tid) ?? 0);
const threads = [...b.threads.keys()].filter((t) => a.threads.has(t)).map((tid) => ({ tid, name: tid === String(process.pid) ? 'main' : comm(tid), isNew: newTids.includes(tid), cpu: delta(tid) }));
threads.sort((x, y) => y.cpu - x.cpu);
const workers = Number(f['grpc-workers']);
const frontEnd = threads.filter((t) => t.isNew && t.name !== 'main').slice(0, workers);
const us = (cpu) => Math.round((cpu / calls) * 1e6);
console.log(
  JSON.stringify({
    calls,
    totalCalls: stats() || Math.round((rchar() - rchar0) / Number(f['bytes-per-call'])),
    readBytesPerCall: Math.round(readPerCall),
    callsPerSec: Math.round(rate),
    frontEndUsPerCall: us(frontEnd.reduce((x, t) => x + t.cpu, 0)),
    mainUsPerCall: us(threads.find((t) => t.name === 'main')?.cpu ?? 0),
    processUsPerCall: us(b.proc - a.proc),
    perfAnalyzerUsPerCall: us(b.pa - a.pa),
    frontEndTids: frontEnd.map((t) => t.tid),
    busiest: threads.filter((t) => t.cpu / s > 0.02).map((t) => `${t.name}${t.isNew ? '*' : ''}(${t.tid}) ${(t.cpu / s).toFixed(2)}`),
  }),
);
if (calls === 0) process.stderr.write(paErr);
await server.close();
process.exit(0);
