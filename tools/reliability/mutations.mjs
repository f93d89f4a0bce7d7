// Deterministic plan mutations: case id → bytes. Cases cycle over the fixture plans:
// truncation at every 1/64 of the length, byte flips in the header and the body, zeroed
// regions, two plans spliced, and random bytes of plan-like sizes.
export const KINDS = ['truncate', 'flip-header', 'flip-body', 'zero', 'splice', 'random'];

function rng(seed) {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** What case `id` is, over `n` plans: { kind, plan, detail }. */
export function describe(id, n) {
  // 64 truncations per plan, then 6 flip/zero/splice/random rounds per plan
  const trunc = 64 * n;
  if (id < trunc) return { kind: 'truncate', plan: Math.floor(id / 64), k: id % 64 };
  const j = id - trunc;
  const kind = ['flip-header', 'flip-body', 'flip-header', 'flip-body', 'zero', 'zero', 'splice', 'random'][j % 8];
  return { kind, plan: Math.floor(j / 8) % n, seed: id };
}

export function mutate(plans, id) {
  const d = describe(id, plans.length);
  const src = plans[d.plan];
  const r = rng(id + 1);
  switch (d.kind) {
    case 'truncate':
      return src.subarray(0, Math.floor((src.length * d.k) / 64));
    case 'flip-header':
    case 'flip-body': {
      const out = Buffer.from(src);
      const lo = d.kind === 'flip-header' ? 0 : Math.min(256, out.length - 1);
      const hi = d.kind === 'flip-header' ? Math.min(256, out.length) : out.length;
      const flips = 1 + Math.floor(r() * 8);
      for (let i = 0; i < flips; i++) out[lo + Math.floor(r() * (hi - lo))] ^= 1 << Math.floor(r() * 8);
      return out;
    }
    case 'zero': {
      const out = Buffer.from(src);
      const len = Math.max(1, Math.floor(r() * Math.min(4096, out.length)));
      const start = Math.floor(r() * (out.length - len));
      out.fill(0, start, start + len);
      return out;
    }
    case 'splice': {
      const other = plans[(d.plan + 1 + Math.floor(r() * (plans.length - 1))) % plans.length];
      const a = Math.floor(r() * src.length);
      const b = Math.floor(r() * other.length);
      return Buffer.concat([src.subarray(0, a), other.subarray(b)]);
    }
    default: {
      const out = Buffer.alloc(Math.floor(src.length * (0.5 + r())));
      for (let i = 0; i < out.length; i++) out[i] = Math.floor(r() * 256);
      if (r() < 0.5) src.copy(out, 0, 0, Math.min(32, src.length, out.length)); // a valid-looking header
      return out;
    }
  }
}
