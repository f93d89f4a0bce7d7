#!/usr/bin/env node
// Builds the native addon with cmake-js: finds TensorRT and CUDA headers and the static cudart
// (environment first, else scripts/toolchain.mjs fetches them from the registries), then
// compiles build/Release/tensorrt_node.node, which node-gyp-build loads.
//   node scripts/build-native.mjs [--debug] [--sanitize] [--arch arm64]
//     --arch arm64  on linux-x64: cross-compile for linux-arm64 with Debian's aarch64 cross compiler
//                   (scripts/cmake/aarch64-linux-gnu.cmake) into build-arm64/Release/, never build/
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CACHE, resolveToolchain } from './toolchain.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const archAt = args.indexOf('--arch');
const arch = archAt >= 0 ? args[archAt + 1] : process.arch;
const crossBuild = arch !== process.arch;
if (crossBuild && !(arch === 'arm64' && process.arch === 'x64' && process.platform === 'linux')) {
  console.error(`build-native: cannot build for ${arch} on ${process.platform}-${process.arch} (cross builds: linux-x64 -> arm64 only)`);
  process.exit(2);
}
if (crossBuild && args.includes('--sanitize')) {
  console.error('build-native: --sanitize is for native builds only');
  process.exit(2);
}

let tc;
try {
  tc = await resolveToolchain(['headers', 'cuda', ...(crossBuild ? ['cross'] : [])], { headersFrom: process.env.TENSORRT_HEADERS_FROM, arch });
} catch (e) {
  console.error(`build-native: ${e.message}`);
  process.exit(1);
}
console.log(`build-native: TensorRT headers from ${tc.headers.source}\nbuild-native: CUDA from ${tc.cuda.source}`);
if (crossBuild) console.log(`build-native: cross-compiling for linux-${arch} with ${tc.cross.source}`);
// NvOnnxParser.h (for the plan builder): TENSORRT_PARSER_INCLUDE_DIR, else the toolchain cache's
// onnx-parser/include; a TensorRT install has it beside NvInfer.h and needs neither.
const parserInclude = process.env.TENSORRT_PARSER_INCLUDE_DIR || (existsSync(join(CACHE, 'onnx-parser', 'include', 'NvOnnxParser.h')) ? join(CACHE, 'onnx-parser', 'include') : '');
const napiInclude = require('node-addon-api').include_dir ?? require('node-addon-api').include.replace(/"/g, '');
const defs = {
  TENSORRT_INCLUDE_DIR: tc.headers.include,
  TENSORRT_PARSER_INCLUDE_DIR: parserInclude,
  CUDA_INCLUDE_DIR: tc.cuda.include,
  CUDART_STATIC: tc.cuda.cudartStatic,
  NODE_ADDON_API_DIR: resolve(root, napiInclude),
  TRTNODE_ADDON_VERSION: pkg.version,
  TRTNODE_SANITIZE: args.includes('--sanitize') ? 'ON' : 'OFF',
  ...(crossBuild ? { CMAKE_TOOLCHAIN_FILE: tc.cross.toolchainFile } : {}),
};
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
// A sanitizer build goes to its own folder (build-asan/) so it never replaces the normal binary.
// A cross build goes to build-<arch>/ (its CMake cache names the cross compiler; build/ keeps the native one).
const sanitize = args.includes('--sanitize');
const out = sanitize ? ['--out', 'build-asan', '--debug'] : crossBuild ? ['--out', `build-${arch}`, '--arch', arch] : [];
const cmd = [cmakeJs, sanitize ? 'rebuild' : 'compile', '--directory', root, ...out, ...(args.includes('--debug') ? ['--debug'] : []), ...Object.entries(defs).map(([k, v]) => `--CD${k}=${v}`)];
const r = spawnSync(process.execPath, cmd, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
