#!/usr/bin/env node
/**
 * The server measured by NVIDIA's perf_analyzer: a second, independent client for issue 6.
 *
 *   npm run build:ts && tools/perf-analyzer.sh --fetch && node bench/server-perf-analyzer.mjs
 *       [--model-repository DIR] [--model NAME] [--concurrency C] [--batch B] [--methods grpc,grpc-shm,http,http-shm]
 *       [--repeat N] [--measurement-interval MS] [--stability P] [--max-trials N] [--async]
 *       [--duration S] [--warmup S] [--grpc-workers N|auto] [--ort-threads N] [--target 0.9]
 *       [--perf-analyzer PATH] [--json out.json] [--md out.md]
 *
 * bench/server-overhead.mjs drives the server with grpc-js and node:http callers on worker threads
 * of the server's own process: the client's protobuf/HTTP/2 work and its garbage collection share
 * the host's cores (and V8's helper threads) with the server. Here the client is perf_analyzer
 * (tritonclient 2.48.0's C++ load generator, the tool Triton users measure servers with) in a
 * separate process. Defaults: bench/models, model `image-stub` (ResNet-50-sized FP32 [1,3,224,224]
 * in, [1,1000] out, almost no compute), concurrency 64, batch 1.
 *
 * --batch B: every request carries B items along dimension 0 (perf_analyzer -b B; in-process,
 * tensors of B items, as server-overhead.mjs --batch makes them), B in 1..max_batch_size of the
 * model (1 for a model without batching). perf_analyzer counts a request of B items as B
 * inferences; the report gives requests/s and inferences/s (= requests/s × B), and the ratio to
 * in-process is taken on inferences/s (the same B on both sides, so the same ratio as on req/s).
 *
 * The server is started in this process as server-overhead.mjs starts it (startBenchServer():
 * 127.0.0.1, port 0, HTTP + gRPC with the server's default front-end threads, --grpc-workers to
 * change that). Each repeat runs, one after the other:
 *
 *   in-process  C closed-loop callers of model.scheduler.infer() in this process (inProcessCase(),
 *               the same DynamicBatcher and instances the server uses) for --duration S after
 *               --warmup S; every 8th result checked against the reference (the baseline)
 *   grpc        perf_analyzer -i grpc: tensors in the messages (raw_input_contents)
 *   grpc-shm    perf_analyzer -i grpc --shared-memory system: perf_analyzer creates, registers and
 *               unregisters its own POSIX shm regions; only names, offsets and sizes on the wire
 *   http        perf_analyzer -i http: the binary tensor extension
 *   http-shm    perf_analyzer -i http --shared-memory system
 *
 * Each perf_analyzer case is `perf_analyzer -m MODEL -u 127.0.0.1:PORT -i PROTO -b B --concurrency-range C
 * --measurement-interval MS -s P -r N -f case.csv` (random input data, perf_analyzer's default sync
 * mode: C client threads, each with one request in flight; --async: perf_analyzer's async mode). It
 * measures windows of MS until the last 3 agree within P % (throughput and average latency) and
 * reports those 3; when it gives up after N windows ("Failed to obtain stable measurement"), the case
 * is run once more with -s 100 and the report says so (stability). --duration defaults to 3 windows
 * (3 × MS), the span perf_analyzer's result covers. Read from its CSV: infer/sec (requests × B per
 * second), p50/p90/p95/p99 latency; from its stdout: average latency, the server-side counts
 * (inference and execution counts: their ratio is the dynamic batcher's average batch, in items)
 * and its server latency breakdown (from the statistics extension). Also recorded: this process's
 * CPU time per request during each case (server; in-process: callers and server) and
 * perf_analyzer's CPU time (sampled from /proc/<pid>/stat every 200 ms, so approximate).
 *
 * Reported per case: req/s, inferences/s, latency mean/p50/p99 (µs), the throughput ratio
 * (inferences/s) to the same repeat's in-process case, and the issue-6 criterion: grpc /
 * in-process >= --target (0.9) in every repeat ("criterion" in the JSON), reported, never the exit
 * status. The exit status is 1 only when a case failed (perf_analyzer error, or a wrong in-process
 * result); 2 for a wrong option (--batch above the model's max_batch_size, ...); 0 when
 * perf_analyzer is absent: the run is skipped with a message (and, with --json, a JSON/Markdown
 * saying so).
 *
 * perf_analyzer: --perf-analyzer PATH, else `tools/perf-analyzer.sh --where` ($PERF_ANALYZER_DIR,
 * .cache/perf-analyzer/ from `tools/perf-analyzer.sh --fetch`, or /tmp/perf-analyzer/ unpacked on
 * the GPU host by tools/gpu-host/env.sh from .stage/perf-analyzer, made by
 * `tools/gpu-host/stage.sh perf-analyzer`).
 * The GPU run: tools/gpu-host/serve-suite.sh --perf-analyzer (ResNet-50 FP16 plan, repository from
 * tools/gpu-host/model-repository.mjs): `--model resnet50 --concurrency 64 --repeat 2` (single
 * images, server-perf-analyzer.json/.md in $OUT), then batch traffic `--batch 8 --concurrency 8
 * --methods grpc,grpc-shm,http-shm --repeat 2` (the same 64 images in flight,
 * server-perf-analyzer-b8.json/.md).
 * Library: bench/lib.mjs (../dist, or the dist/index.js in TRTNODE_LIB).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMON_FLAGS, commonFlags, fmt, hostEnvironment, inProcessCase, isEntryPoint, loadLibrary, makeVariants, modelSummary, readFlags, startBenchServer } from './server-overhead.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const PA_METHODS = ['grpc', 'grpc-shm', 'http', 'http-shm'];
/** a wrong option: the script prints its message alone (no stack) and exits 2 */
const usageError = (message) => Object.assign(new Error(message), { usage: true });

