// SQLite only: hone-auth's rows and answers kept in memory while the database is provably unchanged (no expiry by time):
// every request first checks `PRAGMA data_version` (other connections' commits) and this connection's own write count.
import type { StatementSync } from 'node:sqlite';
import type { SqliteHandle } from '../db/sqlite-adapter.ts';

export interface ReadCache {
  sqlite: SqliteHandle;
  dataVersion: StatementSync;
  /** The data_version and write count under which every entry was read. */
  version: number;
  writes: number;
  entries: Map<string, unknown>;
  statements: Map<string, StatementSync>;
}

/** Bound on the entries; past it the cache starts over (a miss only costs the read it saves). */
export const MAX_ENTRIES = 50_000;

export function createReadCache(sqlite: SqliteHandle): ReadCache {
  const dataVersion = sqlite.raw.prepare('PRAGMA data_version');
  dataVersion.setReturnArrays(true);
  return { sqlite, dataVersion, version: -1, writes: -1, entries: new Map(), statements: new Map() };
}

/**
 * Once per request, before any cached read: drops every entry if the database changed since they were read.
 * False while a transaction is open on the connection (its rows are not committed): read through Kysely then.
 */
export function checkCache(c: ReadCache): boolean {
  if (c.sqlite.raw.isTransaction) return false;
  const version = (c.dataVersion.get() as unknown as [number])[0];
  if (version !== c.version) {
    c.entries.clear();
    c.version = version;
  }
  return checkOwnWrites(c);
}

/**
 * Later in the same request (after an await): drops every entry if this process wrote in between. Another
 * connection's commit in between is seen by the next request's checkCache, as if it had committed a moment later.
 */
export function checkOwnWrites(c: ReadCache): boolean {
  if (c.sqlite.raw.isTransaction) return false;
  if (c.sqlite.writes !== c.writes) {
    c.entries.clear();
    c.writes = c.sqlite.writes;
  }
  return true;
}

/** The entry under `key`, or what `load` reads now (synchronously, on the same connection); null = no such row. */
export function cached<T>(c: ReadCache, key: string, load: () => T | null): T | null {
  let v = c.entries.get(key) as T | null | undefined;
  if (v === undefined) {
    v = load() ?? null;
    if (c.entries.size >= MAX_ENTRIES) c.entries.clear();
    c.entries.set(key, v);
  }
  return v;
}

/** The entry under `key` if there is one (after checkCache); for values that are not simply read, see `keep`. */
export function peek<T>(c: ReadCache, key: string): T | undefined {
  return c.entries.get(key) as T | undefined;
}

/** Stores a value derived from entries read under the current check (dropped with them). */
export function keep(c: ReadCache, key: string, value: unknown): void {
  if (c.entries.size >= MAX_ENTRIES) c.entries.clear();
  c.entries.set(key, value);
}

/** A statement prepared once on the cache's connection. */
export function statement(c: ReadCache, sql: string): StatementSync {
  let s = c.statements.get(sql);
  if (!s) {
    s = c.sqlite.raw.prepare(sql);
    c.statements.set(sql, s);
  }
  return s;
}

/** Runs a write on the cache's connection synchronously, counts it and drops the cache at once. */
export function writeNow(c: ReadCache, sql: string, parameters: Array<string | number | null>): number {
  try {
    return Number(statement(c, sql).run(...parameters).changes);
  } finally {
    c.sqlite.writes++;
    c.entries.clear();
    c.writes = c.sqlite.writes;
  }
}
