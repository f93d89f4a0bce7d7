/**
 * The published types, as a strict TypeScript user sees them: test/consumer/ is copied into a
 * project that installed the packed tarball (so 'tensorrt-node' resolves through the package's
 * "exports" map, import and require conditions both) and compiled with this repository's tsc.
 * A second compile of deliberate misuse must fail on exactly the marked lines, so the first
 * cannot pass because the types degraded to `any`.
 */
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, ROOT, describeFailure, devDependency, missingBuild, networkNotAllowed, packAndInstall, run, type Workspace } from '../consumer/harness.js';

const skipReason = missingBuild() ?? networkNotAllowed();
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

describe.skipIf(skipReason !== undefined)(`types of the installed package (strict, NodeNext)${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let ws: Workspace;
  let project: string;

  beforeAll(() => {
    // Packs the repository as it is (with a prebuild if package-install.test.ts made one; the
    // types do not depend on it). @types/node as a TypeScript user of Node would have it; no
    // @types/ndarray and no onnxruntime-node: the published declarations need neither.
    ws = packAndInstall('types', [devDependency('@types/node')]);
    project = join(ws.app, 'consumer');
    cpSync(CONSUMER, project, { recursive: true, filter: (src) => !src.includes('node_modules') });
  }, 180_000);
  afterAll(() => ws?.cleanup());

  it('a strict consumer compiles against dist/index.d.ts (import) and dist/index.d.cts (require)', () => {
    const r = run(process.execPath, [TSC, '-p', join(project, 'tsconfig.json'), '--listFiles'], { cwd: project, env: ws.env });
    expect(r.status, describeFailure(r)).toBe(0);
    const files = r.stdout.split('\n').filter(Boolean);
    const dist = join(ws.installed, 'dist');
    for (const f of ['index.d.ts', 'index.d.cts', 'server.d.ts', 'server.d.cts', 'ndarray-view.d.ts']) expect(files).toContain(join(dist, f));
    expect(files.filter((f) => /node_modules\/(@types\/ndarray|onnxruntime-(node|common))\//.test(f))).toEqual([]);
    // nothing from the repository itself (no self-reference, no path mapping)
    expect(files.filter((f) => f.startsWith(ROOT) && !f.startsWith(join(ROOT, 'node_modules', 'typescript')))).toEqual([]);
  });

  it('deliberate misuse fails to compile, on exactly the marked lines', () => {
    const src = readFileSync(join(CONSUMER, 'src', 'wrong.mts'), 'utf8').split('\n');
    const marked = src.flatMap((l, i) => (l.includes('// expect-error') ? [i + 1] : []));
    expect(marked.length).toBeGreaterThanOrEqual(5);
    const r = run(process.execPath, [TSC, '-p', join(project, 'tsconfig.wrong.json')], { cwd: project, env: ws.env });
    expect(r.status).not.toBe(0);
    const errors = [...r.stdout.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+)/gm)].map((m) => ({ file: m[1]!, line: Number(m[2]), code: m[3]! }));
    expect(errors.filter((e) => !e.file.endsWith('src/wrong.mts')), r.stdout).toEqual([]);
    // type errors, not "cannot find module" (TS2307) or missing exports (TS2305/TS2614)
    expect(errors.filter((e) => !['TS2322', 'TS2345'].includes(e.code)), r.stdout).toEqual([]);
    expect([...new Set(errors.map((e) => e.line))].sort((a, b) => a - b), r.stdout).toEqual(marked);
  });
});
