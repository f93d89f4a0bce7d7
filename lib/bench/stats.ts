/**
 * Summary statistics of per-iteration timings, computed the way trtexec computes them
 * (TensorRT samples/common/sampleReporting.cpp: findMedian, findPercentile, getPerformanceResult).
 */

/** min / max / mean / median / percentiles of one metric; the unit is the input's (µs here). */
export interface TimingStats {
  /** number of samples */
  count: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  p90: number;
  p95: number;
  p99: number;
  /** sum of the samples (trtexec's "Total GPU Compute Time" for compute times) */
  total: number;
  /** coefficient of variation (stddev / mean), trtexec prints it as a stability warning */
  cv: number;
}

type Samples = Float64Array | readonly number[];

function sortedCopy(values: Samples): Float64Array {
  const a = Float64Array.from(values as ArrayLike<number>);
  a.sort();
  return a;
}

/**
 * trtexec's median of an ascending sequence: the middle element, or the mean of the two middle
 * elements for an even count. NaN for no samples (trtexec prints inf).
 */
export function trtexecMedian(sorted: Samples): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const m = Math.floor(n / 2);
  if (n % 2) return sorted[m]!;
  return (sorted[m - 1]! + sorted[m]!) / 2;
}

/**
 * trtexec's percentile of an ascending sequence:
 *
 *     exclude = int((1 - percentile / 100) * all)     // in float32
 *     value   = timings[max(all - 1 - exclude, 0)]
 *
 * i.e. a nearest-rank percentile that drops the top (100 − p)% of samples, rounding the number
 * dropped down. The arithmetic is done in float32 as in C++, which matters at exact boundaries
 * (100 samples: p99 drops int(0.0099999905 × 100) = 0 samples, so it is the maximum).
 */
export function trtexecPercentile(percentile: number, sorted: Samples): number {
  if (!(percentile >= 0 && percentile <= 100)) throw new RangeError(`percentile ${percentile} is not in [0, 100]`);
  const all = sorted.length;
  if (all === 0) return Number.NaN;
  const f = Math.fround;
  const exclude = Math.trunc(f(f(1 - f(f(percentile) / 100)) * f(all)));
  return sorted[Math.max(all - 1 - exclude, 0)]!;
}

/** Summary of `values` (not modified; a sorted copy is made). */
export function timingStats(values: Samples): TimingStats {
  const s = sortedCopy(values);
  const n = s.length;
  if (n === 0) return { count: 0, min: Number.NaN, max: Number.NaN, mean: Number.NaN, median: Number.NaN, p90: Number.NaN, p95: Number.NaN, p99: Number.NaN, total: 0, cv: Number.NaN };
  let total = 0;
  for (let i = 0; i < n; i++) total += s[i]!;
  const mean = total / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (s[i]! - mean) ** 2;
  const cv = mean !== 0 ? Math.sqrt(sq / n) / mean : 0;
  return {
    count: n,
    min: s[0]!,
    max: s[n - 1]!,
    mean,
    median: trtexecMedian(s),
    p90: trtexecPercentile(90, s),
    p95: trtexecPercentile(95, s),
    p99: trtexecPercentile(99, s),
    total,
    cv,
  };
}

/** Element-wise sum of equally long arrays (e.g. h2d + compute + d2h per iteration). */
export function addSamples(...arrays: Float64Array[]): Float64Array {
  const n = arrays[0]?.length ?? 0;
  const out = new Float64Array(n);
  for (const a of arrays) for (let i = 0; i < n; i++) out[i]! += a[i] ?? 0;
  return out;
}

/** Concatenation of several sample arrays (pooling the iterations of K streams). */
export function concatSamples(arrays: readonly (Float64Array | readonly number[])[]): Float64Array {
  const n = arrays.reduce((a, x) => a + x.length, 0);
  const out = new Float64Array(n);
  let k = 0;
  for (const a of arrays) {
    out.set(a as ArrayLike<number>, k);
    k += a.length;
  }
  return out;
}
