/**
 * The library as the bench scripts use it: tensorrt-node's two public entries (the root and
 * /server) and its internal bench harness (dist/internal/bench.js, not exported by the package),
 * merged into one namespace. From this checkout's dist/ (npm run build:ts), or from the dist/
 * folder whose index.js TRTNODE_LIB names (an installed package on the GPU host).
 */
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export async function loadLibrary(indexPath = process.env.TRTNODE_LIB) {
  const index = indexPath ? resolve(indexPath) : join(ROOT, 'dist', 'index.js');
  const dir = dirname(index);
  const ext = extname(index) || '.js';
  const files = [index, join(dir, `server${ext}`), join(dir, 'internal', `bench${ext}`)];
  const parts = await Promise.all(files.map((f) => import(pathToFileURL(f).href)));
  return Object.assign({}, ...parts);
}
