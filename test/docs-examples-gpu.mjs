#!/usr/bin/env node
// Runs every `js gpu-example` block of README.md and docs/*.md as written, on a machine with a
// GPU and TensorRT (the GPU test host), against this checkout's dist/ (npm run build:ts): the
// examples import 'tensorrt-node', which resolves to this package because they run from a folder
// inside it. The plan files the examples name are links to the GPU fixtures:
//
//   classifier.plan → <fixtures>/engines/classifier_fp32.plan   (input [N,3,32,32] → logits [N,10])
//
//   node test/docs-examples-gpu.mjs [--fixtures fixtures/gpu] [--json out.json] [--list]
//
// Prints one line per example (ok / FAIL with its output) and exits 1 if any failed or if there
// is none. TensorRT is found as usual (TENSORRT_LIB_DIR, LD_LIBRARY_PATH).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exampleFileName, extractExamples } from './consumer/examples.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { fixtures: { type: 'string', default: process.env.TRTNODE_FIXTURES ?? join(ROOT, 'fixtures', 'gpu') }, json: { type: 'string' }, list: { type: 'boolean' } } });
const PLANS = { 'classifier.plan': 'engines/classifier_fp32.plan' };

const examples = extractExamples(ROOT).filter((e) => e.kind === 'gpu');
if (values.list) {
  for (const e of examples) console.log(`${e.file}:${e.line}`);
  process.exit(0);
}
if (!existsSync(join(ROOT, 'dist', 'index.js'))) {
  console.error('docs-examples-gpu: dist/ is not built (npm run build:ts)');
  process.exit(2);
}
mkdirSync(join(ROOT, '.cache'), { recursive: true });
const dir = mkdtempSync(join(ROOT, '.cache', 'docs-examples-gpu-'));
for (const [name, rel] of Object.entries(PLANS)) {
  const target = resolve(values.fixtures, rel);
  if (!existsSync(target)) {
    console.error(`docs-examples-gpu: ${target} is missing (build the fixtures: tools/fixtures/build_fixtures.py)`);
    process.exit(2);
  }
  symlinkSync(target, join(dir, name));
}

const results = [];
for (const e of examples) {
  const file = join(dir, exampleFileName(e));
  writeFileSync(file, e.code);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
  const ok = r.status === 0;
  results.push({ example: `${e.file}:${e.line}`, ok, status: r.status ?? r.signal, seconds: (Date.now() - t0) / 1000, stdout: r.stdout, stderr: r.stderr });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${e.file}:${e.line}`);
  if (!ok) console.log(`  exit ${r.status ?? r.signal}\n  --- stdout\n${r.stdout}\n  --- stderr\n${r.stderr}`);
}
rmSync(dir, { recursive: true, force: true });
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
if (values.json) writeFileSync(values.json, `${JSON.stringify({ node: process.version, results }, null, 2)}\n`);
process.exit(failed || results.length === 0 ? 1 : 0);
