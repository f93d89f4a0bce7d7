/**
 * The `tensorrt-node` command line. `runCli` is the whole program minus process wiring, so
 * tests can drive it in-process. Each subcommand is one file exporting a CliCommand; add one by
 * listing it in COMMANDS.
 */
import { Command, CommanderError } from 'commander';
import { UsageError, errorLines, type CliCommand, type CliContext, type CliIo } from './command.js';
import { serveCommand } from './serve.js';
import { inspectCommand } from './inspect.js';
import { benchCommand } from './bench-command.js';
import { buildCommand } from './build-command.js';

export type { CliIo, CliCommand, CliContext } from './command.js';

export const COMMANDS: readonly CliCommand[] = [serveCommand, inspectCommand, benchCommand, buildCommand];

const defaultIo: CliIo = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

/**
 * Run the CLI on `argv` (without node and the script). Resolves with the exit code; for
 * `serve` it resolves 0 once the server listens, and the process keeps running.
 */
export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let code = 0;
  const ctx: CliContext = { io, argv, verbose: argv.includes('--verbose'), setExitCode: (c) => (code = c) };
  const program = new Command('tensorrt-node')
    .description('TensorRT / ONNX Runtime models for Node.js: serve a Triton-style model repository, inspect model files, benchmark, build plans from ONNX')
    .option('--verbose', 'print stack traces of errors')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(s.split('\n')[0]!),
    })
    .showHelpAfterError(false);
  for (const c of COMMANDS) c.register(program, ctx);

  try {
    // the subcommand's own argument rewriting (serve: tritonserver's flags)
    const at = argv.findIndex((a) => !a.startsWith('-'));
    const command = at >= 0 ? COMMANDS.find((c) => c.name === argv[at]) : undefined;
    const args = command?.rewriteArgs ? [...argv.slice(0, at + 1), ...command.rewriteArgs(argv.slice(at + 1))] : argv;
    await program.parseAsync(args, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version end here with code 0; usage errors were already printed in one line
      return e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.help' ? 0 : 2;
    }
    for (const line of errorLines(e, ctx.verbose && !(e instanceof UsageError))) io.err(line);
    return e instanceof UsageError ? 2 : 1;
  }
}
