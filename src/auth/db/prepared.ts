// Queries built and compiled by Kysely once per database handle, then run with new parameters: no query building
// or compiling per request. The compiled SQL text is also what the SQLite read cache runs on the raw connection.
import type { Compilable, CompiledQuery, Kysely } from 'kysely';
import type { Database } from './tables.ts';

type Db = Kysely<Database>;

export interface Prepared<R> {
  /** The compiled query for this handle (a transaction compiles its own on first use). */
  compiled(db: Db): CompiledQuery<R>;
  /** Runs the query with `parameters` in the order of the placeholders of the built query. */
  rows(db: Db, parameters: readonly unknown[]): Promise<R[]>;
}

/** `build` is called with placeholder values; the real ones are passed to `rows` in the same order. */
export function prepared<R>(build: (db: Db) => Compilable<R>): Prepared<R> {
  const byDb = new WeakMap<Db, CompiledQuery<R>>();
  function compiled(db: Db): CompiledQuery<R> {
    let q = byDb.get(db);
    if (!q) {
      q = build(db).compile();
      byDb.set(db, q);
    }
    return q;
  }
  return {
    compiled,
    rows: async (db, parameters) => (await db.executeQuery<R>({ ...compiled(db), parameters })).rows,
  };
}
