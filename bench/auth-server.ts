// The servers under load for bench/auth.ts, run in their own process so the load generator never shares their event loop.
// Starts a bare Fastify baseline and hone-auth on a fresh SQLite file and a fresh MySQL database, each with a signed-in
// 'pro' user; prints `READY <json>` on stdout; on stdin's end (or SIGTERM) closes everything and drops the databases.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { createConnection } from 'mysql2/promise';
import { authConfigSchema } from '../src/auth/config.ts';
import type { AuthConfig } from '../src/auth/config.ts';
import { migrate, openDatabase } from '../src/auth/db/database.ts';
import type { AuthDb } from '../src/auth/db/database.ts';
import { buildAuthServer } from '../src/auth/server.ts';
import { createDevice } from '../src/auth/store/devices.ts';
import { setTier } from '../src/auth/store/users.ts';
import { configWith } from '../src/common/config.ts';

const BENCH_SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
const PROJECT_BODY = { projectKey: 'github.com/hone/bench-project', name: 'bench-project' };

const MYSQL = { host: process.env.HONE_BENCH_MYSQL_HOST ?? '127.0.0.1', port: Number(process.env.HONE_BENCH_MYSQL_PORT ?? 3306), user: 'root', password: '' };

export interface Target {
  url: string;
  token: string;
}

export interface ServerInfo {
  bare: string;
  /** The body POSTed to /auth/project: already registered, so every request is an idempotent re-register. */
  projectBody: { projectKey: string; name: string };
  sqlite: Target;
  mysql: Target | { error: string };
}

const cleanups: Array<() => Promise<void>> = [];

async function startAuth(kind: 'sqlite' | 'mysql'): Promise<Target & { devices: unknown; project: unknown }> {
  let dbValues: Partial<AuthConfig>;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'hone-bench-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    dbValues = { 'db.host': '', 'sqlite.path': join(dir, 'auth.db') };
  } else {
    const name = `hone_bench_${randomBytes(6).toString('hex')}`;
    const conn = await createConnection(MYSQL);
    await conn.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
    await conn.end();
    cleanups.push(async () => {
      const c = await createConnection(MYSQL);
      await c.query(`DROP DATABASE IF EXISTS ${name}`);
      await c.end();
    });
    dbValues = { 'db.host': MYSQL.host, 'db.port': MYSQL.port, 'db.user': MYSQL.user, 'db.password': MYSQL.password, 'db.name': name };
  }
  const config = configWith(authConfigSchema, {
    'auth.secret': BENCH_SECRET, host: '127.0.0.1', port: 0, 'log.level': 'silent', 'smtp.host': '',
    'login.perIp': 100_000, 'login.perEmail': 100_000, 'ratelimit.perIp': 1_000_000, ...dbValues,
  });
  const adb: AuthDb = openDatabase(config);
  cleanups.push(() => adb.close());
  await migrate(adb);
  const app = await buildAuthServer({ config, db: adb });
  cleanups.push(() => app.close());
  const url = await app.listen({ host: '127.0.0.1', port: 0 });

  // A 'pro' user with two devices, created through the store (no SMTP); what is measured goes through HTTP.
  const now = Date.now();
  const keys = { secret: config['auth.secret'], algorithm: config['token.algorithm'] };
  const userId = await setTier(adb.db, 'bench@example.com', 'pro', null, now);
  const { deviceToken } = await createDevice(adb.db, keys, { userId, deviceName: 'Desktop', platform: 'linux', now });
  await createDevice(adb.db, keys, { userId, deviceName: 'Laptop', platform: 'darwin', now });

  const headers = { authorization: `Bearer ${deviceToken}`, 'content-type': 'application/json' };
  const first = await fetch(`${url}/auth/project`, { method: 'POST', headers, body: JSON.stringify(PROJECT_BODY) });
  const project = await first.json();
  if (first.status !== 200) throw new Error(`${kind}: POST /auth/project answered ${first.status} ${JSON.stringify(project)}`);
  const list = await fetch(`${url}/auth/devices`, { headers });
  const devices = await list.json();
  if (list.status !== 200) throw new Error(`${kind}: GET /auth/devices answered ${list.status} ${JSON.stringify(devices)}`);
  return { url, token: deviceToken, devices, project };
}

/** Plain Fastify, no hooks, no logger: the same JSON bodies as the real routes, from memory. */
async function startBare(devices: unknown, project: unknown): Promise<string> {
  const app: FastifyInstance = Fastify({ logger: false });
  app.get('/bare/devices', async () => devices);
  app.post('/bare/project', async () => project);
  cleanups.push(() => app.close());
  return app.listen({ host: '127.0.0.1', port: 0 });
}

let closing = false;
async function shutdown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch (err) {
      process.stderr.write(`cleanup: ${String(err)}\n`);
    }
  }
  process.exit(code);
}

process.stdin.on('end', () => void shutdown(0));
process.stdin.on('error', () => void shutdown(0));
process.stdin.resume();
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));

try {
  const sqlite = await startAuth('sqlite');
  let mysql: ServerInfo['mysql'];
  try {
    mysql = await startAuth('mysql');
  } catch (err) {
    mysql = { error: err instanceof Error ? err.message : String(err) };
  }
  const bare = await startBare(sqlite.devices, sqlite.project);
  const info: ServerInfo = { bare, projectBody: PROJECT_BODY, sqlite: { url: sqlite.url, token: sqlite.token }, mysql: 'error' in mysql ? mysql : { url: mysql.url, token: mysql.token } };
  process.stdout.write(`READY ${JSON.stringify(info)}\n`);
} catch (err) {
  process.stderr.write(`auth-server: ${err instanceof Error ? err.stack : String(err)}\n`);
  await shutdown(1);
}
