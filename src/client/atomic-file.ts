// Writes a file atomically: a temporary file beside it (mode given, default 0600), fsync, then rename over.
// Readers see the old or the new content, never a half-written file; the folder is created 0700 if missing.
// Also the one warning for a secret-holding file that other users can read.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';

export function writeFileAtomic(path: string, text: string, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The warning for a file holding `what` (a secret) that other users can read; null when it is 0600-like, absent, or on Windows. */
export function looseModeWarning(path: string, what: string): string | null {
  if (process.platform === 'win32') return null;
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return null; // raced with a delete: nothing to say
  }
  return (mode & 0o077) !== 0 ? `${path}: readable by other users (mode ${mode.toString(8)}) and holds ${what}; run chmod 600 ${path}` : null;
}
