#!/usr/bin/env node
/**
 * Makes the GPU server model repository: a copy of test/gpu/model-repository (config.pbtxt of each
 * model) with <model>/1/model.plan linked to the fixture plan named in its plans.json.
 *   node tools/gpu-host/model-repository.mjs OUT_DIR [FIXTURES_DIR]
 * FIXTURES_DIR defaults to $TRTNODE_FIXTURES, else fixtures/gpu. Fails (exit 2) if a plan is missing.
 * Used by test/gpu/server-tritonclient.test.ts and tools/gpu-host/serve-suite.sh (the benchmark).
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TEMPLATE = path.join(ROOT, 'test', 'gpu', 'model-repository');
const [out, fixturesArg] = process.argv.slice(2);
if (!out) {
  console.error('usage: node tools/gpu-host/model-repository.mjs OUT_DIR [FIXTURES_DIR]');
  process.exit(2);
}
const fixtures = path.resolve(fixturesArg ?? process.env.TRTNODE_FIXTURES ?? path.join(ROOT, 'fixtures', 'gpu'));
const plans = JSON.parse(readFileSync(path.join(TEMPLATE, 'plans.json'), 'utf8'));
const missing = Object.values(plans).filter((p) => !existsSync(path.join(fixtures, 'engines', p)));
if (missing.length) {
  console.error(`model-repository: missing in ${fixtures}/engines: ${missing.join(', ')}`);
  process.exit(2);
}
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const [model, plan] of Object.entries(plans)) {
  cpSync(path.join(TEMPLATE, model, 'config.pbtxt'), path.join(out, model, 'config.pbtxt'));
  mkdirSync(path.join(out, model, '1'), { recursive: true });
  symlinkSync(path.join(fixtures, 'engines', plan), path.join(out, model, '1', 'model.plan'));
}
console.log(`model-repository: ${Object.keys(plans).join(', ')} in ${out} (plans from ${fixtures}/engines)`);
