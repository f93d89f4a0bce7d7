#!/usr/bin/env node
/**
 * The ceiling of plain-gRPC ModelInfer traffic on a host (issue 6): perf_analyzer against
 * bench/grpc-ceiling/bin/grpc-sink, a Go (grpc-go) KServe v2 server that answers ModelInfer
 * without inference (bench/grpc-ceiling/main.go says what it does and does not do). What perf_analyzer
 * reaches here is what no server on this host can beat with this client: if it is below the
 * issue-6 target (0.9 × the in-process inferences/s of the GPU host), the target cannot be met
 * through gRPC on that host by any server; if above, a native front end is worth building.
 *
 *   CGO_ENABLED=0 go -C bench/grpc-ceiling build -trimpath -ldflags='-s -w' -o bin/grpc-sink .   # once (Go 1.26)
 *   bash scripts/perf-analyzer.sh --fetch                                                          # once
 *   node bench/grpc-ceiling.mjs [--sink PATH] [--model resnet50] [--cases 1x64,8x8] [--gomaxprocs default,4,8,16]
 *       [--repeat N] [--measurement-interval MS] [--stability P] [--max-trials N] [--async]
 *       [--sink-args="--window 1048576 ..."] [--in-process 20000] [--target 0.9]
 *       [--perf-analyzer PATH] [--json out.json] [--md out.md]
 *
 * --cases: BxC pairs, B items per request (perf_analyzer -b B) at concurrency C (--concurrency-range C);
 * default 1x64 (single images, as in bench/server-perf-analyzer.mjs's GPU run) and 8x8 (the same 64
 * images in flight as batches of 8). --gomaxprocs: the sink's GOMAXPROCS values, `default` = unset
 * (Go's default: the CPUs the process may use); every case runs once per value. --sink-args: more
 * flags for the sink (split on spaces; write it with = since its value starts with -), e.g.
 * `--sink-args=--copy-input` or `--sink-args="--window 0 --conn-window 0"`.
 *
 * For every (repeat, GOMAXPROCS, case) a fresh sink is started (127.0.0.1, port 0) and
 * perf_analyzer runs as bench/server-perf-analyzer.mjs runs it (`-i grpc -m MODEL -b B
 * --concurrency-range C --measurement-interval MS -s P -r N -f case.csv`, sync mode unless --async,
 * random data; again with -s 100 when it cannot stabilize), then the sink is stopped (SIGTERM) and
 * prints the calls it served per method. Reported per case: req/s (perf_analyzer's infer/sec / B),
 * infer/s, latency mean/p50/p99 (µs), and for the sink and for perf_analyzer: µs of CPU per request
 * (CPU seconds / ModelInfer calls the sink served during the perf_analyzer run, warm-up and
 * stabilization windows included, which are under the same load), its kernel (system time) share,
 * and CPU cores at the measured rate (µs per request × req/s; the JSON also has CPU seconds over
 * the wall time of the run, which start-up and the gaps between windows make lower). The sink's CPU is read from /proc/<pid>/stat
 * (utime + stime) just before perf_analyzer starts and just after it exits; perf_analyzer's from
 * the bash that runs it (`times`: the user + system time of its waited-for children, i.e.
 * perf_analyzer, exactly, where sampling /proc/<pid>/stat every few hundred ms misses its last
 * interval).
 *
 * The key line: the highest req/s reached, against the issue-6 target --target × --in-process
 * (0.9 × 20,000 = 18,000 req/s: the in-process inferences/s of ResNet-50 on the H200 host,
 * bench/results/2026-12-03-h200-session6/server-perf-analyzer.md), and perf_analyzer's (and the
 * sink's) CPU per request at that rate, extrapolated to the target rate in cores.
 *
 * Exit status 0 with a message (and, with --json, a JSON/Markdown saying so) when perf_analyzer
 * or the sink binary is absent; 1 when a case failed; 2 for a wrong option.
 * perf_analyzer: --perf-analyzer PATH, else `scripts/perf-analyzer.sh --where` (as
 * bench/server-perf-analyzer.mjs finds it). Needs no dist/ and no GPU.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, hostEnvironment, isEntryPoint, readFlags } from './server-overhead.mjs';
import { findPerfAnalyzer, parseCsv, parseStdout, perfAnalyzerArgs } from './server-perf-analyzer.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_SINK = path.join(ROOT, 'bench', 'grpc-ceiling', 'bin', 'grpc-sink');
export const BUILD_COMMAND = "CGO_ENABLED=0 go -C bench/grpc-ceiling build -trimpath -ldflags='-s -w' -o bin/grpc-sink .";
const USAGE =
  'node bench/grpc-ceiling.mjs [--sink PATH] [--model resnet50] [--cases 1x64,8x8] [--gomaxprocs default,4,8,16] [--repeat N] [--measurement-interval MS] [--stability P] [--max-trials N] [--async] [--sink-args="--window N ..."] [--in-process 20000] [--target 0.9] [--perf-analyzer PATH] [--json out.json] [--md out.md]';
const FLAGS = { sink: 'string', model: 'string', cases: 'string', gomaxprocs: 'string', repeat: 'string', 'measurement-interval': 'string', stability: 'string', 'max-trials': 'string', async: 'boolean', 'sink-args': 'string', 'in-process': 'string', target: 'string', 'perf-analyzer': 'string', json: 'string', md: 'string' };
const usageError = (message) => Object.assign(new Error(message), { usage: true });
const USER_HZ = 100; // /proc/<pid>/stat clock ticks on Linux x86-64

export function parseArgs(argv) {
  let f;
  try {
    f = readFlags(argv, FLAGS, USAGE);
  } catch (e) {
    // node:util's parseArgs: an unknown flag, a flag without its value, or a value that starts with - (write --sink-args="--window 0")
    throw usageError(`${e instanceof Error ? e.message : e}\nusage: ${USAGE}`);
  }
  const o = {
    sink: f.sink !== undefined ? path.resolve(f.sink) : DEFAULT_SINK,
    model: f.model ?? 'resnet50',
    cases: parseCases(f.cases ?? '1x64,8x8'),
    gomaxprocs: parseGomaxprocs(f.gomaxprocs ?? 'default'),
    repeat: Number(f.repeat ?? 1),
    measurementInterval: Number(f['measurement-interval'] ?? 2000),
    stability: Number(f.stability ?? 10),
    maxTrials: Number(f['max-trials'] ?? 10),
    async: Boolean(f.async),
    sinkArgs: (f['sink-args'] ?? '').split(/\s+/).filter(Boolean),
    inProcess: Number(f['in-process'] ?? 20_000),
    target: Number(f.target ?? 0.9),
    perfAnalyzer: f['perf-analyzer'] !== undefined ? path.resolve(f['perf-analyzer']) : undefined,
    json: f.json !== undefined ? path.resolve(f.json) : undefined,
    md: f.md !== undefined ? path.resolve(f.md) : undefined,
  };
  if (!/^[A-Za-z0-9_.-]+$/.test(o.model)) throw usageError(`--model ${o.model}: a model name`);
  if (!(Number.isInteger(o.repeat) && o.repeat >= 1 && o.repeat <= 10)) throw usageError('--repeat: an integer in 1..10');
  if (!(Number.isInteger(o.measurementInterval) && o.measurementInterval >= 100 && o.measurementInterval <= 60_000)) throw usageError('--measurement-interval: milliseconds in 100..60000');
  if (!(o.stability > 0 && o.stability <= 1000)) throw usageError('--stability: a percentage in (0, 1000]');
  if (!(Number.isInteger(o.maxTrials) && o.maxTrials >= 3 && o.maxTrials <= 50)) throw usageError('--max-trials: an integer in 3..50');
  if (!(o.inProcess > 0)) throw usageError('--in-process: the in-process inferences/s of the GPU host, > 0');
  if (!(o.target > 0 && o.target <= 10)) throw usageError('--target: a ratio in (0, 10]');
  if (o.json && !o.md) o.md = o.json.replace(/\.json$/, '') + '.md';
  return o;
}

/** `1x64,8x8` → [{ batch: 1, concurrency: 64 }, { batch: 8, concurrency: 8 }] (B in 1..32, the sink's max_batch_size) */
export function parseCases(text) {
  const cases = text.split(',').map((s) => {
    const m = /^\s*(\d+)x(\d+)\s*$/.exec(s);
    const c = m && { batch: Number(m[1]), concurrency: Number(m[2]) };
    if (!c || !(c.batch >= 1 && c.batch <= 32) || !(c.concurrency >= 1 && c.concurrency <= 1024)) throw usageError(`--cases: BxC pairs (B items per request in 1..32, concurrency C in 1..1024), got ${JSON.stringify(s)}`);
    return c;
  });
  if (!cases.length) throw usageError('--cases: at least one BxC pair');
  return cases;
}

