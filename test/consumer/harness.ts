/**
 * Shared by test/cpu/package-install.test.ts and test/cpu/package-types.test.ts: packs this
 * repository with `npm pack` and installs the tarball into an empty project in a temporary
 * folder, the way a user gets tensorrt-node from the registry.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CONSUMER = join(ROOT, 'test', 'consumer');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string> };

/** Why the package cannot be tested here, or undefined when dist/ and a built addon exist. */
export function missingBuild(): string | undefined {
  const missing = ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'build/Release/tensorrt_node.node'].filter((f) => !existsSync(join(ROOT, f)));
  return missing.length ? `not built: ${missing.join(', ')} missing (run npm run build)` : undefined;
}

/**
 * Why installing the tarball cannot be tested here, or undefined: `npm install` fetches the
 * package's dependencies from the npm registry, and tests that reach the network run only where
 * TRTNODE_NETWORK_TESTS=1 (.ci/run sets it).
 */
export function networkNotAllowed(): string | undefined {
  return process.env.TRTNODE_NETWORK_TESTS === '1' ? undefined : 'npm install fetches the dependencies from the npm registry; set TRTNODE_NETWORK_TESTS=1 to run it';
}

/** Programs that would mean a compile; in the test they exist only as traps on PATH. */
const COMPILERS = ['cc', 'gcc', 'g++', 'c++', 'clang', 'clang++', 'cmake', 'make', 'ninja', 'node-gyp', 'cmake-js'];

export interface Workspace {
  /** temporary folder holding everything below */
  dir: string;
  /** the empty consumer project, with tensorrt-node installed from the tarball */
  app: string;
  tarball: string;
  /** node_modules/tensorrt-node inside app */
  installed: string;
  /** environment for every command run in app: compiler traps first on PATH, no npm_* leftovers */
  env: NodeJS.ProcessEnv;
  /** file the traps append to when anything calls a compiler */
  trapLog: string;
  /** seconds taken by npm pack and npm install */
  timings: { pack: number; install: number };
  /** what npm install printed on stderr (its warnings) */
  installLog: string;
  cleanup(): void;
}

export function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 2 ** 20 });
}

export function describeFailure(r: SpawnSyncReturns<string>): string {
  return `exit ${r.status ?? r.signal ?? r.error?.message}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/**
 * The environment of a user's shell: the parent `npm test` leaves npm_* variables (package
 * paths, lifecycle, config) that would point npm at this repository; only npm settings a user
 * would have (cache, registry, proxies) are kept.
 */
function userEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const keep = /^npm_config_(cache|registry|proxy|https_proxy|noproxy|strict_ssl|cafile|userconfig)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) || keep.test(k)) env[k] = v;
  delete env.TENSORRT_NODE_PREBUILD; // node-gyp-build's override of where the binary comes from
  delete env.PREBUILDS_ONLY;
  delete env.INIT_CWD;
  // a user has none of these: installing tensorrt-node must not need them (.ci/run sets the first)
  delete env.ONNXRUNTIME_NODE_INSTALL;
  delete env.ONNXRUNTIME_NODE_INSTALL_CUDA;
  return { ...env, ...extra };
}

/**
 * npm pack this repository (as it is now: run scripts/prebuild.mjs first to include the
 * prebuilt addon) into a temporary folder and npm install the tarball, plus `extra` packages,
 * into an empty project there, with compiler traps on PATH. A plain `npm install`: install
 * scripts run (tensorrt-node has none; its dependencies' are what they are) and no environment
 * variable is set for it; `ignoreScripts` adds --ignore-scripts.
 */
/**
 * A copy of what the package publishes (package.json and its `files`), with the prebuilt addons
 * of `prebuilds` instead of this repository's prebuilds/: tests pack from it, so that `npm test`
 * never writes into prebuilds/. The caller removes the folder.
 */
export function stagePackage(prebuilds: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'trtnode-package-'));
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  for (const f of manifest.files) {
    const name = f.replace(/\/$/, '');
    if (name === 'prebuilds') continue;
    if (existsSync(join(ROOT, name))) cpSync(join(ROOT, name), join(dir, name), { recursive: true });
  }
  if (existsSync(join(ROOT, 'LICENSE'))) cpSync(join(ROOT, 'LICENSE'), join(dir, 'LICENSE'));
  cpSync(prebuilds, join(dir, 'prebuilds'), { recursive: true });
  return dir;
}

export function packAndInstall(label: string, extra: string[] = [], options: { ignoreScripts?: boolean; from?: string } = {}): Workspace {
  const dir = mkdtempSync(join(tmpdir(), `trtnode-${label}-`));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const traps = join(dir, 'compiler-traps');
    const trapLog = join(dir, 'compiler-calls.log');
    mkdirSync(traps);
    for (const c of COMPILERS) {
      writeFileSync(join(traps, c), `#!/bin/sh\necho "${c} $*" >> '${trapLog}'\nexit 1\n`);
      chmodSync(join(traps, c), 0o755);
    }
    const env = userEnv({ PATH: `${traps}${delimiter}${process.env.PATH ?? ''}` });

    let t0 = Date.now();
    const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: options.from ?? ROOT, env: userEnv({}) });
    if (packed.status !== 0) throw new Error(`npm pack failed: ${describeFailure(packed)}`);
    const tarball = join(dir, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
    const pack = (Date.now() - t0) / 1000;

    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'tensorrt-node-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
    t0 = Date.now();
    // --prefer-offline: the dependencies come from npm's cache when `npm ci` already put them
    // there (CI), from the registry otherwise.
    const installed = npmInstall(app, env, [tarball, ...extra, ...(options.ignoreScripts ? ['--ignore-scripts'] : [])]);
    const install = (Date.now() - t0) / 1000;
    return { dir, app, tarball, installed: join(app, 'node_modules', 'tensorrt-node'), env, trapLog, timings: { pack, install }, installLog: installed.stderr, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** `npm install <args>` in `app`, as a user runs it (plus --prefer-offline, no audit or funding notices); throws on failure. */
export function npmInstall(app: string, env: NodeJS.ProcessEnv, args: string[]): SpawnSyncReturns<string> {
  const r = run('npm', ['install', ...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, env, timeoutMs: 170_000 });
  if (r.status !== 0) throw new Error(`npm install ${args.join(' ')} failed: ${describeFailure(r)}`);
  return r;
}

/** Bytes in a folder, recursively (files as stored, links not followed). */
export function folderBytes(dir: string): number {
  let n = 0;
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) n += folderBytes(p);
    else if (d.isFile()) n += statSync(p).size;
  }
  return n;
}

/** The exact version of a devDependency of this repository (e.g. @types/node), as `name@version`. */
export function devDependency(name: string): string {
  const v = pkg.devDependencies[name];
  if (!v) throw new Error(`${name} is not a devDependency`);
  return `${name}@${v}`;
}

/** Files of a folder, recursively, relative to it. */
export function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? listFiles(dir, join(prefix, d.name)) : [join(prefix, d.name)],
  );
}