export function parseArgs(argv) {
  const o = {
    modelRepository: path.join(ROOT, 'bench', 'models'),
    model: 'image-stub',
    concurrency: 64,
    methods: PA_METHODS,
    repeat: 1,
    measurementInterval: 2000,
    stability: 10,
    maxTrials: 10,
    async: false,
    duration: undefined,
    warmup: 1,
    batch: 1,
    grpcWorkers: undefined,
    ortThreads: undefined,
    target: 0.9,
    perfAnalyzer: undefined,
    json: undefined,
    md: undefined,
  };
  const f = readFlags(
    argv,
    { ...COMMON_FLAGS, concurrency: 'string', batch: 'string', 'measurement-interval': 'string', stability: 'string', 'max-trials': 'string', async: 'boolean', 'perf-analyzer': 'string' },
    'node bench/server-perf-analyzer.mjs [--model-repository DIR] [--model NAME] [--concurrency C] [--batch B] [--methods grpc,grpc-shm,http,http-shm] [--repeat N] [--measurement-interval MS] [--stability P] [--max-trials N] [--async] [--duration S] [--warmup S] [--grpc-workers N|auto] [--ort-threads N] [--target 0.9] [--perf-analyzer PATH] [--json out.json] [--md out.md]',
  );
  commonFlags(o, f, PA_METHODS);
  if (f.concurrency !== undefined) o.concurrency = Number(f.concurrency);
  if (f.batch !== undefined) o.batch = Number(f.batch);
  if (f['measurement-interval'] !== undefined) o.measurementInterval = Number(f['measurement-interval']);
  if (f.stability !== undefined) o.stability = Number(f.stability);
  if (f['max-trials'] !== undefined) o.maxTrials = Number(f['max-trials']);
  if (f.async) o.async = true;
  if (f['perf-analyzer'] !== undefined) o.perfAnalyzer = path.resolve(f['perf-analyzer']);
  if (!(Number.isInteger(o.concurrency) && o.concurrency >= 1 && o.concurrency <= 1024)) throw usageError('--concurrency: an integer in 1..1024');
  // the upper bound is the model's max_batch_size, checked once the server has loaded it (checkBatch)
  if (!(Number.isInteger(o.batch) && o.batch >= 1)) throw usageError(`--batch ${f.batch}: an integer >= 1 (at most the model's max_batch_size)`);
  o.methods = PA_METHODS.filter((m) => o.methods.includes(m));
  if (!(Number.isInteger(o.measurementInterval) && o.measurementInterval >= 100 && o.measurementInterval <= 60_000)) throw usageError('--measurement-interval: milliseconds in 100..60000');
  if (!(o.stability > 0 && o.stability <= 1000)) throw usageError('--stability: a percentage in (0, 1000]');
  if (!(Number.isInteger(o.maxTrials) && o.maxTrials >= 3 && o.maxTrials <= 50)) throw usageError('--max-trials: an integer in 3..50');
  o.duration ??= (3 * o.measurementInterval) / 1000;
  if (!(o.duration > 0 && o.duration <= 600)) throw usageError('--duration must be in (0, 600] seconds');
  return o;
}

