/**
 * docs/environment.md lists every environment variable the code reads, and the variables that
 * moved to the TRTNODE_ prefix are still read under their old names (with a note on stderr).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { renamedEnv } from '../../scripts/toolchain.mjs';

const ROOT = resolve(__dirname, '../..');

/** Environment variable names read in one file, by the ways this repository reads them. */
function namesRead(file: string, text: string): string[] {
  const patterns: RegExp[] = [];
  if (/\.(ts|mjs|cjs|js)$/.test(file)) {
    patterns.push(/process\.env\.([A-Z][A-Z0-9_]*)/g, /process\.env\[['"]([A-Z][A-Z0-9_]*)['"]\]/g, /renamedEnv\('([A-Z0-9_]+)', '([A-Z0-9_]+)'/g);
    // the loader takes the environment as a parameter
    if (file.startsWith('lib/')) patterns.push(/\benv\.([A-Z][A-Z0-9_]*)/g);
  }
  if (/\.(cc|h)$/.test(file)) patterns.push(/getenv\("([A-Z][A-Z0-9_]*)"\)/g);
  if (/\.py$/.test(file)) patterns.push(/os\.environ\[["']([A-Z][A-Z0-9_]*)["']\]/g);
  // shell: a variable given a default (or required) is one the caller may set
  if (/\.sh$/.test(file) || file === '.ci/run') patterns.push(/\$\{([A-Z][A-Z0-9_]*):?[-=?+]/g);
  return patterns.flatMap((re) => [...text.matchAll(re)].flatMap((m) => m.slice(1).filter((x): x is string => x !== undefined)));
}

describe('environment variables', () => {
  it('docs/environment.md names every variable that lib/, native/, scripts/, tools/, bench/, test/ and .ci/ read', () => {
    const files = execFileSync('git', ['ls-files', 'lib', 'native', 'scripts', 'tools', 'bench', 'test', '.ci', 'vitest.config.ts', 'vitest.gpu.config.ts'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f && f !== 'test/cpu/environment.test.ts');
    const doc = readFileSync(join(ROOT, 'docs/environment.md'), 'utf8');
    const listed = new Set([...doc.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!));
    const read = new Map<string, string>();
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(join(ROOT, f), 'utf8');
      } catch {
        continue; // deleted in the work tree
      }
      for (const name of namesRead(f, text)) if (!read.has(name)) read.set(name, f);
    }
    expect(read.size).toBeGreaterThan(40);
    const missing = [...read].filter(([name]) => !listed.has(name)).map(([name, f]) => `${name} (${f})`);
    expect(missing).toEqual([]);
  });

  it('no variable of the old TENSORRT_NODE_ prefix is read, except node-gyp-build\'s own TENSORRT_NODE_PREBUILD', () => {
    const hits = execFileSync('git', ['grep', '-ho', 'TENSORRT_NODE_[A-Z_]*', '--', 'lib', 'native', 'scripts', 'tools', 'bench', 'test', '.ci', 'docs', 'README.md', ':!test/cpu/environment.test.ts'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    expect([...new Set(hits)]).toEqual(['TENSORRT_NODE_PREBUILD']);
  });

  it('a renamed variable: the new name wins; the old one is still read, with one note on stderr', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(renamedEnv('TRTNODE_X_NEW', 'TENSORRT_X_OLD', { TRTNODE_X_NEW: 'new', TENSORRT_X_OLD: 'old' })).toBe('new');
      expect(write).not.toHaveBeenCalled();
      expect(renamedEnv('TRTNODE_X_NEW', 'TENSORRT_X_OLD', {})).toBeUndefined();
      expect(write).not.toHaveBeenCalled();
      expect(renamedEnv('TRTNODE_X_NEW', 'TENSORRT_X_OLD', { TENSORRT_X_OLD: 'old' })).toBe('old');
      expect(renamedEnv('TRTNODE_X_NEW', 'TENSORRT_X_OLD', { TENSORRT_X_OLD: 'old' })).toBe('old');
      expect(write).toHaveBeenCalledTimes(1);
      expect(String(write.mock.calls[0]![0])).toMatch(/^tensorrt-node: TENSORRT_X_OLD is deprecated .*set TRTNODE_X_NEW instead\n$/);
    } finally {
      write.mockRestore();
    }
  });
});
