import { defineConfig } from 'tsup';

// ESM and CJS builds of the public entry, the CLI and the gRPC front-end thread's entry
// (started as a Worker by lib/server/grpc-front-ends.ts), with .d.ts for the public entry.
export default defineConfig({
  entry: { index: 'lib/index.ts', 'cli/main': 'lib/cli/main.ts', 'server/grpc-worker': 'lib/server/grpc-worker.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'lib/index.ts' } },
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  shims: true,
  splitting: false,
});
