// Opens the auth database through Kysely: embedded SQLite when db.host is empty, MySQL otherwise.
// Runs the migrations and tells connection failures (503) apart from query errors.
import { Kysely, MysqlDialect, SqliteDialect, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { prepareSqliteFile } from '../../common/sqlite-file.ts';
import { createPool } from 'mysql2';
import type { Database } from './tables.ts';
import type { Dialect } from './migrations.ts';
import { migrationProvider } from './migrations.ts';
import { openSqlite } from './sqlite-adapter.ts';
import type { SqliteHandle } from './sqlite-adapter.ts';

export interface DbOptions {
  'db.host': string;
  'db.port': number;
  'db.user': string;
  'db.password': string;
  'db.name': string;
  'db.poolSize': number;
  'sqlite.path': string;
}

export interface AuthDb {
  db: Kysely<Database>;
  dialect: Dialect;
  /** A short description for logs: `sqlite ./data/auth.db` or `mysql hone@host:3306/hone`. */
  describe: string;
  /** SQLite only: the connection Kysely uses, for the read cache's synchronous reads (store/read-cache.ts). */
  sqlite?: SqliteHandle;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function openDatabase(opts: DbOptions): AuthDb {
  if (!opts['db.host']) {
    const path = opts['sqlite.path'];
    prepareSqliteFile(path);
    const database = openSqlite(path);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
    return { ...wrap(db, 'sqlite', `sqlite ${path}`), sqlite: database.handle };
  }
  const pool = createPool({
    host: opts['db.host'],
    port: opts['db.port'],
    user: opts['db.user'],
    password: opts['db.password'],
    database: opts['db.name'],
    connectionLimit: opts['db.poolSize'],
    connectTimeout: 5000,
    dateStrings: true,
    timezone: 'Z',
    charset: 'utf8mb4',
    supportBigNumbers: true,
  });
  // A pool-level error (a dropped idle connection) must never crash the process.
  pool.on('connection', (conn) => conn.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new MysqlDialect({ pool }) });
  return wrap(db, 'mysql', `mysql ${opts['db.user']}@${opts['db.host']}:${opts['db.port']}/${opts['db.name']}`);
}

function wrap(db: Kysely<Database>, dialect: Dialect, describe: string): AuthDb {
  return {
    db,
    dialect,
    describe,
    ping: async () => {
      await sql`SELECT 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

/** Applies every pending migration; throws with the failing migration's error. */
export async function migrate(adb: AuthDb): Promise<string[]> {
  const migrator = new Migrator({ db: adb.db, provider: migrationProvider(adb.dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_ACCESS_DENIED_ERROR', 'ER_BAD_DB_ERROR',
  'POOL_CLOSED', 'ERR_SQLITE_ERROR', 'SQLITE_BUSY', 'SQLITE_IOERR', 'SQLITE_CANTOPEN',
]);

/** True for errors that mean the database is unreachable rather than that the query was wrong. */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; fatal?: boolean; errcode?: number; message?: string } | null;
  if (!e) return false;
  if (e.fatal) return true;
  if (e.code === 'ERR_SQLITE_ERROR') return /busy|locked|disk|readonly|unable to open/i.test(e.message ?? '');
  return e.code !== undefined && UNAVAILABLE_CODES.has(e.code);
}

/** True for a unique-constraint violation on either dialect. */
export function isDuplicate(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  return !!e && (e.code === 'ER_DUP_ENTRY' || /UNIQUE constraint failed/.test(e.message ?? ''));
}
