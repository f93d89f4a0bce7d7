/**
 * TensorRT backend: each instance is a one-context Session (its own stream, two IO sets of
 * device buffers and pinned staging); instances of one plan share the deserialized engine
 * (weights once in memory). A batch is assembled on a free IO set as its requests are added:
 * each request's inputs start towards the device at once, from whatever memory they are in
 * (pinned memory by DMA, other memory through copy threads into the pinned staging), on the
 * set's own input stream, so the next batch's copies overlap the current batch's compute, and
 * once formed it is launched behind the current one without waiting for it (batchCapacity 2).
 */
import { resolve } from 'node:path';
import { TensorRtError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { Session, type SessionBatch, type SessionOptions } from '../tensorrt/session.js';
import { Runtime, type Engine } from '../tensorrt/runtime.js';
import { probePlan } from '../tensorrt/probe.js';
import { assertPlanFile } from '../tensorrt/plan-header.js';
import type { Backend, BackendCreateOptions, BackendInstance, BatchBuilder, ModelSignature, RunOptions } from './backend.js';

export interface TensorRtCreateOptions extends BackendCreateOptions, Omit<SessionOptions, 'contexts' | 'reuseOutputs' | 'outputLocation' | 'profile' | 'device'> {}

export class TensorRtInstance implements BackendInstance {
  readonly kind = 'tensorrt';
  readonly signature: ModelSignature;
  readonly session: Session;
  readonly batchCapacity: number;
  readonly #running = new Set<Promise<unknown>>();
  #disposed: Promise<void> | undefined;

  readonly #release: () => void;

  constructor(session: Session, release: () => void = () => undefined) {
    this.session = session;
    this.#release = release;
    this.batchCapacity = session.freeSets;
    const inputs = session.inputMetadata;
    const outputs = session.outputMetadata;
    // Batchable when dimension 0 is dynamic on every tensor: the largest batch is the profile's max.
    const batchable = [...inputs, ...outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
    const ranges = session.inputRanges;
    const maxBatchSize = batchable ? Math.min(...inputs.map((t) => ranges[t.name]?.max[0] ?? 0)) : 0;
    this.signature = {
      inputs: inputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] })),
      outputs: outputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] })),
      maxBatchSize,
    };
  }

  createBatch(): BatchBuilder {
    if (this.#disposed) throw new TensorRtError('ERR_DISPOSED', 'the TensorRT instance was disposed');
    // holdOutputs: with two batches in flight, the next one must not take this batch's set
    // (and overwrite its outputs) before the batcher has copied them out
    return new TensorRtBatch(this.session.beginBatch({ holdOutputs: true }), (p) => this.#track(p));
  }

  run(feeds: Record<string, Tensor>, options?: RunOptions): Promise<Record<string, Tensor>> {
    if (this.#disposed) return Promise.reject(new TensorRtError('ERR_DISPOSED', 'the TensorRT instance was disposed'));
    if (options?.signal?.aborted) return Promise.reject(new TensorRtError('ERR_ABORTED', 'aborted before the batch started'));
    return this.#track(this.session.run(feeds));
  }

  /** Remembers a run in flight for dispose(). */
  #track<T>(p: Promise<T>): Promise<T> {
    this.#running.add(p);
    const done = (): void => {
      this.#running.delete(p);
    };
    p.then(done, done);
    return p;
  }

  dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      await Promise.allSettled([...this.#running]);
      await this.session.dispose();
      this.#release();
    })();
    return this.#disposed;
  }
}

/** A batch on one of the instance's IO sets (see SessionBatch). */
class TensorRtBatch implements BatchBuilder {
  readonly #batch: SessionBatch;
  readonly #track: (p: Promise<Record<string, Tensor>>) => Promise<Record<string, Tensor>>;

  constructor(batch: SessionBatch, track: (p: Promise<Record<string, Tensor>>) => Promise<Record<string, Tensor>>) {
    this.#batch = batch;
    this.#track = track;
  }

  get size(): number {
    return this.#batch.size;
  }

  add(inputs: Record<string, Tensor>): void {
    this.#batch.add(inputs);
  }

  truncate(count: number): void {
    this.#batch.truncate(count);
  }

  run(options?: RunOptions): Promise<Record<string, Tensor>> {
    if (options?.signal?.aborted) {
      this.#batch.abandon();
      return Promise.reject(new TensorRtError('ERR_ABORTED', 'aborted before the batch started'));
    }
    return this.#track(this.#batch.run());
  }

  abandon(): void {
    this.#batch.abandon();
  }

  done(): void {
    this.#batch.release();
  }
}

/**
 * What a batcher instance uses unless told otherwise: CUDA graphs (one per batch size and IO
 * set, replayed), and completions collected by the JS thread ('poll'), which is fast to react
 * when many callers wait on the GPU (docs/benchmarks.md has the numbers behind this choice).
 */
export const TENSORRT_INSTANCE_DEFAULTS: Readonly<Pick<SessionOptions, 'cudaGraph' | 'completion' | 'overlap'>> = Object.freeze({
  cudaGraph: true,
  completion: 'poll',
  overlap: true,
});

interface SharedEngine {
  runtime: Runtime;
  engine: Promise<Engine>;
  refs: number;
}

export class TensorRtBackend implements Backend {
  readonly kind = 'tensorrt';
  readonly #options: TensorRtCreateOptions;
  /** Engines by (device, path): instances of one model share one engine. */
  readonly #engines = new Map<string, SharedEngine>();

  constructor(options: TensorRtCreateOptions = {}) {
    this.#options = options;
  }

  accepts(filename: string): boolean {
    const f = filename.toLowerCase();
    return f.endsWith('.plan') || f.endsWith('.engine');
  }

  async createInstance(modelPath: string, options: BackendCreateOptions = {}): Promise<BackendInstance> {
    const device = options.device ?? 0;
    const key = `${device}:${resolve(modelPath)}`;
    if (!this.#engines.has(key)) assertPlanFile(modelPath); // a missing file is reported as such, before any TensorRT lookup
    if (!this.#engines.has(key) && this.#options.probe) {
      await probePlan(resolve(modelPath), { ...this.#options, device, timeoutMs: typeof this.#options.probe === 'object' ? this.#options.probe.timeoutMs : undefined });
    }
    let shared = this.#engines.get(key); // (another call may have loaded it while this one probed)
    if (!shared) {
      const runtime = new Runtime({ ...this.#options, device });
      shared = { runtime, engine: runtime.deserializeAsync(resolve(modelPath)), refs: 0 };
      this.#engines.set(key, shared);
    }
    shared.refs++;
    const s = shared;
    const release = (): void => {
      if (--s.refs > 0) return;
      this.#engines.delete(key);
      void s.engine.then((e) => e.dispose(), () => undefined).finally(() => s.runtime.dispose());
    };
    try {
      const engine = await s.engine;
      const session = Session.fromEngine(engine, {
        ...TENSORRT_INSTANCE_DEFAULTS,
        ...this.#options,
        ...(options.cudaGraph !== undefined ? { cudaGraph: options.cudaGraph } : {}),
        profile: options.profile ?? 0,
        contexts: 1,
        reuseOutputs: true,
      });
      return new TensorRtInstance(session, release);
    } catch (e) {
      release();
      throw e;
    }
  }
}
