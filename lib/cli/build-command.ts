/**
 * Registers `tensorrt-node build`; the command itself (trtexec's flags, progress bars, Ctrl-C)
 * is lib/cli/build.ts, loaded only when it runs.
 */
import type { CliCommand } from './command.js';

export const buildCommand: CliCommand = {
  name: 'build',
  register(program, ctx) {
    program
      .command('build')
      .description("build a TensorRT plan from an ONNX model with trtexec's flags (see `tensorrt-node build --help`)")
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .argument('[args...]')
      .action(async () => {
        const rest = ctx.argv.slice(ctx.argv.indexOf('build') + 1);
        const { runBuildCli } = await import('./build.js');
        ctx.setExitCode(await runBuildCli(rest, { out: ctx.io.out, err: ctx.io.err }));
      });
  },
};
