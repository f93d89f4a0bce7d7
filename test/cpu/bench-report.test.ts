import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { timingStats } from '../../lib/bench/stats.js';
import { benchRatios } from '../../lib/bench/run.js';
import type { BenchLoopResult, BenchReport } from '../../lib/bench/types.js';

interface ReportModule {
  renderReport(data: unknown): { date: string; markdown: string; svg: string };
  writeReport(data: unknown, dir: string): { markdownPath: string; svgPath: string };
  headlines(data: unknown): Record<string, unknown>;
}
const REPORT = path.resolve(__dirname, '../../bench/report.mjs');
let mod: ReportModule;
let tmp: string;

const lat = (meanUs: number, n = 200) => timingStats(Array.from({ length: n }, (_, i) => meanUs * (0.95 + (0.1 * i) / n)));
function loop(method: BenchLoopResult['method'], qps: number, meanUs: number, batch: number, graph = false): BenchLoopResult {
  return { method, iterations: Math.round(qps * 2), wallMs: 2000, throughputQps: qps, inferencesPerSecond: qps * batch, latency: lat(meanUs), enqueue: lat(meanUs / 20), compute: lat(meanUs * 0.8), cudaGraph: graph };
}
function report(batch: number, cppQps: number, jsQps: number, trtexecQps?: number, graph = false): BenchReport {
  const results: BenchReport['results'] = { cpp: loop('cpp', cppQps, 1e6 / cppQps, batch, graph), js: loop('js', jsQps, 1e6 / jsQps, batch, graph) };
  if (trtexecQps) results.trtexec = loop('trtexec', trtexecQps, 1e6 / trtexecQps, batch, graph);
  return {
    version: 1,
    date: '2026-11-26T10:00:00.000Z',
    environment: { node: 'v20.19.0', platform: 'linux x64', uvThreadpoolSize: 4 },
    config: { plan: '/f/x.plan', device: 0, profile: 0, shapes: { input: [batch, 3, 224, 224] }, batch, streams: 1, cudaGraph: graph, dataTransfers: true,
    overlap: true, durationMs: 2000, warmupMs: 500, methods: ['cpp', 'js'] },
    results,
    ratios: benchRatios(results),
    notes: ['TRTEXEC is not set: the C++ loop stands in for trtexec.'],
  };
}

