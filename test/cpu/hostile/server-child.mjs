// The server under test in the hostile suite, in a process of its own: a crash (a signal, the heap
// running out) is then counted as one instead of taking the test runner down, and its memory is
// its own to measure. Started by harness.ts with fork(), the startServer() options as argv[2]
// (JSON); it runs the built package (dist/, which `npm test` builds first).
import { startServer } from '../../../dist/server.js';

const options = JSON.parse(process.argv[2]);
const logger = {
  info() {},
  warn: (m) => process.stderr.write(`warn: ${m}\n`),
  error: (m) => process.stderr.write(`error: ${m}\n`),
};

let server;
try {
  server = await startServer({ ...options, logger });
} catch (e) {
  process.send({ kind: 'failed', message: e instanceof Error ? e.message : String(e) });
  process.exit(1);
}
process.send({ kind: 'ready', httpPort: server.httpPort, grpcPort: server.grpcPort, sharedMemory: server.sharedMemory.enabled });

process.on('message', async (m) => {
  if (m.kind === 'memory') {
    if (m.gc && typeof globalThis.gc === 'function') {
      // the gRPC front-end threads' heaps too: a heap snapshot collects garbage first
      for (const w of server.grpcThreads()) {
        await new Promise((resolve) => w.getHeapSnapshot().then((snapshot) => snapshot.on('end', resolve).on('error', resolve).resume(), resolve));
      }
      // twice, with a turn between: the second collects what finalizers of the first released
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 50));
      globalThis.gc();
    }
    process.send({ kind: 'memory', id: m.id, ...process.memoryUsage() });
  } else if (m.kind === 'close') {
    await server.close();
    process.exit(0);
  }
});
