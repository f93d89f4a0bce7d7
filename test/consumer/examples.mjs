// The runnable examples of README.md and docs/*.md, so that they cannot rot. A fenced block
// whose info string is `js cpu-example` or `js gpu-example` is a complete ES module that must
// run to completion (exit 0) as written:
//
//   cpu-example  runs anywhere, on the ONNX Runtime backend and examples/models (relative paths
//                resolve against a folder holding examples/); test/cpu/docs-examples.test.ts runs
//                them against the built dist/ and test/cpu/package-install.test.ts runs the
//                README's in a project that installed the packed tarball.
//   gpu-example  needs a GPU and TensorRT; plan files are named as test/docs-examples-gpu.mjs
//                provides them from the GPU fixtures (the lead runs that script on the GPU host).
//
// Blocks without a marker are illustrations (shell sessions, config files, fragments).
// Plain JavaScript (with examples.d.mts for the tests' types) so that the GPU host's script,
// which runs with Node alone, uses the same extraction.
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

/** README.md and every docs/*.md (not the generated docs/api/). */
export function docFiles(root) {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => join(root, 'docs', f));
  return [join(root, 'README.md'), ...docs];
}

const OPEN = /^```js\s+(cpu|gpu)-example\s*$/;

/** Every marked block: { file (relative to root), line (of the opening fence), kind, code }. */
export function extractExamples(root, files = docFiles(root)) {
  const out = [];
  for (const f of files) {
    const lines = readFileSync(f, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const m = OPEN.exec(lines[i]);
      if (!m) continue;
      const start = i;
      const body = [];
      for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
      if (i >= lines.length) throw new Error(`${relative(root, f)}:${start + 1}: example block is not closed`);
      out.push({ file: relative(root, f), line: start + 1, kind: m[1], code: `${body.join('\n')}\n` });
    }
  }
  return out;
}

/** A file name for an example: readme-42.mjs */
export function exampleFileName(e) {
  return `${e.file.replace(/\.md$/, '').replace(/[^\w]+/g, '-').toLowerCase()}-${e.line}.mjs`;
}
