/**
 * Registers `tensorrt-node bench`; the command itself (its own options, help and errors) is
 * lib/cli/bench.ts, loaded only when it runs.
 */
import type { CliCommand } from './command.js';

export const benchCommand: CliCommand = {
  name: 'bench',
  register(program, ctx) {
    program
      .command('bench')
      .description('benchmark a model (see `tensorrt-node bench --help`)')
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .argument('[args...]')
      .action(async () => {
        const rest = ctx.argv.slice(ctx.argv.indexOf('bench') + 1);
        const { runBenchCli } = await import('./bench.js');
        const r: unknown = await runBenchCli(rest);
        ctx.setExitCode(typeof r === 'number' ? r : 0);
      });
  },
};
