/**
 * Every `js cpu-example` block of README.md and docs/*.md runs, as written, against the built
 * package (dist/, imported as 'tensorrt-node' and 'tensorrt-node/server' through package.json's
 * "exports", the way a user's code imports it), with the repository as the working directory so
 * that examples/models resolves. test/cpu/package-install.test.ts runs the README's again from a
 * packed-tarball install; the `js gpu-example` blocks run on the GPU host
 * (test/docs-examples-gpu.mjs).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleFileName, extractExamples } from '../consumer/examples.mjs';

const ROOT = resolve(__dirname, '../..');
const built = ['dist/index.js', 'dist/server.js'].every((f) => existsSync(join(ROOT, f)));
const examples = extractExamples(ROOT);
const cpu = examples.filter((e) => e.kind === 'cpu');

let dir: string;
beforeAll(() => {
  // inside the repository, so that 'tensorrt-node' resolves to this package (a package may
  // import itself by name) and its dependencies to node_modules/
  mkdirSync(join(ROOT, '.cache'), { recursive: true });
  dir = mkdtempSync(join(ROOT, '.cache', 'docs-examples-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the docs carry runnable examples', () => {
  it('README.md has the CPU examples (batcher, serve) and the GPU Session example; the docs theirs', () => {
    const readme = examples.filter((e) => e.file === 'README.md');
    expect(readme.filter((e) => e.kind === 'cpu').length).toBeGreaterThanOrEqual(2);
    expect(readme.filter((e) => e.kind === 'gpu').length).toBeGreaterThanOrEqual(1);
    expect(readme.some((e) => e.kind === 'cpu' && e.code.includes('DynamicBatcher'))).toBe(true);
    expect(readme.some((e) => e.kind === 'cpu' && e.code.includes("from 'tensorrt-node/server'"))).toBe(true);
    expect(readme.some((e) => e.kind === 'gpu' && e.code.includes('Session.create'))).toBe(true);
    for (const e of examples) expect(e.code, `${e.file}:${e.line}`).toMatch(/from 'tensorrt-node(\/server)?'/);
  });
});

describe.skipIf(!built)(`js cpu-example blocks run as written${built ? '' : ' (skipped: dist/ not built, run npm run build:ts)'}`, () => {
  it.each(cpu.map((e) => [`${e.file}:${e.line}`, e] as const))('%s', (_where, e) => {
    const file = join(dir, exampleFileName(e));
    writeFileSync(file, e.code);
    const r = spawnSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, TENSORRT_LIB_DIR: '/nonexistent' } });
    expect(r.status, `${e.file}:${e.line} exited ${r.status ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
  });
});
