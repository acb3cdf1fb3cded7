// One `hone-sync mirror` per folder: a lock file in <dir>/.hone-sync naming the holder's pid and host, taken atomically
// (link of a complete temporary file); a lock whose process is gone (killed, crashed) on this host is taken over.
import { linkSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { STATE_DIR } from './path-policy.ts';

export interface LockHolder { pid: number; host: string; since: number }

export interface FolderLock {
  readonly file: string;
  release(): void;
}

/** Thrown when another live mirror holds the folder. */
export class FolderLocked extends Error {
  readonly holder: LockHolder;
  constructor(dir: string, holder: LockHolder) {
    super(`another hone-sync mirror (pid ${holder.pid} on ${holder.host}, since ${new Date(holder.since).toISOString()}) is already mirroring ${dir}; stop it first, or mirror another folder (if no mirror runs there, remove ${join(dir, STATE_DIR, 'lock')})`);
    this.holder = holder;
  }
}

function readHolder(file: string): LockHolder | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    return Number.isSafeInteger(v.pid) && typeof v.host === 'string' && typeof v.since === 'number' ? v : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the folder's lock or throws FolderLocked naming the live holder. */
export function lockFolder(root: string, now: () => number = Date.now): FolderLock {
  const dir = join(root, STATE_DIR);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'lock');
  const me: LockHolder = { pid: process.pid, host: hostname(), since: now() };
  const tmp = join(dir, `lock.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(me), { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, file); // atomic: fails if a lock is there, and a reader never sees half a lock
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      }
      const holder = readHolder(file);
      // A lock of a live process — or one from another host, which this host cannot check — is respected.
      if (holder && (holder.host !== me.host || alive(holder.pid)) && holder.pid !== process.pid) throw new FolderLocked(root, holder);
      unlinkSync(file); // stale (its process is gone) or damaged: take it over
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  let held = true;
  return {
    file,
    release() {
      if (!held) return;
      held = false;
      if (readHolder(file)?.pid === process.pid) rmSync(file, { force: true });
    },
  };
}