/**
 * --batch against the loaded model's config (the server may have completed it, e.g. max_batch_size
 * from a plan): B <= max_batch_size, or B = 1 for a model without batching (max_batch_size 0,
 * where a request has no batch dimension). Throws the message to show.
 */
export function checkBatch(batch, model, maxBatchSize) {
  if (maxBatchSize > 0 && batch > maxBatchSize) throw usageError(`--batch ${batch}: model ${model} has max_batch_size ${maxBatchSize}; use --batch 1..${maxBatchSize}`);
  if (!(maxBatchSize > 0) && batch !== 1) throw usageError(`--batch ${batch}: model ${model} does not batch (max_batch_size ${maxBatchSize ?? 0}); use --batch 1`);
}

/** the perf_analyzer launcher to run, or null (then `why` says where it was looked for) */
export function findPerfAnalyzer(explicit) {
  if (explicit) {
    try {
      execFileSync(explicit, ['--version'], { stdio: 'pipe', timeout: 30_000 });
      return { path: explicit };
    } catch (e) {
      return { path: null, why: `--perf-analyzer ${explicit} does not run (${e instanceof Error ? e.message.split('\n')[0] : e})` };
    }
  }
  try {
    return { path: execFileSync('bash', [path.join(ROOT, 'tools', 'perf-analyzer.sh'), '--where'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim() };
  } catch (e) {
    const msg = e?.stderr?.toString().trim() || (e instanceof Error ? e.message : String(e));
    return { path: null, why: msg };
  }
}

/** perf_analyzer's -f CSV: the header row and one row per concurrency; returns the row for `concurrency` as an object of numbers */
export function parseCsv(text, concurrency) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  if (lines.length < 2) return null;
  const head = lines[0].split(',').map((h) => h.trim());
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    const row = Object.fromEntries(head.map((h, i) => [h, Number(cells[i])]));
    if (row.Concurrency === concurrency) return row;
  }
  return null;
}

/** what perf_analyzer's stdout adds to the CSV: client average latency and request count, the server's counts and latency breakdown (µs) */
export function parseStdout(text) {
  const num = (re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const server = /Avg request latency: (\d+) usec \(overhead (\d+) usec \+ queue (\d+) usec \+ compute input (\d+) usec \+ compute infer (\d+) usec \+ compute output (\d+) usec\)/.exec(text);
  return {
    clientRequests: num(/Client:\s*\n\s*Request count: (\d+)/),
    throughput: num(/Throughput: ([\d.]+) infer\/sec/),
    avgLatencyUs: num(/Avg latency: (\d+) usec/),
    stddevLatencyUs: num(/Avg latency: \d+ usec \(standard deviation (\d+) usec\)/),
    serverInferenceCount: num(/Inference count: (\d+)/),
    serverExecutionCount: num(/Execution count: (\d+)/),
    serverLatencyUs: server ? { total: +server[1], overhead: +server[2], queue: +server[3], computeInput: +server[4], computeInfer: +server[5], computeOutput: +server[6] } : undefined,
  };
}

/** utime + stime of a process in seconds, from /proc (undefined when gone) */
function procCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ: 100 on Linux x86-64
  } catch {
    return undefined;
  }
}

