import { defineConfig } from 'tsup';

// ESM and CJS builds of the public entry and the CLI, with .d.ts for both.
export default defineConfig({
  entry: { index: 'lib/index.ts', 'cli/main': 'lib/cli/main.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'lib/index.ts' } },
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  shims: true,
  splitting: false,
});
