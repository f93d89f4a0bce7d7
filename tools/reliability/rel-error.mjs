// Relative L2 error of `a` against the reference `b`, as the GPU suite measures outputs
// (test/gpu/helpers.ts): Infinity when the lengths differ or the result is NaN.
export function relError(a, b) {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  const r = Math.sqrt(num) / Math.sqrt(den || 1);
  return Number.isNaN(r) ? Infinity : r;
}
