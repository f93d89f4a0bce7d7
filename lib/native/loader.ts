/**
 * Where the native addon and the TensorRT library come from, decided in one place.
 *
 * The package ships one prebuilt addon per TensorRT major (prebuilds/<platform>-<arch>/
 * tensorrt-node.napi.node for TensorRT 10, tensorrt-node.trt11.napi.node for 11; each major has
 * its own ABI and soname). Which one to load depends on which TensorRT is installed, so the
 * search for `libnvinfer.so.<major>` happens here, in JavaScript, before the addon is loaded,
 * and the file it finds is what the addon later dlopens (Runtime passes it as libraryPath): the
 * choice of binary and the choice of library come from the same list. The native search
 * (native/src/trt_library.cc) remains for callers that load the .node file directly.
 *
 * Searched, in order, each folder once:
 *   TENSORRT_LIB_DIR (a ':' list), TENSORRT_ROOT/lib (the tarball), LD_LIBRARY_PATH,
 *   pip installs (site-packages/tensorrt_libs, tensorrt_lean_libs, tensorrt_dispatch_libs of the
 *   active virtual or conda environment, the Pythons on PATH, pyenv's selected version, the user's
 *   and the system's site-packages; found by reading folders, without running Python),
 *   the folders /etc/ld.so.cache lists libnvinfer in, and the usual install folders
 *   (/usr/lib/<triple>: Debian packages, NGC containers, JetPack; /usr/local/tensorrt/lib,
 *   /opt/tensorrt/lib; /usr/lib64).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';

export type Flavor = 'full' | 'lean' | 'dispatch';
const FLAVORS: readonly Flavor[] = ['full', 'lean', 'dispatch'];
const STEM: Record<Flavor, string> = { full: 'libnvinfer', lean: 'libnvinfer_lean', dispatch: 'libnvinfer_dispatch' };
/** pip packages (NVIDIA's wheels) holding each flavor's library */
const PIP_PACKAGES: Record<Flavor, string> = { full: 'tensorrt_libs', lean: 'tensorrt_lean_libs', dispatch: 'tensorrt_dispatch_libs' };

/** The file name of a flavor's library for a TensorRT major: libnvinfer.so.10, libnvinfer_lean.so.11, ... */
export function soname(flavor: Flavor, major: number): string {
  return `${STEM[flavor]}.so.${major}`;
}

/** The TensorRT major a library file name says (libnvinfer*.so.N), if it says one. */
export function majorOfLibrary(path: string): number | undefined {
  const m = /libnvinfer(?:_lean|_dispatch)?\.so\.(\d+)/.exec(path);
  return m ? Number(m[1]) : undefined;
}

export interface SearchFolder {
  dir: string;
  /** why this folder is searched: 'TENSORRT_LIB_DIR', 'pip (tensorrt_libs)', ... */
  origin: string;
  /** the one flavor a pip package folder holds */
  only?: Flavor;
}

type Env = Record<string, string | undefined>;

