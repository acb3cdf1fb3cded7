// Fresh databases for tests: a SQLite file in a temporary folder, or a new database on the real MariaDB.
// Each run gets its own and drops it afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';

export type DbKind = 'sqlite' | 'mysql';

export const MYSQL = { host: process.env.HONE_TEST_MYSQL_HOST ?? '127.0.0.1', port: Number(process.env.HONE_TEST_MYSQL_PORT ?? 3306), user: 'root', password: '' };

export interface TestDb {
  config: { 'db.host': string; 'db.port': number; 'db.user': string; 'db.password': string; 'db.name': string; 'sqlite.path': string };
  drop(): Promise<void>;
}

export async function freshDb(kind: DbKind): Promise<TestDb> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'hone-auth-'));
    return {
      config: { 'db.host': '', 'db.port': 3306, 'db.user': '', 'db.password': '', 'db.name': '', 'sqlite.path': join(dir, 'auth.db') },
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `hone_test_${randomBytes(6).toString('hex')}`;
  const conn = await createConnection(MYSQL);
  await conn.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
  await conn.end();
  return {
    config: { 'db.host': MYSQL.host, 'db.port': MYSQL.port, 'db.user': MYSQL.user, 'db.password': MYSQL.password, 'db.name': name, 'sqlite.path': '' },
    drop: async () => {
      const c = await createConnection(MYSQL);
      await c.query(`DROP DATABASE IF EXISTS ${name}`);
      await c.end();
    },
  };
}
