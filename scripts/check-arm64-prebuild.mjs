#!/usr/bin/env node
// Checks the cross-built linux-arm64 prebuild on this x86-64 machine: the file itself (ELF
// machine, what it links, the newest glibc symbol version it needs), then the binary at work in
// a real arm64 Node under qemu-aarch64 (user-mode emulation with the cross toolchain's glibc):
// node-gyp-build picks prebuilds/linux-arm64/ and loads it, its version fields match the JSON
// sidecar, and on this GPU-less, TensorRT-less machine every CUDA or TensorRT request ends in
// the library's typed errors (ERR_CUDA_UNAVAILABLE, ERR_TRT_NOT_FOUND, ERR_INVALID_ARGUMENT),
// both from the addon directly and through dist/index.cjs (TensorRtError), never in a crash.
//
//   node scripts/check-arm64-prebuild.mjs [--build] [--tensorrt 10|11] [--dir DIR] [--json]
//     --build     run `node scripts/prebuild.mjs --arch arm64 --out DIR` first (a test build: DIR
//                 defaults to build-arm64/test/prebuilds, so prebuilds/ is never written)
//     --tensorrt  which prebuild (default 10: tensorrt-node.napi.node; 11: tensorrt-node.trt11.napi.node)
//     --dir       the prebuilds folder to check (default: prebuilds/, or the --build output)
//     --json      print the result as JSON (the test test/cpu/arm64-prebuild.test.ts reads it)
//
// Needs: the cross toolchain and qemu-aarch64 (bash scripts/install-cross.sh), the arm64 Node
// (fetched, pinned: node scripts/toolchain.mjs node-arm64), and dist/ (npm run build:ts) for the
// TypeScript-layer checks. Exits 0 when every check passes, 1 otherwise, 3 when a prerequisite
// is missing (nothing was checked).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CACHE, PINS, resolveToolchain } from './toolchain.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let major = 10;
let checkDir;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--tensorrt') major = Number(args[++i]);
  else if (a === '--dir') checkDir = resolve(args[++i] ?? '');
  else if (a !== '--build' && a !== '--json') {
    console.error(`check-arm64-prebuild: unknown argument '${a}' (options: --build, --tensorrt 10|11, --dir DIR, --json)`);
    process.exit(2);
  }
}
if (!(major in PINS.oldestHeaders)) {
  console.error(`check-arm64-prebuild: --tensorrt must be one of ${Object.keys(PINS.oldestHeaders).join(', ')}`);
  process.exit(2);
}
const json = args.includes('--json');
const SYSROOT = '/usr/aarch64-linux-gnu';
const GLIBC_TARGET = '2.35'; // JetPack 6 = Ubuntu 22.04; Grace servers run 22.04 or newer
const prebuildsRoot = checkDir ?? (args.includes('--build') ? join(root, 'build-arm64', 'test', 'prebuilds') : join(root, 'prebuilds'));
const dir = join(prebuildsRoot, 'linux-arm64');
const names = { node: major === 10 ? 'tensorrt-node.napi.node' : `tensorrt-node.trt${major}.napi.node`, json: major === 10 ? 'tensorrt-node.json' : `tensorrt-node.trt${major}.json` };
const file = join(dir, names.node);

function missing(what, fix) {
  if (json) console.log(JSON.stringify({ ok: false, missing: what, fix }));
  else console.error(`check-arm64-prebuild: missing: ${what}\n  to fix: ${fix}`);
  process.exit(3);
}

