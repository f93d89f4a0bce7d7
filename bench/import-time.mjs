#!/usr/bin/env node
/**
 * How long `import { Session } from 'tensorrt-node'` takes, in a project that installed the
 * package (a packed tarball: npm pack, then npm install <tarball> in an empty project). Runs
 * fresh processes in turn: `node -e ''` (Node's own start), the import, and the same import
 * timed inside the process (performance.now() and process.cpuUsage() around a dynamic import:
 * CPU time is what a busy machine inflates least); prints medians and quartiles of each and the
 * import's cost over Node's start. Compare on one machine.
 *
 *   node bench/import-time.mjs <project dir> [--runs 30] [--specifier tensorrt-node] [--name Session]
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string', default: '30' }, specifier: { type: 'string', default: 'tensorrt-node' }, name: { type: 'string', default: 'Session' } } });
if (!positionals[0]) {
  console.error('usage: node bench/import-time.mjs <project dir> [--runs 30]');
  process.exit(2);
}
const cwd = resolve(positionals[0]);
const runs = Number(values.runs);
const spec = JSON.stringify(values.specifier);
const cases = {
  'node start': '',
  [`import { ${values.name} } from ${spec}`]: `import { ${values.name} } from ${spec};`,
  'in-process import()': `const c0 = process.cpuUsage(); const t0 = performance.now(); await import(${spec}); const c = process.cpuUsage(c0); process.stdout.write(JSON.stringify([performance.now() - t0, (c.user + c.system) / 1000]));`,
};
const cpu = [];
const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < runs; i++) {
  for (const [name, code] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd, encoding: 'utf8' });
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${name} failed:\n${r.stderr}`);
    if (name === 'in-process import()') {
      const [ms, cpuMs] = JSON.parse(r.stdout);
      samples[name].push(ms);
      cpu.push(cpuMs);
    } else samples[name].push(wall);
  }
}
const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
};
for (const [name, xs] of Object.entries(samples)) console.log(`${name.padEnd(44)} median ${q(xs, 0.5).toFixed(1)} ms  (p25 ${q(xs, 0.25).toFixed(1)}, p75 ${q(xs, 0.75).toFixed(1)}, ${xs.length} runs)`);
console.log(`${'in-process import(), CPU time'.padEnd(44)} median ${q(cpu, 0.5).toFixed(1)} ms  (p25 ${q(cpu, 0.25).toFixed(1)}, p75 ${q(cpu, 0.75).toFixed(1)})`);
const [start, imp] = Object.values(samples);
console.log(`import over node's start: ${(q(imp, 0.5) - q(start, 0.5)).toFixed(1)} ms (medians)`);
