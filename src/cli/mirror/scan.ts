// What `hone-sync mirror` looks at in a folder: a walk listing every regular file and folder (reserved names and symlinks
// skipped, see path-policy.ts), and content hashes.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { isReservedSegment } from './path-policy.ts';

export interface FileStat {
  size: number;
  mtimeMs: number;
}

export const statOf = (st: Stats): FileStat => ({ size: st.size, mtimeMs: st.mtimeMs });

/**
 * Every regular file under `root/sub` (symlinks and reserved folders skipped), as '/'-separated paths relative to root;
 * `dirs` (when given) receives every folder met on the way.
 */
export function walk(root: string, sub = '', dirs?: Set<string>): Map<string, FileStat> {
  const out = new Map<string, FileStat>();
  const visit = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(rel ? join(root, rel) : root);
    } catch {
      return; // vanished or unreadable: its files count as absent
    }
    for (const name of names) {
      if (isReservedSegment(name)) continue;
      const childRel = rel ? `${rel}/${name}` : name;
      let st: Stats;
      try {
        st = lstatSync(join(root, childRel));
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        dirs?.add(childRel);
        visit(childRel);
      }
      else if (st.isFile()) out.set(childRel, statOf(st));
    }
  };
  visit(sub);
  return out;
}

export function hashOf(content: Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}
