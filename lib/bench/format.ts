/** Plain-text tables of a BenchReport, in trtexec's vocabulary. */
import type { TimingStats } from './stats.js';
import type { BenchLoopResult, BenchReport } from './types.js';

function fixed(v: number | undefined, digits: number): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return v.toFixed(digits);
}

function signed(v: number | undefined, digits: number): string {
  const s = fixed(v, digits);
  return v !== undefined && Number.isFinite(v) && v > 0 ? `+${s}` : s;
}

function table(rows: string[][], rightFrom = 1): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i < rightFrom ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

type StatKey = keyof Pick<TimingStats, 'min' | 'mean' | 'median' | 'p90' | 'p95' | 'p99' | 'max'>;
const STAT_LABEL: Record<StatKey, string> = { min: 'min', mean: 'mean', median: 'median', p90: 'percentile(90%)', p95: 'percentile(95%)', p99: 'percentile(99%)', max: 'max' };

/** The comparison table: rows are trtexec's metrics, columns trtexec / C++ loop / JS / ratios. */
export function formatBenchTable(report: BenchReport): string[] {
  const { trtexec, cpp, js } = report.results;
  const cols: [string, BenchLoopResult | undefined][] = [];
  if (trtexec) cols.push(['trtexec', trtexec]);
  if (cpp) cols.push(['C++ loop', cpp]);
  if (js) cols.push(['JS', js]);
  const both = cpp !== undefined && js !== undefined;
  const header = ['Metric', ...cols.map(([n]) => n), ...(both ? ['JS/C++', 'JS−C++ (µs)'] : [])];
  const rows: string[][] = [header];

  const tput = (label: string, get: (r: BenchLoopResult) => number, digits: number): void => {
    const row = [label, ...cols.map(([, r]) => fixed(r ? get(r) : undefined, digits))];
    if (both) row.push(fixed(get(js) / get(cpp), 3), '');
    rows.push(row);
  };
  const stat = (metric: string, pick: (r: BenchLoopResult) => TimingStats | undefined, keys: StatKey[]): void => {
    if (!cols.some(([, r]) => r && pick(r) && pick(r)!.count > 0)) return;
    for (const k of keys) {
      const row = [`${metric} ${STAT_LABEL[k]} (ms)`, ...cols.map(([, r]) => fixed(r && pick(r) ? pick(r)![k] / 1000 : undefined, 4))];
      if (both) {
        const a = pick(js);
        const b = pick(cpp);
        row.push('', a && b ? signed(a[k] - b[k], 1) : '-');
      }
      rows.push(row);
    }
  };

  tput('Throughput (qps)', (r) => r.throughputQps, 1);
  if (report.config.batch !== 1) tput(`Throughput (inferences/s, batch ${report.config.batch})`, (r) => r.inferencesPerSecond, 1);
  stat('Latency', (r) => r.latency, ['min', 'max', 'mean', 'median', 'p90', 'p95', 'p99']);
  stat('Enqueue Time', (r) => r.enqueue, ['mean', 'median', 'p99']);
  stat('H2D Latency', (r) => r.h2d, ['mean', 'p99']);
  stat('GPU Compute Time', (r) => r.compute, ['mean', 'median', 'p99']);
  stat('D2H Latency', (r) => r.d2h, ['mean', 'p99']);
  rows.push(['Queries timed', ...cols.map(([, r]) => String(r?.iterations ?? '-')), ...(both ? ['', ''] : [])]);
  rows.push(['Total Host Walltime (s)', ...cols.map(([, r]) => fixed(r ? r.wallMs / 1000 : undefined, 3)), ...(both ? ['', ''] : [])]);
  rows.push(['CUDA graph', ...cols.map(([, r]) => (r?.cudaGraph ? 'yes' : 'no')), ...(both ? ['', ''] : [])]);
  return table(rows);
}

