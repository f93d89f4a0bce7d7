/**
 * Backend registry: a list of Backend objects, chosen by model file name. The TensorRT backend
 * is imported only when a .plan is actually loaded, so a machine without a GPU or without the
 * native addon serves ONNX models all the same.
 */
import { TensorRtError } from '../errors.js';
import type { Backend, BackendCreateOptions, BackendInstance } from '../backends/backend.js';

/** Default model file name for each Triton platform / backend name. */
export const PLATFORM_FILENAMES: Record<string, string> = {
  tensorrt_plan: 'model.plan',
  tensorrt: 'model.plan',
  onnxruntime_onnx: 'model.onnx',
  onnxruntime: 'model.onnx',
};

/** A Backend for *.plan that imports lib/backends/tensorrt.js on first use. */
export class LazyTensorRtBackend implements Backend {
  readonly kind = 'tensorrt';
  private impl?: Promise<Backend>;

  accepts(filename: string): boolean {
    return filename.toLowerCase().endsWith('.plan') || filename.toLowerCase().endsWith('.engine');
  }

  async createInstance(modelPath: string, options?: BackendCreateOptions): Promise<BackendInstance> {
    this.impl ??= import('../backends/tensorrt.js').then(
      (m) => new m.TensorRtBackend() as Backend,
      (e: unknown) => {
        this.impl = undefined;
        throw new TensorRtError('ERR_NATIVE_NOT_BUILT', `the TensorRT backend is not available: ${e instanceof Error ? e.message : String(e)}`, undefined, { cause: e });
      },
    );
    return (await this.impl).createInstance(modelPath, options);
  }
}

/** A Backend for *.onnx that imports lib/backends/onnxruntime.js (onnxruntime-node) on first use. */
export class LazyOnnxRuntimeBackend implements Backend {
  readonly kind = 'onnxruntime';
  private impl?: Promise<Backend>;

  accepts(filename: string): boolean {
    return filename.toLowerCase().endsWith('.onnx');
  }

  async createInstance(modelPath: string, options?: BackendCreateOptions): Promise<BackendInstance> {
    this.impl ??= import('../backends/onnxruntime.js').then(
      (m) => new m.OnnxRuntimeBackend() as Backend,
      (e: unknown) => {
        this.impl = undefined;
        throw new TensorRtError('ERR_BACKEND', `the ONNX Runtime backend is not available: ${e instanceof Error ? e.message : String(e)}`, undefined, { cause: e });
      },
    );
    return (await this.impl).createInstance(modelPath, options);
  }
}

/** The backends a repository uses unless told otherwise: ONNX Runtime, then TensorRT (lazy). */
export function defaultBackends(): Backend[] {
  return [new LazyOnnxRuntimeBackend(), new LazyTensorRtBackend()];
}

/** The first backend that accepts `filename`. */
export function backendFor(backends: readonly Backend[], filename: string): Backend | undefined {
  return backends.find((b) => b.accepts(filename));
}
