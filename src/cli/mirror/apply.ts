// File operations of `hone-sync mirror` inside the mirrored folder that never follow a symlink: every component is
// checked with lstat (files opened O_NOFOLLOW); a write is atomic (temporary file in .hone-sync/tmp, then rename).
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { STATE_DIR } from './path-policy.ts';
import type { FileStat } from './scan.ts';
import { statOf } from './scan.ts';

/** A path that would leave the folder (a symlink or a non-folder on the way): refused, never followed. */
export class RefusedPath extends Error {
  readonly rel: string;
  constructor(rel: string, why: string) {
    super(why);
    this.rel = rel;
  }
}

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;

/** The folder holding `rel` ('' at the top). */
export const parentOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');

export function absPath(root: string, rel: string): string {
  return join(root, ...rel.split('/'));
}

const lstatOrNull = (p: string): Stats | null => {
  try {
    return lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
};

/**
 * Checks the folders on the way to `rel` one by one with lstat: each must be a real folder. Missing ones are created
 * when `create` (one mkdir each, never recursive through a link); otherwise the answer is false (the path is absent).
 * A symlink or a file on the way throws RefusedPath.
 */
function parentsInside(root: string, rel: string, create: boolean): boolean {
  const segs = rel.split('/');
  let dir = root;
  for (let i = 0; i < segs.length - 1; i++) {
    const sub = segs.slice(0, i + 1).join('/');
    dir = join(dir, segs[i]);
    const st = lstatOrNull(dir);
    if (st === null) {
      if (!create) return false;
      mkdirSync(dir);
      continue;
    }
    if (st.isSymbolicLink()) throw new RefusedPath(rel, `${sub} is a symlink; the mirror never follows one out of the folder`);
    if (!st.isDirectory()) throw new RefusedPath(rel, `${sub} is not a folder`);
  }
  return true;
}

/** Why `rel` would leave the folder (a symlink or a file among its parents), or null when it stays inside. */
export function leavesFolder(root: string, rel: string): string | null {
  try {
    parentsInside(root, rel, false);
    return null;
  } catch (err) {
    if (err instanceof RefusedPath) return err.message;
    throw err;
  }
}

/** lstat of `rel` without following a symlink anywhere on the way; null when absent or behind a symlink. */
export function lstatInside(root: string, rel: string): Stats | null {
  try {
    if (!parentsInside(root, rel, false)) return null;
  } catch (err) {
    if (err instanceof RefusedPath) return null;
    throw err;
  }
  return lstatOrNull(absPath(root, rel));
}

/** The content of the regular file `rel`, opened without following a symlink; null when absent. Throws RefusedPath. */
export function readInside(root: string, rel: string): Buffer | null {
  if (!parentsInside(root, rel, false)) return null;
  let fd: number;
  try {
    fd = openSync(absPath(root, rel), constants.O_RDONLY | NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new RefusedPath(rel, `${rel} is a symlink; the mirror never follows one out of the folder`);
    throw err;
  }
  try {
    if (!fstatSync(fd).isFile()) throw new RefusedPath(rel, `${rel} is not a regular file`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `content` at `rel` atomically; creates missing parent folders (none through a symlink). */
export function writeAtomic(root: string, rel: string, content: Uint8Array): FileStat {
  const target = absPath(root, rel);
  parentsInside(root, rel, true);
  const existing = lstatOrNull(target);
  if (existing && !existing.isFile()) throw new RefusedPath(rel, `${rel} is ${existing.isSymbolicLink() ? 'a symlink' : 'not a regular file'} here; not replaced`);
  const tmpDir = join(root, STATE_DIR, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}`);
  writeFileSync(tmp, content, { mode: 0o644 });
  try {
    renameSync(tmp, target); // rename replaces the name itself: a link put there meanwhile is replaced, not followed
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return statOf(statSync(target));
}

/** Creates the folder `rel` (and its parents) inside the folder, never through a symlink. Throws RefusedPath. */
export function makeDir(root: string, rel: string): void {
  parentsInside(root, rel + '/x', true);
}

/**
 * Removes the folder `rel` when it is empty, then each parent that became empty (up to, not including, `keep` and the
 * root); a folder with anything in it stays. Never follows a symlink.
 */
export function removeEmptyDirs(root: string, rel: string, keep: (dir: string) => boolean = () => false): void {
  let dir = rel;
  while (dir) {
    if (keep(dir)) return;
    try {
      if (!parentsInside(root, dir, false)) return;
    } catch {
      return;
    }
    const st = lstatOrNull(absPath(root, dir));
    if (!st || !st.isDirectory()) return;
    if (readdirSync(absPath(root, dir)).length > 0) return;
    try {
      rmdirSync(absPath(root, dir));
    } catch {
      return;
    }
    dir = parentOf(dir);
  }
}

/** Files a peer deleted are kept here for a while, by content hash, so a rename's new path can take them back. */
const TRASH = 'trash';
/** At most this many deleted files are kept (the oldest go first). */
const TRASH_FILES = 32;

/**
 * Removes the regular file `rel` if it is there (a missing file is already what the peer wants); throws RefusedPath.
 * With its content `hash`, the content is kept in .hone-sync/trash/<hash> (a rename within the file system, no copy),
 * so a rename that arrives as delete + "same content as" is applied without the content.
 */
export function removeToTrash(root: string, rel: string, hash: string | null): void {
  if (!parentsInside(root, rel, false)) return;
  const st = lstatOrNull(absPath(root, rel));
  if (st === null) return;
  if (!st.isFile()) throw new RefusedPath(rel, `${rel} is ${st.isSymbolicLink() ? 'a symlink' : 'not a regular file'} here; not removed`);
  if (hash === null || !/^[0-9a-f]{64}$/.test(hash)) return unlinkSync(absPath(root, rel));
  const dir = join(root, STATE_DIR, TRASH);
  mkdirSync(dir, { recursive: true });
  renameSync(absPath(root, rel), join(dir, hash));
  const kept = readdirSync(dir).map((name) => ({ name, at: lstatOrNull(join(dir, name))?.ctimeMs ?? 0 })).sort((a, b) => b.at - a.at);
  for (const old of kept.slice(TRASH_FILES)) rmSync(join(dir, old.name), { force: true });
}

/** The content of a trashed file with this hash, if kept (verified by the caller). */
export function fromTrash(root: string, hash: string): Buffer | null {
  if (!/^[0-9a-f]{64}$/.test(hash)) return null;
  try {
    return readFileSync(join(root, STATE_DIR, TRASH, hash));
  } catch {
    return null;
  }
}

/** Clears temporary files a killed mirror left behind, and the trash of an earlier run. */
export function clearTmp(root: string): void {
  rmSync(join(root, STATE_DIR, 'tmp'), { recursive: true, force: true });
  rmSync(join(root, STATE_DIR, TRASH), { recursive: true, force: true });
}
