/**
 * `npm ci` prints no warning this project causes, read from what npm reads: no .npmrc key npm does
 * not know (it warns on every command), an allowScripts decision for every locked package that
 * has an install script (npm ≥ 11.16 lists the others after every install), and every locked
 * package's engines accepting the Node this runs on (EBADENGINE). Plus the dependency rules:
 * exact pins, no @types/* at run time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  allowScripts: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; hasInstallScript?: boolean; engines?: { node?: string } | string[]; optional?: boolean; os?: string[]; cpu?: string[] }>;
};
/** name of a lockfile entry: node_modules/a/node_modules/@s/b → @s/b */
const nameOf = (path: string) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
const installed = Object.entries(lock.packages).filter(([path, p]) => path !== '' && p.version !== undefined);
/** packages npm would actually install here (optional ones for other platforms are skipped) */
const forThisPlatform = installed.filter(([, p]) => (!p.os || p.os.includes(process.platform)) && (!p.cpu || p.cpu.includes(process.arch)));

describe('npm ci is quiet and deliberate', () => {
  it('no .npmrc with keys npm does not know (the onnxruntime-node-install key made npm warn on every command)', () => {
    if (existsSync(join(ROOT, '.npmrc'))) {
      const keys = readFileSync(join(ROOT, '.npmrc'), 'utf8').split('\n').filter((l) => l.trim() && !/^\s*[#;]/.test(l)).map((l) => l.split('=')[0]!.trim());
      expect(keys.filter((k) => k.includes('onnxruntime'))).toEqual([]);
    }
  });

  it('every locked package with an install script has an allowScripts decision; onnxruntime-node\'s download is denied', () => {
    const withScripts = forThisPlatform.filter(([, p]) => p.hasInstallScript).map(([path]) => nameOf(path));
    expect(withScripts.length).toBeGreaterThan(0);
    const decided = (name: string) => Object.keys(pkg.allowScripts).some((k) => k === name || k.startsWith(`${name}@`));
    expect([...new Set(withScripts)].filter((n) => !decided(n))).toEqual([]);
    // its install script fetches CUDA libraries from outside the registries; the CPU backend needs none
    expect(pkg.allowScripts['onnxruntime-node']).toBe(false);
  });

  it(`every locked package's engines accept Node ${process.version} (no EBADENGINE)`, () => {
    const bad = forThisPlatform.flatMap(([path, p]) => {
      const range = !Array.isArray(p.engines) ? p.engines?.node : undefined;
      return range && !semver.satisfies(process.version, range) ? [`${nameOf(path)}@${p.version} wants node ${range}`] : [];
    });
    expect(bad).toEqual([]);
    expect(semver.satisfies(process.version, pkg.engines.node)).toBe(true);
  });

  it('dependencies are pinned exactly, none is @types/*, and onnxruntime-node is not among them', () => {
    for (const [name, v] of [...Object.entries(pkg.dependencies), ...Object.entries(pkg.devDependencies)]) expect(semver.valid(v), `${name}@${v}`).not.toBeNull();
    expect(Object.keys(pkg.dependencies).filter((n) => n.startsWith('@types/'))).toEqual([]);
    expect(pkg.dependencies['onnxruntime-node']).toBeUndefined();
    expect(semver.satisfies(pkg.devDependencies['onnxruntime-node']!, pkg.peerDependencies['onnxruntime-node']!)).toBe(true);
  });
});
