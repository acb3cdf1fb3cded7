// What every command gets: parsed flags, the settings file and its values, output functions and the abort signal,
// plus the checks that come before contacting a server (sync on, signed in).
import { AuthClient } from '../client/auth-client.ts';
import { parseToken } from '../common/token.ts';
import type { LoadedSettings, SyncSettings } from '../client/settings.ts';
import { loadSettings, statePath } from '../client/settings.ts';
import type { CliArgs } from './args.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { printableJson } from './printable.ts';

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** stderr is a terminal: spinners and colours are welcome. */
  isTTY: boolean;
  /** What a person types (login reads the e-mailed code from it). */
  stdin: NodeJS.ReadStream;
  /** A passphrase for `project` (src/cli/passphrase.ts: the environment, the terminal without echo, or stdin). */
  readPassphrase(project: string): Promise<string>;
}

export interface Ctx {
  args: CliArgs;
  io: Io;
  settingsFile: string;
  stateFile: string;
  loaded: LoadedSettings;
  settings: SyncSettings;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  fetch: typeof fetch;
}

export function makeCtx(args: CliArgs, io: Io, settingsFile: string, signal: AbortSignal, fetchFn: typeof fetch): Ctx {
  const loaded = loadSettings(settingsFile);
  for (const w of loaded.warnings) io.stderr(`hone-sync: warning: ${w}\n`);
  return { args, io, settingsFile, stateFile: statePath(settingsFile), loaded, settings: loaded.settings, signal, fetch: fetchFn };
}

/** Commands that talk to a server call this first: with sync off they stop before any connection. */
export function requireSync(ctx: Ctx): void {
  if (!ctx.settings.syncEnabled) {
    throw new CliError(EXIT.SYNC_OFF, 'SYNC_OFF', 'sync is off on this device; turn it on with: hone-sync config set syncEnabled true');
  }
}

export function requireToken(ctx: Ctx): { token: string; userId: number; deviceId: number } {
  requireSync(ctx);
  const token = ctx.settings.syncDeviceToken;
  if (!token) throw new CliError(EXIT.SIGNED_OUT, 'NOT_SIGNED_IN', 'not signed in on this device; run hone-sync login <email>');
  const claims = parseToken(token);
  return { token, userId: claims?.userId ?? 0, deviceId: claims?.deviceId ?? 0 };
}

export function authClient(ctx: Ctx): AuthClient {
  return new AuthClient({ url: ctx.settings.syncAuthUrl, token: ctx.settings.syncDeviceToken, fetch: ctx.fetch });
}

/** Prints `value` as JSON with --json, else the text lines. */
export function print(ctx: Ctx, value: unknown, text: string | (() => string)): void {
  if (ctx.args.json) ctx.io.stdout(JSON.stringify(value) + '\n');
  else {
    const t = typeof text === 'function' ? text() : text;
    if (t) ctx.io.stdout(t.endsWith('\n') ? t : t + '\n');
  }
}

/**
 * The lines of a long-running command (watch, mirror): with --json one printable JSON line on stdout ({event, ...head(),
 * ...data}), else `text` on `stream`.
 */
export function eventPrinter(ctx: Ctx, stream: 'stdout' | 'stderr', head: () => object = () => ({})): (event: string, data: object, text: string) => void {
  return (event, data, text) => {
    if (ctx.args.json) ctx.io.stdout(printableJson({ event, ...head(), ...data }) + '\n');
    else ctx.io[stream](text + '\n');
  };
}

/** Fixed-width columns. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}
