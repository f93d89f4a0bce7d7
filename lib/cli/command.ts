/**
 * What every `tensorrt-node` subcommand shares: the I/O seam tests drive, the usage error, the
 * argument parsers, and how an error is printed. A subcommand is one file exporting a
 * CliCommand; lib/cli/cli.ts lists them.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { RunningServer } from '../server/index.js';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** install SIGINT/SIGTERM handlers that shut the server down and exit (default true) */
  handleSignals?: boolean;
  /** process exit (default process.exit) */
  exit?: (code: number) => void;
  /** called once the server listens (tests) */
  onServe?: (server: RunningServer) => void;
}

/** State one run of the CLI shares with its subcommands. */
export interface CliContext {
  io: CliIo;
  /** the whole command line (without node and the script) */
  argv: string[];
  /** --verbose (or serve's --log-verbose > 0): print stack traces of errors */
  verbose: boolean;
  /** the subcommand's exit code; 0 unless it sets one */
  setExitCode(code: number): void;
}

export interface CliCommand {
  /** the subcommand's name on the command line */
  readonly name: string;
  /** adds the subcommand, its options and its action to `program` */
  register(program: Command, ctx: CliContext): void;
  /**
   * Optional: rewrites this subcommand's arguments before they are parsed (serve turns
   * tritonserver's flags into its own, and refuses those it cannot honour with a pointer).
   * Throws UsageError to stop with a message.
   */
  rewriteArgs?(args: string[]): string[];
}

/** A command line that asks for something impossible: exit 2, no stack trace. */
export class UsageError extends Error {}

export function intArg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be an integer, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be within ${min}..${max}, got ${n}`);
    return n;
  };
}

/** tritonserver's boolean values: true/false, 1/0 (any case); a bare flag means true. */
export function parseBool(name: string) {
  return (v: string | boolean | undefined): boolean => {
    if (v === undefined || v === true) return true;
    if (v === false) return false;
    const s = v.trim().toLowerCase();
    if (s === 'true' || s === '1') return true;
    if (s === 'false' || s === '0') return false;
    throw new InvalidArgumentError(`${name} must be true or false, got "${v}"`);
  };
}

/**
 * The lines to print for an error: its whole message (a TensorRT lookup lists what it tried on
 * the lines after the first; cutting them off hides the fix), and with `verbose` the stack.
 */
export function errorLines(e: unknown, verbose: boolean): string[] {
  const message = e instanceof Error ? e.message : String(e);
  const code = typeof (e as { code?: unknown })?.code === 'string' && /^ERR_/.test((e as { code: string }).code) ? ` [${(e as { code: string }).code}]` : '';
  const lines = message.replace(/\s+$/, '').split(/\r?\n/);
  lines[0] = `error: ${lines[0]}`;
  lines[lines.length - 1] += code;
  if (verbose && e instanceof Error && e.stack) lines.push(...e.stack.split('\n').filter((l) => /^\s+at /.test(l)));
  return lines;
}
