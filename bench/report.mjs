#!/usr/bin/env node
/**
 * Turns the JSON of bench/run-gpu-bench.mjs into bench/results/<date>-gpu.md (Markdown tables with
 * the headline ratios) and bench/results/<date>-gpu.svg (batcher sweep and JS/C++ ratio charts).
 *
 *   node bench/report.mjs bench-<date>.json [out-dir | --out-dir out-dir]   (default bench/results)
 *
 * Also a module: renderReport(data) → { date, markdown, svg }, writeReport(data, dir).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const fx = (v, d = 1) => (isNum(v) ? v.toFixed(d) : '–');
const sgn = (v, d = 1) => (isNum(v) ? `${v > 0 ? '+' : ''}${v.toFixed(d)}` : '–');
const ms = (us, d = 3) => (isNum(us) ? (us / 1000).toFixed(d) : '–');
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function mdTable(header, rows, align) {
  const a = align ?? header.map((_, i) => (i === 0 ? 'l' : 'r'));
  const line = (cells) => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), `|${a.map((x) => (x === 'l' ? ':---' : '---:')).join('|')}|`, ...rows.map(line)].join('\n');
}

function findCase(data, pred) {
  return (data.cases ?? []).find((c) => c.report && pred(c));
}

/** The headline numbers of a run (undefined where a case is missing). */
export function headlines(data) {
  const h = {};
  const r50 = findCase(data, (c) => c.model === 'resnet50_fp16' && c.batch === 32 && c.streams === 1 && !c.cudaGraph);
  if (r50) {
    h.resnet50B32JsOverCpp = r50.report.ratios.jsOverCppThroughput;
    h.resnet50B32JsOverTrtexec = r50.report.ratios.jsOverTrtexecThroughput;
    h.resnet50B32InferencesPerSecond = { cpp: r50.report.results.cpp?.inferencesPerSecond, js: r50.report.results.js?.inferencesPerSecond, trtexec: r50.report.results.trtexec?.inferencesPerSecond };
  }
  const tiny = findCase(data, (c) => c.model === 'tiny' && !c.cudaGraph && (c.waitMode ?? 'adaptive') === 'adaptive');
  if (tiny) h.tinyJsMinusCppUs = tiny.report.ratios.jsMinusCppLatencyUs;
  const tinyGraph = findCase(data, (c) => c.model === 'tiny' && c.cudaGraph);
  if (tinyGraph) {
    h.tinyGraphJsOverCpp = tinyGraph.report.ratios.jsOverCppThroughput;
    h.tinyGraphJsMinusCppUs = tinyGraph.report.ratios.jsMinusCppLatencyUs;
  }
  // issue 18's case: 64 single-image callers on 2 instances, defaults and tuned
  for (const id of ['defaults', 'tuned']) {
    const v = (data.batcherVariants ?? []).find((x) => x.id === id && x.runs?.length);
    const r = v?.runs.find((x) => x.concurrency === 64) ?? v?.runs.at(-1);
    if (!v || !r) continue;
    h[id === 'defaults' ? 'batcher' : 'batcherTuned'] = {
      concurrency: r.concurrency,
      instances: v.instances,
      ratioToBestStatic: r.ratioToBestStatic,
      p99Us: r.latency?.p99,
      boundUs: r.p99BoundUs,
      withinBound: r.p99WithinBound,
      bestStatic: v.bestStatic,
      inferencesPerSecond: r.inferencesPerSecond,
      meanBatchSize: r.meanBatchSize,
    };
  }
  return h;
}

function caseLabel(c) {
  const parts = [c.model, `b${c.batch}`];
  if (c.streams > 1) parts.push(`×${c.streams}`);
  if (c.cudaGraph) parts.push('graph');
  if (c.waitMode && c.waitMode !== 'adaptive') parts.push(c.waitMode);
  if (c.dataTransfers === false) parts.push('device-resident');
  return parts.join(' ');
}

