// Exercises the native addon's CPU-reachable paths (loader, argument validation, CUDA failures,
// error objects, stream creation failures, process exit) so that tools/reliability/asan.sh can
// run them under AddressSanitizer + UBSan. Exits 0 when every call behaved (typed error or success).
import { createRequire } from 'node:module';
const addon = process.argv[2];
const b = createRequire(import.meta.url)(addon);
b.setErrorFactory((code, message) => Object.assign(new Error(message), { code }));
let bad = 0;
const expectCode = (what, f, codes) => {
  try {
    f();
    if (!codes.includes('ok')) throw new Error('no error');
  } catch (e) {
    if (!codes.includes(e.code)) {
      bad++;
      console.log(`UNEXPECTED ${what}: ${e.code} ${e.message}`);
    }
  }
};
for (let round = 0; round < 200; round++) {
  expectCode('cudaInfo', () => b.cudaInfo(), ['ERR_CUDA_UNAVAILABLE', 'ok']);
  expectCode('DeviceBuffer', () => new b.DeviceBuffer(1024), ['ERR_CUDA_UNAVAILABLE', 'ok']);
  expectCode('DeviceBuffer -1', () => new b.DeviceBuffer(-1), ['ERR_INVALID_ARGUMENT']);
  expectCode('DeviceBuffer x', () => new b.DeviceBuffer('x'), ['ERR_INVALID_ARGUMENT']);
  expectCode('HostBuffer', () => new b.HostBuffer(4096), ['ERR_CUDA_UNAVAILABLE', 'ok']);
  expectCode('Stream', () => new b.Stream({}), ['ERR_CUDA_UNAVAILABLE', 'ok']);
  expectCode('Stream mode', () => new b.Stream({ waitMode: 'x' }), ['ERR_INVALID_ARGUMENT']);
  expectCode('Runtime none', () => new b.Runtime({ libraryPath: '/nonexistent/libnvinfer.so.10' }), ['ERR_TRT_NOT_FOUND']);
  expectCode('Runtime libc', () => new b.Runtime({ libraryPath: '/lib/x86_64-linux-gnu/libc.so.6' }), ['ERR_TRT_NOT_FOUND']);
  expectCode('Runtime flavor', () => new b.Runtime({ flavor: 'x' }), ['ERR_INVALID_ARGUMENT']);
  expectCode('Runtime auto', () => new b.Runtime({}), ['ERR_TRT_NOT_FOUND', 'ERR_CUDA_UNAVAILABLE', 'ERR_TRT_VERSION']);
  if (process.env.TRTNODE_LEAN_LIB) expectCode('Runtime lean', () => new b.Runtime({ libraryPath: process.env.TRTNODE_LEAN_LIB }), ['ERR_CUDA_UNAVAILABLE', 'ERR_TRT_VERSION']);
  expectCode('Engine direct', () => new b.Engine(), ['ERR_INVALID_ARGUMENT']);
  expectCode('Context bad args', () => new b.ExecutionContext({}, {}), ['ERR_INVALID_ARGUMENT']);
}
console.log(`asan-native: ${bad === 0 ? 'all calls behaved' : `${bad} unexpected results`}`);
process.exit(bad === 0 ? 0 : 1);
