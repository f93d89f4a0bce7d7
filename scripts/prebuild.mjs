#!/usr/bin/env node
// Builds the native addon and stores it where node-gyp-build looks for a prebuilt binary, so
// that `npm install tensorrt-node` needs no compiler:
//
//   prebuilds/linux-x64/tensorrt-node.napi.node   the addon (debug symbols stripped)
//   prebuilds/linux-x64/tensorrt-node.json        what it was built against and what it accepts
//
//   node scripts/prebuild.mjs [--skip-build] [--no-strip]     (npm run build:prebuild)
//     --skip-build  reuse build/Release/tensorrt_node.node instead of running the build
//     --no-strip    copy the binary as built
//
// The npm script is `build:prebuild`, not `prebuild`: npm runs a script named `prebuild` as a
// hook before every `npm run build` (and so before `npm test`), which would make the build fail
// on every platform that has no prebuild.
//
// Naming (node_modules/node-gyp-build/node-gyp-build.js): node-gyp-build(root) takes
// build/Release/*.node first if present, else prebuilds/<platform>-<arch>/, where it splits a
// file name on '.', ignores unknown tags ('tensorrt-node'), and matches 'napi' against any Node
// ABI. So 'tensorrt-node.napi.node' loads on every Node >= 20 (Node-API 8) on linux-x64.
// No libc tag: the binary needs glibc; on musl it fails to load and tensorrt-node reports
// ERR_NATIVE_NOT_BUILT.
//
// Why not prebuildify: it drives node-gyp (binding.gyp), and this project has one build
// definition, CMakeLists.txt driven by cmake-js (scripts/build-native.mjs). prebuildify would
// need a second, parallel build definition; the layout it produces is all we need from it.
//
// linux-arm64: not done. The registry toolchain (scripts/toolchain.mjs) has x86-64 CUDA and
// TensorRT files only, and cross-compiling is out of scope; arm64 users build from source
// (`npm run build:native` with TENSORRT_ROOT and CUDA_PATH set).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PINS } from './toolchain.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
for (const a of args) {
  if (a !== '--skip-build' && a !== '--no-strip') {
    console.error(`prebuild: unknown argument '${a}' (options: --skip-build, --no-strip)`);
    process.exit(2);
  }
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`prebuild: only linux-x64 prebuilds are made (this is ${process.platform}-${process.arch}); build from source with npm run build:native`);
  process.exit(1);
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const built = join(root, 'build', 'Release', 'tensorrt_node.node');
if (!args.includes('--skip-build')) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs')], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    console.error(`prebuild: the native build failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}
if (!existsSync(built)) {
  console.error(`prebuild: ${built} does not exist; run without --skip-build`);
  process.exit(1);
}

// What the binary itself says (loading needs neither a GPU nor TensorRT).
const addon = require(built);
if (addon.addonVersion !== pkg.version) {
  console.error(`prebuild: the addon is version ${addon.addonVersion}, the package ${pkg.version}: rebuild (without --skip-build)`);
  process.exit(1);
}
const [major, minor] = String(addon.headerVersion).split('.').map(Number);

/** CUDART_VERSION of the headers the build used (from build/CMakeCache.txt), e.g. '13.0'. */
function cudartVersion() {
  try {
    const cache = readFileSync(join(root, 'build', 'CMakeCache.txt'), 'utf8');
    const inc = /^CUDA_INCLUDE_DIR:PATH=(.*)$/m.exec(cache)?.[1];
    const v = Number(/#define\s+CUDART_VERSION\s+(\d+)/.exec(readFileSync(join(inc, 'cuda_runtime_api.h'), 'utf8'))?.[1]);
    return Number.isFinite(v) && v > 0 ? `${Math.floor(v / 1000)}.${(v % 1000) / 10}` : 'unknown';
  } catch {
    return 'unknown';
  }
}

const dir = join(root, 'prebuilds', 'linux-x64');
mkdirSync(dir, { recursive: true });
const dest = join(dir, 'tensorrt-node.napi.node');
// Only one binary per folder: a stale one with a more specific name would win node-gyp-build's sort.
for (const f of readdirSync(dir)) if (f.endsWith('.node') && join(dir, f) !== dest) rmSync(join(dir, f));
// Written in build/ (same file system), then renamed into place: a concurrent reader (npm pack,
// a test) never sees half a file, a missing one, or the temporary file.
const tmp = join(root, 'build', `prebuild.${process.pid}.tmp`);
copyFileSync(built, tmp);
let stripped = false;
if (!args.includes('--no-strip')) {
  const s = spawnSync('strip', ['--strip-unneeded', tmp], { encoding: 'utf8' });
  stripped = s.status === 0;
  if (!stripped) console.warn(`prebuild: strip unavailable or failed (${(s.stderr || s.error?.message || '').trim()}); keeping symbols`);
}
renameSync(tmp, dest);
const bytes = readFileSync(dest);

const info = {
  name: pkg.name,
  addonVersion: addon.addonVersion,
  platform: 'linux',
  arch: 'x64',
  libc: 'glibc',
  napiVersion: addon.napiVersion,
  file: 'tensorrt-node.napi.node',
  sha256: createHash('sha256').update(bytes).digest('hex'),
  bytes: bytes.length,
  stripped,
  tensorrt: {
    // TensorRT keeps its ABI towards newer runtimes of the same major version only
    // (native/src/trt_library.cc refuses older minors with ERR_TRT_VERSION; patch is not compared).
    headerVersion: addon.headerVersion,
    accepts: `>=${major}.${minor}.0 <${major + 1}.0.0`,
    acceptsText: `TensorRT ${major}.x runtimes with minor >= ${minor} (libnvinfer.so.${major}, libnvinfer_lean.so.${major} or libnvinfer_dispatch.so.${major})`,
  },
  cuda: {
    // cudart is linked statically: loading needs nothing, running needs a driver of this CUDA version or newer.
    cudartVersion: cudartVersion(),
    needs: 'an NVIDIA driver supporting this CUDA version (checked at first use, ERR_CUDA_UNAVAILABLE otherwise)',
  },
  builtWith: { node: process.version },
};
writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`);
renameSync(tmp, join(dir, 'tensorrt-node.json'));

// Prove node-gyp-build picks it (PREBUILDS_ONLY skips build/Release, as in an installed package).
const probe = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(require.resolve('node-gyp-build'))}).resolve(${JSON.stringify(root)}))`], {
  encoding: 'utf8',
  env: { ...process.env, PREBUILDS_ONLY: '1', TENSORRT_NODE_PREBUILD: '' },
});
if (probe.status !== 0 || resolve(probe.stdout) !== dest) {
  console.error(`prebuild: node-gyp-build does not resolve the prebuild: got '${probe.stdout}' ${probe.stderr}`);
  process.exit(1);
}
console.log(`prebuild: ${dest.slice(root.length + 1)} (${(bytes.length / 2 ** 20).toFixed(2)} MiB${stripped ? ', stripped' : ''})`);
console.log(`prebuild: TensorRT headers ${addon.headerVersion}: accepts TensorRT ${info.tensorrt.accepts}`);
const pinnedMinor = Number(PINS.tensorrt.split('.')[1]);
if (minor > pinnedMinor) {
  console.log(`prebuild: note: built against ${addon.headerVersion} headers, newer than the pinned TensorRT ${PINS.tensorrt}, which it will refuse; ` +
    'for a release build with the exact headers: node scripts/toolchain.mjs headers --headers-from <NVIDIA/TensorRT git dir> (docs/toolchain.md)');
}