function synthetic(): Record<string, unknown> {
  const cases = [
    { id: 'tiny-b1', group: 'tiny', model: 'tiny', batch: 1, streams: 1, cudaGraph: false, waitMode: 'adaptive', report: report(1, 40000, 30000) },
    { id: 'tiny-b1-graph', group: 'tiny', model: 'tiny', batch: 1, streams: 1, cudaGraph: true, waitMode: 'adaptive', report: report(1, 60000, 45000, undefined, true) },
    { id: 'tiny-b1-spin', group: 'tiny', model: 'tiny', batch: 1, streams: 1, cudaGraph: false, waitMode: 'spin', report: report(1, 40000, 36000) },
    { id: 'classifier_fp16-b8', group: 'classifier', model: 'classifier_fp16', batch: 8, streams: 1, cudaGraph: false, waitMode: 'adaptive', error: { code: 'ERR_SHAPE_OUT_OF_PROFILE', message: 'outside | profile' } },
    { id: 'classifier_fp32-b1', group: 'classifier', model: 'classifier_fp32', batch: 1, streams: 1, cudaGraph: false, waitMode: 'adaptive', skipped: 'missing /f/classifier_fp32.plan' },
    { id: 'resnet50_fp16-b32-s1', group: 'resnet50', model: 'resnet50_fp16', batch: 32, streams: 1, cudaGraph: false, waitMode: 'adaptive', report: report(32, 250, 247.5, 252) },
    { id: 'resnet50_fp16-b32-s2-graph', group: 'resnet50', model: 'resnet50_fp16', batch: 32, streams: 2, cudaGraph: true, waitMode: 'adaptive', report: report(32, 270, 269, 271, true) },
  ];
  const runs = [8, 16, 64, 256].map((c) => {
    const ips = Math.min(7000, 600 * c);
    const p99 = 1500 + c * 90;
    return { concurrency: c, requests: ips * 2, failed: 0, wallMs: 2000, inferencesPerSecond: ips, latency: { ...lat(p99 * 0.8), p99 }, meanBatchSize: Math.min(32, c / 2 + 1), meanQueueUs: 300, executions: 100, ratioToBestStatic: ips / 7600, p99BoundUs: 9540, p99WithinBound: p99 <= 9540 };
  });
  const batcherVariants = [
    { id: 'defaults', instances: 2, concurrency: [8, 16, 64, 256], plot: true, bestStatic: { batchSize: 32, inferencesPerSecond: 7600 }, runs },
    { id: 'tuned', instances: 2, concurrency: [64], requestMemory: 'pinned', callerOutputs: true, bestStatic: { batchSize: 32, inferencesPerSecond: 7600 }, runs: [{ ...runs[2]!, inferencesPerSecond: 7300, ratioToBestStatic: 7300 / 7600 }] },
    { id: 'wake', instances: 2, concurrency: [64], completion: 'wake', error: { code: 'ERR_TRT', message: 'boom' } },
  ];
  const static2 = {
    sweep: [8, 16, 32].map((b) => ({ batchSize: b, iterations: 100, wallMs: 1000, inferencesPerSecond: Math.min(7600, 900 * b), latencyMeanUs: 1000 + b * 110, latencyP99Us: 1100 + b * 115, computeMeanUs: 800 + b * 100 })),
    best: { batchSize: 32, inferencesPerSecond: 7600 },
    maxBatchLatencyUs: 4520,
  };
  return {
    kind: 'tensorrt-node-gpu-bench',
    version: 1,
    date: '2026-11-26T10:05:00.000Z',
    environment: { node: 'v20.19.0', platform: 'linux x64', cpus: 16, cpuModel: 'Intel Xeon', cuda: { driverVersion: 12040, runtimeVersion: 12040, devices: [{ index: 0, name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' }] }, tensorrt: { version: '10.3.0' }, trtexec: null },
    config: { fixtures: '/f', durationMs: 2000, warmupMs: 500, trtexec: null },
    cases,
    batcher: { id: 'resnet50_fp16-batcher', model: 'resnet50_fp16', maxBatchSize: 32, maxQueueDelayUs: 500, static2 },
    batcherVariants,
  };
}

beforeAll(async () => {
  const spec: string = REPORT;
  mod = (await import(spec)) as ReportModule;
  tmp = mkdtempSync(path.join(tmpdir(), 'trtn-report-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('bench/report.mjs', () => {
  it('computes the headline ratios', () => {
    const h = mod.headlines(synthetic()) as {
      resnet50B32JsOverCpp: number;
      resnet50B32JsOverTrtexec: number;
      tinyJsMinusCppUs: { mean: number };
      tinyGraphJsOverCpp: number;
      batcher: { concurrency: number; instances: number; ratioToBestStatic: number; withinBound: boolean; boundUs: number };
      batcherTuned: { ratioToBestStatic: number };
    };
    expect(h.resnet50B32JsOverCpp).toBeCloseTo(0.99, 12);
    expect(h.resnet50B32JsOverTrtexec).toBeCloseTo(247.5 / 252, 12);
    // (1e6/30000 − 1e6/40000) µs × 0.99975 (the synthetic samples average 0.99975 × their nominal mean)
    expect(h.tinyJsMinusCppUs.mean).toBeCloseTo(8.33125, 5);
    expect(h.tinyGraphJsOverCpp).toBeCloseTo(0.75, 12);
    expect(h.batcher).toMatchObject({ concurrency: 64, instances: 2, boundUs: 9540 });
    expect(h.batcher.ratioToBestStatic).toBeCloseTo(7000 / 7600, 12);
    expect(h.batcher.withinBound).toBe(true); // p99 = 1500 + 64 × 90 = 7260 µs ≤ 9540
    expect(h.batcherTuned.ratioToBestStatic).toBeCloseTo(7300 / 7600, 12);
  });

  it('renders Markdown tables with the headline and every case', () => {
    const { date, markdown } = mod.renderReport(synthetic());
    expect(date).toBe('2026-11-26');
    expect(markdown).toMatch(/^# GPU benchmark 2026-11-26/);
    expect(markdown).toContain('NVIDIA H100 80GB HBM3 (sm 9.0)');
    expect(markdown).toContain('trtexec not run: the C++ reference loop stands in for it.');
    expect(markdown).toMatch(/\| ResNet-50 FP16, batch 32: JS \/ C\+\+ loop throughput \| 0\.990 \|/);
    expect(markdown).toMatch(/\| tiny, batch 1: JS − C\+\+ latency, µs \(mean \/ median \/ p99\) \| \+8\.3 \/ \+8\.3 \/ \+8\.\d \|/);
    expect(markdown).toMatch(/\| tiny, batch 1, CUDA graph: JS \/ C\+\+ loop throughput \| 0\.750 \|/);
    expect(markdown).toMatch(/Batcher \(defaults\), 64 single-image callers on 2 instances: throughput \/ best static batch \| 0\.921 \(7000\.0 vs 7600\.0 inferences\/s, batch 32\)/);
    expect(markdown).toMatch(/Batcher \(defaults\), 64 callers: p99 vs queue delay \+ two batches \| 7\.260 ms vs 9\.540 ms: within/);
    expect(markdown).toMatch(/Batcher \(tuned\), 64 single-image callers on 2 instances: throughput \/ best static batch \| 0\.961/);
    expect(markdown).toMatch(/\| resnet50_fp16 b32 ×2 graph \| 32 \| 2 \| on \| adaptive \| 271\.0 \| 270\.0 \| 269\.0 \| 0\.996 \|/);
    expect(markdown).toContain('skipped: missing /f/classifier_fp32.plan');
    expect(markdown).toContain('error: outside \\| profile [ERR_SHAPE_OUT_OF_PROFILE]');
    expect(markdown).toMatch(/\| defaults \| 2 \| 64 \| 7000\.0 \| 0\.921 \| [\d.]+ \| 7\.260 \| 9\.540 \| yes \| 32\.00 \|/);
    expect(markdown).toMatch(/\| wake \| 2 \| +\| error: boom \|/);
    expect(markdown).toMatch(/Static batches on 2 contexts at once/);
    expect(markdown).toMatch(/\| 32 \| 7600\.0 \| 4\.5200 \|/);
    expect(markdown).toContain('![throughput and latency vs concurrency; JS/C++ ratios](2026-11-26-gpu.svg)');
    expect(markdown).toContain('- TRTEXEC is not set');
    // every table row has as many cells as its header
    for (const block of markdown.split('\n\n').filter((b) => b.startsWith('|'))) {
      const counts = block.split('\n').map((l) => l.replace(/\\\|/g, '').split('|').length);
      expect(new Set(counts).size).toBe(1);
    }
  });

  it('adds the session runs and the completion mode of a case', () => {
    const d = synthetic();
    ((d.cases as Record<string, unknown>[])[0] as Record<string, unknown>).completion = 'poll';
    const { markdown } = mod.renderReport(d);
    expect(markdown).toMatch(/\| adaptive \+ poll \|/);
    const withSession = mod.renderReport({ ...d, sessionRuns: [{ id: 'session-run-b32-device-poll', cudaGraph: false, completion: 'poll', cppQps: 700, sessionQps: 693, ratio: 0.99 }] }).markdown;
    expect(withSession).toMatch(/\| session-run-b32-device-poll \| off \| poll \| 700\.0 \| 693\.0 \| 0\.990 \|/);
  });

  it('renders an SVG with the batcher sweep and the ratio bars', () => {
    const { svg } = mod.renderReport(synthetic());
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<polyline class="(throughput|p50|p99)"/g)).toHaveLength(6); // defaults and tuned panels
    const tput = /<polyline class="throughput"[^>]* points="([^"]+)"/.exec(svg)![1]!.split(' ');
    expect(tput).toHaveLength(4);
    expect(svg.match(/<rect class="ratio"/g)).toHaveLength(5); // cases with a JS/C++ ratio
    expect(svg).toContain('best static (batch 32)');
    expect(svg).toContain('resnet50_fp16 b32 ×2 graph');
    expect(svg).not.toMatch(/NaN|undefined/);
    // well-formed enough: tags balance
    expect((svg.match(/<text/g) ?? []).length).toBe((svg.match(/<\/text>/g) ?? []).length);
  });

  it('plots the defaults and the tuned batcher in two panels', () => {
    const d = synthetic();
    const { svg } = mod.renderReport(d);
    expect(svg).toContain('Dynamic batcher (tuned');
    expect(svg.match(/<polyline class="throughput"/g)).toHaveLength(2);
    const second = [...svg.matchAll(/<polyline class="throughput"[^>]* points="([^"]+)"/g)][1]![1]!.split(' ');
    expect(second).toHaveLength(1);
    expect(svg).not.toMatch(/NaN|undefined/);
    // without a tuned run: one panel
    const one = { ...d, batcherVariants: (d.batcherVariants as { id: string }[]).filter((v) => v.id !== 'tuned') };
    expect(mod.renderReport(one).svg.match(/<polyline class="throughput"/g)).toHaveLength(1);
  });

  it('writes <date>-gpu.md and .svg, also from the command line', () => {
    const r = mod.writeReport(synthetic(), tmp);
    expect(r.markdownPath).toBe(path.join(tmp, '2026-11-26-gpu.md'));
    expect(readFileSync(r.svgPath, 'utf8')).toMatch(/^<svg/);
    const json = path.join(tmp, 'bench.json');
    writeFileSync(json, JSON.stringify(synthetic()));
    const out = path.join(tmp, 'cli');
    const p = spawnSync(process.execPath, [REPORT, json, '--out-dir', out], { encoding: 'utf8' });
    expect(p.status).toBe(0);
    expect(existsSync(path.join(out, '2026-11-26-gpu.md'))).toBe(true);
    expect(existsSync(path.join(out, '2026-11-26-gpu.svg'))).toBe(true);
    // the folder as a second argument (tools/gpu-host/run.sh), from another working directory
    const out2 = path.join(tmp, 'cli-positional');
    expect(spawnSync(process.execPath, [REPORT, json, out2], { encoding: 'utf8', cwd: tmp }).status).toBe(0);
    expect(existsSync(path.join(out2, '2026-11-26-gpu.md'))).toBe(true);
    expect(existsSync(path.join(tmp, 'bench', 'results'))).toBe(false);
    const bad = spawnSync(process.execPath, [REPORT], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(spawnSync(process.execPath, [REPORT, json, out2, '--out-dir', out], { encoding: 'utf8' }).status).toBe(2);
  });

  it('puts the cases trtexec ran in a table of their own, in its vocabulary, with JS − trtexec median latency', () => {
    const { markdown } = mod.renderReport(synthetic());
    const section = markdown.split('## Against trtexec')[1]?.split('\n## ')[0] ?? '';
    const rowsOf = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Case') && !l.startsWith('|:'));
    expect(rowsOf).toHaveLength(2); // the two resnet50 cases; tiny had no trtexec
    const b32 = rowsOf[0]!.split('|').map((c) => c.trim());
    // report(32, 250, 247.5, 252): JS 247.5 qps over trtexec's 252
    expect(b32[2]).toBe('252.0');
    expect(b32[3]).toBe((247.5 / 252).toFixed(3));
    expect(b32[4]).toBe((250 / 252).toFixed(3));
    const jsMedian = Number(b32[6]);
    const trtMedian = Number(b32[5]);
    expect(Number(b32[7])).toBeCloseTo(jsMedian - trtMedian, 0);
    expect(section).not.toMatch(/NaN|undefined/);
    // no trtexec anywhere: no such section
    const none = { ...synthetic(), cases: (synthetic().cases as { id: string }[]).filter((c) => !c.id.startsWith('resnet50')) };
    expect(mod.renderReport(none).markdown).not.toContain('## Against trtexec');
  });

  it('copes with a run that has no batcher and no cases', () => {
    const d = { ...synthetic(), cases: [], batcher: { skipped: 'missing plan' }, batcherVariants: [] };
    const { markdown, svg } = mod.renderReport(d);
    expect(markdown).toContain('| Batcher | missing plan |');
    expect(svg).toContain('no batcher data');
    expect(() => mod.renderReport({ kind: 'other' })).toThrow(/not a tensorrt-node GPU bench result/);
  });
});