// ------------------------------------------------------------------ SVG
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtTick(v) {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

function batcherPanel(b, x0, y0, w, h, title = 'Dynamic batcher: throughput and latency vs concurrency') {
  const out = [];
  const runs = [...(b?.runs ?? [])].sort((a, c) => a.concurrency - c.concurrency);
  out.push(`<text x="${x0 + w / 2}" y="${y0 - 12}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  if (runs.length === 0) {
    out.push(`<text x="${x0 + w / 2}" y="${y0 + h / 2}" text-anchor="middle">no batcher data</text>`);
    return out;
  }
  const left = x0 + 60;
  const right = x0 + w - 60;
  const top = y0 + 10;
  const bottom = y0 + h - 40;
  const xs = runs.map((_, i) => (runs.length === 1 ? (left + right) / 2 : left + (i * (right - left)) / (runs.length - 1)));
  const tMax = niceMax(Math.max(...runs.map((r) => r.inferencesPerSecond ?? 0), b.bestStatic?.inferencesPerSecond ?? 0));
  const lMax = niceMax(Math.max(...runs.map((r) => (r.latency?.p99 ?? 0) / 1000), isNum(b.p99BoundUs) ? b.p99BoundUs / 1000 : 0));
  const yT = (v) => bottom - (v / tMax) * (bottom - top);
  const yL = (v) => bottom - (v / lMax) * (bottom - top);
  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#999"/>`);
  for (let k = 0; k <= 4; k++) {
    const y = bottom - (k * (bottom - top)) / 4;
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end" font-size="11" fill="#1f77b4">${fmtTick((tMax * k) / 4)}</text>`);
    out.push(`<text x="${right + 6}" y="${y + 4}" font-size="11" fill="#d62728">${fmtTick((lMax * k) / 4)}</text>`);
  }
  runs.forEach((r, i) => out.push(`<text x="${xs[i]}" y="${bottom + 16}" text-anchor="middle" font-size="11">${r.concurrency}</text>`));
  out.push(`<text x="${(left + right) / 2}" y="${bottom + 32}" text-anchor="middle" font-size="12">concurrent callers</text>`);
  out.push(`<text transform="translate(${x0 + 14},${(top + bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#1f77b4">inferences/s</text>`);
  out.push(`<text transform="translate(${x0 + w - 10},${(top + bottom) / 2}) rotate(90)" text-anchor="middle" font-size="12" fill="#d62728">latency (ms)</text>`);
  if (isNum(b.bestStatic?.inferencesPerSecond)) {
    const y = yT(b.bestStatic.inferencesPerSecond);
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#1f77b4" stroke-dasharray="5,4"/>`);
    out.push(`<text x="${left + 4}" y="${y - 4}" font-size="11" fill="#1f77b4">best static (batch ${b.bestStatic.batchSize})</text>`);
  }
  if (isNum(b.p99BoundUs)) {
    const y = yL(b.p99BoundUs / 1000);
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#d62728" stroke-dasharray="2,3"/>`);
    out.push(`<text x="${right - 4}" y="${y - 4}" text-anchor="end" font-size="11" fill="#d62728">delay + one batch</text>`);
  }
  const series = [
    ['throughput', '#1f77b4', (r) => yT(r.inferencesPerSecond ?? 0)],
    ['p50', '#2ca02c', (r) => yL((r.latency?.median ?? 0) / 1000)],
    ['p99', '#d62728', (r) => yL((r.latency?.p99 ?? 0) / 1000)],
  ];
  for (const [name, color, y] of series) {
    const pts = runs.map((r, i) => `${xs[i].toFixed(1)},${y(r).toFixed(1)}`).join(' ');
    out.push(`<polyline class="${name}" fill="none" stroke="${color}" stroke-width="2" points="${pts}"/>`);
    runs.forEach((r, i) => out.push(`<circle cx="${xs[i].toFixed(1)}" cy="${y(r).toFixed(1)}" r="3" fill="${color}"/>`));
  }
  series.forEach(([name, color], i) => {
    const lx = left + 10 + i * 110;
    out.push(`<line x1="${lx}" y1="${top + 14}" x2="${lx + 20}" y2="${top + 14}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 24}" y="${top + 18}" font-size="11">${name === 'throughput' ? 'inferences/s' : `${name} latency`}</text>`);
  });
  return out;
}

function ratioPanel(cases, x0, y0, w) {
  const out = [];
  const items = cases.filter((c) => isNum(c.report?.ratios?.jsOverCppThroughput)).map((c) => ({ label: caseLabel(c), v: c.report.ratios.jsOverCppThroughput }));
  out.push(`<text x="${x0 + w / 2}" y="${y0 - 12}" text-anchor="middle" font-weight="bold">JS / C++ loop throughput</text>`);
  if (items.length === 0) {
    out.push(`<text x="${x0 + w / 2}" y="${y0 + 40}" text-anchor="middle">no JS/C++ ratios</text>`);
    return { out, height: 80 };
  }
  const labelW = 190;
  const left = x0 + labelW;
  const right = x0 + w - 50;
  const barH = 14;
  const gap = 4;
  const vMax = Math.max(1.1, niceMax(Math.max(...items.map((i) => i.v))));
  const x = (v) => left + (Math.max(0, v) / vMax) * (right - left);
  items.forEach((it, i) => {
    const y = y0 + 10 + i * (barH + gap);
    const color = it.v >= 0.95 ? '#2ca02c' : it.v >= 0.8 ? '#ff7f0e' : '#d62728';
    out.push(`<text x="${left - 6}" y="${y + barH - 3}" text-anchor="end" font-size="11">${esc(it.label)}</text>`);
    out.push(`<rect class="ratio" x="${left}" y="${y}" width="${(x(it.v) - left).toFixed(1)}" height="${barH}" fill="${color}"/>`);
    out.push(`<text x="${(x(it.v) + 4).toFixed(1)}" y="${y + barH - 3}" font-size="11">${it.v.toFixed(3)}</text>`);
  });
  const bottom = y0 + 10 + items.length * (barH + gap);
  out.push(`<line x1="${x(1)}" y1="${y0 + 4}" x2="${x(1)}" y2="${bottom}" stroke="#333" stroke-dasharray="4,3"/>`);
  out.push(`<text x="${x(1)}" y="${bottom + 14}" text-anchor="middle" font-size="11">1.0</text>`);
  return { out, height: bottom + 24 - y0 };
}

export function renderSvg(data) {
  const W = 1100;
  const ratio = ratioPanel(data.cases ?? [], 560, 50, 520);
  const variant = (id) => (data.batcherVariants ?? []).find((v) => v.id === id && v.runs?.length);
  const panelData = (v) => (v ? { runs: v.runs, bestStatic: v.bestStatic, p99BoundUs: v.runs[0]?.p99BoundUs } : undefined);
  const base = panelData(variant('defaults'));
  const tuned = variant('tuned');
  const plotted = tuned;
  const second = tuned ? batcherPanel(panelData(tuned), 10, 480, 530, 360, 'Dynamic batcher (tuned: pinned requests, own outputs)') : [];
  const H = Math.max(plotted ? 870 : 440, ratio.height + 70);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    ...batcherPanel(base, 10, 50, 530, 360, 'Dynamic batcher (defaults): throughput and latency vs concurrency'),
    ...second,
    ...ratio.out,
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}

// ------------------------------------------------------------------ Markdown
/** Wait mode (unset: the stream's default for its completion mode), plus the completion mode when it is not the default. */
function waitLabel(c) {
  const poll = c.completion === 'poll';
  return `${c.waitMode ?? (poll ? 'spin' : 'adaptive')}${c.completion && c.completion !== 'wake' ? ` + ${c.completion}` : ''}`;
}

/** min–max of the per-round ratios, when the loops alternated in rounds */
function roundsLabel(rs) {
  return Array.isArray(rs) && rs.length > 1 ? `${fx(Math.min(...rs), 3)}–${fx(Math.max(...rs), 3)}` : '';
}

export function renderReport(data) {
  if (!data || data.kind !== 'tensorrt-node-gpu-bench') throw new Error('not a tensorrt-node GPU bench result (kind must be tensorrt-node-gpu-bench)');
  const date = String(data.date ?? new Date().toISOString()).slice(0, 10);
  const env = data.environment ?? {};
  const dev = env.cuda?.devices?.[0];
  const h = headlines(data);
  const L = [];
  L.push(`# GPU benchmark ${date}`, '');
  L.push(
    `${dev ? `${dev.name} (sm ${dev.computeCapability})` : 'GPU ?'}, CUDA driver ${env.cuda?.driverVersion ?? '?'} / runtime ${env.cuda?.runtimeVersion ?? '?'}, ` +
      `TensorRT ${env.tensorrt?.version ?? '?'}, Node ${env.node ?? '?'}, ${env.cpuModel ?? 'CPU ?'} (${env.cpus ?? '?'} cores). ` +
      `Each case: ${fx((data.config?.durationMs ?? 0) / 1000, 1)} s timed after ${fx((data.config?.warmupMs ?? 0) / 1000, 1)} s warm-up. ` +
      (env.trtexec?.binary && !env.trtexec.error ? `trtexec: ${env.trtexec.version ?? env.trtexec.binary}.` : 'trtexec not run: the C++ reference loop stands in for it.'),
    '',
  );

  L.push('## Headline', '');
  const hr = [];
  hr.push(['ResNet-50 FP16, batch 32: JS / C++ loop throughput', fx(h.resnet50B32JsOverCpp, 3)]);
  if (isNum(h.resnet50B32JsOverTrtexec)) hr.push(['ResNet-50 FP16, batch 32: JS / trtexec throughput', fx(h.resnet50B32JsOverTrtexec, 3)]);
  if (h.resnet50B32InferencesPerSecond) hr.push(['ResNet-50 FP16, batch 32: inferences/s (C++ / JS)', `${fx(h.resnet50B32InferencesPerSecond.cpp)} / ${fx(h.resnet50B32InferencesPerSecond.js)}`]);
  hr.push(['tiny, batch 1: JS − C++ latency, µs (mean / median / p99)', h.tinyJsMinusCppUs ? `${sgn(h.tinyJsMinusCppUs.mean)} / ${sgn(h.tinyJsMinusCppUs.median)} / ${sgn(h.tinyJsMinusCppUs.p99)}` : '–']);
  hr.push(['tiny, batch 1, CUDA graph: JS / C++ loop throughput', fx(h.tinyGraphJsOverCpp, 3)]);
  for (const [key, label] of [
    ['batcher', 'defaults'],
    ['batcherTuned', 'tuned'],
  ]) {
    const b = h[key];
    if (!b) continue;
    hr.push([
      `Batcher (${label}), ${b.concurrency} single-image callers on ${b.instances} instances: throughput / best static batch`,
      `${fx(b.ratioToBestStatic, 3)} (${fx(b.inferencesPerSecond)} vs ${fx(b.bestStatic?.inferencesPerSecond)} inferences/s, batch ${b.bestStatic?.batchSize ?? '?'})`,
    ]);
    hr.push([`Batcher (${label}), ${b.concurrency} callers: p99 vs queue delay + two batches`, `${ms(b.p99Us)} ms vs ${ms(b.boundUs)} ms: ${b.withinBound === undefined ? '–' : b.withinBound ? 'within' : 'exceeds'}`]);
  }
  if (!h.batcher) hr.push(['Batcher', data.batcher?.skipped ?? (data.batcher?.error ? `error: ${data.batcher.error.message}` : '–')]);
  L.push(mdTable(['Measure', 'Value'], hr, ['l', 'r']), '');

  L.push('## All cases', '');
  L.push(
    'Throughput in queries/s (one query = one batch). Latency: host wall time per query (trtexec: H2D + compute + D2H from CUDA events). ' +
      'JS/C++ = JS loop throughput over the C++ reference loop; JS−C++ = latency difference in µs.',
    '',
  );
  const rows = [];
  for (const c of data.cases ?? []) {
    const r = c.report;
    if (!r) {
      rows.push([caseLabel(c), c.batch, c.streams, c.cudaGraph ? 'on' : 'off', waitLabel(c), c.skipped ? `skipped: ${c.skipped}` : `error: ${c.error?.message ?? '?'} [${c.error?.code ?? '?'}]`, '', '', '', '', '', '', '', '', '']);
      continue;
    }
    const { trtexec, cpp, js } = r.results;
    rows.push([
      caseLabel(c),
      c.batch,
      c.streams,
      c.cudaGraph ? 'on' : 'off',
      waitLabel(c),
      fx(trtexec?.throughputQps),
      fx(cpp?.throughputQps),
      fx(js?.throughputQps),
      fx(r.ratios.jsOverCppThroughput, 3),
      roundsLabel(r.ratios.jsOverCppThroughputPerRound),
      ms(cpp?.latency?.mean, 4),
      ms(js?.latency?.mean, 4),
      sgn(r.ratios.jsMinusCppLatencyUs?.mean),
      sgn(r.ratios.jsMinusCppLatencyUs?.p99),
      ms(cpp?.compute?.mean, 4),
    ]);
  }
  L.push(mdTable(['Case', 'Batch', 'Streams', 'Graph', 'Wait', 'trtexec qps', 'C++ qps', 'JS qps', 'JS/C++', 'JS/C++ per round', 'C++ latency mean (ms)', 'JS latency mean (ms)', 'JS−C++ mean (µs)', 'JS−C++ p99 (µs)', 'GPU compute mean (ms)'], rows, ['l', 'r', 'r', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']), '');

  // Against trtexec, in its vocabulary: the numbers issue 24 asks for, in the report itself (a
  // GPU host call may bring the Markdown back without the JSON).
  const vsTrtexec = (data.cases ?? []).filter((c) => c.report?.results?.trtexec);
  if (vsTrtexec.length) {
    L.push('## Against trtexec', '');
    L.push(
      'trtexec ran on the same plan with the same options in the same run. Its latency is H2D + GPU compute + D2H from CUDA events; ours is host wall time per query, so "JS − trtexec median" is what a JS caller waits beyond the GPU work trtexec measures. Medians in µs.',
      '',
    );
    const trows = vsTrtexec.map((c) => {
      const { trtexec, cpp, js } = c.report.results;
      const q = c.report.ratios;
      return [
        caseLabel(c),
        fx(trtexec.throughputQps),
        fx(q.jsOverTrtexecThroughput, 3),
        fx(q.cppOverTrtexecThroughput, 3),
        fx(trtexec.latency?.median),
        fx(js?.latency?.median),
        sgn(isNum(js?.latency?.median) && isNum(trtexec.latency?.median) ? js.latency.median - trtexec.latency.median : undefined),
        fx(trtexec.compute?.median),
        fx(trtexec.h2d?.median),
        fx(trtexec.d2h?.median),
        fx(trtexec.enqueue?.median),
        fx(cpp?.latency?.median),
      ];
    });
    L.push(
      mdTable(
        ['Case', 'trtexec qps', 'JS / trtexec', 'C++ / trtexec', 'trtexec latency', 'JS latency', 'JS − trtexec', 'trtexec GPU compute', 'trtexec H2D', 'trtexec D2H', 'trtexec enqueue', 'C++ latency'],
        trows,
        ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
  }

  const variants = (data.batcherVariants ?? []).filter((v) => v.runs?.length || v.error);
  if (variants.length || data.batcher?.static2) {
    const bt = data.batcher;
    L.push('## Dynamic batcher', '');
    L.push(
      `ResNet-50 FP16, maxBatchSize ${bt.maxBatchSize}, maxQueueDelay ${bt.maxQueueDelayUs} µs; each caller sends one image at a time and waits for it. ` +
        'defaults: requests in ordinary JS arrays and nothing set on the backend (CUDA graphs and polled completions are its defaults); tuned: requests in pinned memory (HostBuffer views) and each caller\'s own output buffers. ' +
        '/ best static: against the best static batch of the same engine on as many contexts, measured in the same run (C++ loop, CUDA graphs, two batches in flight per context). ' +
        'The p99 bound is the queue delay plus twice one static batch of 32.',
      '',
    );
    for (const n of [2, 4]) {
      const st = bt?.[`static${n}`];
      if (!st?.sweep?.length) continue;
      L.push(`Static batches on ${n} contexts at once:`, '');
      L.push(mdTable(['Batch', 'Inferences/s', 'Latency mean (ms)', 'Latency p99 (ms)', 'GPU span mean (ms)'], st.sweep.map((x) => [x.batchSize, fx(x.inferencesPerSecond), ms(x.latencyMeanUs, 4), ms(x.latencyP99Us, 4), ms(x.computeMeanUs, 4)])), '');
    }
    const vr = [];
    for (const v of variants) {
      if (!v.runs) vr.push([v.id, v.instances, '', `error: ${v.error?.message ?? '?'}`, '', '', '', '', '', '']);
      else
        for (const r of v.runs)
          vr.push([v.id, v.instances, r.concurrency, fx(r.inferencesPerSecond), fx(r.ratioToBestStatic, 3), ms(r.latency?.median), ms(r.latency?.p99), ms(r.p99BoundUs), r.p99WithinBound === undefined ? '–' : r.p99WithinBound ? 'yes' : 'no', fx(r.meanBatchSize, 2)]);
    }
    L.push(mdTable(['Variant', 'Instances', 'Callers', 'Inferences/s', '/ best static', 'p50 (ms)', 'p99 (ms)', 'p99 bound (ms)', 'within', 'Mean batch'], vr), '');
  }
  if (data.sessionRuns?.length) {
    L.push('## session.run with device-resident inputs and outputs (ResNet-50 FP16, batch 32)', '');
    const rounds = data.sessionRuns.find((r) => r.rounds > 1)?.rounds;
    L.push(
      rounds
        ? `Against the C++ loop on device-resident buffers (no copies) in the same process, the two alternating in ${rounds} rounds (each side's iterations pooled over its rounds).`
        : 'Against the C++ loop on device-resident buffers (no copies), measured just before in the same process.',
      '',
    );
    L.push(
      mdTable(
        ['Case', 'CUDA graph', 'Completion', 'C++ qps', 'session.run qps', 'session / C++', 'per round'],
        data.sessionRuns.map((r) => [r.id, r.cudaGraph ? 'on' : 'off', r.completion, fx(r.cppQps), r.error ? `error: ${r.error.message}` : fx(r.sessionQps), fx(r.ratio, 3), roundsLabel(r.ratioPerRound)]),
      ),
      '',
    );
  }
  L.push(`![throughput and latency vs concurrency; JS/C++ ratios](${date}-gpu.svg)`, '');
  const notes = new Set();
  for (const c of data.cases ?? []) for (const n of c.report?.notes ?? []) notes.add(n);
  for (const n of data.batcher?.report?.notes ?? []) notes.add(n);
  if (notes.size) {
    L.push('## Notes', '');
    for (const n of notes) L.push(`- ${n}`);
    L.push('');
  }
  L.push('Method: docs/benchmarks.md. Raw numbers: the JSON this report was made from.', '');
  return { date, markdown: L.join('\n'), svg: renderSvg(data) };
}

/** Writes <dir>/<date>-gpu.md and <dir>/<date>-gpu.svg. */
export function writeReport(data, dir = 'bench/results') {
  const r = renderReport(data);
  mkdirSync(dir, { recursive: true });
  const markdownPath = join(dir, `${r.date}-gpu.md`);
  const svgPath = join(dir, `${r.date}-gpu.svg`);
  writeFileSync(markdownPath, r.markdown);
  writeFileSync(svgPath, r.svg);
  return { markdownPath, svgPath };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--out-dir');
  const positionals = args.filter((a, k) => !a.startsWith('--') && !(i >= 0 && k === i + 1));
  const [input, dirArg] = positionals;
  const outDir = i >= 0 ? args[i + 1] : (dirArg ?? 'bench/results');
  if (!input || !outDir || positionals.length > 2 || (i >= 0 && dirArg !== undefined)) {
    process.stderr.write('usage: node bench/report.mjs <bench.json> [out-dir | --out-dir out-dir]\n');
    process.exit(2);
  }
  try {
    const r = writeReport(JSON.parse(readFileSync(input, 'utf8')), outDir);
    process.stdout.write(`${r.markdownPath}\n${r.svgPath}\n`);
  } catch (e) {
    process.stderr.write(`report: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