/** one perf_analyzer run; resolves with { code, stdout, stderr, csv, clientCpuSeconds, seconds } */
function runPerfAnalyzer(pa, args, csvFile, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(pa, [...args, '-f', csvFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let cpu = 0;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const sampler = setInterval(() => (cpu = procCpuSeconds(child.pid) ?? cpu), 200);
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearInterval(sampler);
      clearTimeout(killer);
      let csv;
      try {
        csv = readFileSync(csvFile, 'utf8');
      } catch {
        /* none written */
      }
      resolve({ code: code ?? (signal ? `signal ${signal}` : null), stdout, stderr, csv, clientCpuSeconds: cpu, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

/** the perf_analyzer arguments of a method */
export function perfAnalyzerArgs(method, { model, host, grpcPort, httpPort, batch, concurrency, measurementInterval, stability, maxTrials, async }) {
  const grpc = method.startsWith('grpc');
  return [
    '-m', model,
    '-i', grpc ? 'grpc' : 'http',
    '-u', `${host}:${grpc ? grpcPort : httpPort}`,
    ...(method.endsWith('-shm') ? ['--shared-memory', 'system'] : []),
    ...(batch !== undefined ? ['-b', String(batch)] : []),
    '--concurrency-range', String(concurrency),
    '--measurement-interval', String(measurementInterval),
    '-s', String(stability),
    '-r', String(maxTrials),
    ...(async ? ['--async'] : []),
  ];
}

/** a perf_analyzer case: runs it (again with -s 100 when it cannot stabilize) and turns its output into a result row */
async function perfAnalyzerCase(pa, method, opts, server, tmp, tag) {
  const common = { model: opts.model, host: server.host, grpcPort: server.grpcPort, httpPort: server.httpPort, batch: opts.batch, concurrency: opts.concurrency, measurementInterval: opts.measurementInterval, maxTrials: opts.maxTrials, async: opts.async };
  const timeoutMs = (opts.maxTrials + 3) * opts.measurementInterval + 60_000;
  let stability = opts.stability;
  let run;
  let args;
  for (;;) {
    args = perfAnalyzerArgs(method, { ...common, stability });
    const csvFile = path.join(tmp, `${tag}-${method}-s${stability}.csv`);
    const cpu0 = process.cpuUsage();
    run = await runPerfAnalyzer(pa, args, csvFile, timeoutMs);
    const cpu = process.cpuUsage(cpu0);
    run.serverCpuSeconds = (cpu.user + cpu.system) / 1e6;
    const unstable = run.code !== 0 && /Failed to obtain stable measurement/.test(run.stdout + run.stderr);
    if (unstable && stability < 100) {
      process.stderr.write(` (unstable at -s ${stability}, again with -s 100)`);
      stability = 100;
      continue;
    }
    break;
  }
  const row = parseCsv(run.csv ?? '', opts.concurrency);
  const out = parseStdout(run.stdout);
  const tail = (run.stderr + run.stdout).trim().split('\n').slice(-6).join('\n');
  const warnings = (run.stdout + run.stderr).split('\n').filter((l) => /Unable to|error|Error|failed|Failed/.test(l)).slice(0, 5);
  if (run.code !== 0 || !row) {
    return { method, client: 'perf_analyzer', command: ['perf_analyzer', ...args].join(' '), stability, correct: false, error: `perf_analyzer exit ${run.code}${row ? '' : ', no CSV row'}: ${tail}`, requestsPerSecond: 0, inferencesPerSecond: 0, latencyUs: {}, seconds: run.seconds };
  }
  // perf_analyzer's infer/sec counts a request of B items as B inferences (requests × B / s)
  const inferencesPerSecond = row['Inferences/Second'];
  const requestsPerSecond = inferencesPerSecond / opts.batch;
  const requests = out.clientRequests ?? Math.round(requestsPerSecond * 3 * opts.measurementInterval / 1000);
  return {
    method,
    client: 'perf_analyzer',
    command: ['perf_analyzer', ...args].join(' '),
    stability,
    requestsPerSecond,
    inferencesPerSecond,
    latencyUs: { mean: out.avgLatencyUs, p50: row['p50 latency'], p90: row['p90 latency'], p95: row['p95 latency'], p99: row['p99 latency'], stddev: out.stddevLatencyUs },
    clientBreakdownUs: { clientSend: row['Client Send'], networkServerSendRecv: row['Network+Server Send/Recv'], serverQueue: row['Server Queue'], serverComputeInput: row['Server Compute Input'], serverComputeInfer: row['Server Compute Infer'], serverComputeOutput: row['Server Compute Output'], clientRecv: row['Client Recv'] },
    server: { inferenceCount: out.serverInferenceCount, executionCount: out.serverExecutionCount, averageBatch: out.serverInferenceCount && out.serverExecutionCount ? out.serverInferenceCount / out.serverExecutionCount : undefined, latencyUs: out.serverLatencyUs },
    measuredRequests: requests,
    cpu: {
      // the whole perf_analyzer run (its windows plus start and stop), not only the measured windows
      serverProcessSeconds: run.serverCpuSeconds,
      perfAnalyzerSeconds: run.clientCpuSeconds,
      wallSeconds: run.seconds,
      serverCoresBusy: run.serverCpuSeconds / run.seconds,
      perfAnalyzerCoresBusy: run.clientCpuSeconds / run.seconds,
    },
    ...(warnings.length ? { warnings } : {}),
    correct: true,
  };
}

function markdown(report) {
  const e = report.environment;
  const o = report.options;
  const lines = [];
  lines.push(`# Server throughput measured by perf_analyzer — ${report.title}`, '');
  lines.push(`Date: ${report.date}. Host: ${e.cpuModel}, ${e.cpus} logical CPUs, ${e.memoryGiB} GiB, ${e.platform}, Node ${e.node}${e.gpu ? `; GPU ${e.gpu}` : ''}. Client: ${report.perfAnalyzer.version} (${report.perfAnalyzer.path}), a separate process.`, '');
  lines.push(report.note, '');
  const m = report.model;
  lines.push(
    `Model \`${m.name}\` v${m.version} (${m.platform}, max_batch_size ${m.maxBatchSize}, ${m.instances} instance(s)${m.dynamicBatching ? ', dynamic_batching' : ''}), request inputs ${m.inputs.map((i) => `${i.name} ${i.datatype} [${i.shape.join(',')}]`).join(', ')}; batch ${o.batch} (items per request); concurrency ${o.concurrency}; infer/s = req/s × ${o.batch}, and "/ in-process" is the ratio of infer/s; "avg batch (server)": items per execution of the scheduler (perf_analyzer's server counts; in-process: the scheduler's, warm-up included); gRPC served by ${report.server.grpcWorkers ? `${report.server.grpcWorkers} front-end thread(s)` : 'the main thread'}. in-process: ${o.duration} s after ${o.warmup} s warm-up, every 8th result checked against the reference. perf_analyzer: ${o.async ? 'async' : 'sync'} mode, ${o.measurementInterval} ms windows, the last 3 within ${o.stability} % (-s; a case that could not stabilize ran again with -s 100: column "-s"), at most ${o.maxTrials} windows, random input data.`,
    '',
  );
  lines.push('| repeat | method | req/s | infer/s | mean µs | p50 µs | p99 µs | / in-process | avg batch (server) | server CPU cores | perf_analyzer CPU cores | -s | ok |');
  lines.push('| --: | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | :-: |');
  for (const c of report.cases) {
    const ip = c.method === 'in-process';
    lines.push(
      `| ${c.repeat} | ${ip ? 'in-process' : `${c.method} (perf_analyzer)`} | ${fmt(c.requestsPerSecond)} | ${fmt(c.inferencesPerSecond)} | ${fmt(c.latencyUs.mean)} | ${fmt(c.latencyUs.p50)} | ${fmt(c.latencyUs.p99)} | ${ip ? '1.00' : fmt(c.throughputRatioVsInProcess, 2)} | ${fmt(c.server?.averageBatch, 1)} | ${fmt(ip ? c.cpu?.processCoresBusy : c.cpu?.serverCoresBusy, 1)} | ${ip ? '–' : fmt(c.cpu?.perfAnalyzerCoresBusy, 1)} | ${ip ? '–' : c.stability} | ${c.correct ? 'yes' : `**no**${c.error ? `: ${c.error.split('\n')[0].slice(0, 120)}` : ''}`} |`,
    );
  }
  lines.push('', '## Issue 6 criterion', '', report.criterionText, '');
  const warned = report.cases.filter((c) => c.warnings?.length);
  if (warned.length) {
    lines.push('## perf_analyzer messages', '');
    for (const c of warned) lines.push(`- repeat ${c.repeat} ${c.method}: ${c.warnings.map((w) => `\`${w.trim()}\``).join('; ')}`);
    lines.push('');
  }
  lines.push('Commands (ports of this run):', '', ...[...new Set(report.cases.filter((c) => c.command).map((c) => `    ${c.command}`))], '');
  return lines.join('\n') + '\n';
}

function writeReport(opts, report) {
  if (opts.json) {
    mkdirSync(path.dirname(opts.json), { recursive: true });
    writeFileSync(opts.json, JSON.stringify(report, null, 2) + '\n');
    writeFileSync(opts.md, report.skipped ? `# Server throughput measured by perf_analyzer — skipped\n\n${report.skipped}\n` : markdown(report));
    process.stderr.write(`wrote ${opts.json} and ${opts.md}\n`);
  } else if (!report.skipped) process.stdout.write(markdown(report));
}

async function main() {
  const opts = parseArgs(process.argv);
  const found = findPerfAnalyzer(opts.perfAnalyzer);
  if (!found.path) {
    const skipped = `perf_analyzer not found, skipped: ${found.why}. Get it with tools/perf-analyzer.sh --fetch (here) or carry .stage/perf-analyzer from tools/gpu-host/stage.sh perf-analyzer (GPU host).`;
    process.stderr.write(`server-perf-analyzer: ${skipped}\n`);
    writeReport(opts, { skipped, date: new Date().toISOString(), options: { ...opts, modelRepository: path.relative(ROOT, opts.modelRepository) || '.' } });
    return;
  }
  const pa = found.path;
  // perf_analyzer prints its version on stderr
  const v = spawnSync(pa, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  const version = `${v.stdout ?? ''}${v.stderr ?? ''}`.trim().split('\n')[0] || 'perf_analyzer (version unknown)';
  process.stderr.write(`server-perf-analyzer: ${version} (${pa})\n`);

  const lib = await loadLibrary();
  const server = await startBenchServer(lib, opts);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'trtn-perf-analyzer-'));
  try {
    const model = server.repository.getModel(opts.model);
    const cfg = model.config;
    checkBatch(opts.batch, opts.model, cfg.max_batch_size);
    const { inputSpecs, outNames, checkKind, variants, tensors } = await makeVariants(lib, model, opts);
    const B = opts.batch;
    const tag = `C=${opts.concurrency}${B > 1 ? ` B=${B}` : ''}`;
    const perSecond = (r) => `${fmt(r.requestsPerSecond)} req/s${B > 1 ? ` (${fmt(r.inferencesPerSecond)} infer/s)` : ''}`;
    const cases = [];
    for (let repeat = 1; repeat <= opts.repeat; repeat++) {
      process.stderr.write(`#${repeat} ${tag} in-process ...`);
      const stats0 = model.scheduler.statistics?.();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      // each call carries the B items of a request (makeVariants made the tensors with opts.batch)
      const base = await inProcessCase(model, { concurrency: opts.concurrency, warmupMs: opts.warmup * 1000, durationMs: opts.duration * 1000, tensors, variants, outNames, checkKind });
      base.inferencesPerSecond = base.requestsPerSecond * B;
      const cpu = process.cpuUsage(cpu0);
      const wall = (performance.now() - t0) / 1000;
      // the scheduler's counts over the case (warm-up included): the batch sizes it formed, to set beside perf_analyzer's server counts
      const stats1 = model.scheduler.statistics?.();
      const inferenceCount = stats1 && stats0 ? stats1.inferenceCount - stats0.inferenceCount : undefined;
      const executionCount = stats1 && stats0 ? stats1.executionCount - stats0.executionCount : undefined;
      base.server = { inferenceCount, executionCount, averageBatch: inferenceCount && executionCount ? inferenceCount / executionCount : undefined };
      cases.push({ repeat, method: 'in-process', client: 'in-process', ...base, cpu: { processSeconds: (cpu.user + cpu.system) / 1e6, wallSeconds: wall, processCoresBusy: (cpu.user + cpu.system) / 1e6 / wall } });
      process.stderr.write(` ${perSecond(base)}, p50 ${fmt(base.latencyUs.p50)} µs, p99 ${fmt(base.latencyUs.p99)} µs${base.server.averageBatch ? `, batch ${fmt(base.server.averageBatch, 1)}` : ''}${base.correct ? '' : ` NOT CORRECT (${base.firstError ?? base.check.firstMismatch ?? 'nothing checked'})`}\n`);
      for (const method of opts.methods) {
        process.stderr.write(`#${repeat} ${tag} ${method} (perf_analyzer) ...`);
        const r = await perfAnalyzerCase(pa, method, opts, server, tmp, `r${repeat}`);
        const row = { repeat, ...r };
        if (r.correct) row.throughputRatioVsInProcess = r.inferencesPerSecond / base.inferencesPerSecond;
        cases.push(row);
        process.stderr.write(r.correct ? ` ${perSecond(r)}, p50 ${fmt(r.latencyUs.p50)} µs, p99 ${fmt(r.latencyUs.p99)} µs, ×${fmt(row.throughputRatioVsInProcess, 2)}${r.server.averageBatch ? `, batch ${fmt(r.server.averageBatch, 1)}` : ''}\n` : ` FAILED: ${r.error}\n`);
      }
    }

    const isPlan = cfg.platform === 'tensorrt_plan';
    const critRows = cases.filter((c) => c.method === 'grpc');
    const criterion = {
      method: 'grpc',
      client: 'perf_analyzer',
      concurrency: opts.concurrency,
      batch: B,
      on: 'inferences/s',
      target: opts.target,
      ratios: critRows.map((c) => c.throughputRatioVsInProcess ?? null),
      met: critRows.length > 0 && critRows.every((c) => c.correct && c.throughputRatioVsInProcess >= opts.target),
    };
    const ratios = (m) => cases.filter((c) => c.method === m).map((c) => (c.correct ? fmt(c.throughputRatioVsInProcess, 2) : 'failed')).join(' / ');
    const criterionText =
      `Issue 6: ResNet-50 traffic through gRPC at >= ${opts.target} of the in-process throughput in inferences/s (the same scheduler called in this process). ` +
      `Here, model ${opts.model}, ${B > 1 ? `batch traffic: requests of ${B} items` : 'single-item requests'} at C = ${opts.concurrency}, perf_analyzer as the client: grpc / in-process = ${critRows.length ? ratios('grpc') : 'not measured'}${opts.repeat > 1 ? ' (one per repeat)' : ''}: ${critRows.length ? (criterion.met ? 'met' : '**not met**') : 'not measured'}` +
      `${opts.methods.filter((m) => m !== 'grpc').map((m) => `; ${m} ${ratios(m)}`).join('')}.` +
      (isPlan ? '' : ' This is not the GPU criterion: the model runs on ONNX Runtime on the CPU, and server, in-process callers and perf_analyzer share the CPU cores.');
    let pkgVersions = null; // what tools/perf-analyzer.sh bundled, pinned
    try {
      pkgVersions = readFileSync(path.join(path.dirname(pa), 'VERSIONS'), 'utf8').trim().split('\n');
    } catch {
      /* a perf_analyzer from elsewhere (--perf-analyzer) */
    }
    const report = {
      title: isPlan ? `GPU (TensorRT), model ${opts.model}` : `CPU (ONNX Runtime), model ${opts.model}`,
      date: new Date().toISOString(),
      environment: hostEnvironment(isPlan),
      perfAnalyzer: { path: pa, version, bundle: pkgVersions },
      note: isPlan
        ? 'GPU run: TensorRT plan served by the TensorRT backend. in-process calls the same scheduler (the same DynamicBatcher and instances) as the server, in this process; perf_analyzer runs as a separate process on the same host.'
        : 'CPU run: the model is served by ONNX Runtime on the CPU. Server, in-process callers and perf_analyzer share the host\'s CPU cores; the ratios are not the GPU criterion.',
      criterion,
      criterionText,
      options: { ...opts, modelRepository: path.relative(ROOT, opts.modelRepository) || '.', perfAnalyzer: opts.perfAnalyzer ?? null, json: undefined, md: undefined },
      server: { grpcWorkers: server.grpcWorkers ?? null },
      model: modelSummary(model, cfg, inputSpecs, outNames),
      checkKind,
      cases,
      allCorrect: cases.every((c) => c.correct),
    };
    writeReport(opts, report);
    if (!report.allCorrect) process.exitCode = 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await server.close();
  }
}

// run as a script, not imported (the parsers are exported for tests)
if (isEntryPoint(import.meta.url)) {
  await main().catch((e) => {
    if (!e?.usage) throw e;
    process.stderr.write(`server-perf-analyzer: ${e.message}\n`);
    process.exitCode = 2;
  });
}
