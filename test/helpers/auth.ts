// Starts a real hone-auth on port 0 over a fresh database and a real SMTP server, with a clock tests move.
// `signIn` walks the whole magic-link flow through the e-mail, as a user would.
import type { FastifyInstance } from 'fastify';
import { request as httpRequest } from 'node:http';
import { configWith } from '../../src/common/config.ts';
import type { AuthConfig } from '../../src/auth/config.ts';
import { authConfigSchema } from '../../src/auth/config.ts';
import { migrate, openDatabase } from '../../src/auth/db/database.ts';
import type { AuthDb } from '../../src/auth/db/database.ts';
import { buildAuthServer } from '../../src/auth/server.ts';
import type { DbKind, TestDb } from './db.ts';
import { freshDb } from './db.ts';
import { startSmtp } from './smtp.ts';
import type { TestSmtp } from './smtp.ts';

export const TEST_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

export interface TestClock {
  now: number;
  advance(ms: number): void;
}

export interface TestAuth {
  url: string;
  app: FastifyInstance;
  config: AuthConfig;
  adb: AuthDb;
  smtp: TestSmtp;
  clock: TestClock;
  /** fetch against the server, path relative to its URL. */
  request(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  json(path: string, init?: RequestInit & { token?: string }): Promise<{ status: number; body: any; headers: Headers }>;
  /** Full magic-link flow through the SMTP server; returns verify's JSON answer. */
  signIn(email: string, deviceName?: string, platform?: string): Promise<{ deviceToken: string; userId: number; deviceId: number }>;
  close(): Promise<void>;
}

export async function startAuth(kind: DbKind, values: Partial<AuthConfig> = {}, opts: { logStream?: { write(line: string): unknown }; db?: TestDb } = {}): Promise<TestAuth> {
  const smtp = await startSmtp();
  const testDb = opts.db ?? (await freshDb(kind));
  const config = configWith(authConfigSchema, {
    'auth.secret': TEST_SECRET, host: '127.0.0.1', port: 0, 'log.level': 'silent',
    'smtp.host': '127.0.0.1', 'smtp.port': smtp.port, 'login.perIp': 10_000, 'ratelimit.perIp': 100_000,
    ...testDb.config, ...values,
  });
  const adb = openDatabase(config);
  await migrate(adb);
  const clock: TestClock = { now: Date.UTC(2026, 10, 24, 12, 0, 0), advance(ms) { this.now += ms; } };
  const app = await buildAuthServer({ config, db: adb, clock: () => clock.now, logStream: opts.logStream });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  config['auth.publicUrl'] = address;

  const request = (path: string, init: RequestInit & { token?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.token !== undefined) headers.set('authorization', `Bearer ${init.token}`);
    return fetch(address + path, { ...init, headers });
  };
  const json = async (path: string, init: RequestInit & { token?: string } = {}) => {
    const res = await request(path, init);
    const text = await res.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, body, headers: res.headers };
  };
  return {
    url: address, app, config, adb, smtp, clock, request, json,
    async signIn(email, deviceName = 'Desktop', platform = 'linux') {
      const login = await json(`/auth/login?${new URLSearchParams({ email, deviceName, platform })}`);
      if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
      const link = smtp.linkIn(await smtp.nextMail(email));
      const verify = await fetch(link);
      const body = await verify.json();
      if (verify.status !== 200) throw new Error(`verify failed: ${verify.status} ${JSON.stringify(body)}`);
      return body;
    },
    async close() {
      await app.close();
      await adb.close();
      await smtp.close();
      if (!opts.db) await testDb.drop();
    },
  };
}

export interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string; body: any }

/**
 * One HTTP request to the server from the given local address (a fresh connection, no keep-alive): loopback
 * addresses stand for machines (Linux routes all of 127/8 to lo). `body` is the parsed JSON, else the text.
 */
export function requestFrom(ip: string, a: { url: string }, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const url = new URL(a.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, localAddress: ip, agent: false, method, path, headers: init.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: any = text;
        try {
          body = JSON.parse(text);
        } catch { /* HTML or empty */ }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}