function splitList(v: string | undefined): string[] {
  return (v ?? '').split(delimiter).filter((s) => s.length > 0);
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** prefix/lib/python3.X/{site,dist}-packages folders that exist. */
function sitePackagesUnder(prefix: string): string[] {
  const lib = join(prefix, 'lib');
  let names: string[];
  try {
    names = readdirSync(lib);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names.filter((x) => /^python3(\.\d+)?$/.test(x)).sort().reverse()) {
    for (const sp of ['site-packages', 'dist-packages']) if (isDir(join(lib, n, sp))) out.push(join(lib, n, sp));
  }
  return out;
}

/**
 * site-packages folders where pip may have put TensorRT, most specific first: the active virtual
 * and conda environments, the Python of each PATH folder (a venv's or conda's bin/), pyenv's
 * selected version, the user's site, then the system's. Folders only: no Python is run.
 */
export function pythonSitePackages(env: Env = process.env): string[] {
  const prefixes: string[] = [];
  if (env.VIRTUAL_ENV) prefixes.push(env.VIRTUAL_ENV);
  if (env.CONDA_PREFIX) prefixes.push(env.CONDA_PREFIX);
  for (const d of splitList(env.PATH)) {
    if (/\/bin\/?$/.test(d) && (existsSync(join(d, 'python3')) || existsSync(join(d, 'python')))) prefixes.push(dirname(d.replace(/\/$/, '')));
  }
  const pyenvRoot = env.PYENV_ROOT ?? join(env.HOME ?? homedir(), '.pyenv');
  let pyenvVersion = env.PYENV_VERSION;
  if (!pyenvVersion) {
    try {
      pyenvVersion = readFileSync(join(pyenvRoot, 'version'), 'utf8').split('\n')[0]?.trim();
    } catch {
      /* no pyenv */
    }
  }
  if (pyenvVersion) for (const v of pyenvVersion.split(':')) if (v && v !== 'system') prefixes.push(join(pyenvRoot, 'versions', v));
  prefixes.push(join(env.HOME ?? homedir(), '.local'), '/usr/local', '/usr');
  const out: string[] = [];
  for (const p of prefixes) for (const sp of sitePackagesUnder(p)) if (!out.includes(sp)) out.push(sp);
  // Debian's own Python keeps packages in /usr/lib/python3/dist-packages (no minor version)
  if (isDir('/usr/lib/python3/dist-packages') && !out.includes('/usr/lib/python3/dist-packages')) out.push('/usr/lib/python3/dist-packages');
  return out;
}

/** Folders /etc/ld.so.cache lists a libnvinfer*.so.N in (the dynamic loader's own list; read, not executed). */
export function ldCacheFolders(cacheFile = '/etc/ld.so.cache'): string[] {
  let text: string;
  try {
    text = readFileSync(cacheFile, 'latin1');
  } catch {
    return [];
  }
  const dirs: string[] = [];
  for (const m of text.matchAll(/(\/[\x21-\x7e]*)\/libnvinfer(?:_lean|_dispatch)?\.so\.\d+\0/g)) if (!dirs.includes(m[1]!)) dirs.push(m[1]!);
  return dirs;
}

const TRIPLE: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/** Every folder searched for a TensorRT library, in order, each once (see the file's comment). */
export function librarySearchFolders(env: Env = process.env, opts: { ldCache?: string; arch?: string } = {}): SearchFolder[] {
  const out: SearchFolder[] = [];
  const seen = new Set<string>();
  const add = (dir: string, origin: string, only?: Flavor) => {
    const key = resolve(dir);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(only ? { dir: key, origin, only } : { dir: key, origin });
  };
  for (const d of splitList(env.TENSORRT_LIB_DIR)) add(d, 'TENSORRT_LIB_DIR');
  if (env.TENSORRT_ROOT) for (const l of ['lib', 'lib64']) add(join(env.TENSORRT_ROOT, l), 'TENSORRT_ROOT');
  for (const d of splitList(env.LD_LIBRARY_PATH)) add(d, 'LD_LIBRARY_PATH');
  for (const sp of pythonSitePackages(env)) for (const f of FLAVORS) add(join(sp, PIP_PACKAGES[f]), `pip: ${PIP_PACKAGES[f]}`, f);
  for (const d of ldCacheFolders(opts.ldCache)) add(d, 'ld.so.cache');
  const triple = TRIPLE[opts.arch ?? process.arch];
  if (triple) add(`/usr/lib/${triple}`, 'system (Debian packages, NGC containers, JetPack)');
  add('/usr/local/tensorrt/lib', 'usual install folder');
  add('/opt/tensorrt/lib', 'usual install folder');
  add('/usr/lib64', 'system');
  return out;
}

export interface LibraryHit {
  path: string;
  major: number;
  flavor: Flavor;
  origin: string;
}

export interface LibrarySearch {
  /** files that exist, in search order (the first is the one to use) */
  hits: LibraryHit[];
  /** one line per folder with no match: "<folder>/<first name>, <other names>: <why> (<origin>)" */
  tried: string[];
  majors: number[];
  flavors: Flavor[];
}

/** Which flavors `flavor` means: 'auto' is full, then lean, then dispatch. */
export function flavorsOf(flavor: string): Flavor[] {
  return flavor === 'auto' ? [...FLAVORS] : FLAVORS.includes(flavor as Flavor) ? [flavor as Flavor] : [];
}

/**
 * Looks for the libraries of `flavor` ('auto' or one) and the given TensorRT majors in every
 * search folder. Within a folder, full before lean before dispatch, the newest major first.
 */
export function findTensorRtLibraries(flavor: string, majors: number[], env: Env = process.env, opts: { ldCache?: string; arch?: string } = {}): LibrarySearch {
  const flavors = flavorsOf(flavor);
  const order = [...new Set(majors)].sort((a, b) => b - a);
  const hits: LibraryHit[] = [];
  const tried: string[] = [];
  // a pip package folder holds one flavor: searched only when that flavor is asked for
  const folders = librarySearchFolders(env, opts).filter((f) => !f.only || flavors.includes(f.only));
  for (const f of flavors) {
    for (const { dir, origin, only } of folders) {
      if (only && only !== f) continue;
      for (const major of order) {
        const p = join(dir, soname(f, major));
        if (existsSync(p)) hits.push({ path: p, major, flavor: f, origin });
      }
    }
  }
  const pipAbsent = new Map<string, string[]>(); // site-packages -> its pip package folders, when none exists
  for (const { dir, origin, only } of folders) {
    if (hits.some((h) => dirname(h.path) === dir)) continue;
    const why = isDir(dir) ? 'not there' : 'no such folder';
    if (only && why === 'no such folder') {
      // a Python without TensorRT: one line for its site-packages, not one per pip package
      const sp = dirname(dir);
      pipAbsent.set(sp, [...(pipAbsent.get(sp) ?? []), PIP_PACKAGES[only]]);
      continue;
    }
    const names = (only ? [only] : flavors).flatMap((f) => order.map((m) => soname(f, m)));
    tried.push(`${join(dir, names[0]!)}${names.length > 1 ? `, ${names.slice(1).join(', ')}` : ''}: ${why} (${origin})`);
  }
  for (const [sp, pkgs] of pipAbsent) tried.push(`${sp}: no ${pkgs.join(', ')} (pip)`);
  return { hits, tried, majors: order, flavors };
}

/** The error text when no TensorRT library was found or none loaded: every place tried, once, and the fixes. */
export function notFoundMessage(flavor: string, search: LibrarySearch, failures: string[], env: Env = process.env): string {
  const lines = [...failures, ...search.tried];
  const majors = [...search.majors].sort((a, b) => a - b);
  const first = search.flavors[0] ?? 'full';
  const holding = majors.map((m) => `${soname(first, m)}${majors.length > 1 ? ` (TensorRT ${m})` : ''}`).join(' or ');
  const sites = pythonSitePackages(env);
  return (
    `TensorRT runtime not found (flavor '${flavor}'). Tried:\n${lines.map((l) => `  - ${l}`).join('\n')}\n` +
    `Install TensorRT ${majors.map((m) => `${m}.x`).join(' or ')} and set TENSORRT_LIB_DIR (or LD_LIBRARY_PATH) to the folder holding ${holding}, ` +
    'or pass { libraryPath }. ' +
    `Installed with pip into a Python not listed above${sites.length ? '' : ' (no site-packages was found)'}? Its folder is what ` +
    `\`python3 -c "import tensorrt_libs, os; print(os.path.dirname(tensorrt_libs.__file__))"\` prints: set TENSORRT_LIB_DIR to it.`
  );
}

// ------------------------------------------------------------------------------ the addon

export interface AddonChoice {
  file: string;
  /** the TensorRT major the binary was built for, when known before loading it */
  major: number | undefined;
  /** why this one: 'TRTNODE_ADDON', 'build/Release (built from source)', 'prebuild for TensorRT 11 (found ...)' */
  reason: string;
}

export interface PrebuildFile {
  file: string;
  major: number;
}

/** The prebuilt binaries in dir (prebuilds/<platform>-<arch>), with the TensorRT major each was built for. */
export function prebuildsIn(dir: string): PrebuildFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: PrebuildFile[] = [];
  for (const n of names) {
    const m = /^tensorrt-node(?:\.trt(\d+))?\.napi\.node$/.exec(n);
    if (!m) continue;
    let major = m[1] === undefined ? undefined : Number(m[1]);
    if (major === undefined) {
      // the untagged binary: its JSON says which headers built it
      try {
        const j = JSON.parse(readFileSync(join(dir, n.replace(/\.napi\.node$/, '.json')), 'utf8')) as { tensorrt?: { headerVersion?: string } };
        major = Number(String(j.tensorrt?.headerVersion ?? '10').split('.')[0]);
      } catch {
        major = 10;
      }
    }
    out.push({ file: join(dir, n), major });
  }
  return out.sort((a, b) => a.major - b.major);
}