/** `default,4,8` → [null, 4, 8] (null: GOMAXPROCS unset) */
export function parseGomaxprocs(text) {
  return text.split(',').map((s) => {
    s = s.trim();
    if (s === 'default') return null;
    const n = Number(s);
    if (!(Number.isInteger(n) && n >= 1 && n <= 1024)) throw usageError(`--gomaxprocs: a comma-separated list of default or integers >= 1, got ${JSON.stringify(s)}`);
    return n;
  });
}

/** bash's `times` output: its own user/sys and its children's; returns the children's { user, sys } in seconds */
export function parseTimes(text) {
  const secs = (t) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  };
  const lines = text.trim().split('\n').filter((l) => /^\d+m[\d.]+s \d+m[\d.]+s$/.test(l.trim()));
  if (lines.length < 2) return undefined;
  const [u, s] = lines[1].trim().split(' ');
  return { user: secs(u), sys: secs(s) };
}

/** { user: utime, sys: stime } of a process in seconds (undefined when gone) */
function procCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / USER_HZ, sys: Number(f[12]) / USER_HZ };
  } catch {
    return undefined;
  }
}

/** starts the sink on 127.0.0.1:0; resolves once it listens: { child, port, banner, stop() → its stats } */
function startSink(sink, model, gomaxprocs, sinkArgs) {
  const env = { ...process.env };
  if (gomaxprocs === null) delete env.GOMAXPROCS;
  else env.GOMAXPROCS = String(gomaxprocs);
  const child = spawn(sink, ['--port', '0', '--host', '127.0.0.1', '--model', model, ...sinkArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`grpc-sink did not start within 10 s: ${stderr.trim()}`));
    }, 10_000);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`grpc-sink exited (${code ?? signal}) before listening: ${stderr.trim()}`));
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /grpc-sink listening on [^\n]*:(\d+) [^\n]*\n/.exec(stdout);
      if (!m) return;
      clearTimeout(timer);
      const banner = m[0].trim();
      resolve({
        child,
        port: Number(m[1]),
        banner,
        async stop() {
          child.kill('SIGTERM');
          await exited;
          const s = /grpc-sink stats (\{.*\})/.exec(stderr);
          return s ? JSON.parse(s[1]) : { error: `no stats from grpc-sink: ${stderr.trim().slice(-500)}` };
        },
      });
    });
  });
}

