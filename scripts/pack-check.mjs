#!/usr/bin/env node
// Checks what `npm pack` would publish: only what users need (dist/, the prebuilt addon, the
// sources and scripts a source build needs, the gRPC protos, README, CHANGELOG, LICENSE), every
// required file present, nothing from fixtures, benchmarks, tests, build trees or caches, and
// the tarball under a size limit. Prints the list summary and the size; exits 1 on a violation.
//
//   node scripts/pack-check.mjs [--no-prebuild] [--json] [--dir DIR]
//     --no-prebuild  do not require prebuilds/ (a source-only package)
//     --json         print the result as JSON on stdout
//     --dir DIR      check the package in DIR (a staged copy) instead of this repository
//
// Run `npm run build` and `node scripts/prebuild.mjs` first.
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const dirAt = args.indexOf('--dir');
const root = dirAt >= 0 ? resolve(args[dirAt + 1] ?? '.') : resolve(dirname(fileURLToPath(import.meta.url)), '..');
const needPrebuild = !args.includes('--no-prebuild');
const json = args.includes('--json');

// Size limits. Today the tarball is ~1.3 MB: dist/ (ESM + CJS of five entries sharing chunks,
// .d.ts of the two public ones, source maps) is ~0.6 MB gzipped, the stripped linux-x64 addon
// ~0.7 MB, native/ + protos + scripts ~0.05 MB. 4 MiB leaves room for growth and a second (arm64)
// prebuild, and still fails on any accidental inclusion of what must never ship: a fixture
// engine (resnet50 plan: 53 MB), an unstripped build tree, ONNX fixtures, bench results or a
// cached toolchain (hundreds of MB). Unpacked: 16 MiB (dist's source maps dominate; a stray
// .plan or .so blows through it).
const MAX_TARBALL_BYTES = 4 * 2 ** 20;
const MAX_UNPACKED_BYTES = 16 * 2 ** 20;

// Everything in the package must match one of these.
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^CHANGELOG\.md$/,
  /^LICENSE(\.md|\.txt)?$/,
  /^CMakeLists\.txt$/,
  /^scripts\/(build-native|toolchain)\.mjs$/,
  // tsup's output: the entries (index, server), their shared chunks (chunk-*, <module>-*) and
  // declaration chunks, dist/ndarray-view.d.ts (scripts/dts-ndarray.mjs)
  /^dist\/[\w-]+\.(js|cjs|d\.ts|d\.cts)(\.map)?$/,
  /^dist\/cli\/main\.(js|cjs)(\.map)?$/,
  /^dist\/server\/grpc-worker\.(js|cjs)(\.map)?$/, // the gRPC front-end thread's entry (lib/server/grpc-front-ends.ts starts it)
  /^dist\/internal\/bench\.(js|cjs)(\.map)?$/, // the CLI's bench harness, for bench/*.mjs (not in "exports")
  /^native\/[\w./-]+\.(cc|cpp|cu|h|hpp|cuh|cmake|txt)$/,
  /^proto\/[\w-]+\.proto$/,
  // linux-x64 is required (below); linux-arm64 (cross-built: prebuild.mjs --arch arm64) ships when present
  /^prebuilds\/linux-(x64|arm64)\/tensorrt-node(\.trt\d+)?\.(napi\.node|json)$/,
];
// Named explicitly so that a violation says what went wrong (all are also outside ALLOWED).
const FORBIDDEN = [
  [/^fixtures\//, 'test fixtures'],
  [/^bench\//, 'benchmark code or results'],
  [/^test\//, 'tests'],
  [/^build(-[\w]+)?\//, 'a cmake build tree'],
  [/^\.cache\//, 'the toolchain cache'],
  [/^node_modules\//, 'node_modules'],
  [/^lib\//, 'TypeScript sources (dist/ is what runs)'],
  [/^examples\//, 'example models'],
  [/^docs\//, 'docs (published on the repository)'],
  [/(^|\/)\.(env|npmrc|venv)/, 'local configuration'],
  [/\.(plan|engine|onnx|log|whl|jar|so(\.\d+)*)$/, 'a model, log or third-party binary'],
];
const REQUIRED = [
  'package.json',
  'README.md',
  'CHANGELOG.md',
  'dist/index.js',
  'dist/index.cjs',
  'dist/index.d.ts',
  'dist/index.d.cts',
  'dist/server.js',
  'dist/server.cjs',
  'dist/server.d.ts',
  'dist/server.d.cts',
  'dist/ndarray-view.d.ts',
  'dist/ndarray-view.d.cts',
  'dist/cli/main.js',
  'dist/server/grpc-worker.js',
  'dist/server/grpc-worker.cjs',
  'proto/grpc_service.proto',
  'proto/model_config.proto',
  'CMakeLists.txt',
  'native/src/addon.cc',
  'scripts/build-native.mjs',
  'scripts/toolchain.mjs',
  ...(needPrebuild ? ['prebuilds/linux-x64/tensorrt-node.napi.node', 'prebuilds/linux-x64/tensorrt-node.json'] : []),
];

const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
if (r.status !== 0) {
  console.error(`pack-check: npm pack --dry-run failed (exit ${r.status ?? r.error?.message}):\n${r.stderr}`);
  process.exit(1);
}
const pack = JSON.parse(r.stdout)[0];
const files = pack.files.map((f) => f.path);
const violations = [];
for (const f of files) {
  const why = FORBIDDEN.find(([re]) => re.test(f));
  if (why) violations.push(`forbidden: ${f} (${why[1]})`);
  else if (!ALLOWED.some((re) => re.test(f))) violations.push(`unexpected: ${f} (not in the allowed list of scripts/pack-check.mjs)`);
}
for (const f of REQUIRED) if (!files.includes(f)) violations.push(`missing: ${f}`);
if (pack.size > MAX_TARBALL_BYTES) violations.push(`tarball is ${pack.size} bytes, over the ${MAX_TARBALL_BYTES}-byte limit`);
if (pack.unpackedSize > MAX_UNPACKED_BYTES) violations.push(`unpacked size is ${pack.unpackedSize} bytes, over the ${MAX_UNPACKED_BYTES}-byte limit`);

const mib = (n) => `${(n / 2 ** 20).toFixed(2)} MiB`;
if (json) {
  console.log(JSON.stringify({ filename: pack.filename, size: pack.size, unpackedSize: pack.unpackedSize, entryCount: pack.entryCount, files, violations }, null, 2));
} else {
  const groups = {};
  for (const f of pack.files) {
    const g = f.path.includes('/') ? `${f.path.split('/')[0]}/` : f.path;
    groups[g] = (groups[g] ?? 0) + f.size;
  }
  for (const [g, n] of Object.entries(groups)) console.log(`  ${g.padEnd(26)} ${mib(n)} unpacked`);
  console.log(`pack-check: ${pack.filename}: ${pack.entryCount} files, tarball ${pack.size} bytes (${mib(pack.size)}), unpacked ${mib(pack.unpackedSize)}`);
  for (const v of violations) console.error(`pack-check: ${v}`);
  if (!violations.length) console.log('pack-check: ok');
}
process.exit(violations.length ? 1 : 0);
