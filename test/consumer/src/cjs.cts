// The require() side of the exports map (dist/index.d.cts, dist/server.d.cts), from a CommonJS module.
import trt = require('tensorrt-node');
import server = require('tensorrt-node/server');

export async function run(planPath: string): Promise<readonly number[] | undefined> {
  const session: trt.Session = await trt.Session.create(planPath, { contexts: 1 });
  const out = await session.run({ input: new trt.Tensor('float32', new Float32Array(16), [1, 16]) });
  await session.dispose();
  const code: trt.ErrorCode = 'ERR_TRT_NOT_FOUND';
  void code;
  return Object.values(out)[0]?.dims;
}

export async function serve(): Promise<number | undefined> {
  const s: server.RunningServer = await server.startServer({ modelRepository: 'models', httpPort: 0, grpcPort: false, metricsPort: false });
  await s.close();
  return s.httpPort;
}