/** one perf_analyzer run under bash, which reports its CPU time (`times`); resolves with { code, stdout, stderr, csv, cpuSeconds, seconds } */
function runPerfAnalyzer(pa, args, csvFile, timesFile, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const script = 'f=$1; shift; "$@"; rc=$?; times > "$f"; exit $rc';
    // its own process group, so that a run past the time limit is killed with perf_analyzer under it
    const child = spawn('bash', ['-c', script, 'bash', timesFile, pa, ...args, '-f', csvFile], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const read = (file) => {
        try {
          return readFileSync(file, 'utf8');
        } catch {
          return undefined;
        }
      };
      resolve({ code: code ?? `signal ${signal}`, stdout, stderr, csv: read(csvFile), cpuSeconds: parseTimes(read(timesFile) ?? ''), seconds: (performance.now() - t0) / 1000 });
    });
  });
}

/** one (GOMAXPROCS, case): a fresh sink, perf_analyzer against it (again with -s 100 when unstable), the sink's stats */
async function runCase(pa, opts, gomaxprocs, { batch, concurrency }, tmp, tag) {
  const timeoutMs = (opts.maxTrials + 3) * opts.measurementInterval + 60_000;
  let stability = opts.stability;
  for (;;) {
    const sink = await startSink(opts.sink, opts.model, gomaxprocs, opts.sinkArgs);
    const args = perfAnalyzerArgs('grpc', { model: opts.model, host: '127.0.0.1', grpcPort: sink.port, batch, concurrency, measurementInterval: opts.measurementInterval, stability, maxTrials: opts.maxTrials, async: opts.async });
    const sinkCpu0 = procCpuSeconds(sink.child.pid);
    const run = await runPerfAnalyzer(pa, args, path.join(tmp, `${tag}-s${stability}.csv`), path.join(tmp, `${tag}-s${stability}.times`), timeoutMs);
    const sinkCpu1 = procCpuSeconds(sink.child.pid);
    const sinkTimes = sinkCpu0 && sinkCpu1 ? { user: sinkCpu1.user - sinkCpu0.user, sys: sinkCpu1.sys - sinkCpu0.sys } : undefined;
    const sinkCpu = sinkTimes ? sinkTimes.user + sinkTimes.sys : NaN;
    const paCpu = run.cpuSeconds ? run.cpuSeconds.user + run.cpuSeconds.sys : NaN;
    const stats = await sink.stop();
    const unstable = run.code !== 0 && /Failed to obtain stable measurement/.test(run.stdout + run.stderr);
    if (unstable && stability < 100) {
      process.stderr.write(` (unstable at -s ${stability}, again with -s 100)`);
      stability = 100;
      continue;
    }
    const command = ['perf_analyzer', ...args].join(' ');
    const base = { gomaxprocs, gomaxprocsActual: Number(/gomaxprocs (\d+)/.exec(sink.banner)?.[1]), batch, concurrency, command, stability, sinkBanner: sink.banner, calls: stats.calls };
    const row = parseCsv(run.csv ?? '', concurrency);
    if (run.code !== 0 || !row) {
      const tail = (run.stderr + run.stdout).trim().split('\n').slice(-6).join('\n');
      return { ...base, correct: false, error: `perf_analyzer exit ${run.code}${row ? '' : ', no CSV row'}: ${tail}`, requestsPerSecond: 0, inferencesPerSecond: 0, latencyUs: {} };
    }
    const out = parseStdout(run.stdout);
    const inferencesPerSecond = row['Inferences/Second'];
    const requestsPerSecond = inferencesPerSecond / batch;
    const served = stats.modelInferServed;
    const perRequestUs = (cpu) => (served > 0 && Number.isFinite(cpu) ? (cpu / served) * 1e6 : undefined);
    return {
      ...base,
      requestsPerSecond,
      inferencesPerSecond,
      latencyUs: { mean: out.avgLatencyUs, p50: row['p50 latency'], p90: row['p90 latency'], p99: row['p99 latency'] },
      server: { inferenceCount: out.serverInferenceCount, executionCount: out.serverExecutionCount },
      run: { wallSeconds: run.seconds, modelInferServed: served, itemsServed: stats.items },
      cpu: {
        sinkSeconds: sinkCpu,
        perfAnalyzerSeconds: paCpu,
        // the kernel's share (system time: for 600 KB messages mostly the loopback TCP copies)
        sinkSystemShare: sinkTimes ? sinkTimes.sys / sinkCpu : undefined,
        perfAnalyzerSystemShare: run.cpuSeconds ? run.cpuSeconds.sys / paCpu : undefined,
        // cores at the measured rate (µs per request × req/s), and averaged over the whole run
        // (start-up and the gaps between perf_analyzer's windows included: lower)
        sinkCores: (perRequestUs(sinkCpu) * requestsPerSecond) / 1e6,
        perfAnalyzerCores: (perRequestUs(paCpu) * requestsPerSecond) / 1e6,
        sinkCoresRunAverage: sinkCpu / run.seconds,
        perfAnalyzerCoresRunAverage: paCpu / run.seconds,
        sinkUsPerRequest: perRequestUs(sinkCpu),
        perfAnalyzerUsPerRequest: perRequestUs(paCpu),
      },
      correct: served > 0 && !stats.error,
      ...(stats.error ? { error: stats.error } : {}),
    };
  }
}

