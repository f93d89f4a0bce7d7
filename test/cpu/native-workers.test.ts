/**
 * The addon in worker_threads (issue 20 item 2), as far as a machine without a GPU allows: 8
 * Workers load it at once and exit, 20 times, while the main thread keeps using its own copy of
 * the addon; every environment's cleanup runs on its own thread and touches only its own state.
 * (test/gpu/lifetimes.test.ts runs inference in the Workers and on the main thread.)
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { loadNative, nativeBinaryPath } from '../../lib/native/binding.js';
import { TensorRtError } from '../../lib/errors.js';
import { NATIVE_READY, NATIVE_SKIP_REASON } from './needs-native.js';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.path);
let code = 'none';
try { addon.cudaInfo(); } catch (e) { code = e.code; }
let streamCode = 'none';
try { new addon.Stream({}); streamCode = 'created'; } catch (e) { streamCode = e.code; }
parentPort.postMessage({ code, streamCode, version: addon.addonVersion });
`;

describe.skipIf(!NATIVE_READY)(`the native addon in worker_threads${NATIVE_SKIP_REASON}`, () => {
  it('160 Workers load the addon and exit while the main thread uses it: no crash, typed errors on both sides', async () => {
    const n = loadNative();
    const path = nativeBinaryPath();
    let mainCalls = 0;
    for (let round = 0; round < 20; round++) {
      const results = await Promise.all(
        Array.from(
          { length: 8 },
          () =>
            new Promise<{ code: string; streamCode: string; version: string }>((ok, fail) => {
              const w = new Worker(WORKER, { eval: true, workerData: { path } });
              let got: { code: string; streamCode: string; version: string } | undefined;
              w.on('message', (m) => (got = m));
              w.on('error', fail);
              w.on('exit', (code) => (code === 0 && got ? ok(got) : fail(new Error(`worker exited with ${code}`))));
            }),
        ),
      );
      for (const r of results) {
        expect(r.version).toBe(n.addonVersion);
        expect(typeof r.code).toBe('string');
      }
      // the main thread's addon still answers, with its own error factory (TensorRtError)
      try {
        n.cudaInfo();
      } catch (e) {
        expect(e).toBeInstanceOf(TensorRtError);
      }
      mainCalls++;
    }
    expect(mainCalls).toBe(20);
  });
});
