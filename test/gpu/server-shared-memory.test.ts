/**
 * The system shared-memory extension over a TensorRT model: regions are page-locked when a
 * TensorRT model is loaded, so a batch whose requests all sit in such regions is DMA'd to the
 * GPU straight from the client's shared memory. 32 concurrent HTTP requests, each reading its
 * image from one region and writing its logits into another, against the fixture references
 * (classifier_fp32, FP32 engine: relative error < 1e-3).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startServer, type RunningServer } from '../../lib/server/index.js';
import { GPU_READY, SKIP_REASON, plan, refCase, relError } from './helpers.js';

const ROWS = 32;
const IN_ROW = 3 * 32 * 32 * 4;
const OUT_ROW = 10 * 4;

describe.skipIf(!GPU_READY)(`system shared memory on TensorRT${SKIP_REASON}`, () => {
  let server: RunningServer;
  let dir: string;
  const key = `/trtn-gpu-test-${process.pid}`;
  let fd = -1;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'trtn-shm-gpu-'));
    mkdirSync(path.join(dir, 'classifier', '1'), { recursive: true });
    symlinkSync(plan('classifier_fp32'), path.join(dir, 'classifier', '1', 'model.plan'));
    writeFileSync(
      path.join(dir, 'classifier', 'config.pbtxt'),
      'name: "classifier"\nplatform: "tensorrt_plan"\nmax_batch_size: 32\ndynamic_batching { max_queue_delay_microseconds: 2000 }\ninstance_group [ { count: 2, kind: KIND_GPU } ]\n',
    );
    server = await startServer({ modelRepository: dir, httpPort: 0, grpcPort: false, metricsPort: false, logger: { info() {}, warn() {}, error() {} } });
    fd = openSync(`/dev/shm${key}`, 'w+');
    ftruncateSync(fd, ROWS * (IN_ROW + OUT_ROW));
  });

  afterAll(async () => {
    await server?.close();
    if (fd >= 0) {
      closeSync(fd);
      unlinkSync(`/dev/shm${key}`);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const post = async (p: string, body: unknown) => {
    const r = await fetch(`http://127.0.0.1:${server.httpPort}${p}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    return { status: r.status, text: await r.text() };
  };

  it('32 concurrent requests from and into page-locked regions, batched, equal the reference', async () => {
    const r = refCase('classifier_fp32', 'b32');
    const x = r.inputs.input!.data as Float32Array;
    writeSync(fd, new Uint8Array(x.buffer, x.byteOffset, x.byteLength), 0, x.byteLength, 0);
    expect((await post('/v2/systemsharedmemory/region/images/register', { key, offset: 0, byte_size: ROWS * IN_ROW })).status).toBe(200);
    expect((await post('/v2/systemsharedmemory/region/logits/register', { key, offset: ROWS * IN_ROW, byte_size: ROWS * OUT_ROW })).status).toBe(200);
    expect(server.sharedMemory.status().map((s) => [s.name, s.pinned])).toEqual([
      ['images', true],
      ['logits', true],
    ]);
    const answers = await Promise.all(
      Array.from({ length: ROWS }, (_, i) =>
        post('/v2/models/classifier/infer', {
          inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], parameters: { shared_memory_region: 'images', shared_memory_offset: i * IN_ROW, shared_memory_byte_size: IN_ROW } }],
          outputs: [{ name: 'logits', parameters: { shared_memory_region: 'logits', shared_memory_offset: i * OUT_ROW, shared_memory_byte_size: OUT_ROW } }],
        }),
      ),
    );
    for (const a of answers) expect(a.status, a.text).toBe(200);
    const out = Buffer.alloc(ROWS * OUT_ROW);
    readSync(fd, out, 0, out.length, ROWS * IN_ROW);
    const got = new Float32Array(out.buffer, out.byteOffset, ROWS * 10);
    const want = r.outputs.logits!.data as Float32Array;
    for (let i = 0; i < ROWS; i++) expect(relError(got.subarray(i * 10, i * 10 + 10), want.subarray(i * 10, i * 10 + 10)), `row ${i}`).toBeLessThan(1e-3);
    const stats = server.repository.statistics('classifier')[0]!.stats;
    expect(stats.executionCount).toBeLessThan(ROWS); // batched
    expect((await post('/v2/systemsharedmemory/unregister', {})).status).toBe(200);
  });
});