/** the key line's numbers: the best req/s against the target rate, and the CPU per request there, extrapolated */
export function keyResult(cases, inProcess, target) {
  const targetRps = inProcess * target;
  const ok = cases.filter((c) => c.correct);
  if (!ok.length) return { targetRps, best: null };
  const best = ok.reduce((a, c) => (c.requestsPerSecond > a.requestsPerSecond ? c : a));
  const bestInf = ok.reduce((a, c) => (c.inferencesPerSecond > a.inferencesPerSecond ? c : a));
  const cores = (us) => (Number.isFinite(us) ? (us * targetRps) / 1e6 : undefined);
  return {
    targetRps,
    best: { gomaxprocs: best.gomaxprocs, batch: best.batch, concurrency: best.concurrency, requestsPerSecond: best.requestsPerSecond, inferencesPerSecond: best.inferencesPerSecond },
    bestInferences: { gomaxprocs: bestInf.gomaxprocs, batch: bestInf.batch, concurrency: bestInf.concurrency, requestsPerSecond: bestInf.requestsPerSecond, inferencesPerSecond: bestInf.inferencesPerSecond },
    ratio: best.requestsPerSecond / targetRps,
    reached: best.requestsPerSecond >= targetRps,
    perfAnalyzerUsPerRequest: best.cpu.perfAnalyzerUsPerRequest,
    sinkUsPerRequest: best.cpu.sinkUsPerRequest,
    perfAnalyzerCoresAtTarget: cores(best.cpu.perfAnalyzerUsPerRequest),
    sinkCoresAtTarget: cores(best.cpu.sinkUsPerRequest),
  };
}

