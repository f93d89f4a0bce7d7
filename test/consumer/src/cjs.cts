// The require() side of the exports map (dist/index.d.cts), from a CommonJS module.
import trt = require('tensorrt-node');

export async function run(planPath: string): Promise<readonly number[] | undefined> {
  const session: trt.Session = await trt.Session.create(planPath, { contexts: 1 });
  const out = await session.run({ input: new trt.Tensor('float32', new Float32Array(16), [1, 16]) });
  await session.dispose();
  const code: trt.ErrorCode = 'ERR_TRT_NOT_FOUND';
  void code;
  return Object.values(out)[0]?.dims;
}
