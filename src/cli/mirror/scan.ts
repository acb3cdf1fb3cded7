// What `hone-sync mirror` looks at in a folder: which relative paths are synced (never .git, node_modules or its own
// .hone-sync state), whether a path from a peer is safe to write, a walk listing every regular file, and content hashes.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { join } from 'node:path';

/** Folder names skipped at any depth. */
export const IGNORED_NAMES: ReadonlySet<string> = new Set(['.git', 'node_modules', '.hone-sync']);
/** The mirror's own folder inside the mirrored one (index, temporary files). */
export const STATE_DIR = '.hone-sync';

export function isIgnored(rel: string): boolean {
  return rel.split('/').some((seg) => IGNORED_NAMES.has(seg));
}

/**
 * A relative path from a peer is written only when it is plain: '/'-separated, no empty, '.' or '..' segment,
 * not absolute, no backslash or NUL, not ignored, at most 4096 characters.
 */
export function isSafeRelPath(rel: unknown): rel is string {
  if (typeof rel !== 'string' || rel.length === 0 || rel.length > 4096) return false;
  if (rel.startsWith('/') || rel.includes('\\') || rel.includes('\0')) return false;
  if (rel.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) return false;
  return !isIgnored(rel);
}

export interface FileStat {
  size: number;
  mtimeMs: number;
}

export const statOf = (st: Stats): FileStat => ({ size: st.size, mtimeMs: st.mtimeMs });

/** Every regular file under `root/sub` (symlinks and ignored folders skipped), as '/'-separated paths relative to root. */
export function walk(root: string, sub = ''): Map<string, FileStat> {
  const out = new Map<string, FileStat>();
  const visit = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(rel ? join(root, rel) : root);
    } catch {
      return; // vanished or unreadable: its files count as absent
    }
    for (const name of names) {
      if (IGNORED_NAMES.has(name)) continue;
      const childRel = rel ? `${rel}/${name}` : name;
      let st: Stats;
      try {
        st = lstatSync(join(root, childRel));
      } catch {
        continue;
      }
      if (st.isDirectory()) visit(childRel);
      else if (st.isFile()) out.set(childRel, statOf(st));
    }
  };
  visit(sub);
  return out;
}

export function hashOf(content: Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}