function keyText(k, opts, env) {
  if (!k.best) return `No case succeeded: no ceiling measured (target ${fmt(k.targetRps)} req/s).`;
  const b = k.best;
  return (
    `Highest: ${fmt(b.requestsPerSecond)} req/s (${fmt(b.inferencesPerSecond)} infer/s; B=${b.batch}, C=${b.concurrency}, GOMAXPROCS ${b.gomaxprocs ?? 'default'}) = ${fmt(k.ratio, 2)} × the target of ${fmt(k.targetRps)} req/s ` +
    `(${opts.target} × ${fmt(opts.inProcess)} in-process inferences/s on the H200 host): ${k.reached ? 'reached' : '**not reached**'} on this host (${env.cpus} logical CPUs). ` +
    `At that rate perf_analyzer used ${fmt(k.perfAnalyzerUsPerRequest)} µs of CPU per request and the sink ${fmt(k.sinkUsPerRequest)} µs; ` +
    `at ${fmt(k.targetRps)} req/s that is ${fmt(k.perfAnalyzerCoresAtTarget, 1)} cores for perf_analyzer and ${fmt(k.sinkCoresAtTarget, 1)} for the sink ` +
    `(${fmt(k.perfAnalyzerCoresAtTarget + k.sinkCoresAtTarget, 1)} together, if the CPU per request stayed what it is here).` +
    (k.bestInferences.batch !== b.batch ? ` Highest inferences/s: ${fmt(k.bestInferences.inferencesPerSecond)} (B=${k.bestInferences.batch}, C=${k.bestInferences.concurrency}: ${fmt(k.bestInferences.requestsPerSecond)} req/s).` : '')
  );
}

