#!/usr/bin/env node
/**
 * CPU per request of the server's main thread and of the whole process, Linux only:
 *
 *   node bench/investigations/server-cpu-probe.mjs <bench/server-overhead.mjs arguments>
 *
 * Runs bench/server-overhead.mjs with those arguments and samples, from 1.0 s to 3.0 s into each
 * case (after the default 0.5 s warm-up; use the default --duration 3), the CPU time
 * (utime+stime in /proc) of the process's main thread, which runs the batcher and the handlers,
 * and of the whole process (client threads included); each divided by the case's requests/s.
 * Prints one JSON line per case on stdout (the benchmark's own output goes to stderr), with the
 * busiest threads of the process (name and share of one core) over the same window.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
const child = spawn(process.execPath, [new URL('../server-overhead.mjs', import.meta.url).pathname, ...process.argv.slice(2)], { stdio: ['ignore', 'ignore', 'pipe'] });
const secs = (file) => { const f = readFileSync(file, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
// every thread's CPU seconds, by thread id (threads that end between two samples are skipped)
const threads = () => {
  const m = new Map();
  for (const tid of readdirSync(`/proc/${child.pid}/task`)) {
    try {
      m.set(tid, { comm: readFileSync(`/proc/${child.pid}/task/${tid}/comm`, 'utf8').trim(), cpu: secs(`/proc/${child.pid}/task/${tid}/stat`) });
    } catch {
      /* gone */
    }
  }
  return m;
};
const now = () => ({ t: performance.now(), main: secs(`/proc/${child.pid}/task/${child.pid}/stat`), proc: secs(`/proc/${child.pid}/stat`), threads: threads() });
/** The busiest threads between two samples: "comm share" (share of one core), busiest first. */
const busiest = (a, b, s) =>
  [...b.threads]
    .filter(([tid]) => a.threads.has(tid))
    .map(([tid, x]) => ({ tid, comm: x.comm, share: (x.cpu - a.threads.get(tid).cpu) / s }))
    .filter((x) => x.share >= 0.05)
    .sort((x, y) => y.share - x.share)
    .slice(0, 24)
    .map((x) => `${x.tid === String(child.pid) ? 'main' : x.comm} ${x.share.toFixed(2)}`);
let err = '';
const rows = [];
child.stderr.on('data', (d) => {
  err += d;
  process.stderr.write(d);
  const m = /(#\d+ )?C=(\d+) ([a-z-]+) \.\.\.$/.exec(err.trimEnd().split('\n').pop());
  if (!m || m.index === undefined || rows.some((r) => r.at === err.length)) return;
  const row = { at: err.length, case: `${m[1] ?? ''}C=${m[2]} ${m[3]}` };
  rows.push(row);
  setTimeout(() => { const a = now(); setTimeout(() => { const b = now(); const s = (b.t - a.t) / 1000; row.mainShare = (b.main - a.main) / s; row.procShare = (b.proc - a.proc) / s; row.threads = busiest(a, b, s); }, 2000); }, 1000);
});
child.on('exit', (code) => {
  for (const r of rows) {
    const m = new RegExp(`${r.case.replace(/[#]/g, '\\#')} \\.\\.\\. ([\\d,]+) req/s`).exec(err);
    const rps = m ? Number(m[1].replace(/,/g, '')) : NaN;
    console.log(JSON.stringify({ case: r.case, reqPerSec: rps, mainThreadCpuShare: +r.mainShare.toFixed(3), processCpuShare: +r.procShare.toFixed(2), mainThreadCpuUsPerRequest: Math.round((r.mainShare / rps) * 1e6), processCpuUsPerRequest: Math.round((r.procShare / rps) * 1e6), busiestThreads: r.threads }));
  }
  process.exitCode = code;
});
