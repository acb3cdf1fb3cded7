// Writes peers' changes into the mirrored folder: a file replaced atomically (a temporary file in .hone-sync/tmp, then
// rename, so readers and the watcher never see half a file) or removed; returns the new size and mtime for the index.
import { mkdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FileStat } from './scan.ts';
import { STATE_DIR, statOf } from './scan.ts';

export function absPath(root: string, rel: string): string {
  return join(root, ...rel.split('/'));
}

/** Writes `content` at `rel` atomically; creates missing parent folders. */
export function writeAtomic(root: string, rel: string, content: Uint8Array): FileStat {
  const target = absPath(root, rel);
  const tmpDir = join(root, STATE_DIR, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}`);
  writeFileSync(tmp, content, { mode: 0o644 });
  try {
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return statOf(statSync(target));
}

/** Removes `rel` if it is there (a missing file is already what the peer wants). */
export function remove(root: string, rel: string): void {
  try {
    unlinkSync(absPath(root, rel));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Clears temporary files a killed mirror left behind. */
export function clearTmp(root: string): void {
  rmSync(join(root, STATE_DIR, 'tmp'), { recursive: true, force: true });
}
