// Run inside a project that installed the tensorrt-node tarball (test/cpu/package-install.test.ts):
// require() entry, which binary got loaded, and what the TensorRT backend says on this machine.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const t = require('tensorrt-node');
const out = { exports: Object.keys(t).length };
const native = t.loadNative();
out.headerVersion = native.headerVersion;
out.addonVersion = native.addonVersion;
out.packageRoot = path.dirname(require.resolve('tensorrt-node/package.json'));
// where node-gyp-build looks, from the package's own copy of it
const gypBuild = require(require.resolve('node-gyp-build', { paths: [out.packageRoot] }));
out.resolved = gypBuild.resolve(out.packageRoot);
// the native modules really mapped into this process
out.loaded = [...new Set(fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith('.node')).map((l) => l.split(/\s+/).pop()))];
try {
  new t.Runtime().dispose();
  out.runtime = { created: true };
} catch (e) {
  out.runtime = { isTensorRtError: e instanceof t.TensorRtError, name: e.name, code: e.code, message: e.message };
}
process.stdout.write(JSON.stringify(out));
