// Prepares the file behind a `sqlite.path` before SQLite opens it: its folder is created, a new file is created
// mode 0600 (SQLite gives its -wal and -shm files the same mode), and a path it cannot use is a one-line ConfigError.
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from './config.ts';

export function prepareSqliteFile(path: string): void {
  if (path === ':memory:' || path === '') return;
  prepareSqliteFolder(path);
  try {
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new ConfigError(`sqlite.path: ${path} is a folder; give the path of a database file`);
    closeSync(openSync(path, 'a', 0o600));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`sqlite.path: cannot create the database file ${path} (${code === 'EACCES' ? 'permission denied' : code ?? String(err)})`);
  }
}

/** Creates the folder of a `sqlite.path` (where the database and, in development, dev.secret live). */
export function prepareSqliteFolder(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOTDIR' || code === 'EEXIST' ? 'a file is in the way of the database folder' : code === 'EACCES' ? 'permission denied' : code ?? String(err);
    throw new ConfigError(`sqlite.path: cannot create the database folder for ${path} (${why})`);
  }
}
