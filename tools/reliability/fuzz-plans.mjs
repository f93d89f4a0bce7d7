#!/usr/bin/env node
// Plan fuzzing: mutates the fixture plans and loads each through the addon in worker processes;
// counts crashes (a worker killed by a signal), hangs (no answer within --timeout) and clean
// errors. A crashed or hung worker is replaced and continues with the next case.
//   node tools/reliability/fuzz-plans.mjs [--cases N] [--workers K] [--timeout S] [--plans a.plan,b.plan] [--json out.json] [--probe]
//                                          [--ids 417,425,...|known] [--random N] [--seed S] [--print-hashes]
// --probe: each worker first probes the plan in a child process (probePlan), as a service that
// loads untrusted plans would; crashes then count only if they reach the worker itself.
// --ids: run only these case ids (the same bytes as in a full run over the same plans: a case's
// mutation depends on its id and the plan list only). `known` = the crash and hang ids of the
// recorded H100 run (KNOWN below); then the plan list must be the one that run used.
// --random N: add N more ids drawn from 0..cases-1 (not already listed), the same for a given --seed.
// --print-hashes: print { id, kind, plan, bytes, sha256 } per selected case and exit; loads no TensorRT.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { describe, mutate } from './mutations.mjs';
import { flag, opt } from './cli-args.mjs';

const here = dirname(fileURLToPath(import.meta.url));
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

// The recorded run these ids come from (summarized in docs/benchmarks/reliability.md).
const KNOWN_RUN = join(here, '..', '..', 'test', 'fixtures', 'reliability', '2026-11-25-h100-fuzz-2048.json');
const sha = (b) => createHash('sha256').update(b).digest('hex');
const planName = (p) => p.split('/').pop();
let knownIds = [];
let ids;
const idsArg = opt('ids');
if (idsArg === 'known') {
  const rec = JSON.parse(readFileSync(KNOWN_RUN, 'utf8'));
  knownIds = rec.failures.map((f) => f.id);
  // a case's bytes depend on the plan list: the same ids over other plans are other cases
  const have = plans.map(planName);
  if (JSON.stringify(have) !== JSON.stringify(rec.plans) && !flag('allow-other-plans')) {
    console.error(`fuzz-plans: --ids known needs the plans of the recorded run (${rec.plans.join(', ')}); found ${have.join(', ')}.` +
      ' Stage the ResNet-50 plan (stage.sh resnet) or pass --allow-other-plans (the ids then name other mutations).');
    process.exit(2);
  }
  ids = [...knownIds];
} else if (idsArg !== undefined) {
  ids = idsArg.split(',').filter((x) => x !== '').map(Number);
  const bad = ids.filter((x) => !Number.isInteger(x) || x < 0);
  if (bad.length || ids.length === 0) {
    console.error(`fuzz-plans: --ids wants non-negative integers separated by commas (or 'known'), got '${idsArg}'`);
    process.exit(2);
  }
}
const extra = Number(opt('random', 0));
if (extra > 0) {
  ids ??= [];
  const taken = new Set(ids);
  if (extra > total - taken.size) {
    console.error(`fuzz-plans: --random ${extra} is more than the ${total - taken.size} ids left in 0..${total - 1}`);
    process.exit(2);
  }
  let s = Number(opt('seed', 20261125)) >>> 0 || 1;
  for (let added = 0; added < extra; ) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const id = s % total;
    if (!taken.has(id)) {
      taken.add(id);
      ids.push(id);
      added++;
    }
  }
}
ids ??= Array.from({ length: total }, (_, i) => i);
ids = [...new Set(ids)];

if (flag('print-hashes')) {
  const bytes = plans.map((p) => readFileSync(p));
  for (const id of ids) {
    const data = mutate(bytes, id);
    console.log(JSON.stringify({ id, ...describe(id, plans.length), bytes: data.length, sha256: sha(data) }));
  }
  process.exit(0);
}

// Which plan files these cases were made from (with --ids, compare with the recorded run's).
let manifest = {};
try {
  manifest = JSON.parse(readFileSync(join(fixtures, 'manifest.json'), 'utf8')).engines ?? {};
} catch {
  /* no manifest: hashes only */
}
const planFiles = plans.map((p) => {
  const h = sha(readFileSync(p));
  const m = Object.values(manifest).find((e) => e.plan === `engines/${planName(p)}`);
  return { name: planName(p), sha256: h, matchesManifest: m ? m.sha256 === h : null };
});

const results = new Map();
let next = 0;
const t0 = Date.now();

function startWorker() {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(here, 'fuzz-worker.mjs')], {
      env: { ...process.env, FUZZ_PLANS: JSON.stringify(plans), ...(flag('probe') ? { FUZZ_PROBE: '1' } : {}), ...(idsArg !== undefined || extra ? { FUZZ_HASH: '1' } : {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let current = -1;
    let timer;
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    const feed = () => {
      if (next >= ids.length) {
        child.stdin.end();
        return;
      }
      child.stdin.write(`${ids[next++]}\n`);
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
  while (next < ids.length) await startWorker();
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
  probe: flag('probe'),
  plans: plans.map((p) => p.split('/').pop()),
  planFiles,
  selection: idsArg === undefined && !extra ? `all ${total}` : `${idsArg ? `--ids ${idsArg}` : ''}${extra ? ` --random ${extra} of ${total} (seed ${opt('seed', 20261125)})` : ''}`.trim(),
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
if (knownIds.length) {
  // the recorded crashes and hangs: each must now be an error the service received, typed
  const known = knownIds.map((id) => results.get(id) ?? { id, outcome: 'missing' });
  summary.known = {
    ids: knownIds,
    // a typed error after TensorRT loaded (a 'runtime' error means TensorRT never saw the plan)
    absorbed: known.filter((r) => r.outcome === 'error' && r.typed !== false && r.stage !== 'runtime').length,
    outcomes: known.map((r) => ({ id: r.id, outcome: r.outcome, stage: r.stage, code: r.code, message: r.message, signal: r.signal })),
  };
}
if (idsArg !== undefined || extra) summary.results = list;
if (out) writeFileSync(out, JSON.stringify(summary, null, 1));
console.log(JSON.stringify({ ...summary, results: undefined, failures: summary.failures.slice(0, 10) }, null, 1));
// (a known id that now loads and runs is not a failure of the service: it is counted, not absorbed)
process.exit(summary.crashes + summary.hangs + summary.untypedErrors === 0 && list.length === ids.length ? 0 : 1);
