import { defineConfig } from 'vitest/config';

// `npm run test:gpu`: the GPU host's suite. TRTNODE_REQUIRE_GPU makes a missing GPU a failure.
export default defineConfig({
  test: {
    include: ['test/gpu/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    env: { TRTNODE_REQUIRE_GPU: '1' },
    reporters: ['default', 'junit'],
    outputFile: { junit: process.env.TRTNODE_JUNIT ?? 'test-results/gpu-junit.xml' },
  },
});
