/**
 * The shared start of the GPU probe scripts (latency-probe.mjs, batcher-timeline.mjs): the library
 * (bench/lib.mjs: ../dist, or the dist/index.js in TRTNODE_LIB), the plan (the first positional
 * argument, else a fixture engine under $TRTNODE_FIXTURES or fixtures/gpu) and numeric flags,
 * parsed with node:util's parseArgs. A missing plan, an unknown flag or a flag that is not a
 * positive number ends the script with exit status 2 and the reason.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadLibrary } from '../lib.mjs';

/** name: the script's name for messages; flags: { 'duration-ms': 2000, ... } (the defaults). */
export async function probeSetup(name, defaultPlan, flags) {
  const fail = (why) => {
    console.error(`${name}: ${why}`);
    process.exit(2);
  };
  let parsed;
  try {
    parsed = parseArgs({ args: process.argv.slice(2), options: Object.fromEntries(Object.keys(flags).map((k) => [k, { type: 'string' }])), allowPositionals: true, strict: true });
  } catch (e) {
    fail(e.message);
  }
  const values = {};
  for (const [k, dflt] of Object.entries(flags)) {
    const v = parsed.values[k] === undefined ? dflt : Number(parsed.values[k]);
    if (!(Number.isFinite(v) && v > 0)) fail(`--${k} must be a positive number, got ${parsed.values[k]}`);
    values[k] = v;
  }
  const plan = resolve(parsed.positionals[0] ?? join(process.env.TRTNODE_FIXTURES ?? 'fixtures/gpu', 'engines', defaultPlan));
  if (!existsSync(plan)) fail(`no plan at ${plan}`);
  return { lib: await loadLibrary(), plan, values };
}
