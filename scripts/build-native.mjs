#!/usr/bin/env node
// Builds the native addon with cmake-js: finds TensorRT and CUDA headers and the static cudart
// (environment first, else scripts/toolchain.mjs fetches them from the registries), then
// compiles <build dir>/Release/tensorrt_node.node.
//
//   node scripts/build-native.mjs [--tensorrt 10|11|10.6|...] [--cuda 12|13] [--arch arm64]
//                                 [--out DIR] [--debug] [--sanitize] [--parser]
//     --tensorrt  the TensorRT headers (default 10: its line's oldest, 10.3.0, when the toolchain
//                 cache has them, else the crates registry's compile-only 10.16 copy)
//     --cuda      the CUDA runtime linked statically (default 12: runs on CUDA 12 and 13 drivers)
//     --arch arm64  on linux-x64: cross-compile for linux-arm64 with Debian's aarch64 cross compiler
//                 (scripts/cmake/aarch64-linux-gnu.cmake)
//     --out DIR   the build folder. Default: build/ for this machine and TensorRT 10 (what the tests
//                 and a source install load), build-trt11/ for TensorRT 11, build-arm64[-trt11]/ for
//                 arm64, build-asan/ for --sanitize: one CMake cache per configuration
//     --parser    also pass NvOnnxParser.h's folder (toolchain.mjs parser) to CMake as TENSORRT_PARSER_INCLUDE_DIR
//                 (needs TRTNODE_ONNX_TENSORRT_FROM for 10.x headers before 10.16)
// TRTNODE_HEADERS_FROM=<NVIDIA/TensorRT git dir> extracts the exact headers when they are not cached;
// TRTNODE_PARSER_INCLUDE_DIR=<folder holding NvOnnxParser.h> names the parser's header. The old
// names TENSORRT_HEADERS_FROM and TENSORRT_PARSER_INCLUDE_DIR are read for one more release.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CACHE, renamedEnv, resolveToolchain } from './toolchain.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** The build folder a configuration uses unless --out says otherwise. */
export function defaultBuildDir({ arch = process.arch, major = 10, sanitize = false } = {}) {
  if (sanitize) return 'build-asan';
  return ['build', ...(arch !== process.arch ? [arch] : []), ...(major !== 10 ? [`trt${major}`] : [])].join('-');
}

function parseArgs(args) {
  const o = { arch: process.arch, tensorrt: '10', cuda: '12', debug: false, sanitize: false, parser: false, out: undefined };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      if (i + 1 >= args.length) usage(`${a} needs a value`);
      return args[++i];
    };
    if (a === '--arch') o.arch = value();
    else if (a === '--tensorrt') o.tensorrt = value();
    else if (a === '--cuda') o.cuda = value();
    else if (a === '--out') o.out = value();
    else if (a === '--debug') o.debug = true;
    else if (a === '--sanitize') o.sanitize = true;
    else if (a === '--parser') o.parser = true;
    else usage(`unknown argument '${a}'`);
  }
  return o;
}

