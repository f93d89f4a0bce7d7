/**
 * Batch assembly by concatenation on the JS thread, for instances that take whole tensors
 * (ONNX Runtime, test doubles): requests are kept as they are added and copied, one after
 * another, into a buffer the instance reuses when the batch runs. A batch of one request runs
 * on that request's own tensors, with no copy.
 */
import { TensorRtError } from '../errors.js';
import { byteLength, viewAs } from '../dtypes.js';
import { Tensor, shapeSize } from '../tensor.js';
import type { BatchBuilder, ModelSignature, RunOptions } from './backend.js';

type RunWhole = (feeds: Record<string, Tensor>, options?: RunOptions) => Promise<Record<string, Tensor>>;

/** Hands out the builders of one instance: one at a time, each concatenating into reused buffers. */
export class ConcatBatches {
  readonly #signature: ModelSignature;
  readonly #run: RunWhole;
  /** per input: the reused gather buffer (grows to the largest batch, then stays) */
  readonly #buffers = new Map<string, ArrayBuffer>();
  #open = false;
  #allocations = 0;

  constructor(signature: ModelSignature, run: RunWhole) {
    this.#signature = signature;
    this.#run = run;
  }

  /** Gather buffers allocated so far (flat in steady state). */
  get allocations(): number {
    return this.#allocations;
  }

  create(): BatchBuilder {
    if (this.#open) throw new TensorRtError('ERR_BUSY', 'this instance assembles one batch at a time');
    this.#open = true;
    return new ConcatBatch(this);
  }

  /** @internal */
  release(): void {
    this.#open = false;
  }

  /** @internal Concatenates the requests along dimension 0 of every input and runs them. */
  runRequests(requests: readonly Record<string, Tensor>[], options: RunOptions | undefined): Promise<Record<string, Tensor>> {
    if (requests.length === 1) return this.#run(requests[0]!, options);
    const feeds: Record<string, Tensor> = {};
    for (const spec of this.#signature.inputs) {
      const first = requests[0]![spec.name];
      if (!(first instanceof Tensor)) return Promise.reject(new TensorRtError('ERR_MISSING_TENSOR', `input '${spec.name}' is missing`, { tensor: spec.name }));
      let rows = 0;
      for (const r of requests) rows += (r[spec.name] as Tensor).dims[0] ?? 1;
      const dims = [rows, ...first.dims.slice(1)];
      const bytes = byteLength(spec.dtype, shapeSize(dims));
      let buffer = this.#buffers.get(spec.name);
      if (buffer === undefined || buffer.byteLength < bytes) {
        buffer = new ArrayBuffer(bytes);
        this.#buffers.set(spec.name, buffer);
        this.#allocations++;
      }
      const dst = new Uint8Array(buffer, 0, bytes);
      let at = 0;
      for (const r of requests) {
        const d = (r[spec.name] as Tensor).data;
        if (at + d.byteLength > bytes) return Promise.reject(new TensorRtError('ERR_SHAPE_MISMATCH', `the requests' data for input '${spec.name}' exceed shape [${dims.join(',')}]`, { tensor: spec.name }));
        dst.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
        at += d.byteLength;
      }
      feeds[spec.name] = new Tensor(spec.dtype, viewAs(spec.dtype, buffer, 0, bytes), dims);
    }
    return this.#run(feeds, options);
  }
}

class ConcatBatch implements BatchBuilder {
  readonly #owner: ConcatBatches;
  readonly #requests: Record<string, Tensor>[] = [];
  #state: 'open' | 'spent' = 'open';

  constructor(owner: ConcatBatches) {
    this.#owner = owner;
  }

  get size(): number {
    return this.#requests.length;
  }

  add(inputs: Record<string, Tensor>): void {
    this.#check();
    this.#requests.push(inputs);
  }

  truncate(count: number): void {
    this.#check();
    if (!Number.isInteger(count) || count < 0 || count > this.#requests.length) throw new TensorRtError('ERR_INVALID_ARGUMENT', `cannot keep ${count} of ${this.#requests.length} requests`);
    this.#requests.length = count;
  }

  async run(options?: RunOptions): Promise<Record<string, Tensor>> {
    this.#check();
    this.#state = 'spent';
    try {
      if (this.#requests.length === 0) throw new TensorRtError('ERR_INVALID_ARGUMENT', 'the batch is empty');
      return await this.#owner.runRequests(this.#requests, options);
    } finally {
      this.#requests.length = 0;
      this.#owner.release();
    }
  }

  abandon(): void {
    if (this.#state === 'spent') return;
    this.#state = 'spent';
    this.#requests.length = 0;
    this.#owner.release();
  }

  #check(): void {
    if (this.#state !== 'open') throw new TensorRtError('ERR_INVALID_ARGUMENT', 'this batch was already run or abandoned');
  }
}
