// Adapts node:sqlite's DatabaseSync to the better-sqlite3-shaped interface Kysely's SqliteDialect expects.
// Keeps the project free of native addons, and counts this connection's writes for the read cache (store/read-cache.ts).
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

type Param = null | number | bigint | string | Uint8Array;

/** The open connection and the number of statements run on it that may have changed the database. */
export interface SqliteHandle {
  raw: DatabaseSync;
  /** Grows after every statement other than a SELECT (BEGIN, COMMIT and ROLLBACK included), even one that failed. */
  writes: number;
}

function wrap(stmt: StatementSync, handle: SqliteHandle, sql: string): SqliteStatement {
  const reader = stmt.columns().length > 0;
  if (/^\s*select\b/i.test(sql)) {
    return {
      reader,
      all: (params) => stmt.all(...(params as Param[])),
      run: (params) => stmt.run(...(params as Param[])),
      iterate: (params) => stmt.iterate(...(params as Param[])) as IterableIterator<unknown>,
    };
  }
  return {
    reader,
    all: (params) => {
      try {
        return stmt.all(...(params as Param[]));
      } finally {
        handle.writes++;
      }
    },
    run: (params) => {
      try {
        const r = stmt.run(...(params as Param[]));
        return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
      } finally {
        handle.writes++;
      }
    },
    iterate: (params) => {
      handle.writes++;
      return stmt.iterate(...(params as Param[])) as IterableIterator<unknown>;
    },
  };
}

/** Opens (creating if needed) a SQLite file with WAL, foreign keys and a busy timeout. */
export function openSqlite(path: string): SqliteDatabase & { handle: SqliteHandle } {
  const db = new DatabaseSync(path, { timeout: 5000 });
  db.exec('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;');
  const handle: SqliteHandle = { raw: db, writes: 0 };
  const cache = new Map<string, SqliteStatement>();
  return {
    handle,
    close: () => db.close(),
    prepare: (sql: string) => {
      let s = cache.get(sql);
      if (!s) {
        s = wrap(db.prepare(sql), handle, sql);
        if (cache.size < 500) cache.set(sql, s);
      }
      return s;
    },
  };
}