/**
 * Which addon binary to load from the package at `root`: TRTNODE_ADDON (a file) first, then a
 * build from source (build/Release, unless PREBUILDS_ONLY is set, as node-gyp-build does), then
 * the prebuild for the TensorRT major that the library search finds first (libraryPath, when
 * the first Runtime names one, decides instead); without any TensorRT, the TensorRT 10 one.
 */
export function chooseAddon(root: string, env: Env = process.env, hint: { libraryPath?: string; flavor?: string } = {}): AddonChoice | { error: string } {
  // (an empty TRTNODE_ADDON counts as unset)
  if (env.TRTNODE_ADDON) {
    return existsSync(env.TRTNODE_ADDON) ? { file: resolve(env.TRTNODE_ADDON), major: undefined, reason: 'TRTNODE_ADDON' } : { error: `TRTNODE_ADDON=${env.TRTNODE_ADDON} does not exist` };
  }
  // node-gyp-build's override for this package (<PACKAGE_NAME>_PREBUILD), so that both pick the same binary
  const base = env.TENSORRT_NODE_PREBUILD ?? root;
  const built = join(base, 'build', 'Release', 'tensorrt_node.node');
  if (!env.PREBUILDS_ONLY && existsSync(built)) return { file: built, major: undefined, reason: 'build/Release (built from source)' };
  const dir = join(base, 'prebuilds', `${process.platform}-${process.arch}`);
  const pre = prebuildsIn(dir);
  if (pre.length === 0) return { error: `no build/Release/tensorrt_node.node and no prebuilt binary in ${dir}` };
  if (pre.length === 1) return { file: pre[0]!.file, major: pre[0]!.major, reason: `prebuild for TensorRT ${pre[0]!.major}` };
  const wanted = hint.libraryPath ? majorOfLibrary(hint.libraryPath) : undefined;
  if (wanted !== undefined) {
    const p = pre.find((x) => x.major === wanted);
    if (p) return { file: p.file, major: p.major, reason: `prebuild for TensorRT ${p.major} (libraryPath ${hint.libraryPath})` };
  }
  const found = findTensorRtLibraries(hint.flavor ?? 'auto', pre.map((p) => p.major), env).hits[0];
  if (found) {
    const p = pre.find((x) => x.major === found.major)!;
    return { file: p.file, major: p.major, reason: `prebuild for TensorRT ${p.major} (found ${found.path}, ${found.origin})` };
  }
  const dflt = pre.find((p) => p.major === 10) ?? pre[0]!;
  return { file: dflt.file, major: dflt.major, reason: `prebuild for TensorRT ${dflt.major} (no TensorRT library found yet)` };
}
