// Command-line helpers shared by the programs: flags common to all (each command checks which it takes), and the
// one-line fatal error.
import { parseArgs } from 'node:util';
import type { ParseArgsOptionsConfig } from 'node:util';
import { ConfigError } from './config.ts';

export interface CommonArgs {
  config?: string;
  dev: boolean;
  help: boolean;
  version: boolean;
  json: boolean;
  expires?: string;
  positionals: string[];
}

/** A command's name for messages ('' for a program without commands) and the flags it takes besides --help and --version. */
export interface CommandFlags { command: string; flags: readonly string[] }

const COMMON_OPTIONS = {
  config: { type: 'string', short: 'c' },
  dev: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', short: 'v', default: false },
  json: { type: 'boolean', default: false },
  expires: { type: 'string' },
} as const;

/**
 * The line refusing the first flag in `argv` that its command does not take (unknown flags included), naming the
 * flags it does take; undefined when all are taken. `flagsOf` answers for the positionals (undefined: do not check,
 * e.g. an unknown command, refused later). --help and --version go everywhere.
 */
export function strayFlag(argv: string[], options: ParseArgsOptionsConfig, flagsOf: (positionals: string[]) => CommandFlags | undefined): string | undefined {
  const { positionals, tokens } = parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true });
  const of = flagsOf(positionals);
  const given = tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : []));
  if (!of || given.includes('help')) return undefined;
  const stray = given.find((f) => !of.flags.includes(f) && f !== 'help' && f !== 'version');
  if (stray === undefined) return undefined;
  const list = [...of.flags, 'help', 'version'].map((f) => `--${f}`).join(', ');
  return of.command ? `${of.command} does not take --${stray}; its flags: ${list}` : `unknown flag --${stray}; the flags: ${list}`;
}

export function parseCommonArgs(argv: string[], flagsOf: (positionals: string[]) => CommandFlags | undefined): CommonArgs {
  const stray = strayFlag(argv, COMMON_OPTIONS, flagsOf);
  if (stray) throw expected(stray);
  try {
    return parseArgv(argv);
  } catch (err) {
    // Unknown or malformed flags are the operator's mistake: one line, no stack trace.
    if (String((err as { code?: string }).code).startsWith('ERR_PARSE_ARGS_')) throw expected(`${(err as Error).message.split('. ')[0]}; see --help`);
    throw err;
  }
}

function parseArgv(argv: string[]): CommonArgs {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: COMMON_OPTIONS });
  return { config: values.config, dev: !!values.dev, help: !!values.help, version: !!values.version, json: !!values.json, expires: values.expires, positionals };
}

/** Prints one line naming what is wrong and exits non-zero; stack traces only for unexpected errors. */
export function fail(program: string, err: unknown): never {
  const message = err instanceof ConfigError || (err as { expected?: boolean })?.expected ? (err as Error).message : String((err as Error)?.stack ?? err);
  process.stderr.write(`${program}: ${message}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}

/** An error meant for the operator, printed without a stack trace. */
export function expected(message: string): Error {
  return Object.assign(new Error(message), { expected: true });
}

/** A listen failure the operator can fix (port taken, no permission, no such address), said in one line; else null. */
export function listenFailure(err: NodeJS.ErrnoException, where: string): Error | null {
  const why = { EADDRINUSE: 'address already in use', EACCES: 'permission denied', EADDRNOTAVAIL: 'address not available' }[err.code ?? ''];
  return why ? expected(`cannot listen on ${where}: ${why}`) : null;
}

/** On SIGTERM/SIGINT: logs once, runs `close`, exits 0 (1 if closing fails or takes over 10 s). */
export function exitOnSignals(log: { info(obj: object, msg: string): void }, message: string, close: () => Promise<unknown>): void {
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    // The exit must not depend on logging succeeding (stdout may be a closed pipe): arm it first.
    setTimeout(() => process.exit(1), 10_000).unref();
    try {
      log.info({ event: 'shutdown', signal }, message);
    } catch {}
    close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
