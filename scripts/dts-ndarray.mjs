#!/usr/bin/env node
// After the declaration build (tsup): points the published declaration files' import of the
// 'ndarray' module's types at tensorrt-node's own declaration of the ndarray view
// (lib/ndarray-view.d.ts, copied to dist/ndarray-view.d.ts and .d.cts).
//
// Why: the types of HostBuffer.ndarray() and Tensor.toNdarray() come from @types/ndarray, which
// is a devDependency (no @types/* among the runtime dependencies). Left as they are, the
// declarations would import 'ndarray', which ships no types: a strict consumer without
// skipLibCheck would fail to compile (TS7016) and everyone else would get `any`. tsup cannot
// inline them (it keeps every dependency external in declarations).
//
//   node scripts/dts-ndarray.mjs [distDir]     (default dist/; no declaration files: nothing to do)
// Exits 1 if a declaration imports 'ndarray' in a form this script does not know.
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(process.argv[2] ?? join(root, 'dist'));
const declarations = existsSync(dist) ? readdirSync(dist).filter((f) => /\.d\.c?ts$/.test(f) && !f.startsWith('ndarray-view.')) : [];
if (declarations.length === 0) process.exit(0);

const problems = [];
let rewritten = 0;
for (const f of declarations) {
  const file = join(dist, f);
  const cjs = f.endsWith('.d.cts');
  const before = readFileSync(file, 'utf8');
  const after = before
    .split('\n')
    .flatMap((line) => {
      if (line === "import ndarray from 'ndarray';") return [`import type * as ndarray from './ndarray-view.${cjs ? 'cjs' : 'js'}';`];
      if (line === "import 'ndarray';") return []; // a leftover of the type-only import above, in another chunk
      if (/['"]ndarray['"]/.test(line) && /^\s*(import|export)\b/.test(line)) problems.push(`${f}: ${line}`);
      return [line];
    })
    .join('\n');
  if (after !== before) {
    writeFileSync(file, after);
    rewritten++;
  }
}
if (problems.length) {
  console.error(`dts-ndarray: declarations import 'ndarray' in a form this script does not rewrite:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
const view = join(root, 'lib', 'ndarray-view.d.ts');
copyFileSync(view, join(dist, 'ndarray-view.d.ts'));
copyFileSync(view, join(dist, 'ndarray-view.d.cts'));
console.log(`dts-ndarray: ${rewritten} declaration file(s) now use dist/ndarray-view.d.ts`);