function describe(report: BenchReport): string {
  const c = report.config;
  const shapes = Object.entries(c.shapes)
    .map(([n, d]) => `${n}:${d.join('x')}`)
    .join(',');
  const how =
    c.iterations !== undefined
      ? `${c.iterations} iterations/stream`
      : `${fixed((c.durationMs ?? 0) / 1000, 1)} s${c.rounds ? ` in ${c.rounds} alternating rounds (JS/C++ per round: ${(report.ratios.jsOverCppThroughputPerRound ?? []).map((r) => fixed(r, 3)).join(', ')})` : ''}`;
  return (
    `${c.plan}  ${shapes}  ${c.streams} stream${c.streams > 1 ? 's' : ''}, CUDA graph ${c.cudaGraph ? 'on' : 'off'}, ` +
    `data transfers ${c.dataTransfers ? 'on' : 'off'}, ${how} after ${fixed(c.warmupMs / 1000, 1)} s warm-up` +
    (c.waitMode ? `, waitMode ${c.waitMode}` : '') +
    (c.completion ? `, completion ${c.completion}` : '')
  );
}

/** Everything the CLI prints at the end: a heading, the table(s), notes. */
export function formatBenchReport(report: BenchReport): string[] {
  const out: string[] = [];
  const env = report.environment;
  const gpu = env.cuda?.device ? `${env.cuda.device.name} (sm ${env.cuda.device.computeCapability})` : 'GPU ?';
  out.push(`=== tensorrt-node bench: ${gpu}, TensorRT ${env.tensorrt?.version ?? '?'}, Node ${env.node} ===`);
  out.push(describe(report));
  if (report.batcher) {
    const b = report.batcher;
    if (b.staticSweep.length) {
      out.push('', `Static batches (C++ loop, ${b.instances} context${b.instances > 1 ? 's' : ''} at once):`);
      const rows = [['Batch', 'Inferences/s', 'Latency mean (ms)', 'Latency p99 (ms)', 'GPU Compute mean (ms)']];
      for (const s of b.staticSweep) rows.push([String(s.batchSize), fixed(s.inferencesPerSecond, 1), fixed(s.latencyMeanUs / 1000, 4), fixed(s.latencyP99Us / 1000, 4), fixed(s.computeMeanUs / 1000, 4)]);
      out.push(...table(rows).map((l) => `  ${l}`));
      if (b.bestStatic) out.push(`  best static: batch ${b.bestStatic.batchSize}, ${fixed(b.bestStatic.inferencesPerSecond, 1)} inferences/s`);
    }
    out.push('', `Dynamic batcher (maxBatchSize ${b.maxBatchSize}, maxQueueDelay ${b.maxQueueDelayUs} µs, ${b.instances} instance${b.instances > 1 ? 's' : ''}), single-item requests:`);
    const rows = [['Callers', 'Requests', 'Inferences/s', '/best static', 'p50 (ms)', 'p90 (ms)', 'p99 (ms)', 'max (ms)', 'Mean batch', 'Queue mean (µs)']];
    for (const r of b.runs) {
      rows.push([
        String(r.concurrency),
        String(r.requests),
        fixed(r.inferencesPerSecond, 1),
        fixed(r.ratioToBestStatic, 3),
        fixed(r.latency.median / 1000, 3),
        fixed(r.latency.p90 / 1000, 3),
        fixed(r.latency.p99 / 1000, 3),
        fixed(r.latency.max / 1000, 3),
        fixed(r.meanBatchSize, 2),
        fixed(r.meanQueueUs, 0),
      ]);
    }
    out.push(...table(rows).map((l) => `  ${l}`));
    if (b.p99BoundUs !== undefined) {
      out.push(`  p99 bound = maxQueueDelay + one batch of ${b.maxBatchSize} (C++ loop mean) = ${fixed(b.p99BoundUs / 1000, 3)} ms`);
    }
  } else {
    out.push('', ...formatBenchTable(report));
    if (report.results.trtexec) out.push('', 'trtexec Latency is H2D + GPU compute + D2H from CUDA events; C++ loop and JS Latency is host wall time per query.');
  }
  for (const n of report.notes) out.push(`note: ${n}`);
  return out;
}