const qemuV = spawnSync('qemu-aarch64', ['--version'], { encoding: 'utf8' });
if (qemuV.error || qemuV.status !== 0) missing('qemu-aarch64', 'bash scripts/install-cross.sh (Debian package qemu-user)');
if (!existsSync(join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1'))) missing(`the aarch64 glibc in ${SYSROOT}`, 'bash scripts/install-cross.sh (Debian g++-aarch64-linux-gnu brings libc6-arm64-cross)');
if (args.includes('--build')) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'prebuild.mjs'), '--arch', 'arm64', '--tensorrt', String(major), '--out', prebuildsRoot], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) {
    if (json) console.log(JSON.stringify({ ok: false, error: `prebuild.mjs --arch arm64 failed: ${r.stdout}${r.stderr}` }));
    else console.error(`check-arm64-prebuild: prebuild.mjs --arch arm64 failed:\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
}
if (!existsSync(file)) missing(file, `node scripts/prebuild.mjs --arch arm64 --tensorrt ${major} (or pass --build)`);
let node;
try {
  node = (await resolveToolchain(['node-arm64']))['node-arm64'].node;
} catch (e) {
  missing('the arm64 Node', `node scripts/toolchain.mjs node-arm64 (${e.message.split('\n')[0]})`);
}
const sidecar = JSON.parse(readFileSync(join(dir, names.json), 'utf8'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const checks = [];
const check = (name, ok, detail) => checks.push({ name, ok: Boolean(ok), detail: detail === undefined ? undefined : typeof detail === 'string' ? detail : JSON.stringify(detail) });

// ------------------------------------------------------------------ the file, read on the host
const bytes = readFileSync(file);
const eMachine = bytes.readUInt16LE(18);
check('ELF 64-bit little-endian shared object for AArch64 (e_machine 183)', bytes.subarray(0, 4).toString('latin1') === '\x7fELF' && bytes[4] === 2 && bytes[5] === 1 && eMachine === 183, `EI_CLASS ${bytes[4]}, EI_DATA ${bytes[5]}, e_machine ${eMachine}`);
const dyn = spawnSync('readelf', ['-d', '-W', file], { encoding: 'utf8' });
const syms = spawnSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' });
if (dyn.status !== 0 || syms.status !== 0) missing('readelf (binutils)', 'apt-get install binutils');
const needed = [...dyn.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
check('links only glibc (no libstdc++, libgcc_s, cudart or TensorRT library)', needed.every((n) => /^(libc|libm|libdl|libpthread|librt|ld-linux-aarch64)\.so/.test(n)), needed.join(' '));
const versions = [...new Set([...syms.stdout.matchAll(/@([A-Z]+_[\d.]+)/g)].map((m) => m[1]))];
const glibc = versions.filter((v) => v.startsWith('GLIBC_')).map((v) => v.slice(6)).sort((a, b) => {
  const [x, y] = [a, b].map((s) => s.split('.').map(Number));
  return x[0] - y[0] || (x[1] ?? 0) - (y[1] ?? 0) || (x[2] ?? 0) - (y[2] ?? 0);
});
const maxGlibc = glibc.at(-1);
const le = (a, b) => {
  const [x, y] = [a, b].map((s) => s.split('.').map(Number));
  return x[0] < y[0] || (x[0] === y[0] && (x[1] ?? 0) <= (y[1] ?? 0));
};
check(`newest glibc symbol version needed <= GLIBC_${GLIBC_TARGET} (JetPack 6 / Ubuntu 22.04)`, maxGlibc && le(maxGlibc, GLIBC_TARGET), `GLIBC_${maxGlibc}; all: ${glibc.map((v) => `GLIBC_${v}`).join(' ')}`);
check('no GLIBCXX_/CXXABI_/GCC_ symbol versions (libstdc++ and libgcc linked statically)', !versions.some((v) => /^(GLIBCXX|CXXABI|GCC)_/.test(v)), versions.filter((v) => !v.startsWith('GLIBC_')).join(' ') || 'none');
check('the JSON sidecar describes this file (arch, sha256, glibcRequired)', sidecar.arch === 'arm64' && sidecar.platform === 'linux' && sidecar.glibcRequired === maxGlibc &&
  sidecar.sha256 === (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex'), { arch: sidecar.arch, glibcRequired: sidecar.glibcRequired });

// ------------------------------------------------------------------ the binary at work, under qemu
// Runs in the arm64 Node; PREBUILDS_ONLY makes node-gyp-build (and tensorrt-node's loader) skip build/Release
// (this machine's x64 build). The TypeScript layer is pointed at the file checked with TRTNODE_ADDON.
const probe = `
const root = ${JSON.stringify(root)};
const file = ${JSON.stringify(file)};
const out = { arch: process.arch, node: process.version, napi: process.versions.napi };
const attempt = (f) => { try { const v = f(); return { ok: true, value: v === undefined ? null : v }; } catch (e) { return { code: e.code, name: e.name, message: String(e.message) }; } };
const gyp = require(require.resolve('node-gyp-build', { paths: [root] }));
out.resolved = ${major === 10} ? gyp.path(${JSON.stringify(dirname(prebuildsRoot))}) : file;
const b = require(file);
out.exports = Object.keys(b).sort();
out.addonVersion = b.addonVersion; out.headerVersion = b.headerVersion; out.napiVersion = b.napiVersion;
out.cudaInfo = attempt(() => b.cudaInfo());
out.deviceBuffer = attempt(() => { new b.DeviceBuffer(1024); });
out.hostBuffer = attempt(() => { new b.HostBuffer(1024); });
out.stream = attempt(() => { new b.Stream(); });
out.runtime = attempt(() => { new b.Runtime({}); });
out.runtimeLibc = attempt(() => { new b.Runtime({ libraryPath: ${JSON.stringify(join(SYSROOT, 'lib', 'libc.so.6'))} }); });
out.badFlavor = attempt(() => { new b.Runtime({ flavor: 'turbo' }); });
out.badSize = attempt(() => { new b.DeviceBuffer(-5); });
const x64Lean = ${JSON.stringify(join(CACHE, 'tensorrt-10.15.1.29-lean', 'tensorrt_lean_libs', 'libnvinfer_lean.so.10'))};
if (require('node:fs').existsSync(x64Lean)) out.x64Lean = attempt(() => { new b.Runtime({ flavor: 'lean', libraryPath: x64Lean }); });
const dist = require('node:path').join(root, 'dist', 'index.cjs');
if (require('node:fs').existsSync(dist)) {
  process.env.TRTNODE_ADDON = file;
  const t = require(dist);
  const typed = (f) => { try { f(); return { ok: true }; } catch (e) { return { isTensorRtError: e instanceof t.TensorRtError, code: e.code }; } };
  const mapped = () => [...new Set(require('node:fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.endsWith('.node')).map((l) => l.split(/\\s+/).pop()))];
  out.ts = { nativeAvailable: t.nativeAvailable(), runtime: typed(() => new t.Runtime()), cudaInfo: typed(() => t.cudaInfo()), deviceBuffer: typed(() => new t.DeviceBuffer(64)), loaded: mapped() };
}
process.stdout.write(JSON.stringify(out));
`;
const env = { ...process.env, PREBUILDS_ONLY: '1', TENSORRT_LIB_DIR: '/nonexistent/trt', LD_LIBRARY_PATH: '' };
for (const k of ['npm_config_arch', 'npm_config_platform', 'TENSORRT_NODE_PREBUILD', 'LIBC']) delete env[k]; // node-gyp-build's overrides
const t0 = Date.now();
const q = spawnSync('qemu-aarch64', ['-L', SYSROOT, node, '-e', probe], { cwd: root, env, encoding: 'utf8', timeout: 180_000 });
const seconds = (Date.now() - t0) / 1000;
let o;
try {
  o = JSON.parse(q.stdout);
} catch {
  o = undefined;
}
check('the arm64 Node runs under qemu-aarch64 and exits cleanly (no crash, no signal)', q.status === 0 && q.signal === null && o, `exit ${q.status}${q.signal ? ` signal ${q.signal}` : ''}, ${seconds.toFixed(1)} s${q.status !== 0 ? `: ${(q.stderr || q.error?.message || '').trim().slice(0, 2000)}` : ''}`);
if (o) {
  check("process.arch is 'arm64' (emulated, not the host's Node)", o.arch === 'arm64', `${o.arch}, Node ${o.node}, Node-API ${o.napi}`);
  check(major === 10 ? "node-gyp-build's own resolve() picks the TensorRT 10 prebuild of linux-arm64/" : `the TensorRT ${major} prebuild is ${names.node}`, o.resolved === file, o.resolved);
  check(`version fields match package.json and the JSON sidecar (addon ${pkg.version}, TensorRT headers ${sidecar.tensorrt.headerVersion}, Node-API 8)`,
    o.addonVersion === pkg.version && o.headerVersion === sidecar.tensorrt.headerVersion && o.headerVersion.startsWith(`${major}.`) && o.napiVersion === 8 && sidecar.addonVersion === pkg.version,
    { addonVersion: o.addonVersion, headerVersion: o.headerVersion, napiVersion: o.napiVersion });
  check('exports the same API as the x64 build (Runtime, Stream, DeviceBuffer, HostBuffer, cudaInfo, ...)', ['Runtime', 'Stream', 'DeviceBuffer', 'HostBuffer', 'cudaInfo', 'setErrorFactory', 'ExecutionContext'].every((k) => o.exports.includes(k)), o.exports.join(' '));
  for (const k of ['cudaInfo', 'deviceBuffer', 'hostBuffer', 'stream']) {
    check(`${k}: ERR_CUDA_UNAVAILABLE (no driver here)`, o[k].code === 'ERR_CUDA_UNAVAILABLE', o[k].message ?? o[k]);
  }
  check(`new Runtime({}) without TensorRT: ERR_TRT_NOT_FOUND naming TENSORRT_LIB_DIR/libnvinfer.so.${major} and the fix`,
    o.runtime.code === 'ERR_TRT_NOT_FOUND' && o.runtime.message.includes(`/nonexistent/trt/libnvinfer.so.${major}`) && o.runtime.message.includes(`libnvinfer_lean.so.${major}`) && /TENSORRT_LIB_DIR/.test(o.runtime.message),
    o.runtime.message?.split('\n')[0]);
  check("Runtime({ libraryPath: aarch64 libc.so.6 }): ERR_TRT_NOT_FOUND 'not a TensorRT runtime' (dlopen and dlsym work)", o.runtimeLibc.code === 'ERR_TRT_NOT_FOUND' && o.runtimeLibc.message.includes('not a TensorRT runtime'), o.runtimeLibc.message?.split('\n')[1]?.trim());
  if (o.x64Lean) check('Runtime({ libraryPath: the x86-64 lean runtime }): refused with ERR_TRT_NOT_FOUND, no crash', o.x64Lean.code === 'ERR_TRT_NOT_FOUND', o.x64Lean.message?.split('\n')[1]?.trim());
  check("argument validation: flavor 'turbo' and DeviceBuffer(-5) give ERR_INVALID_ARGUMENT", o.badFlavor.code === 'ERR_INVALID_ARGUMENT' && o.badSize.code === 'ERR_INVALID_ARGUMENT', `${o.badFlavor.message}; ${o.badSize.message}`);
  if (o.ts) {
    check('dist/index.cjs (TypeScript layer) loads the arm64 prebuild (TRTNODE_ADDON): nativeAvailable() is true, no other .node mapped', o.ts.nativeAvailable && o.ts.loaded.length === 1 && o.ts.loaded[0] === file, o.ts.loaded);
    check('through dist/index.cjs: new Runtime() → TensorRtError ERR_TRT_NOT_FOUND; cudaInfo(), new DeviceBuffer() → TensorRtError ERR_CUDA_UNAVAILABLE',
      o.ts.runtime.isTensorRtError && o.ts.runtime.code === 'ERR_TRT_NOT_FOUND' && o.ts.cudaInfo.isTensorRtError && o.ts.cudaInfo.code === 'ERR_CUDA_UNAVAILABLE' && o.ts.deviceBuffer.isTensorRtError && o.ts.deviceBuffer.code === 'ERR_CUDA_UNAVAILABLE',
      o.ts);
  } else {
    check('dist/index.cjs present for the TypeScript-layer checks (npm run build:ts)', false, 'dist/index.cjs missing');
  }
}

const ok = checks.every((c) => c.ok);
const env_ = {
  date: new Date().toISOString(),
  host: `${process.platform}-${process.arch}`,
  qemu: qemuV.stdout.split('\n')[0].trim(),
  node: `npm ${PINS.nodeArm64.package}@${PINS.nodeArm64.version}${o ? ` (${o.node})` : ''}`,
  sysroot: SYSROOT,
  prebuild: { file: file.slice(root.length + 1), bytes: bytes.length, sha256: sidecar.sha256, maxGlibc: `GLIBC_${maxGlibc}`, needed },
  qemuSeconds: seconds,
};
if (json) {
  console.log(JSON.stringify({ ok, ...env_, checks }, null, 2));
} else {
  console.log(`check-arm64-prebuild ${env_.date} on ${env_.host}`);
  console.log(`  ${env_.prebuild.file}: ${bytes.length} bytes, sha256 ${sidecar.sha256}`);
  console.log(`  built with ${sidecar.crossCompiled?.compiler ?? '?'}; ${sidecar.cuda?.cudartVersion ? `cudart ${sidecar.cuda.cudartVersion} (static)` : ''}; TensorRT headers ${sidecar.tensorrt.headerVersion}`);
  console.log(`  run by ${env_.node} under ${env_.qemu}, -L ${SYSROOT}`);
  for (const c of checks) console.log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}${c.detail ? `\n        ${c.detail}` : ''}`);
  console.log(`${checks.filter((c) => c.ok).length} passed, ${checks.filter((c) => !c.ok).length} failed`);
}
process.exit(ok ? 0 : 1);
