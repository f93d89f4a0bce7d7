/**
 * `tensorrt-node inspect <file>`: the inputs and outputs of a model file, .onnx through ONNX
 * Runtime, .plan/.engine through TensorRT (profiles and memory too).
 */
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { kserveDataType } from '../dtypes.js';
import type { ModelSignature } from '../backends/backend.js';
import { UsageError, type CliCommand, type CliIo } from './command.js';

function signatureJson(sig: ModelSignature): Record<string, unknown> {
  const t = (x: ModelSignature['inputs'][number]) => ({ name: x.name, datatype: kserveDataType(x.dtype), shape: x.shape });
  return { maxBatchSize: sig.maxBatchSize, inputs: sig.inputs.map(t), outputs: sig.outputs.map(t) };
}

async function inspect(file: string, json: boolean, io: CliIo): Promise<number> {
  const st = await fs.stat(file).catch(() => undefined);
  if (!st?.isFile()) throw new UsageError(`no such file: ${file}`);
  const lower = file.toLowerCase();
  if (lower.endsWith('.onnx')) {
    const { OnnxRuntimeBackend } = await import('../backends/onnxruntime.js');
    const inst = await new OnnxRuntimeBackend().createInstance(file);
    try {
      const info = { file: path.resolve(file), backend: 'onnxruntime', ...signatureJson(inst.signature) };
      if (json) io.out(JSON.stringify(info, null, 2));
      else {
        io.out(`${info.file} (onnxruntime)`);
        for (const [kind, list] of [['input', inst.signature.inputs], ['output', inst.signature.outputs]] as const) {
          for (const x of list) io.out(`  ${kind.padEnd(6)} ${x.name}  ${kserveDataType(x.dtype)}  [${x.shape.join(', ')}]`);
        }
      }
    } finally {
      await inst.dispose();
    }
    return 0;
  }
  if (lower.endsWith('.plan') || lower.endsWith('.engine')) {
    const { inspectPlan } = await import('../tensorrt/inspect.js');
    const info = await inspectPlan(file);
    io.out(JSON.stringify(info, null, 2));
    return 0;
  }
  throw new UsageError(`cannot inspect ${file}: expected a .onnx or .plan file`);
}

export const inspectCommand: CliCommand = {
  name: 'inspect',
  register(program, ctx) {
    program
      .command('inspect')
      .description('print the inputs and outputs of a model file (.onnx via ONNX Runtime, .plan via TensorRT)')
      .argument('<file>', 'model file')
      .option('--json', 'machine-readable output')
      .option('--verbose', 'print stack traces of errors')
      .action(async (file: string, flags: { json?: boolean }) => {
        ctx.setExitCode(await inspect(file, flags.json === true, ctx.io));
      });
  },
};
