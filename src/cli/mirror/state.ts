// The persisted index of `hone-sync mirror` (<dir>/.hone-sync/index.json + journal): every path's last known version
// (hash, size, mtime, version vector, tombstones) and the relay position, so a restart — even after kill -9 — knows what changed.
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../client/atomic-file.ts';
import { isEpoch } from '../../client/protocol.ts';
import type { SeqStore } from '../../client/relay-client.ts';
import type { Version } from './conflicts.ts';
import { isVV } from './protocol.ts';
import { STATE_DIR } from './path-policy.ts';

const NONE: ReadonlySet<string> = new Set();

/** Journal key of the relay position (a path cannot be empty). */
const SEQ_KEY = '';

function isEntry(e: any): e is IndexEntry {
  return !!e && isVV(e.vv) && typeof e.t === 'number' && typeof e.d === 'string' && (e.hash === null || typeof e.hash === 'string');
}

export interface IndexEntry extends Version {
  /** What the file on disk looked like when this version was recorded (null for a deletion). */
  size: number | null;
  mtimeMs: number | null;
}

interface IndexFile {
  format: 1;
  room: string;
  device: string;
  lastSeq: number | null;
  /** The epoch of the room's sequence lastSeq belongs to (SPEC §6.1; absent from older indexes). */
  epoch?: string;
  files: Record<string, IndexEntry>;
}

/**
 * Every change is appended to `journal` at once (one JSON line, no fsync: it survives the process being killed);
 * `index.json` is rewritten atomically every few seconds and at exit, and the journal is then emptied.
 */
export class MirrorIndex {
  readonly file: string;
  readonly journal: string;
  private fd: number;
  private journalBytes = 0;
  readonly files = new Map<string, IndexEntry>();
  /** Every folder ('a', 'a/b') some path lies under (paths are never removed, so neither are these): see hasUnder. */
  private readonly folders = new Set<string>();
  /** Content hash → the paths whose entry holds it now (files only): see withHash. */
  private readonly byHash = new Map<string, Set<string>>();
  lastSeq: number | null = null;
  epoch = '';
  private readonly room: string;
  private readonly device: string;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly delayMs: number;

  /** Loads the index of `root` for `room`; another room's (or a damaged) index starts empty, the folder is then rescanned. */
  constructor(root: string, room: string, device: string, delayMs = 5000) {
    this.file = join(root, STATE_DIR, 'index.json');
    this.journal = join(root, STATE_DIR, 'journal');
    this.room = room;
    this.device = device;
    this.delayMs = delayMs;
    mkdirSync(join(root, STATE_DIR), { recursive: true });
    let data: Partial<IndexFile> = {};
    try {
      data = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch { /* first run, or damaged: start from a scan */ }
    const valid = data.format === 1 && data.room === room && data.device === device && typeof data.files === 'object' && data.files !== null;
    if (valid) {
      if (Number.isSafeInteger(data.lastSeq) && (data.lastSeq as number) >= 0) this.lastSeq = data.lastSeq as number;
      if (isEpoch(data.epoch)) this.epoch = data.epoch;
      for (const [path, e] of Object.entries(data.files!)) if (isEntry(e)) this.put(path, e);
      let journal = '';
      try {
        journal = readFileSync(this.journal, 'utf8');
      } catch { /* none */ }
      for (const line of journal.split('\n')) {
        let rec: unknown;
        try {
          rec = JSON.parse(line);
        } catch {
          continue; // the last line of a killed process may be cut short
        }
        if (!Array.isArray(rec)) continue;
        if (rec[0] === SEQ_KEY && Number.isSafeInteger(rec[1])) {
          this.lastSeq = rec[1];
          this.epoch = isEpoch(rec[2]) ? rec[2] : '';
        }
        else if (typeof rec[0] === 'string' && isEntry(rec[1])) this.put(rec[0], rec[1]);
      }
    }
    // From here on the journal continues what index.json (rewritten now) holds.
    this.fd = -1;
    this.flush();
  }

  get(path: string): IndexEntry | undefined {
    return this.files.get(path);
  }

  set(path: string, entry: IndexEntry): void {
    this.put(path, entry);
    this.append([path, entry]);
  }

  /** Whether any path lies below the folder `dir` ('a/b' for 'a/b/c'; a folder's own key 'a/b/' is not below it). */
  hasUnder(dir: string): boolean {
    return this.folders.has(dir);
  }

  /** The paths whose content is `hash` now (a rename's or copy's source), without a scan of the index. */
  withHash(hash: string): ReadonlySet<string> {
    return this.byHash.get(hash) ?? NONE;
  }

  private put(path: string, entry: IndexEntry): void {
    const old = this.files.get(path);
    if (!old) {
      for (let i = path.lastIndexOf('/', path.length - 2); i > 0; i = path.lastIndexOf('/', i - 1)) {
        const dir = path.slice(0, i);
        if (this.folders.has(dir)) break; // its own parents are there already
        this.folders.add(dir);
      }
    }
    if (old?.hash !== entry.hash) {
      const was = old?.hash ? this.byHash.get(old.hash) : undefined;
      if (was?.delete(path) && was.size === 0) this.byHash.delete(old!.hash!);
      if (entry.hash !== null && !path.endsWith('/')) {
        const now = this.byHash.get(entry.hash);
        if (now) now.add(path);
        else this.byHash.set(entry.hash, new Set([path]));
      }
    }
    this.files.set(path, entry);
  }

  private append(rec: unknown): void {
    if (this.fd < 0) this.fd = openSync(this.journal, 'a', 0o600);
    const line = JSON.stringify(rec) + '\n';
    this.journalBytes += writeSync(this.fd, line);
    if (this.journalBytes > 4 * 1024 * 1024) this.flush();
    else this.changed();
  }

  /** Saves soon (coalesced). */
  changed(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
    this.timer.unref?.();
  }

  /** Rewrites index.json with everything and empties the journal. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const data: IndexFile = { format: 1, room: this.room, device: this.device, lastSeq: this.lastSeq, epoch: this.epoch, files: Object.fromEntries(this.files) };
    writeFileAtomic(this.file, JSON.stringify(data), 0o600);
    if (this.fd < 0) this.fd = openSync(this.journal, 'a', 0o600);
    ftruncateSync(this.fd, 0);
    this.journalBytes = 0;
  }

  close(): void {
    this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /** The RelayClient's lastSeq lives here too, saved with the files it led to. */
  seqStore(): SeqStore {
    return {
      load: () => (this.lastSeq === null ? null : { seq: this.lastSeq, epoch: this.epoch }),
      save: (seq, epoch = '') => {
        this.lastSeq = seq;
        this.epoch = epoch;
        this.append([SEQ_KEY, seq, epoch]);
      },
    };
  }
}
