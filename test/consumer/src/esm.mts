// Compiled (never run) by test/cpu/package-types.test.ts against the installed package.
import {
  DynamicBatcher,
  OnnxRuntimeBackend,
  Session,
  Tensor,
  TensorRtError,
  isTensorRtError,
  toTensor,
  type DataType,
  type ErrorCode,
  type NdArrayLike,
  type SessionOptions,
  type TensorInfo,
} from 'tensorrt-node';
import { startServer, type RunningServer, type ServeOptions } from 'tensorrt-node/server';

export async function classify(planPath: string, pixels: Float32Array): Promise<Float32Array> {
  const options: SessionOptions = { contexts: 2, cudaGraph: false, flavor: 'auto', logSeverity: 'warning' };
  const session = await Session.create(planPath, options);
  try {
    const names: readonly string[] = session.inputNames;
    const meta: TensorInfo[] = session.inputMetadata;
    const dtype: DataType = meta[0]?.dtype ?? 'float32';
    const input = new Tensor(dtype, pixels, [pixels.length / (3 * 224 * 224), 3, 224, 224]);
    const result = await session.run({ [names[0] ?? 'input']: input });
    const logits: Tensor | undefined = result['logits'];
    if (!logits || logits.type !== 'float32') throw new Error('no float32 logits');
    return logits.data as Float32Array;
  } finally {
    await session.dispose();
  }
}

export async function batched(model: string): Promise<number> {
  const backend = new OnnxRuntimeBackend({ maxBatchSize: 32 });
  const instances = await Promise.all([0, 1].map(() => backend.createInstance(model)));
  const batcher = new DynamicBatcher(instances, { maxBatchSize: 32, preferredBatchSize: [16, 32], maxQueueDelayMicroseconds: 500 });
  const ac = new AbortController();
  const out = await batcher.infer({ x: new Tensor('float32', new Float32Array(4), [1, 4]) }, { priority: 1, signal: ac.signal });
  const y: Tensor | undefined = out['y'];
  const stats = batcher.statistics();
  await batcher.close();
  return (y?.size ?? 0) + stats.executionCount;
}

/** Every code a caller may branch on is part of the type. */
export function describe(e: unknown): string {
  if (!(e instanceof TensorRtError)) return 'other';
  const code: ErrorCode = e.code;
  switch (code) {
    case 'ERR_TRT_NOT_FOUND':
    case 'ERR_CUDA_UNAVAILABLE':
    case 'ERR_NATIVE_NOT_BUILT':
      return `environment: ${e.message}`;
    case 'ERR_TRT_VERSION':
    case 'ERR_PLAN_INVALID':
      return 'rebuild the plan';
    case 'ERR_SHAPE_OUT_OF_PROFILE':
      return `shape: ${JSON.stringify(e.details)}`;
    default:
      return isTensorRtError(e, 'ERR_QUEUE_FULL') ? 'busy' : code;
  }
}

export async function serve(): Promise<number | undefined> {
  const opts: ServeOptions = { modelRepository: 'models', httpPort: 0, grpcPort: false, metricsPort: 0, modelControlMode: 'explicit', loadModels: ['*'] };
  const server: RunningServer = await startServer(opts);
  const port = server.httpPort;
  await server.close();
  return port;
}

/** ndarray views in, ndarray views out. */
export function viaNdarray(view: NdArrayLike): number {
  const t: Tensor = toTensor(view, 'x', 'float32');
  const nd = t.toNdarray();
  const first: number | bigint = nd.get(0);
  const shape: number[] = nd.shape;
  return Number(first) + shape.length;
}