function markdown(report) {
  const e = report.environment;
  const o = report.options;
  const lines = [];
  lines.push(`# gRPC ceiling: perf_analyzer against grpc-sink (no inference)`, '');
  lines.push(`Date: ${report.date}. Host: ${e.cpuModel}, ${e.cpus} logical CPUs (${e.availableParallelism} available), ${e.memoryGiB} GiB, kernel ${e.kernel} (${e.kernelVersion}), Node ${e.node}. Client: ${report.perfAnalyzer.version} (${report.perfAnalyzer.path}). Sink: ${report.sink.path} (${report.sink.sizeBytes ? `${fmt(report.sink.sizeBytes)} bytes` : 'size unknown'}); first banner: \`${report.sink.banner ?? '–'}\`.`, '');
  lines.push(
    `Model \`${o.model}\` as the sink reports it (max_batch_size 32, input FP32 [3,224,224], output FP32 [1000]): ${fmt(602_112)} bytes of raw_input_contents per item. perf_analyzer ${o.async ? 'async' : 'sync'} mode, ${o.measurementInterval} ms windows, the last 3 within ${o.stability} % (-s; column "-s" says when a case had to be run with -s 100), at most ${o.maxTrials} windows, random data. A fresh sink per case. ` +
      'µs/req: CPU seconds / ModelInfer calls the sink served in the perf_analyzer run (sink: /proc/<pid>/stat before and after; perf_analyzer: bash `times` of its child); sys %: the share of that CPU spent in the kernel (system time); cores: µs/req × req/s (the JSON also has the average over the whole run, start-up and the gaps between windows included).',
    '',
  );
  lines.push('| repeat | GOMAXPROCS | B | C | req/s | infer/s | mean µs | p50 µs | p99 µs | sink cores | sink µs/req | sink sys % | perf_analyzer cores | perf_analyzer µs/req | perf_analyzer sys % | -s | ok |');
  lines.push('| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | :-: |');
  for (const c of report.cases) {
    lines.push(
      `| ${c.repeat} | ${c.gomaxprocs ?? `default (${c.gomaxprocsActual})`} | ${c.batch} | ${c.concurrency} | ${fmt(c.requestsPerSecond)} | ${fmt(c.inferencesPerSecond)} | ${fmt(c.latencyUs.mean)} | ${fmt(c.latencyUs.p50)} | ${fmt(c.latencyUs.p99)} | ${fmt(c.cpu?.sinkCores, 2)} | ${fmt(c.cpu?.sinkUsPerRequest)} | ${fmt(100 * c.cpu?.sinkSystemShare)} | ${fmt(c.cpu?.perfAnalyzerCores, 2)} | ${fmt(c.cpu?.perfAnalyzerUsPerRequest)} | ${fmt(100 * c.cpu?.perfAnalyzerSystemShare)} | ${c.stability} | ${c.correct ? 'yes' : `**no**: ${(c.error ?? '').split('\n')[0].slice(0, 120)}`} |`,
    );
  }
  lines.push('', `Calls perf_analyzer made (summed over the cases): ${Object.entries(report.calls).map(([m, n]) => `${m} ${fmt(n)}`).join(', ') || '–'}.`, '');
  lines.push('## Key result', '', report.keyText, '');
  lines.push('Commands (ports of this run):', '', ...[...new Set(report.cases.map((c) => `    ${c.command}`))], '');
  return lines.join('\n') + '\n';
}

function writeReport(opts, report) {
  if (opts.json) {
    mkdirSync(path.dirname(opts.json), { recursive: true });
    writeFileSync(opts.json, JSON.stringify(report, null, 2) + '\n');
  }
  const md = report.skipped ? `# gRPC ceiling — skipped\n\n${report.skipped}\n` : markdown(report);
  if (opts.md) {
    mkdirSync(path.dirname(opts.md), { recursive: true });
    writeFileSync(opts.md, md);
  }
  if (opts.json || opts.md) process.stderr.write(`wrote ${[opts.json, opts.md].filter(Boolean).join(' and ')}\n`);
  else if (!report.skipped) process.stdout.write(md);
}

