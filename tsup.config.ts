import { defineConfig } from 'tsup';

// ESM and CJS builds of:
//   index            `tensorrt-node` (engines, sessions, tensors, batcher; no server code)
//   server           `tensorrt-node/server` (repository, HTTP, gRPC, metrics)
//   cli/main         the `tensorrt-node` command
//   server/grpc-worker  the gRPC front-end thread (started as a Worker by lib/server/grpc-front-ends.ts)
//   internal/bench   the bench harness for bench/*.mjs; not in package.json's "exports"
// with .d.ts for the two public entries.
//
// Code splitting is on for both formats: modules shared by several entries live in one chunk, so
// `tensorrt-node` and `tensorrt-node/server` share one TensorRtError class (instanceof works
// across them) and one copy of the batcher and the native loader, and the root entry pulls in
// only the chunks it needs.
//
// `tsup --env.TRTNODE_DTS off` skips the declarations (npm start: serving needs no .d.ts, and
// the declaration build is most of the build time).
export default defineConfig((cli) => ({
  entry: {
    index: 'lib/index.ts',
    server: 'lib/server-entry.ts',
    'cli/main': 'lib/cli/main.ts',
    'server/grpc-worker': 'lib/server/grpc-worker.ts',
    'internal/bench': 'lib/bench-internal.ts',
  },
  format: ['esm', 'cjs'],
  dts: cli.env?.TRTNODE_DTS === 'off' ? false : { entry: { index: 'lib/index.ts', server: 'lib/server-entry.ts' } },
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  shims: true,
  splitting: true,
}));