function usage(why) {
  console.error(`build-native: ${why} (options: --tensorrt V, --cuda 12|13, --arch arm64, --out DIR, --debug, --sanitize, --parser)`);
  process.exit(2);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const crossBuild = o.arch !== process.arch;
  if (crossBuild && !(o.arch === 'arm64' && process.arch === 'x64' && process.platform === 'linux')) {
    console.error(`build-native: cannot build for ${o.arch} on ${process.platform}-${process.arch} (cross builds: linux-x64 -> arm64 only)`);
    process.exit(2);
  }
  if (crossBuild && o.sanitize) usage('--sanitize is for native builds only');

  let tc;
  try {
    tc = await resolveToolchain(['headers', 'cuda', ...(o.parser ? ['parser'] : []), ...(crossBuild ? ['cross'] : [])], {
      tensorrt: o.tensorrt,
      cuda: o.cuda,
      arch: o.arch,
      headersFrom: renamedEnv('TRTNODE_HEADERS_FROM', 'TENSORRT_HEADERS_FROM'),
      onnxTensorrtFrom: process.env.TRTNODE_ONNX_TENSORRT_FROM,
    });
  } catch (e) {
    console.error(`build-native: ${e.message}`);
    process.exit(1);
  }
  // NvOnnxParser.h, for the plan builder (native/src/builder.cc): beside the TensorRT headers where
  // they carry it; else TRTNODE_PARSER_INCLUDE_DIR, the toolchain's parser component (onnx/onnx-
  // tensorrt's header of the same line, --parser or TRTNODE_ONNX_TENSORRT_FROM), or one extracted
  // into the cache's onnx-parser/include. CMake stops with the reason when none is found.
  let parserInclude = '';
  if (!existsSync(join(tc.headers.include, 'NvOnnxParser.h'))) {
    parserInclude = renamedEnv('TRTNODE_PARSER_INCLUDE_DIR', 'TENSORRT_PARSER_INCLUDE_DIR') ?? '';
    if (!parserInclude && !tc.parser) {
      try {
        tc.parser = (await resolveToolchain(['parser'], { tensorrt: o.tensorrt, headersFrom: renamedEnv('TRTNODE_HEADERS_FROM', 'TENSORRT_HEADERS_FROM'), onnxTensorrtFrom: process.env.TRTNODE_ONNX_TENSORRT_FROM })).parser;
      } catch {
        const cached = join(CACHE, 'onnx-parser', 'include');
        if (existsSync(join(cached, 'NvOnnxParser.h'))) parserInclude = cached;
      }
    }
    if (!parserInclude && tc.parser) parserInclude = tc.parser.include;
  }
  const outDir = o.out ?? defaultBuildDir({ arch: o.arch, major: tc.headers.major, sanitize: o.sanitize });
  console.log(`build-native: TensorRT headers ${tc.headers.version} from ${tc.headers.source}\nbuild-native: CUDA from ${tc.cuda.source}\nbuild-native: into ${outDir}/`);
  if (parserInclude) console.log(`build-native: NvOnnxParser.h from ${tc.parser?.source ?? parserInclude}`);
  if (crossBuild) console.log(`build-native: cross-compiling for linux-${o.arch} with ${tc.cross.source}`);
  const napiInclude = require('node-addon-api').include_dir ?? require('node-addon-api').include.replace(/"/g, '');
  const defs = {
    TENSORRT_INCLUDE_DIR: tc.headers.include,
    CUDA_INCLUDE_DIR: (tc.cuda.includes ?? [tc.cuda.include]).join(';'),
    CUDART_STATIC: tc.cuda.cudartStatic,
    NODE_ADDON_API_DIR: resolve(root, napiInclude),
    TRTNODE_ADDON_VERSION: pkg.version,
    TRTNODE_SANITIZE: o.sanitize ? 'ON' : 'OFF',
    TENSORRT_PARSER_INCLUDE_DIR: parserInclude,
    ...(crossBuild ? { CMAKE_TOOLCHAIN_FILE: tc.cross.toolchainFile } : {}),
  };
  const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const common = ['--directory', root, '--out', outDir, ...(crossBuild ? ['--arch', o.arch] : []), ...(o.debug || o.sanitize ? ['--debug'] : [])];
  const defArgs = Object.entries(defs).map(([k, v]) => `--CD${k}=${v}`);
  const step = (args) => {
    const r = spawnSync(process.execPath, [cmakeJs, ...args], { stdio: 'inherit', cwd: root });
    if (r.status !== 0) process.exit(r.status ?? 1);
  };
  // `cmake-js compile` only builds a folder that is already configured, with its old cache: when
  // the headers, the CUDA runtime or any other input differs from what the cache holds, the
  // folder is configured again first (a sanitizer build always is: its flags reach every object).
  const stale = o.sanitize || staleInputs(join(root, outDir, 'CMakeCache.txt'), defs);
  if (stale.length && !o.sanitize) console.log(`build-native: configuring ${outDir}/ (${stale.join(', ')} changed)`);
  if (stale.length) step(['configure', ...common, ...defArgs]);
  step([stale.length ? 'build' : 'compile', ...common, ...defArgs]);
  process.exit(0);
}

/** The names of `defs` whose value differs from the CMake cache's (all of them when there is none). */
function staleInputs(cacheFile, defs) {
  if (!existsSync(cacheFile)) return ['no CMake cache'];
  const cache = readFileSync(cacheFile, 'utf8');
  return Object.entries(defs).filter(([k, v]) => (new RegExp(`^${k}:[A-Z]+=(.*)$`, 'm').exec(cache)?.[1] ?? '') !== String(v)).map(([k]) => k);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