async function main() {
  const opts = parseArgs(process.argv);
  const environment = { ...hostEnvironment(false), kernel: os.release(), kernelVersion: os.version() };
  const skip = (why) => {
    process.stderr.write(`grpc-ceiling: ${why}\n`);
    writeReport(opts, { skipped: why, date: new Date().toISOString(), environment, options: opts });
  };
  const found = findPerfAnalyzer(opts.perfAnalyzer);
  if (!found.path) return skip(`perf_analyzer not found, skipped: ${found.why}. Get it with scripts/perf-analyzer.sh --fetch (or give --perf-analyzer PATH).`);
  if (!existsSync(opts.sink)) return skip(`the sink binary ${opts.sink} is absent, skipped. Build it (Go 1.26) from the repository root with: ${BUILD_COMMAND}`);
  const pa = found.path;
  const v = spawnSync(pa, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  const version = `${v.stdout ?? ''}${v.stderr ?? ''}`.trim().split('\n')[0] || 'perf_analyzer (version unknown)';
  process.stderr.write(`grpc-ceiling: ${version} (${pa}); sink ${opts.sink}\n`);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'grpc-ceiling-'));
  const cases = [];
  try {
    for (let repeat = 1; repeat <= opts.repeat; repeat++) {
      for (const g of opts.gomaxprocs) {
        for (const c of opts.cases) {
          const tag = `r${repeat}-g${g ?? 'default'}-b${c.batch}-c${c.concurrency}`;
          process.stderr.write(`#${repeat} GOMAXPROCS=${g ?? 'default'} B=${c.batch} C=${c.concurrency} ...`);
          const r = { repeat, ...(await runCase(pa, opts, g, c, tmp, tag)) };
          cases.push(r);
          process.stderr.write(
            r.correct
              ? ` ${fmt(r.requestsPerSecond)} req/s (${fmt(r.inferencesPerSecond)} infer/s), p50 ${fmt(r.latencyUs.p50)} µs, p99 ${fmt(r.latencyUs.p99)} µs; sink ${fmt(r.cpu.sinkCores, 2)} cores ${fmt(r.cpu.sinkUsPerRequest)} µs/req, perf_analyzer ${fmt(r.cpu.perfAnalyzerCores, 2)} cores ${fmt(r.cpu.perfAnalyzerUsPerRequest)} µs/req\n`
              : ` FAILED: ${r.error}\n`,
          );
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const calls = {};
  for (const c of cases) for (const [m, n] of Object.entries(c.calls ?? {})) calls[m] = (calls[m] ?? 0) + n;
  const key = keyResult(cases, opts.inProcess, opts.target);
  const text = keyText(key, opts, environment);
  let sizeBytes;
  try {
    sizeBytes = readFileSync(opts.sink).length;
  } catch {
    /* unreadable */
  }
  const report = {
    title: 'gRPC ceiling: perf_analyzer against grpc-sink',
    date: new Date().toISOString(),
    environment,
    perfAnalyzer: { path: pa, version },
    sink: { path: opts.sink, sizeBytes, banner: cases.find((c) => c.sinkBanner)?.sinkBanner },
    options: opts,
    cases,
    calls,
    key,
    keyText: text,
    allCorrect: cases.every((c) => c.correct),
  };
  writeReport(opts, report);
  process.stderr.write(`${text}\n`);
  if (!report.allCorrect) process.exitCode = 1;
}

if (isEntryPoint(import.meta.url)) {
  await main().catch((e) => {
    if (!e?.usage) throw e;
    process.stderr.write(`grpc-ceiling: ${e.message}\n`);
    process.exitCode = 2;
  });
}
