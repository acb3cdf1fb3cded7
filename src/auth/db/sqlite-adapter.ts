// Adapts node:sqlite's DatabaseSync to the better-sqlite3-shaped interface Kysely's SqliteDialect expects.
// Keeps the project free of native addons.
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

type Param = null | number | bigint | string | Uint8Array;

function wrap(stmt: StatementSync): SqliteStatement {
  return {
    reader: stmt.columns().length > 0,
    all: (params) => stmt.all(...(params as Param[])),
    run: (params) => {
      const r = stmt.run(...(params as Param[]));
      return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
    },
    iterate: (params) => stmt.iterate(...(params as Param[])) as IterableIterator<unknown>,
  };
}

/** Opens (creating if needed) a SQLite file with WAL, foreign keys and a busy timeout. */
export function openSqlite(path: string): SqliteDatabase & { raw: DatabaseSync } {
  const db = new DatabaseSync(path, { timeout: 5000 });
  db.exec('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;');
  const cache = new Map<string, SqliteStatement>();
  return {
    raw: db,
    close: () => db.close(),
    prepare: (sql: string) => {
      let s = cache.get(sql);
      if (!s) {
        s = wrap(db.prepare(sql));
        if (cache.size < 500) cache.set(sql, s);
      }
      return s;
    },
  };
}
