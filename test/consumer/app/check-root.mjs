// Run inside a project that installed the tensorrt-node tarball (test/cpu/package-install.test.ts),
// with `node --import ./record-loads.mjs check-root.mjs`: imports the root entry as a user does,
// `import { Session } from 'tensorrt-node'`, and prints how long that took and every file loaded.
const t0 = performance.now();
const { Session } = await import('tensorrt-node');
const importMs = performance.now() - t0;
await globalThis.__reportLoads({ importMs, session: typeof Session });
