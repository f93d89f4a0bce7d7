import { defineConfig } from 'vitest/config';

// `npm test`: everything that needs no GPU. GPU files are listed too, so that each of their
// tests shows up as skipped with its reason instead of vanishing.
export default defineConfig({
  test: {
    include: ['test/cpu/**/*.test.ts', 'test/gpu/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
