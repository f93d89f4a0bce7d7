/**
 * The TensorRT version a plan was built by, read from its header before TensorRT sees it
 * (lib/tensorrt/plan-header.ts), on the fixture plans (TensorRT 10.6.0.26, H100), and the typed
 * refusals that follow from it; a missing plan file is a missing file, not a TensorRT error.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TensorRtError } from '../../lib/errors.js';
import { assertPlanFile, checkPlanVersion, readPlanFileHeader, readPlanFileHeaderAsync, readPlanHeader, versionRefusal } from '../../lib/tensorrt/plan-header.js';

const FIXTURES = join(process.cwd(), 'fixtures', 'gpu');
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as { tensorrt_version: string; engines: Record<string, { plan: string; header_hex: string }> };
const committed = Object.entries(manifest.engines).filter(([name]) => !name.startsWith('resnet50')); // ResNet-50's plan is not in git

function refusal(f: () => unknown): TensorRtError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TensorRtError);
    return e as TensorRtError;
  }
  return expect.fail('no error');
}

describe('plan header', () => {
  it.each(committed)('%s: the header says TensorRT 10.6.0.26, as the manifest recorded', (_name, e) => {
    const first = readPlanFileHeader(join(FIXTURES, e.plan));
    expect(Buffer.from(first).toString('hex')).toBe(e.header_hex);
    const h = readPlanHeader(first);
    expect(h?.layout).toBe(0);
    expect(h?.version).toEqual({ major: 10, minor: 6, patch: 0, build: 26 });
    expect(`${h!.version!.major}.${h!.version!.minor}.${h!.version!.patch}`).toBe(manifest.tensorrt_version);
  });

  it('the same runtime version passes; a runtime older than the plan is refused up front, naming both versions', () => {
    const h = readPlanHeader(readFileSync(join(FIXTURES, 'engines', 'tiny.plan')))!;
    expect(() => checkPlanVersion(h, '10.6.0', '/opt/trt/libnvinfer.so.10')).not.toThrow();
    expect(() => checkPlanVersion(h, '10.6.1', '/opt/trt/libnvinfer.so.10')).not.toThrow(); // older plan: TensorRT decides
    expect(() => checkPlanVersion(h, '11.2.1', '/opt/trt/libnvinfer.so.11')).not.toThrow(); // may be version-compatible
    const e = refusal(() => checkPlanVersion(h, '10.3.0', '/jetson/libnvinfer.so.10', "plan file 'tiny.plan'"));
    expect(e.code).toBe('ERR_TRT_VERSION');
    expect(e.message).toContain('TensorRT 10.6.0.26');
    expect(e.message).toContain('TensorRT 10.3.0 runtime at /jetson/libnvinfer.so.10');
    expect(e.message).toContain("plan file 'tiny.plan'");
    expect(e.details).toEqual({ planVersion: '10.6.0.26', runtimeVersion: '10.3.0' });
  });

  it("TensorRT's refusal of an older plan is restated with both versions; a refusal at the same version is left as it was", () => {
    const h = readPlanHeader(readFileSync(join(FIXTURES, 'engines', 'classifier_fp16.plan')))!;
    const cause = new TensorRtError('ERR_TRT_VERSION', 'The engine plan file is not compatible with this version of TensorRT');
    const e = versionRefusal(h, '11.2.1', '/opt/trt11/libnvinfer.so.11', cause);
    expect(e?.code).toBe('ERR_TRT_VERSION');
    expect(e?.message).toContain('built by TensorRT 10.6.0.26');
    expect(e?.message).toContain('is TensorRT 11.2.1');
    expect(e?.message).toContain('TensorRT said: The engine plan file is not compatible');
    expect(e?.cause).toBe(cause);
    expect(versionRefusal(h, '10.6.0', '/x', cause)).toBeUndefined();
  });

  it('bytes that are not a plan, or too few, carry no header (TensorRT refuses them itself); an unknown header layout carries no version and no refusal', () => {
    expect(readPlanHeader(Buffer.from('PK\x03\x04 this is a zip file, not a plan....'))).toBeUndefined();
    expect(readPlanHeader(new Uint8Array(10))).toBeUndefined();
    expect(() => checkPlanVersion(undefined, '10.6.0', '/x')).not.toThrow();
    const other = Buffer.from(readFileSync(join(FIXTURES, 'engines', 'tiny.plan')).subarray(0, 32));
    other.writeUInt32LE(1, 4);
    const h = readPlanHeader(other);
    expect(h).toEqual({ layout: 1, version: undefined });
    expect(versionRefusal(h, '11.2.1', '/x', new Error('no'))).toBeUndefined();
    expect(() => checkPlanVersion(h, '10.0.0', '/x')).not.toThrow();
    // a view into a larger buffer reads from its own offset
    const big = new Uint8Array(64);
    big.set(readFileSync(join(FIXTURES, 'engines', 'tiny.plan')).subarray(0, 32), 16);
    expect(readPlanHeader(big.subarray(16))?.version?.minor).toBe(6);
  });
});

describe('plan files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trtnode-plan-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a missing file is ERR_INVALID_ARGUMENT naming the path (reason ENOENT), a folder EISDIR, sync and async', async () => {
    const missing = join(dir, 'missing.plan');
    const e = refusal(() => assertPlanFile(missing));
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).toBe(`plan file '${missing}' does not exist`);
    expect(e.details).toEqual({ path: missing, reason: 'ENOENT' });
    await expect(readPlanFileHeaderAsync(missing)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', details: { reason: 'ENOENT' } });
    expect(refusal(() => readPlanFileHeader(dir)).details).toEqual({ path: dir, reason: 'EISDIR' });
    await expect(readPlanFileHeaderAsync(dir)).rejects.toMatchObject({ details: { reason: 'EISDIR' } });
    expect((await readPlanFileHeaderAsync(join(FIXTURES, 'engines', 'tiny.plan'))).byteLength).toBe(32);
  });
});
