// Version vectors and the conflict rule of `hone-sync mirror`: which of two versions of a file is newer, which one
// wins when they were made independently (last writer wins; an edit beats a delete), and the name a loser is kept under.

/** Per-file version vector: device name → number of changes that device made to the file. */
export type VersionVector = Record<string, number>;

/** One version of a file as both sides know it. `hash` is null for a deletion (tombstone). */
export interface Version {
  vv: VersionVector;
  /** Last-writer-wins time (ms): the file's mtime for an edit, the detection time for a delete. */
  t: number;
  /** Device that made this version. */
  d: string;
  hash: string | null;
}

export type Order = 'equal' | 'before' | 'after' | 'concurrent';

/** How `a` relates to `b`: 'after' = a has seen everything b has and more. */
export function compareVV(a: VersionVector, b: VersionVector): Order {
  let aMore = false;
  let bMore = false;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[k] ?? 0;
    const y = b[k] ?? 0;
    if (x > y) aMore = true;
    else if (y > x) bMore = true;
  }
  if (aMore && bMore) return 'concurrent';
  if (aMore) return 'after';
  if (bMore) return 'before';
  return 'equal';
}

export function mergeVV(a: VersionVector, b: VersionVector): VersionVector {
  const out: VersionVector = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = Math.max(out[k] ?? 0, v);
  return out;
}

export function bumpVV(vv: VersionVector, device: string): VersionVector {
  return { ...vv, [device]: (vv[device] ?? 0) + 1 };
}

/** Same content (both deleted, or the same hash): concurrent versions that need no conflict copy. */
export function sameContent(a: Version, b: Version): boolean {
  return a.hash === b.hash;
}

/**
 * Whether `a` beats `b` when neither has seen the other (the same answer on every device):
 * an edit beats a delete (nothing is lost), then the later `t`, then the greater device name.
 */
export function wins(a: Version, b: Version): boolean {
  if ((a.hash === null) !== (b.hash === null)) return a.hash !== null;
  if (a.t !== b.t) return a.t > b.t;
  return a.d > b.d;
}

/** `dir/name.ext` → `dir/name.ext.conflict-<device>`, then `-2`, `-3`… while `taken` says the name is in use. */
export function conflictName(path: string, device: string, taken: (p: string) => boolean): string {
  const safe = device.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 64) || 'device';
  const base = `${path}.conflict-${safe}`;
  if (!taken(base)) return base;
  for (let i = 2; ; i++) if (!taken(`${base}-${i}`)) return `${base}-${i}`;
}
