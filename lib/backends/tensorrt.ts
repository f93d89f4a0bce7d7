/**
 * TensorRT backend: each instance is a one-context Session (its own stream, device buffers and
 * pinned staging); instances of one plan share the deserialized engine (weights once in memory).
 * The batcher gathers requests straight into the instance's pinned input memory (inputStaging)
 * and reads outputs from its pinned output memory (reuseOutputs): one copy each way, no
 * allocation per batch.
 */
import { resolve } from 'node:path';
import { TensorRtError } from '../errors.js';
import type { TypedArray } from '../dtypes.js';
import { viewAs } from '../dtypes.js';
import type { Tensor } from '../tensor.js';
import { Session, type SessionOptions } from '../tensorrt/session.js';
import { Runtime, type Engine } from '../tensorrt/runtime.js';
import { probePlan } from '../tensorrt/probe.js';
import { isPinned } from '../tensorrt/cuda.js';
import type { Backend, BackendCreateOptions, BackendInstance, GatheredInput, ModelSignature, RunOptions } from './backend.js';

export interface TensorRtCreateOptions extends BackendCreateOptions, Omit<SessionOptions, 'contexts' | 'reuseOutputs' | 'outputLocation' | 'profile' | 'device'> {}

export class TensorRtInstance implements BackendInstance {
  readonly kind = 'tensorrt';
  readonly signature: ModelSignature;
  readonly session: Session;
  #running: Promise<unknown> | undefined;
  #disposed: Promise<void> | undefined;

  readonly #release: () => void;

  constructor(session: Session, release: () => void = () => undefined) {
    this.session = session;
    this.#release = release;
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

  inputStaging(name: string, byteLength: number): TypedArray | undefined {
    const spec = this.signature.inputs.find((t) => t.name === name);
    const bytes = this.session.stagingView(name, byteLength);
    if (!spec || !bytes) return undefined;
    return viewAs(spec.dtype, bytes.buffer, bytes.byteOffset, byteLength);
  }

  run(feeds: Record<string, Tensor>, options?: RunOptions): Promise<Record<string, Tensor>> {
    return this.#track(options, () => this.session.run(feeds));
  }

  runParts(inputs: Record<string, GatheredInput>, options?: RunOptions): Promise<Record<string, Tensor>> {
    return this.#track(options, () => this.session.runParts(inputs, { stagedParts: options?.stagedParts ?? 0 }));
  }

  /** Pinned request data is DMA'd to the instance's device input on arrival (see BackendInstance.stageInput). */
  stageInput(name: string, byteOffset: number, data: TypedArray): void {
    if (this.#disposed) throw new TensorRtError('ERR_DISPOSED', 'the TensorRT instance was disposed');
    this.session.stageInput(name, byteOffset, data);
  }

  /** Pinned request data is DMA'd into the batch by runParts, with no CPU copy. */
  prefersParts(data: TypedArray): boolean {
    return isPinned(data);
  }

  /** Refuses work after dispose or abort, and remembers the run in flight for dispose(). */
  async #track(options: RunOptions | undefined, start: () => Promise<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    if (this.#disposed) throw new TensorRtError('ERR_DISPOSED', 'the TensorRT instance was disposed');
    if (options?.signal?.aborted) throw new TensorRtError('ERR_ABORTED', 'aborted before the batch started');
    const p = start();
    this.#running = p;
    try {
      return await p;
    } finally {
      if (this.#running === p) this.#running = undefined;
    }
  }

  dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      await this.#running?.catch(() => undefined);
      await this.session.dispose();
      this.#release();
    })();
    return this.#disposed;
  }
}

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
