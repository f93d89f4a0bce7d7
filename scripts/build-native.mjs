#!/usr/bin/env node
// Builds the native addon with cmake-js: finds TensorRT and CUDA headers and the static cudart
// (environment first, else scripts/toolchain.mjs fetches them from the registries), then
// compiles build/Release/tensorrt_node.node, which node-gyp-build loads.
//   node scripts/build-native.mjs [--debug] [--sanitize]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveToolchain } from './toolchain.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

let tc;
try {
  tc = await resolveToolchain(['headers', 'cuda'], { headersFrom: process.env.TENSORRT_HEADERS_FROM });
} catch (e) {
  console.error(`build-native: ${e.message}`);
  process.exit(1);
}
console.log(`build-native: TensorRT headers from ${tc.headers.source}\nbuild-native: CUDA from ${tc.cuda.source}`);
const napiInclude = require('node-addon-api').include_dir ?? require('node-addon-api').include.replace(/"/g, '');
const defs = {
  TENSORRT_INCLUDE_DIR: tc.headers.include,
  CUDA_INCLUDE_DIR: tc.cuda.include,
  CUDART_STATIC: tc.cuda.cudartStatic,
  NODE_ADDON_API_DIR: resolve(root, napiInclude),
  TRTNODE_ADDON_VERSION: pkg.version,
  TRTNODE_SANITIZE: args.includes('--sanitize') ? 'ON' : 'OFF',
};
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
// A sanitizer build goes to its own folder (build-asan/) so it never replaces the normal binary.
const sanitize = args.includes('--sanitize');
const cmd = [cmakeJs, sanitize ? 'rebuild' : 'compile', '--directory', root, ...(sanitize ? ['--out', 'build-asan', '--debug'] : []), ...(args.includes('--debug') ? ['--debug'] : []), ...Object.entries(defs).map(([k, v]) => `--CD${k}=${v}`)];
const r = spawnSync(process.execPath, cmd, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
