/**
 * scripts/prebuild.mjs on the build this machine has (build/: the release headers 10.3.0 where
 * the toolchain cache has them, CI's crates registry 10.16 copy otherwise): what it writes, what
 * --release and --verify refuse, and that a test build never replaces a release prebuild. Every
 * run writes into a temporary folder (--out), never into prebuilds/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = process.cwd();
const built = join(ROOT, 'build', 'Release', 'tensorrt_node.node');
const skip = process.platform !== 'linux' || process.arch !== 'x64' ? 'prebuilds are made on linux-x64' : !existsSync(built) ? 'not built: build/Release/tensorrt_node.node (npm run build:native)' : undefined;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const prebuild = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'scripts', 'prebuild.mjs'), '--skip-build', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

interface Info {
  release: boolean;
  releaseNote?: string;
  sha256: string;
  file: string;
  tensorrt: { major: number; headerVersion: string; accepts: string };
  cuda: { cudartVersion: string };
}

describe.skipIf(skip !== undefined)(`scripts/prebuild.mjs${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const top = mkdtempSync(join(tmpdir(), 'trtnode-prebuild-'));
  afterAll(() => rmSync(top, { recursive: true, force: true }));
  const headerVersion = (createRequire(import.meta.url)(built) as { headerVersion: string }).headerVersion;
  const isRelease = headerVersion === '10.3.0';

  it('--out writes the TensorRT 10 binary and its JSON there, release only against the exact 10.3.0 headers', () => {
    const r = prebuild(['--out', join(top, 'a')]);
    expect(r.status, r.stderr).toBe(0);
    const info = JSON.parse(readFileSync(join(top, 'a', 'linux-x64', 'tensorrt-node.json'), 'utf8')) as Info;
    expect(info.file).toBe('tensorrt-node.napi.node');
    expect(info.tensorrt).toMatchObject({ major: 10, headerVersion });
    expect(info.tensorrt.accepts).toBe(`>=10.${headerVersion.split('.')[1]}.0 <11.0.0`);
    expect(info.release).toBe(isRelease);
    if (!isRelease) expect(info.releaseNote).toContain('not exactly 10.3.0');
    expect(info.cuda.cudartVersion).toMatch(/^1[23]\.\d+$/);
    const v = prebuild(['--verify', '--out', join(top, 'a')]);
    expect(v.status, v.stderr).toBe(isRelease ? 0 : 1);
    if (!isRelease) expect(v.stderr).toContain('not a release build');
  });

  it('--release refuses any other headers than the line\'s oldest, saying how to get them', () => {
    const r = prebuild(['--release', '--out', join(top, 'c')]);
    if (isRelease) {
      expect(r.status, r.stderr).toBe(0);
    } else {
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('must be built against the exact 10.3.0 headers');
      expect(r.stderr).toContain('--headers-from');
      expect(existsSync(join(top, 'c', 'linux-x64', 'tensorrt-node.napi.node'))).toBe(false);
    }
  });

  it.skipIf(isRelease)('a test build never replaces a release prebuild (it is kept, and said so)', () => {
    const dir = join(top, 'b', 'linux-x64');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tensorrt-node.napi.node'), 'the release binary');
    const release = { release: true, addonVersion: pkg.version, tensorrt: { headerVersion: '10.3.0' }, sha256: 'x' };
    writeFileSync(join(dir, 'tensorrt-node.json'), JSON.stringify(release));
    const r = prebuild(['--out', join(top, 'b')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('kept the release prebuild');
    expect(readFileSync(join(dir, 'tensorrt-node.napi.node'), 'utf8')).toBe('the release binary');
    expect(JSON.parse(readFileSync(join(dir, 'tensorrt-node.json'), 'utf8'))).toEqual(release);
  });

  it('argument errors exit 2 with the options', () => {
    const r = prebuild(['--tensorrt', '12']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--tensorrt must be a major of 10, 11');
  });
});
