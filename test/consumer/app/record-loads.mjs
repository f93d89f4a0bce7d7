// Preload (node --import ./record-loads.mjs): records every module the process loads, ES modules
// through a resolve hook on the loader thread and CommonJS ones through Module._load;
// globalThis.__reportLoads(extra) prints them as JSON with `extra`.
import Module from 'node:module';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';

const loaded = new Set();
const load = Module._load;
Module._load = function (request, parent, isMain) {
  try {
    loaded.add(Module._resolveFilename(request, parent, isMain));
  } catch {
    /* let Module._load report it */
  }
  return load.apply(this, arguments);
};
const hooks = `let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) { const r = await next(specifier, context); port.postMessage(r.url); return r; }`;
const { port1, port2 } = new MessageChannel();
port1.on('message', (url) => loaded.add(url.startsWith('file:') ? fileURLToPath(url) : url));
port1.unref();
Module.register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { port: port2 }, transferList: [port2] });
globalThis.__reportLoads = async (extra = {}) => {
  await new Promise((r) => setTimeout(r, 50)); // the loader thread's last messages
  process.stdout.write(JSON.stringify({ ...extra, loaded: [...loaded] }));
};
