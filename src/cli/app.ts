#!/usr/bin/env node
// hone-sync: the command line of Hone Sync. The only place with process-wide state: argv, environment, signals,
// stdout/stderr and the exit code; every command is a plain function of its context.
import { VERSION } from '../common/version.ts';
import { settingsPath, SettingsError } from '../client/settings.ts';
import { parseCliArgs } from './args.ts';
import type { CliArgs } from './args.ts';
import { config } from './commands/config.ts';
import { devices } from './commands/devices.ts';
import { login, logout } from './commands/login.ts';
import { mirror } from './commands/mirror.ts';
import { projects } from './commands/projects.ts';
import { send } from './commands/send.ts';
import { status } from './commands/status.ts';
import { watch } from './commands/watch.ts';
import type { Ctx, Io } from './context.ts';
import { makeCtx } from './context.ts';
import { CliError, EXIT, usage } from './exit-codes.ts';
import { explain } from './explain.ts';
import { HELP } from './help.ts';
import { key } from './commands/key.ts';
import { readPassphrase } from './passphrase.ts';

const COMMANDS: Record<string, (ctx: Ctx) => Promise<number | void>> = { login, logout, status, devices, projects, config, watch, send, mirror, key };

const io: Io = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  isTTY: process.stderr.isTTY === true,
  stdin: process.stdin,
  readPassphrase: (project) => readPassphrase({ env: process.env, stdin: process.stdin, prompt: (t) => void process.stderr.write(t) }, project),
};

function report(err: unknown, json: boolean, authUrl: string): number {
  const e = explain(err, authUrl);
  if (e instanceof CliError || e instanceof SettingsError) {
    const code = e instanceof CliError ? e.code : 'SETTINGS';
    const exit = e instanceof CliError ? e.exitCode : EXIT.USAGE;
    if (json) io.stdout(JSON.stringify({ ok: false, error: { code, message: e.message, exitCode: exit } }) + '\n');
    io.stderr(`hone-sync: ${e.message}\n`);
    return exit;
  }
  io.stderr(`hone-sync: unexpected failure (please report): ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.FAILURE;
}

async function main(): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCliArgs(process.argv.slice(2));
  } catch (err) {
    return report(err, process.argv.includes('--json'), '');
  }
  if (args.help || args.command === 'help') return void io.stdout(HELP + '\n'), EXIT.OK;
  if (args.version) return void io.stdout(VERSION + '\n'), EXIT.OK;
  const run = args.command === undefined ? undefined : COMMANDS[args.command];
  if (!run) return report(args.command === undefined ? usage('name a command') : usage(`unknown command "${args.command}"`), args.json, '');

  const abort = new AbortController();
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(EXIT.INTERRUPTED);
    interrupted = true;
    abort.abort();
  });
  process.on('SIGTERM', () => abort.abort());
  let ctx: Ctx | null = null;
  try {
    ctx = makeCtx(args, io, settingsPath({ flag: args.config }), abort.signal, fetch);
    return (await run(ctx)) ?? EXIT.OK;
  } catch (err) {
    return report(err, args.json, ctx?.settings.syncAuthUrl ?? '');
  }
}

main().then((code) => {
  process.exitCode = code;
  // Let stdout drain, then leave even if a socket lingers.
  setTimeout(() => process.exit(code), 50).unref();
}, (err) => {
  process.stderr.write(`hone-sync: ${(err as Error)?.stack ?? err}\n`);
  process.exit(EXIT.FAILURE);
});
