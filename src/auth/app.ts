#!/usr/bin/env node
// hone-auth: reads auth.conf (or --config) and HONE_* overrides, then serves, or runs an operator command.
// The only place with process-wide state: signals, exit codes, the real clock.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { exitOnSignals, expected, fail, listenFailure, parseCommonArgs } from '../common/cli.ts';
import { loadConfig } from '../common/config.ts';
import { prepareSqliteFolder } from '../common/sqlite-file.ts';
import { VERSION } from '../common/version.ts';
import { adminSetTier, adminUsers, newSecret } from './admin.ts';
import type { AuthConfig } from './config.ts';
import { authConfigSchema, checkAuthConfig } from './config.ts';
import { migrate, openDatabase } from './db/database.ts';
import type { AuthDb } from './db/database.ts';
import { buildAuthServer } from './server.ts';

const HELP = `hone-auth ${VERSION} — magic-link login, device tokens, projects and tiers for Hone Sync

usage:
  hone-auth [--config auth.conf] [--dev]        serve (default config ./auth.conf; absent = defaults)
  hone-auth admin set-tier <email> <tier> [--expires YYYY-MM-DD]
  hone-auth admin users [--json]
  hone-auth secret                              print a new random shared secret
  hone-auth --version | --help

Every config key can be set as HONE_<KEY> (auth.secret → HONE_AUTH_SECRET). See auth.conf.example.`;

/** The flags each command takes (--help and --version go everywhere); an unknown command is refused later. */
const FLAGS: Record<string, string[]> = {
  serve: ['config', 'dev'], secret: [], 'admin set-tier': ['config', 'dev', 'expires'], 'admin users': ['config', 'dev', 'json'],
};
const flagsOf = ([command = 'serve', sub]: string[]) => {
  const named = command === 'admin' ? `admin ${sub}` : command;
  return FLAGS[named] ? { command: named, flags: FLAGS[named] } : undefined;
};

/** In development an empty secret is kept in a file beside the database so tokens survive restarts. */
function devSecret(config: AuthConfig): string {
  const file = join(dirname(config['sqlite.path']), 'dev.secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  prepareSqliteFolder(config['sqlite.path']);
  const secret = newSecret();
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}

async function openReady(config: AuthConfig): Promise<AuthDb> {
  const db = openDatabase(config); // a sqlite.path it cannot use is a ConfigError: one line, no stack trace
  try {
    await db.ping();
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => {});
    throw expected(`cannot use the database (${db.describe}): ${(err as Error).message || (err as { code?: string }).code}`);
  }
  return db;
}

async function main(): Promise<void> {
  const args = parseCommonArgs(process.argv.slice(2), flagsOf);
  if (args.help) return void console.log(HELP);
  if (args.version) return void console.log(VERSION);
  const [command, sub, ...rest] = args.positionals;
  if (command === 'secret') return void console.log(newSecret());

  const warn = (m: string) => process.stderr.write(`hone-auth: warning: ${m}\n`);
  const explicit = new Set<string>();
  const config = loadConfig(authConfigSchema, {
    file: args.config ?? './auth.conf', mustExist: args.config !== undefined,
    overrides: args.dev ? { dev: true } : {}, warn, explicit,
  });
  // `admin` commands only use the database: they need no secret, public URL or mail server.
  const serving = command !== 'admin';
  if (serving && config.dev && !config['auth.secret']) config['auth.secret'] = devSecret(config);
  checkAuthConfig(config, { serving, explicit, warn });
  if (serving && config['token.algorithm'] === 'djb2') {
    process.stderr.write('hone-auth: WARNING: token.algorithm=djb2 issues 32-bit non-cryptographic tokens that can be forged; use it only while migrating old deployments.\n');
  }

  if (command === 'admin') {
    const db = await openReady(config);
    try {
      if (sub === 'set-tier') console.log(await adminSetTier(db, rest, args.expires, Date.now()));
      else if (sub === 'users') console.log(await adminUsers(db, args.json));
      else throw expected('usage: hone-auth admin set-tier <email> <tier> [--expires YYYY-MM-DD] | admin users [--json]');
    } finally {
      await db.close();
    }
    return;
  }
  if (command !== undefined && command !== 'serve') throw expected(`unknown command "${command}"; see hone-auth --help`);

  const db = await openReady(config);
  const app = await buildAuthServer({ config, db });
  if (config.dev) app.log.warn('development mode: not for production');
  const address = await app.listen({ host: config.host, port: config.port }).catch(async (err: NodeJS.ErrnoException) => {
    await app.close().catch(() => {});
    await db.close().catch(() => {});
    throw listenFailure(err, `${config.host}:${config.port} (host, port)`) ?? err;
  });
  app.log.info({ event: 'listening', database: db.describe }, `hone-auth ${VERSION} listening on ${address} (public URL ${config['auth.publicUrl']}, ${db.describe})`);
  exitOnSignals(app.log, 'shutting down', () => app.close().then(() => db.close()));
}

main().catch((err) => fail('hone-auth', err));
