#!/usr/bin/env node
// Plan fuzzing: mutates the fixture plans and loads each through the addon in worker processes;
// counts crashes (a worker killed by a signal), hangs (no answer within --timeout) and clean
// errors. A crashed or hung worker is replaced and continues with the next case.
//   node scripts/reliability/fuzz-plans.mjs [--cases N] [--workers K] [--timeout S] [--plans a.plan,b.plan] [--json out.json] [--probe]
// --probe: each worker first probes the plan in a child process (probePlan), as a service that
// loads untrusted plans would; crashes then count only if they reach the worker itself.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { describe } from './mutations.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const fixtures = process.env.TRTNODE_FIXTURES ?? join(here, '..', '..', 'fixtures', 'gpu');
const plans = (opt('plans') ?? readdirSync(join(fixtures, 'engines')).filter((f) => f.endsWith('.plan')).sort().map((f) => join(fixtures, 'engines', f)).join(','))
  .split(',')
  .map((p) => resolve(p))
  .filter((p) => existsSync(p));
if (plans.length === 0) {
  console.error('fuzz-plans: no plans found');
  process.exit(2);
}
const total = Number(opt('cases', 2048));
const workers = Number(opt('workers', 8));
const timeoutMs = Number(opt('timeout', 30)) * 1000;
const out = opt('json');

const results = new Map();
let next = 0;
const t0 = Date.now();

function startWorker() {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(here, 'fuzz-worker.mjs')], {
      env: { ...process.env, FUZZ_PLANS: JSON.stringify(plans), ...(args.includes('--probe') ? { FUZZ_PROBE: '1' } : {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let current = -1;
    let timer;
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    const feed = () => {
      if (next >= total) {
        child.stdin.end();
        return;
      }
      child.stdin.write(`${next++}\n`);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (current >= 0) results.set(current, { id: current, outcome: 'hang' });
        child.kill('SIGKILL');
      }, timeoutMs);
    };
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('start ')) {
        current = Number(line.slice(6));
        arm();
        return;
      }
      try {
        const r = JSON.parse(line);
        results.set(r.id, r);
        current = -1;
        clearTimeout(timer);
        feed();
      } catch {
        /* not ours */
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (current >= 0 && !results.has(current)) results.set(current, { id: current, outcome: 'crash', signal, code, stderr: stderr.slice(-500) });
      done({ code, signal });
    });
    feed();
  });
}

async function lane() {
  while (next < total) await startWorker();
}
await Promise.all(Array.from({ length: workers }, lane));

const list = [...results.values()].sort((a, b) => a.id - b.id);
const count = (o) => list.filter((r) => r.outcome === o).length;
const byKind = {};
for (const r of list) {
  const d = describe(r.id, plans.length);
  const k = (byKind[d.kind] ??= { cases: 0, error: 0, ran: 0, crash: 0, hang: 0 });
  k.cases++;
  k[r.outcome === 'error' ? 'error' : r.outcome]++;
}
const codes = {};
for (const r of list) if (r.outcome === 'error') codes[`${r.stage}:${r.code}`] = (codes[`${r.stage}:${r.code}`] ?? 0) + 1;
const summary = {
  date: new Date().toISOString(),
  probe: args.includes('--probe'),
  plans: plans.map((p) => p.split('/').pop()),
  cases: list.length,
  crashes: count('crash'),
  hangs: count('hang'),
  cleanErrors: count('error'),
  untypedErrors: list.filter((r) => r.outcome === 'error' && r.typed === false).length,
  loadedAndRan: count('ran'),
  seconds: (Date.now() - t0) / 1000,
  byKind,
  errorCodes: codes,
  failures: list.filter((r) => r.outcome === 'crash' || r.outcome === 'hang').map((r) => ({ ...r, case: describe(r.id, plans.length) })),
};
if (out) writeFileSync(out, JSON.stringify(summary, null, 1));
console.log(JSON.stringify({ ...summary, failures: summary.failures.slice(0, 10) }, null, 1));
process.exit(summary.crashes + summary.hangs === 0 && list.length === total ? 0 : 1);
