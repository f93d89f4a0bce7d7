/**
 * bench/server-perf-analyzer.mjs: its parsers of perf_analyzer's output (no perf_analyzer needed),
 * the skip when perf_analyzer is absent, and, where tools/perf-analyzer.sh --fetch has put
 * perf_analyzer in .cache/perf-analyzer (not in CI), a short end-to-end run of all four methods
 * against the server on the CPU example model. Needs dist/ (npm run build:ts).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(ROOT, 'bench', 'server-perf-analyzer.mjs');
const PA = path.join(ROOT, '.cache', 'perf-analyzer', 'perf_analyzer');
const HAVE_DIST = existsSync(path.join(ROOT, 'dist', 'index.js'));
const load = (): Promise<any> => import(pathToFileURL(SCRIPT).href);
const tmp = mkdtempSync(path.join(tmpdir(), 'trtn-bench-pa-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// perf_analyzer 2.48.0's output for one concurrency (a run against this server, trimmed)
const STDOUT = `*** Measurement Settings ***
  Batch size: 1
  Using synchronous calls for inference

Request concurrency: 8
  Client: 
    Request count: 1805
    Throughput: 496.636 infer/sec
    Avg latency: 15947 usec (standard deviation 6855 usec)
    p50 latency: 15413 usec
    p90 latency: 24832 usec
    p95 latency: 27417 usec
    p99 latency: 33940 usec
    Avg gRPC time: 15910 usec ((un)marshal request/response 79 usec + response wait 15831 usec)
  Server: 
    Inference count: 1813
    Execution count: 827
    Successful request count: 1813
    Avg request latency: 1607 usec (overhead 42 usec + queue 1050 usec + compute input 229 usec + compute infer 255 usec + compute output 30 usec)

Inferences/Second vs. Client Average Batch Latency
Concurrency: 8, throughput: 496.636 infer/sec, latency 15947 usec
`;
const CSV = `Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency
8,496.636,53,5381,935,137,183,17,1,15413,24832,27417,33940
`;

describe.skipIf(!HAVE_DIST)('bench/server-perf-analyzer.mjs', () => {
  it('reads perf_analyzer\'s CSV row and stdout', async () => {
    const { parseCsv, parseStdout } = await load();
    expect(parseCsv(CSV, 8)).toMatchObject({ Concurrency: 8, 'Inferences/Second': 496.636, 'p50 latency': 15413, 'p99 latency': 33940, 'Server Queue': 935 });
    expect(parseCsv(CSV, 64)).toBeNull();
    expect(parseCsv('', 8)).toBeNull();
    expect(parseStdout(STDOUT)).toEqual({
      clientRequests: 1805,
      throughput: 496.636,
      avgLatencyUs: 15947,
      stddevLatencyUs: 6855,
      serverInferenceCount: 1813,
      serverExecutionCount: 827,
      serverLatencyUs: { total: 1607, overhead: 42, queue: 1050, computeInput: 229, computeInfer: 255, computeOutput: 30 },
    });
  });

  it('builds each method\'s perf_analyzer arguments and checks its options', async () => {
    const { perfAnalyzerArgs, parseArgs } = await load();
    const common = { model: 'm', host: '127.0.0.1', grpcPort: 1, httpPort: 2, concurrency: 64, measurementInterval: 2000, stability: 10, maxTrials: 6, async: false };
    expect(perfAnalyzerArgs('grpc-shm', common).join(' ')).toBe('-m m -i grpc -u 127.0.0.1:1 --shared-memory system --concurrency-range 64 --measurement-interval 2000 -s 10 -r 6');
    expect(perfAnalyzerArgs('http', { ...common, async: true }).join(' ')).toBe('-m m -i http -u 127.0.0.1:2 --concurrency-range 64 --measurement-interval 2000 -s 10 -r 6 --async');
    const o = parseArgs(['node', 'x', '--methods', 'http,grpc', '--measurement-interval', '500']);
    expect(o).toMatchObject({ model: 'image-stub', concurrency: 64, methods: ['grpc', 'http'], duration: 1.5 });
    expect(() => parseArgs(['node', 'x', '--methods', 'grpc,udp'])).toThrow(/unknown: udp/);
  });

  it('batch traffic: -b B for perf_analyzer, and B checked against the model', async () => {
    const { perfAnalyzerArgs, parseArgs, checkBatch } = await load();
    const common = { model: 'm', host: '127.0.0.1', grpcPort: 1, httpPort: 2, concurrency: 8, measurementInterval: 2000, stability: 10, maxTrials: 6, async: false };
    expect(perfAnalyzerArgs('grpc', { ...common, batch: 8 })).toEqual(expect.arrayContaining(['-b', '8']));
    expect(parseArgs(['node', 'x', '--batch', '8', '--concurrency', '8'])).toMatchObject({ batch: 8, concurrency: 8 });
    for (const b of ['0', '1.5', 'x']) expect(() => parseArgs(['node', 'x', '--batch', b])).toThrow(/batch/);
    expect(() => checkBatch(8, 'm', 32)).not.toThrow();
    expect(() => checkBatch(64, 'm', 32)).toThrow(/max_batch_size 32/);
    expect(() => checkBatch(2, 'm', 0)).toThrow(/does not batch/);
    expect(() => checkBatch(1, 'm', 0)).not.toThrow();
  });

  it('skips with a message (exit 0) when there is no perf_analyzer', () => {
    const json = path.join(tmp, 'skipped.json');
    const r = spawnSync(process.execPath, [SCRIPT, '--json', json], { encoding: 'utf8', env: { ...process.env, PERF_ANALYZER_DIR: path.join(tmp, 'none') }, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/perf_analyzer not found, skipped/);
    expect(JSON.parse(readFileSync(json, 'utf8')).skipped).toMatch(/tools\/perf-analyzer.sh --fetch/);
    expect(readFileSync(json.replace(/json$/, 'md'), 'utf8')).toMatch(/skipped/);
  });

  it.skipIf(!existsSync(PA))('runs perf_analyzer over gRPC, HTTP and system shared memory against the server (affine)', () => {
    const json = path.join(tmp, 'run.json');
    const r = spawnSync(
      process.execPath,
      [SCRIPT, '--model-repository', path.join(ROOT, 'examples', 'models'), '--model', 'affine', '--concurrency', '2', '--measurement-interval', '300', '--stability', '100', '--warmup', '0.2', '--ort-threads', '1', '--json', json],
      { encoding: 'utf8', timeout: 150_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.cases.map((c: any) => c.method)).toEqual(['in-process', 'grpc', 'grpc-shm', 'http', 'http-shm']);
    for (const c of report.cases) {
      expect(c.correct, JSON.stringify(c)).toBe(true);
      expect(c.requestsPerSecond).toBeGreaterThan(0);
      // no "Unable to unregister all shared memory regions" or other error lines
      expect(c.warnings, c.method).toBeUndefined();
    }
    expect(report.criterion).toMatchObject({ method: 'grpc', client: 'perf_analyzer', concurrency: 2, target: 0.9 });
  }, 160_000);
});
