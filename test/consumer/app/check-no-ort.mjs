// Run inside a project that installed the tensorrt-node tarball without onnxruntime-node
// (test/cpu/package-install.test.ts): what a user of the CPU backend sees before installing it.
//   node check-no-ort.mjs <model.onnx>
import { OnnxRuntimeBackend, TensorRtError } from 'tensorrt-node';

const out = {};
try {
  await new OnnxRuntimeBackend().createInstance(process.argv[2]);
  out.created = true;
} catch (e) {
  out.error = { typed: e instanceof TensorRtError, code: e.code, message: e.message, details: e.details };
}
process.stdout.write(JSON.stringify(out));
