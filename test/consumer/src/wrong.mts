// Deliberate misuse: each line marked expect-error must fail to compile (test/cpu/package-types.test.ts).
import { DynamicBatcher, Session, Tensor, type BackendInstance, type ErrorCode } from 'tensorrt-node';
import { startServer } from 'tensorrt-node/server';

declare const instances: BackendInstance[];
export const t = new Tensor('float33', new Float32Array(4), [4]); // expect-error: not a DataType
export const code: ErrorCode = 'ERR_NOT_A_CODE'; // expect-error: not an ErrorCode
export const b = new DynamicBatcher(instances, { maxBatchSize: '32' }); // expect-error: number expected
export const s = startServer({ httpPort: 8000 }); // expect-error: modelRepository is required
export async function f(session: Session): Promise<void> {
  await session.run({ input: new Float32Array(4) }); // expect-error: feeds are Tensors
  const n: number = session.inputNames; // expect-error: readonly string[]
  void n;
}
