/**
 * Lays timed runs of several streams on one GPU time axis (markTimingEpoch + setTiming, or the C++
 * loop's startMs/endMs) and says where a batch's time goes: how long each stream's work spans
 * on the GPU, how long a stream sits empty between two pieces of work, and which fraction of
 * the time the GPU had work from at least one stream, or from all of them at once.
 */

/**
 * records: [{ stream, start, end, h2d, compute, d2h }] in ms (start and end from one mark).
 * The first `skipFraction` of the time span is left out (warm-up, graph capture).
 */
export function summarizeTimeline(records, skipFraction = 0.25) {
  const valid = records.filter((r) => Number.isFinite(r.start) && Number.isFinite(r.end) && r.end >= r.start);
  if (valid.length === 0) return undefined;
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const r of valid) {
    t0 = Math.min(t0, r.start);
    t1 = Math.max(t1, r.end);
  }
  const from = t0 + (t1 - t0) * skipFraction;
  const streams = [...new Set(valid.map((r) => r.stream))];
  const per = [];
  const edges = [];
  for (const s of streams) {
    const rs = valid.filter((r) => r.stream === s).sort((a, b) => a.start - b.start);
    const kept = rs.filter((r) => r.start >= from);
    const mean = (f) => (kept.length ? kept.reduce((a, r) => a + f(r), 0) / kept.length : Number.NaN);
    const offs = [];
    for (let i = 1; i < rs.length; i++) if (rs[i].start >= from) offs.push(rs[i].start - rs[i - 1].end);
    per.push({
      stream: s,
      runs: kept.length,
      spanMs: mean((r) => r.end - r.start),
      h2dMs: mean((r) => r.h2d ?? Number.NaN),
      computeMs: mean((r) => r.compute ?? Number.NaN),
      d2hMs: mean((r) => r.d2h ?? Number.NaN),
      offMs: offs.length ? offs.reduce((a, b) => a + b, 0) / offs.length : Number.NaN,
    });
    for (const r of kept) {
      edges.push([r.start, 1]);
      edges.push([r.end, -1]);
    }
  }
  // sweep: time with >= 1 stream busy, and with every stream busy
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let depth = 0;
  let last = from;
  let busy = 0;
  let all = 0;
  for (const [t, d] of edges) {
    const x = Math.max(t, from);
    if (depth >= 1) busy += x - last;
    if (depth >= streams.length) all += x - last;
    depth += d;
    last = x;
  }
  const windowMs = t1 - from;
  const runs = per.reduce((a, p) => a + p.runs, 0);
  return {
    windowMs,
    runsPerSecond: (runs / windowMs) * 1000,
    busyFraction: windowMs > 0 ? busy / windowMs : Number.NaN,
    allBusyFraction: windowMs > 0 ? all / windowMs : Number.NaN,
    streams: per,
  };
}

/** One line per summary: runs/s, busy fractions, and per-stream means (µs). */
export function formatTimeline(label, s) {
  if (!s) return `${label}: no timed runs`;
  const us = (ms) => (Number.isFinite(ms) ? (ms * 1000).toFixed(0) : '-');
  const streams = s.streams.map((p) => `span ${us(p.spanMs)} (h2d ${us(p.h2dMs)}, compute ${us(p.computeMs)}, d2h ${us(p.d2hMs)}) off ${us(p.offMs)}`).join(' | ');
  return `${label}: ${s.runsPerSecond.toFixed(0)} runs/s, GPU busy ${(s.busyFraction * 100).toFixed(1)} %, all streams busy ${(s.allBusyFraction * 100).toFixed(1)} %; ${streams}`;
}
