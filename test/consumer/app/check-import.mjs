// Run inside a project that installed the tensorrt-node tarball (test/cpu/package-install.test.ts):
// the import() entries, the dynamic-batching example on the ONNX Runtime CPU backend (with exact results),
// the gRPC server from tensorrt-node/server (its protos must resolve from dist/), and the TensorRT
// backend's error.
//   node check-import.mjs <affine.onnx> <scratch dir>
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamicBatcher, OnnxRuntimeBackend, Runtime, Tensor, TensorRtError, loadNative } from 'tensorrt-node';
import { startServer } from 'tensorrt-node/server';

const [model, scratch] = process.argv.slice(2);
const out = {};

// Dynamic batching on OnnxRuntimeBackend with the affine fixture (y = 2x + 1 on float32 [N,4],
// z = 3 * x_int on int32 [N,2]): exact results to compare.
const backend = new OnnxRuntimeBackend({ maxBatchSize: 32, intraOpNumThreads: 1 });
const instances = await Promise.all([0, 1].map(() => backend.createInstance(model)));
const batcher = new DynamicBatcher(instances, { maxBatchSize: 32, preferredBatchSize: [16, 32], maxQueueDelayMicroseconds: 500 });
const N = 64;
const requests = Array.from({ length: N }, (_, i) => ({
  x: new Tensor('float32', Float32Array.of(i, i / 4, -i, 0.5), [1, 4]),
  x_int: new Tensor('int32', Int32Array.of(i, -7 * i), [1, 2]),
}));
const results = await Promise.all(requests.map((r) => batcher.infer(r))); // many concurrent callers → batches
out.y = results.map((r) => Array.from(r.y.data));
out.z = results.map((r) => Array.from(r.z.data));
out.dims = results.map((r) => [r.y.dims, r.z.dims]);
const s = batcher.statistics();
out.stats = { success: s.success.count, inferenceCount: s.inferenceCount, executionCount: s.executionCount, batchSizes: s.batchStats.map((b) => b.batchSize) };
await batcher.close();
await Promise.all(instances.map((i) => i.dispose()));

// gRPC + HTTP from the installed package: one-model repository, free ports.
const repo = join(scratch, 'models');
mkdirSync(join(repo, 'affine', '1'), { recursive: true });
copyFileSync(model, join(repo, 'affine', '1', 'model.onnx'));
const server = await startServer({ modelRepository: repo, httpPort: 0, grpcPort: 0, metricsPort: false });
const res = await fetch(`http://127.0.0.1:${server.httpPort}/v2/models/affine/infer`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }, { name: 'x_int', datatype: 'INT32', shape: [1, 2], data: [5, 6] }] }),
});
out.server = { grpcPort: server.grpcPort, httpStatus: res.status, body: await res.json() };
await server.close();

out.headerVersion = loadNative().headerVersion;
out.loaded = [...new Set(readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith('.node')).map((l) => l.split(/\s+/).pop()))];
try {
  new Runtime().dispose();
  out.runtime = { created: true };
} catch (e) {
  out.runtime = { isTensorRtError: e instanceof TensorRtError, code: e.code, message: e.message };
}
process.stdout.write(JSON.stringify(out));
