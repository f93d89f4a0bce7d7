/**
 * The cross-built linux-arm64 prebuilds, for TensorRT 10 and 11 (scripts/prebuild.mjs --arch arm64
 * --tensorrt N --out build-arm64/test/prebuilds: a test build, never into prebuilds/), checked on this
 * x86-64 machine by scripts/check-arm64-prebuild.mjs: the file (AArch64 ELF, links only glibc,
 * needs at most GLIBC_2.35) and the binary at work in an arm64 Node under qemu-aarch64 (it
 * loads through node-gyp-build, its versions match, CUDA and TensorRT requests give the typed
 * errors). Runs only where the cross toolchain and qemu are installed (bash
 * scripts/install-cross.sh); CI does not install them, so there it shows as skipped with why.
 * What the check fetches from the registries when the toolchain cache lacks it (the arm64 Node,
 * the aarch64 CUDA runtime, the headers) is fetched only where TRTNODE_NETWORK_TESTS=1; otherwise
 * the test is skipped naming what is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../consumer/harness.js';
// @ts-expect-error: a plain .mjs script without types
import { ARCHES, CACHE, PINS } from '../../scripts/toolchain.mjs';

const has = (cmd: string) => {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
};
const skipReason =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? `the arm64 prebuild is cross-compiled on linux-x64 only (this is ${process.platform}-${process.arch})`
    : !has('aarch64-linux-gnu-g++') || !existsSync('/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1')
      ? 'no aarch64 cross compiler (g++-aarch64-linux-gnu): bash scripts/install-cross.sh'
      : !has('qemu-aarch64')
        ? 'no qemu-aarch64 (qemu-user): bash scripts/install-cross.sh'
        : !existsSync(join(ROOT, 'dist', 'index.cjs'))
          ? 'not built: dist/index.cjs missing (run npm run build)'
          : undefined;

/** What the check for TensorRT `major` would download (npm, PyPI, crates) because the toolchain cache lacks it. */
function notCached(major: 10 | 11): string[] {
  const out: string[] = [];
  const nodeArm64 = PINS.nodeArm64 as { package: string; version: string };
  if (!existsSync(join(CACHE, `${nodeArm64.package}-${nodeArm64.version}`, 'package', 'bin', 'node'))) out.push(`the arm64 Node (npm ${nodeArm64.package}@${nodeArm64.version})`);
  const cuda = PINS.cuda[12] as { version: string; pkg: string; runtime: string };
  if (!process.env.CUDA_PATH && !existsSync(join(CACHE, `cuda-${cuda.version}-${ARCHES.arm64.wheelTag}`, 'nvidia', cuda.pkg, 'lib', 'libcudart_static.a'))) {
    out.push(`the aarch64 CUDA runtime (PyPI ${cuda.runtime})`);
  }
  const ci = PINS.ciHeaders[major] as { crate: string; version: string; dir: string };
  const headers = [join(CACHE, `tensorrt-${PINS.oldestHeaders[major]}`, 'include'), join(CACHE, `${ci.crate}-${ci.version}`, ci.dir)];
  if (!process.env.TENSORRT_INCLUDE_DIR && !process.env.TENSORRT_ROOT && !headers.some((d) => existsSync(join(d, 'NvInferRuntime.h')))) {
    out.push(`TensorRT ${major} headers (crates ${ci.crate}@${ci.version})`);
  }
  return out;
}
const fetchReason = (major: 10 | 11): string | undefined => {
  const missing = process.env.TRTNODE_NETWORK_TESTS === '1' ? [] : notCached(major);
  return missing.length ? `would fetch ${missing.join(', ')} from the registries; set TRTNODE_NETWORK_TESTS=1 to run it` : undefined;
};

interface Report {
  ok: boolean;
  missing?: string;
  error?: string;
  prebuild: { file: string; maxGlibc: string; needed: string[] };
  checks: { name: string; ok: boolean; detail?: string }[];
}

for (const major of [10, 11] as const) {
  const skip = skipReason ?? fetchReason(major);
  describe.skipIf(skip !== undefined)(
    `linux-arm64 prebuild for TensorRT ${major} under qemu-aarch64${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      let report: Report;
      it('prebuild.mjs --arch arm64 cross-builds it (outside prebuilds/) and the check script passes every check', () => {
        const published = join(ROOT, 'prebuilds', 'linux-arm64');
        const before = existsSync(published) ? readdirSync(published).map((f) => `${f}:${statSync(join(published, f)).mtimeMs}`) : [];
        // builds (cached in build-arm64[-trt11]/ after the first time), fetches the pinned arm64 Node, runs the checks
        const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'check-arm64-prebuild.mjs'), '--build', '--tensorrt', String(major), '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 280_000, maxBuffer: 16 * 2 ** 20 });
        report = JSON.parse(r.stdout) as Report;
        expect(report.missing, report.error).toBeUndefined();
        const failed = (report.checks ?? []).filter((c) => !c.ok);
        expect(failed, JSON.stringify(failed, null, 2)).toEqual([]);
        expect(report.checks.length).toBeGreaterThanOrEqual(18);
        expect(r.status).toBe(0);
        expect(report.prebuild.file).toBe(`build-arm64/test/prebuilds/linux-arm64/${major === 10 ? 'tensorrt-node.napi.node' : `tensorrt-node.trt${major}.napi.node`}`);
        const after = existsSync(published) ? readdirSync(published).map((f) => `${f}:${statSync(join(published, f)).mtimeMs}`) : [];
        expect(after).toEqual(before); // npm test never writes the published prebuilds
      }, 300_000);

      it('needs only glibc, at most GLIBC_2.35 (JetPack 6 / Ubuntu 22.04)', () => {
        expect(report.prebuild.needed).toEqual(['libc.so.6']);
        const m = /^GLIBC_2\.(\d+)$/.exec(report.prebuild.maxGlibc);
        expect(m, report.prebuild.maxGlibc).not.toBeNull();
        expect(Number(m?.[1])).toBeLessThanOrEqual(35);
      });

      it('under qemu: CUDA and TensorRT requests end in typed errors, directly and through dist/index.cjs', () => {
        const byName = (s: string) => report.checks.find((c) => c.name.startsWith(s));
        for (const s of ['cudaInfo:', 'deviceBuffer:', 'hostBuffer:', 'stream:', 'new Runtime({}) without TensorRT', 'through dist/index.cjs', "process.arch is 'arm64'", 'dist/index.cjs (TypeScript layer) loads']) {
          expect(byName(s)?.ok, s).toBe(true);
        }
      });
    },
  );
}
