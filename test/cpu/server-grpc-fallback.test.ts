/**
 * gRPC front-end threads need the native addon (dupFd hands a connection to a thread): without
 * it the server falls back to gRPC on the main thread, says so, and serves; a connection that
 * cannot be handed over is served on the main thread. Worker mode runs the built worker entry
 * (`npm run build:ts` first when running this file alone).
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { TensorRtError } from '../../lib/errors.js';
import { startServer, type RunningServer, type ServeOptions } from '../../lib/server/index.js';

const native = vi.hoisted(() => ({ mode: 'missing' as 'missing' | 'dupFd fails' }));

vi.mock('../../lib/native/binding.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../lib/native/binding.js')>()),
  loadNative: () => {
    if (native.mode === 'missing') throw new TensorRtError('ERR_NATIVE_NOT_BUILT', 'the tensorrt-node native addon could not be loaded (test)');
    return {
      dupFd: (fd: number) => {
        throw new TensorRtError('ERR_INVALID_ARGUMENT', `dupFd(${fd}): Bad file descriptor (test)`);
      },
    };
  },
}));

function serverLive(port: number): Promise<unknown> {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(PROTO, 'grpc_service.proto'), { keepCase: true, includeDirs: [PROTO] })) as any;
  const client = new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  return new Promise<unknown>((resolve, reject) => client.ServerLive({}, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r)))).finally(() => client.close());
}

const PROTO = path.resolve(__dirname, '../../proto');

/** The example repository served over gRPC only (explicit model control), warnings collected. */
function startGrpcOnly(grpcWorkers: number, warnings: string[], extra: Partial<ServeOptions> = {}): Promise<RunningServer> {
  return startServer({
    modelRepository: path.resolve(__dirname, '../../examples/models'),
    httpPort: false,
    grpcPort: 0,
    metricsPort: false,
    modelControlMode: 'explicit',
    grpcWorkers,
    logger: { info() {}, warn: (m) => warnings.push(m), error() {} },
    ...extra,
  });
}
let server: RunningServer | undefined;

afterAll(async () => {
  await server?.close();
});

describe('gRPC front-end threads without the native addon', () => {
  it('serves on the main thread and warns', async () => {
    const warnings: string[] = [];
    server = await startGrpcOnly(2, warnings, { loadModels: ['affine'] });
    expect(server.grpcWorkers).toBe(0);
    expect(warnings).toEqual([expect.stringMatching(/front-end threads need the native addon .*could not be loaded \(test\).*serving gRPC on the main thread/)]);
    expect(await serverLive(server.grpcPort!)).toEqual({ live: true });
    await server.close();
  });

  it('serves a connection it cannot hand to a thread on the main thread', async () => {
    native.mode = 'dupFd fails';
    const warnings: string[] = [];
    server = await startGrpcOnly(1, warnings);
    expect(server.grpcWorkers).toBe(1);
    expect(await serverLive(server.grpcPort!)).toEqual({ live: true });
    expect(await serverLive(server.grpcPort!)).toEqual({ live: true });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/could not hand a connection to a front-end thread \(dupFd\(\d+\): Bad file descriptor \(test\)\); serving it on the main thread/);
    await server.close();
  });

  it('rejects a front-end thread count out of range', async () => {
    await expect(
      startServer({ modelRepository: path.resolve(__dirname, '../../examples/models'), httpPort: false, grpcPort: 0, metricsPort: false, grpcWorkers: -1, logger: { info() {}, warn() {}, error() {} } }),
    ).rejects.toThrow(/gRPC workers must be 'auto' or an integer in \[0, 64\], got -1/);
  });
});
