// One fuzzing worker: loads the TensorRT runtime once, then for each case id it is given,
// builds the mutated plan deterministically, deserializes it, and if that succeeds runs it once.
// Prints `start <id>` before and one JSON line after each case, so the parent can tell which
// case a crash or hang belongs to.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { mutate } from './mutations.mjs';

const lib = await import(process.env.TRTNODE_LIB ?? '../../dist/index.js');
const { Runtime, Session, Tensor, typedArrayConstructor, byteLength } = lib;

const plans = JSON.parse(process.env.FUZZ_PLANS);
const bytes = plans.map((p) => readFileSync(p));
let runtime;
let runtimeError;
try {
  runtime = new Runtime({ logSeverity: 'internalError' });
} catch (e) {
  runtimeError = e;
}

function randomInputs(engine, seed) {
  const feeds = {};
  const prof = engine.profiles[0] ?? {};
  for (const t of engine.inputs) {
    const dims = t.shape.map((d, i) => (d >= 0 ? d : (prof[t.name]?.opt[i] ?? 1)));
    const n = dims.reduce((a, b) => a * b, 1);
    const C = typedArrayConstructor(t.dtype);
    const data = new C(Math.ceil(byteLength(t.dtype, n) / C.BYTES_PER_ELEMENT));
    const u8 = new Uint8Array(data.buffer);
    for (let i = 0; i < u8.length; i++) u8[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
    feeds[t.name] = new Tensor(t.dtype, data, dims);
  }
  return feeds;
}

async function runCase(id) {
  if (runtimeError) return { id, outcome: 'error', stage: 'runtime', code: runtimeError.code ?? 'ERR' };
  const data = mutate(bytes, id);
  let engine;
  if (process.env.FUZZ_PROBE) {
    // the service-process view: probe in a child first, load here only if it survived
    try {
      await lib.probePlan(data, { timeoutMs: Number(process.env.FUZZ_PROBE_TIMEOUT_MS ?? 20_000) });
    } catch (e) {
      return {
        id,
        outcome: 'error',
        stage: 'probe',
        code: e.code ?? 'NOT_TYPED',
        typed: e instanceof lib.TensorRtError,
        message: String(e.message).slice(0, 200),
        signal: e.details?.signal ?? undefined,
        timedOut: e.details?.timedOut ?? undefined,
      };
    }
  }
  try {
    engine = runtime.deserialize(data);
  } catch (e) {
    return { id, outcome: 'error', stage: 'deserialize', code: e.code ?? 'NOT_TYPED', typed: e instanceof lib.TensorRtError };
  }
  try {
    const s = Session.fromEngine(engine);
    try {
      await s.run(randomInputs(engine, id));
      return { id, outcome: 'ran' };
    } finally {
      await s.dispose();
    }
  } catch (e) {
    return { id, outcome: 'error', stage: 'run', code: e.code ?? 'NOT_TYPED', typed: e instanceof lib.TensorRtError };
  } finally {
    engine.dispose();
  }
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const id = Number(line);
  if (!Number.isInteger(id)) continue;
  process.stdout.write(`start ${id}\n`);
  const r = await runCase(id);
  // which bytes this case was (compare across runs: the same id over the same plans, the same hash)
  if (process.env.FUZZ_HASH) r.sha256 = createHash('sha256').update(mutate(bytes, id)).digest('hex');
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
