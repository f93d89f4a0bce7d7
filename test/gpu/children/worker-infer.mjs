// Worker of test/gpu/lifetimes.test.ts: loads the addon in its own environment, runs a few
// inferences, checks them, and exits (its streams stop; the main thread's must not).
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

const { lib, plan, input, expected } = workerData;
const { Session, Tensor } = await import(pathToFileURL(lib).href);
const s = await Session.create(plan);
let worst = 0;
for (let i = 0; i < 5; i++) {
  const out = await s.run({ input: new Tensor('float32', new Float32Array(input), [1, 3, 32, 32]) });
  const y = out.logits.data;
  let num = 0;
  let den = 0;
  for (let k = 0; k < y.length; k++) {
    num += (y[k] - expected[k]) ** 2;
    den += expected[k] ** 2;
  }
  worst = Math.max(worst, Math.sqrt(num / den));
}
// half of the workers leave their session undisposed: the environment's cleanup must handle it
if (workerData.dispose) await s.dispose();
parentPort.postMessage({ worst });
