// The mirror itself: keeps one folder in step with the other devices in a relay room. Local changes (files and folders)
// become versions broadcast through the relay; peers' versions are checked (path-policy.ts, limits per peer) and
// applied, or resolved as conflicts; manifests on (re)join. A content the peers hold already goes as a reference.
import { existsSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Emitter } from '../../client/emitter.ts';
import type { RelayClient, RelayMessage } from '../../client/relay-client.ts';
import { absPath, clearTmp, fromTrash, leavesFolder, lstatInside, makeDir, parentOf, readInside, RefusedPath, removeEmptyDirs, removeToTrash, writeAtomic } from './apply.ts';
import type { Version } from './conflicts.ts';
import { bumpVV, compareVV, conflictName, mergeVV, sameContent, wins } from './conflicts.ts';
import type { Paced, PacerOptions } from './pacer.ts';
import { Pacer } from './pacer.ts';
import type { FileMsg, ManifestEntry, ManifestMsg, WantMsg } from './protocol.ts';
import { CHUNK_BYTES, chunkMsg, chunks, fileMsg, FOLDER, isFolderPath, MANIFEST_ENTRIES_PER_MESSAGE, manifestMsg, parseMirrorMsg, wantMsg } from './protocol.ts';
import { isIgnored, pathProblem } from './path-policy.ts';
import { PeerQueues } from './peer-queue.ts';
import type { PeerQueueLimits } from './peer-queue.ts';
import { hashOf, statOf, walk } from './scan.ts';
import type { FileStat } from './scan.ts';
import type { IndexEntry, MirrorIndex } from './state.ts';
import { IncomingTransfers } from './transfers.ts';
import type { Step, TransferLimits } from './transfers.ts';
import { FolderWatcher } from './watch.ts';

export interface MirrorEvents extends Record<string, unknown> {
  /** A peer's change written into the folder (a folder's path ends in '/'); `source`: taken from that local file, not sent. */
  applied: { op: 'write' | 'delete'; path: string; from: string; size: number | null; created: boolean; source?: string };
  /** A local change sent to the peers; `source`: the content was not sent, the peers hold it as `source` (a rename or copy). */
  sent: { op: 'write' | 'delete'; path: string; size: number | null; source?: string };
  /** A transfer of a large file going on: `done` of `total` bytes. */
  progress: { direction: 'send' | 'receive'; path: string; peer: string; done: number; total: number };
  /** Both sides changed `path` independently. `keptAs`: where this device's losing version was saved (null when it won). */
  conflict: { path: string; winner: string; loser: string; keptAs: string | null };
  /** Something a peer sent (or a local path) that the mirror will not act on, and why. Names are raw: escape to print. */
  refused: { from: string; path: string; reason: string };
  warning: { message: string };
}

export interface MirrorOptions {
  root: string;
  /** This device's name: the key in version vectors and the suffix of its conflict copies. */
  device: string;
  client: RelayClient;
  index: MirrorIndex;
  debounceMs?: number;
  rescanMs?: number;
  pacer?: Partial<PacerOptions>;
  /** Clock for transfer expiry and manifest-reply pacing (ms). */
  now?: () => number;
  limits?: Partial<MirrorLimits>;
}

/** What one peer may hold of this mirror's memory and attention (issue 15: a hostile device in the room). */
export interface MirrorLimits extends TransferLimits, PeerQueueLimits {
  /** One full manifest reply per peer per this interval; requests within it are coalesced into one reply after it. */
  manifestReplyIntervalMs: number;
  /** Deletions of paths this side never had that are remembered (so an older copy is not revived); beyond it, skipped. */
  foreignTombstones: number;
}

export const DEFAULT_LIMITS: MirrorLimits = {
  transfersPerPeer: 16,
  transferBytesPerPeer: 512 * 1024 * 1024,
  fileBytes: 512 * 1024 * 1024,
  transferTtlMs: 5 * 60_000,
  queuedBytesPerPeer: 16 * 1024 * 1024,
  wantBacklogPerPeer: 100_000,
  manifestReplyIntervalMs: 10_000,
  foreignTombstones: 100_000,
};

/** Files over this size report their transfer's progress. */
export const PROGRESS_BYTES = 4 * 1024 * 1024;
/** Files from this size on are sent as a reference when the peers hold the same content elsewhere (a rename, a copy). */
const REF_BYTES = 16 * 1024;
/** How long a deleted file's hash is remembered as "the peers have this content" (a rename is a delete and a create). */
const RECENT_DELETE_MS = 60_000;

/** An index key's path as a folder-less relative path ('dir/' → 'dir'). */
const plainPath = (key: string) => (isFolderPath(key) ? key.slice(0, -1) : key);
/** Why an index key (a file, or a folder ending in '/') is not acceptable; a folder key only with FOLDER or null. */
function keyProblem(key: string, hash: string | null): string | null {
  if (isFolderPath(key) !== (hash === FOLDER) && hash !== null) return 'a folder path with file content, or a file path marked as a folder';
  return pathProblem(plainPath(key));
}

/** Files up to this size are re-hashed on every watcher event (so same-size edits within one mtime tick are seen). */
const ALWAYS_HASH_BYTES = 8 * 1024 * 1024;

export class Mirror extends Emitter<MirrorEvents> {
  readonly root: string;
  readonly device: string;
  private readonly client: RelayClient;
  private readonly index: MirrorIndex;
  private readonly watcher: FolderWatcher;
  private readonly pacer: Pacer;
  private readonly transfers: IncomingTransfers;
  private readonly offs: Array<() => void> = [];
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  private readonly now: () => number;
  private readonly limits: MirrorLimits;
  /** Per peer: what is queued for it and what it asked for that waits. */
  private readonly peers: PeerQueues;
  /** Per peer: when its last full manifest reply went, and the coalesced reply waiting for the interval's end. */
  private readonly manifestReplies = new Map<string, number>();
  private readonly manifestTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Local paths already reported as not syncable (reported once each). */
  private readonly unsyncable = new Set<string>();
  /** Deletions recorded for paths this side never had, this run (bounded: see MirrorLimits.foreignTombstones). */
  private foreignTombstones = 0;
  /** Content hashes of files this side deleted lately → their path (a create with that content is a rename). */
  private readonly recentDeletes = new Map<string, { path: string; at: number }>();
  /** Content hashes of files a peer deleted here (kept in .hone-sync/trash) → their path, for the output of a rename. */
  private readonly trashed = new Map<string, string>();
  /** Large transfers being sent, by transfer id (for progress). */
  private readonly outgoing = new Map<string, { path: string; peer: string; size: number }>();

  constructor(opts: MirrorOptions) {
    super();
    this.root = opts.root;
    this.device = opts.device;
    this.client = opts.client;
    this.index = opts.index;
    this.now = opts.now ?? Date.now;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.transfers = new IncomingTransfers(this.limits, this.now);
    this.peers = new PeerQueues(this.limits);
    this.watcher = new FolderWatcher(opts.root, {
      debounceMs: opts.debounceMs ?? 10,
      rescanMs: opts.rescanMs ?? 10_000,
      onPath: (rel) => this.guard(() => this.checkPath(rel, true)),
      onRescan: () => this.guard(() => this.rescan()),
      onError: (err) => this.emit('warning', { message: `watching ${this.root}: ${err.message}` }),
    });
    // Below the relay's defaults (100 msg/s burst 200, 4 MiB/s): room for pings and other clients' rounding.
    this.pacer = new Pacer(
      { messagesPerSecond: 80, messageBurst: 150, bytesPerSecond: 3.5 * 1024 * 1024, byteBurst: 3.5 * 1024 * 1024, ...opts.pacer },
      (item) => {
        this.unqueue(item);
        try {
          this.client.send(item.to, item.payload);
        } catch (err) {
          this.emit('warning', { message: `not sent: ${(err as Error).message}` });
        }
      },
      () => this.client.state === 'joined',
    );
  }

  /**
   * Finds what changed while this mirror was not running (queued for the peers), starts watching, and listens to the
   * relay client. Call before `client.start()` so the catch-up is compared with the folder as it is now.
   */
  start(): void {
    clearTmp(this.root);
    this.rescan();
    this.watcher.start();
    this.offs.push(
      this.client.on('message', (m) => this.guard(() => this.onMessage(m))),
      this.client.on('joined', () => {
        this.pacer.pump();
        this.guard(() => this.sendManifest('broadcast', false));
      }),
      this.client.on('resync', () => this.guard(() => this.sendManifest('broadcast', false))),
    );
    this.sweepTimer = setInterval(() => this.sweep(), 30_000);
    this.sweepTimer.unref?.();
  }

  /** Messages waiting for the pacer or the relay's acknowledgement. */
  get pending(): number {
    return this.pacer.size + this.client.pending;
  }

  stop(): void {
    this.watcher.close();
    this.pacer.close();
    for (const off of this.offs.splice(0)) off();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const t of this.manifestTimers.values()) clearTimeout(t);
    this.manifestTimers.clear();
    this.index.close();
  }

  /** Paths peers asked for that wait for room in their queue (for tests and status). */
  get waitingWants(): number {
    return this.peers.waiting;
  }

  /** Unfinished transfers held now (for tests and status). */
  get transfersInFlight(): number {
    return this.transfers.size;
  }

  /** Forgets unfinished transfers older than the limit (the next manifest exchange fetches those files again). */
  sweep(): void {
    for (const t of this.transfers.sweep()) {
      this.emit('warning', { message: `${t.path} from ${t.from} did not arrive in full within ${Math.round(this.limits.transferTtlMs / 1000)} s; forgotten (fetched again at the next manifest exchange)` });
    }
  }

  private refuse(from: string, path: string, reason: string): void {
    this.emit('refused', { from, path, reason });
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.emit('warning', { message: (err as Error).message });
    }
  }

  // ---- local side ----

  /** Walks the whole folder: new, changed and deleted files and folders since the index was written. */
  rescan(): void {
    this.compare('', walk.bind(null, this.root, ''), false);
  }

  /**
   * Compares what `list` finds under `rel` ('' = everything) with the index: new and changed files and folders are
   * recorded and sent, then what is gone is deleted — files first, then folders deepest first (so a peer's folder is
   * empty by the time its delete arrives).
   */
  private compare(rel: string, list: (dirs: Set<string>) => Map<string, FileStat>, thorough: boolean): void {
    const dirs = new Set<string>();
    const present = list(dirs);
    for (const [p, s] of present) this.checkFile(p, s, thorough);
    for (const d of [...dirs].sort()) this.checkDir(d);
    // Only a path with something below it in the index needs the whole index looked through (a new file does not).
    const keys = !rel || this.index.hasUnder(rel) ? this.index.files.keys() : [rel, rel + '/'];
    const inside = (p: string) => !rel || p === rel || p === rel + '/' || p.startsWith(rel + '/');
    const gone: Array<[string, IndexEntry]> = [];
    for (const p of keys) {
      const e = this.index.get(p);
      if (e && e.hash !== null && inside(p) && !(isFolderPath(p) ? dirs.has(plainPath(p)) : present.has(p))) gone.push([p, e]);
    }
    for (const [p] of gone) if (!isFolderPath(p)) this.localDelete(p);
    for (const [p] of gone.filter(([q]) => isFolderPath(q)).sort(([a], [b]) => b.length - a.length)) this.localDelete(p);
  }

  /**
   * Looks at one path (a file, a folder, or something gone) and records + sends what changed. Returns the file's
   * content when it was read for this (what the index now says it holds), so a caller need not read it again.
   */
  private checkPath(rel: string, thorough: boolean): Buffer | null {
    if (isIgnored(rel)) return null;
    const st: Stats | null = lstatInside(this.root, rel); // null when gone or behind a symlink
    if (st?.isFile()) {
      if (this.index.get(rel + '/')?.hash === FOLDER) this.compare(rel, () => new Map(), thorough); // a folder became a file
      return this.checkFile(rel, statOf(st), thorough);
    }
    this.compare(rel, (dirs) => {
      if (!st?.isDirectory()) return new Map<string, FileStat>();
      dirs.add(rel);
      return walk(this.root, rel, dirs);
    }, thorough);
    return null;
  }

  /** Records a folder that exists here (so empty folders travel too). */
  private checkDir(rel: string): void {
    const key = rel + '/';
    const e = this.index.get(key);
    if (e?.hash === FOLDER || pathProblem(rel)) return;
    const entry: IndexEntry = { vv: bumpVV(e?.vv ?? {}, this.device), t: Math.max(this.now(), (e?.t ?? 0) + 1), d: this.device, hash: FOLDER, size: null, mtimeMs: null };
    this.index.set(key, entry);
    this.sendVersion('broadcast', key, entry, null);
    this.emit('sent', { op: 'write', path: key, size: null });
  }

  /** Records + sends a changed file; returns its content when it was read (see checkPath). */
  private checkFile(rel: string, st: FileStat, thorough: boolean): Buffer | null {
    const problem = pathProblem(rel);
    if (problem) {
      // The same policy for what this side sends: a name another system cannot hold safely stays here.
      if (this.unsyncable.size < 10_000 && !this.unsyncable.has(rel)) {
        this.unsyncable.add(rel);
        this.refuse('this device', rel, `not synced: ${problem}`);
      }
      return null;
    }
    const e = this.index.get(rel);
    const same = e && e.hash !== null && e.size === st.size && e.mtimeMs === st.mtimeMs;
    if (same && !(thorough && st.size <= ALWAYS_HASH_BYTES)) return null;
    let content: Buffer | null;
    try {
      content = readInside(this.root, rel);
    } catch {
      return null; // replaced or removed meanwhile: its own event follows
    }
    if (content === null) return null;
    const hash = hashOf(content);
    if (e && e.hash === hash) {
      if (!same) this.index.set(rel, { ...e, size: st.size, mtimeMs: st.mtimeMs });
      return content;
    }
    const entry: IndexEntry = {
      vv: bumpVV(e?.vv ?? {}, this.device), t: Math.max(Math.round(st.mtimeMs), (e?.t ?? 0) + 1), d: this.device, hash,
      size: content.length, mtimeMs: st.mtimeMs,
    };
    this.index.set(rel, entry);
    const source = content.length >= REF_BYTES ? this.holderOf(hash, rel) : null;
    if (source !== null) {
      // The peers hold this content already (a rename or a copy): send the version without it.
      this.queue('broadcast', fileMsg({ dev: this.device, path: rel, vv: entry.vv, t: entry.t, d: entry.d, hash, size: content.length, ref: true }), 0, rel);
      this.emit('sent', { op: 'write', path: rel, size: content.length, source });
      return content;
    }
    this.sendVersion('broadcast', rel, entry, content);
    this.emit('sent', { op: 'write', path: rel, size: content.length });
    return content;
  }

  /** Another path this side synced with content `hash` (live, or deleted within the last minute), or null. */
  private holderOf(hash: string, except: string): string | null {
    const old = this.now() - RECENT_DELETE_MS;
    for (const [h, r] of this.recentDeletes) if (r.at < old) this.recentDeletes.delete(h);
    const deleted = this.recentDeletes.get(hash);
    if (deleted && deleted.path !== except) return deleted.path;
    for (const p of this.index.withHash(hash)) if (p !== except) return p;
    return null;
  }

  private localDelete(rel: string): void {
    const e = this.index.get(rel);
    if (!e || e.hash === null) return;
    if (e.hash !== FOLDER) {
      if (this.recentDeletes.size >= 10_000) this.recentDeletes.clear();
      this.recentDeletes.set(e.hash, { path: rel, at: this.now() });
    }
    const entry: IndexEntry = { vv: bumpVV(e.vv, this.device), t: Math.max(this.now(), e.t + 1), d: this.device, hash: null, size: null, mtimeMs: null };
    this.index.set(rel, entry);
    this.sendVersion('broadcast', rel, entry, null);
    this.emit('sent', { op: 'delete', path: rel, size: null });
  }

  // ---- sending ----

  private queue(to: string, payload: unknown, dataChars = 0, path = ''): void {
    // Frame size estimate for the pacer: the data plus generous room for the envelope and the message's fields.
    const bytes = dataChars + 1024;
    if (to !== 'broadcast') this.peers.added(to, bytes, path);
    this.pacer.push({ to, payload, bytes, path });
  }

  /** Accounts for an item leaving the queue; a peer whose queue has room again is served its waiting wants. */
  private unqueue(item: Paced): void {
    const p = item.payload as { k?: string; x?: string; i?: number };
    const big = p.x !== undefined ? this.outgoing.get(p.x) : undefined;
    if (big) {
      const done = Math.min(big.size, ((p.k === 'chunk' ? p.i! : 0) + 1) * CHUNK_BYTES);
      this.emit('progress', { direction: 'send', path: big.path, peer: big.peer, done, total: big.size });
      if (done >= big.size) this.outgoing.delete(p.x!);
    }
    if (item.to === 'broadcast') return;
    if (this.peers.sent(item.to, item.bytes, item.path ?? '')) queueMicrotask(() => this.guard(() => this.serveWants(item.to)));
  }

  private sendVersion(to: string, rel: string, v: Version, content: Buffer | null): void {
    const base = { dev: this.device, path: rel, vv: v.vv, t: v.t, d: v.d, hash: v.hash };
    if (v.hash === null || v.hash === FOLDER || content === null) return this.queue(to, fileMsg({ ...base, hash: v.hash === FOLDER ? FOLDER : null }), 0, rel);
    const parts = chunks(content);
    const x = randomBytes(9).toString('base64url');
    if (content.length > PROGRESS_BYTES) this.outgoing.set(x, { path: rel, peer: to, size: content.length });
    this.queue(to, fileMsg({ ...base, size: content.length, x, n: parts.length, data: parts[0] }), parts[0].length, rel);
    for (let i = 1; i < parts.length; i++) this.queue(to, chunkMsg({ dev: this.device, x, i, data: parts[i] }), parts[i].length, rel);
  }

  private sendManifest(to: string, reply: boolean): void {
    const entries: ManifestEntry[] = [...this.index.files].map(([p, e]) => [p, e.hash, e.vv, e.t, e.d]);
    const parts = Math.max(1, Math.ceil(entries.length / MANIFEST_ENTRIES_PER_MESSAGE));
    for (let part = 0; part < parts; part++) {
      const slice = entries.slice(part * MANIFEST_ENTRIES_PER_MESSAGE, (part + 1) * MANIFEST_ENTRIES_PER_MESSAGE);
      this.queue(to, manifestMsg({ dev: this.device, reply, part, parts, entries: slice }), JSON.stringify(slice).length);
    }
  }

  // ---- receiving ----

  private onMessage(m: RelayMessage): void {
    const msg = parseMirrorMsg(m.payload);
    if (!msg || msg.dev === this.device) return;
    const from = m.from;
    switch (msg.k) {
      case 'file': {
        const problem = keyProblem(msg.path, msg.hash) ?? leavesFolder(this.root, plainPath(msg.path));
        if (problem) return this.refuse(from, msg.path, problem);
        if (msg.hash === null || msg.hash === FOLDER) return this.receive(msg, null, from);
        if (msg.ref) return this.receiveRef(msg, from);
        this.sweep();
        return this.onStep(this.transfers.start(msg, from), from);
      }
      case 'chunk':
        return this.onStep(this.transfers.chunk(msg, from), from);
      case 'manifest':
        return this.onManifest(msg, from);
      case 'want':
        return this.onWant(msg, from);
    }
  }

  /** A version whose content the sender says this side holds already (a rename or copy there): taken from here, or asked for. */
  private receiveRef(msg: FileMsg, from: string): void {
    const hash = msg.hash!;
    const candidates = [...this.index.withHash(hash)].slice(0, 8);
    for (const source of candidates) {
      let content: Buffer | null = null;
      try {
        content = readInside(this.root, source);
      } catch { /* refused or gone: try the next */ }
      if (content !== null && hashOf(content) === hash) return this.accept(msg, content, from, source);
    }
    const kept = fromTrash(this.root, hash);
    if (kept !== null && hashOf(kept) === hash) return this.accept(msg, kept, from, this.trashed.get(hash) ?? 'a deleted file');
    this.queue(from, wantMsg({ dev: this.device, paths: [msg.path] }));
  }

  /** What a part of a transfer led to: the file applied, progress, or a refusal reported. */
  private onStep(step: Step, from: string): void {
    switch (step.kind) {
      case 'complete':
        return this.receive(step.meta, step.content, from);
      case 'partial':
        if (step.total > PROGRESS_BYTES) this.emit('progress', { direction: 'receive', path: step.meta.path, peer: from, done: step.done, total: step.total });
        return;
      case 'refused':
        return this.refuse(from, step.path, step.reason);
      default:
        return;
    }
  }

  /** A peer's version of a file (content null for a deletion) as it arrived: its content checked against its hash, then accepted. */
  private receive(meta: FileMsg, content: Buffer | null, from: string): void {
    if (content !== null && hashOf(content) !== meta.hash) {
      return this.emit('warning', { message: `${meta.path} from ${meta.dev} arrived damaged (hash mismatch); it will be fetched again at the next manifest exchange` });
    }
    this.accept(meta, content, from);
  }

  /** A version whose content (if any) matches its hash: apply, ignore as stale, or resolve a conflict. `source`: a local copy it came from. */
  private accept(meta: FileMsg, content: Buffer | null, from: string, source?: string): void {
    const rel = meta.path;
    const here = this.checkPath(plainPath(rel), true); // an edit here that the watcher has not reported yet must not be overwritten unseen
    const remote: Version = { vv: meta.vv, t: meta.t, d: meta.d, hash: meta.hash };
    const local = this.index.get(rel);
    if (!local) {
      if (remote.hash === null) {
        // Nothing to delete; remembered so that an older copy offered later is not revived — up to a bound, so a
        // peer cannot grow the index without end with deletions of made-up paths.
        if (this.foreignTombstones >= this.limits.foreignTombstones) return;
        if (++this.foreignTombstones === this.limits.foreignTombstones) this.emit('warning', { message: `${this.limits.foreignTombstones} deletions of paths this device never had were recorded this run; further ones are not (from ${from})` });
        return this.index.set(rel, { ...remote, size: null, mtimeMs: null });
      }
      return this.apply(rel, remote, content, from, true, source);
    }
    const order = compareVV(remote.vv, local.vv);
    if (order === 'equal' || order === 'before') return;
    if (order === 'after') {
      if (sameContent(local, remote)) return this.index.set(rel, { ...local, vv: remote.vv, t: remote.t, d: remote.d });
      return this.apply(rel, remote, content, from, local.hash === null, source);
    }
    // concurrent: neither side had seen the other's change
    const merged = mergeVV(local.vv, remote.vv);
    if (sameContent(local, remote)) {
      const w = wins(remote, local) ? remote : local;
      return this.index.set(rel, { ...local, vv: merged, t: w.t, d: w.d });
    }
    if (!wins(remote, local)) {
      // This side's version wins: keep it. The other side saves its own copy when it sees this version.
      if (isFolderPath(rel)) return; // a folder kept here while a peer deleted it: nothing was lost, nothing to report
      return this.emit('conflict', { path: rel, winner: local.d, loser: remote.d, keptAs: null });
    }
    let keptAs: string | null = null;
    if (local.hash !== null) {
      keptAs = conflictName(rel, local.d, (p) => (this.index.get(p)?.hash ?? null) !== null || existsSync(absPath(this.root, p)));
      const mine = here ?? readInside(this.root, rel);
      if (mine === null) return; // gone meanwhile: its own event follows
      writeAtomic(this.root, keptAs, mine);
      this.checkPath(keptAs, true); // a new file of this device: recorded and sent like any other
    }
    const resolved: Version = { ...remote, vv: merged };
    this.apply(rel, resolved, content, from, local.hash === null, source);
    if (keptAs) this.emit('conflict', { path: rel, winner: remote.d, loser: local.d, keptAs });
    // Tell the peers the outcome, so their version vectors include this side's lost change.
    this.sendVersion('broadcast', rel, resolved, content);
  }

  private apply(rel: string, v: Version, content: Buffer | null, from: string, created: boolean, source?: string): void {
    const folder = isFolderPath(rel);
    if (v.hash === null) {
      const had = this.index.get(rel)?.hash ?? null;
      this.index.set(rel, { ...v, size: null, mtimeMs: null });
      try {
        if (!folder) removeToTrash(this.root, rel, had);
        if (!folder && had !== null) {
          if (this.trashed.size >= 1000) this.trashed.clear();
          this.trashed.set(had, rel);
        }
      } catch (err) {
        if (err instanceof RefusedPath) return this.refuse(from, rel, err.message);
        throw err;
      }
      // The folder itself (when deleted) and the folders above that the peer deleted go once they are empty.
      this.pruneFolders(folder ? plainPath(rel) : parentOf(rel));
      return this.emit('applied', { op: 'delete', path: rel, from, size: null, created: false });
    }
    if (folder) {
      try {
        makeDir(this.root, plainPath(rel));
      } catch (err) {
        if (err instanceof RefusedPath) return this.refuse(from, rel, err.message);
        throw err;
      }
      this.index.set(rel, { ...v, size: null, mtimeMs: null });
      return created ? this.emit('applied', { op: 'write', path: rel, from, size: null, created }) : undefined;
    }
    if (content === null) return;
    let st: FileStat;
    try {
      st = writeAtomic(this.root, rel, content);
    } catch (err) {
      if (err instanceof RefusedPath) return this.refuse(from, rel, err.message);
      return this.emit('warning', { message: `cannot write ${rel}: ${(err as Error).message}` });
    }
    this.index.set(rel, { ...v, size: st.size, mtimeMs: st.mtimeMs });
    this.emit('applied', { op: 'write', path: rel, from, size: content.length, created, ...(source ? { source } : {}) });
  }

  /** Removes `dir` and the folders above it while they are empty and deleted by a peer (a tombstone in the index). */
  private pruneFolders(dir: string): void {
    removeEmptyDirs(this.root, dir, (d) => this.index.get(d + '/')?.hash !== null);
  }

  private onManifest(msg: ManifestMsg, from: string): void {
    const wants: string[] = [];
    let refused = 0;
    for (const [path, hash, vv, t, d] of msg.entries) {
      const problem = keyProblem(path, hash);
      if (problem) {
        if (refused++ === 0) this.refuse(from, path, `in a manifest: ${problem}`);
        continue;
      }
      this.checkPath(plainPath(path), false);
      const local = this.index.get(path);
      const remote: Version = { vv, t, d, hash };
      if (!local) {
        if (hash === FOLDER) this.receive(fileMsg({ dev: msg.dev, path, vv, t, d, hash }), null, from);
        else if (hash !== null) wants.push(path);
        continue;
      }
      const order = compareVV(vv, local.vv);
      if (order === 'equal' || order === 'before') continue;
      if (sameContent(local, remote)) {
        const w = order === 'after' || wins(remote, local) ? remote : local;
        this.index.set(path, { ...local, vv: order === 'after' ? vv : mergeVV(local.vv, vv), t: w.t, d: w.d });
        continue;
      }
      if (order === 'concurrent' && !wins(remote, local)) continue; // the peer fetches ours
      if (hash === null || hash === FOLDER) this.receive(fileMsg({ dev: msg.dev, path, vv, t, d, hash }), null, from);
      else wants.push(path);
    }
    if (refused > 1) this.emit('warning', { message: `${refused - 1} more paths refused in that manifest from ${from}` });
    for (let i = 0; i < wants.length; i += MANIFEST_ENTRIES_PER_MESSAGE) {
      this.queue(from, wantMsg({ dev: this.device, paths: wants.slice(i, i + MANIFEST_ENTRIES_PER_MESSAGE) }));
    }
    if (!msg.reply && msg.part === 0) this.replyManifest(from);
  }

  /** A full manifest for `peer`: at once, or — asked again within the interval — one coalesced reply at its end. */
  private replyManifest(peer: string): void {
    const now = this.now();
    const wait = (this.manifestReplies.get(peer) ?? -Infinity) + this.limits.manifestReplyIntervalMs - now;
    if (wait <= 0) {
      this.manifestReplies.set(peer, now);
      return this.sendManifest(peer, true);
    }
    if (this.manifestTimers.has(peer)) return;
    this.emit('warning', { message: `${peer} asked for this folder's manifest again within ${this.limits.manifestReplyIntervalMs / 1000} s; one reply follows in ${Math.ceil(wait / 1000)} s, repeats until then are ignored` });
    const timer = setTimeout(() => {
      this.manifestTimers.delete(peer);
      this.manifestReplies.set(peer, this.now());
      this.guard(() => this.sendManifest(peer, true));
    }, wait);
    timer.unref?.();
    this.manifestTimers.set(peer, timer);
  }

  /** A peer's request for files: de-duplicated, capped, and served as its queue has room (memory bounded per peer). */
  private onWant(msg: WantMsg, from: string): void {
    let refused = 0;
    const acceptable = msg.paths.slice(0, MANIFEST_ENTRIES_PER_MESSAGE).filter((path) => {
      const problem = keyProblem(path, null);
      if (problem && refused++ === 0) this.refuse(from, path, `asked for: ${problem}`);
      return problem === null;
    });
    const { repeated, over: overBacklog } = this.peers.want(from, acceptable);
    const over = overBacklog + Math.max(0, msg.paths.length - MANIFEST_ENTRIES_PER_MESSAGE);
    if (repeated > 0) this.emit('warning', { message: `${from} asked for ${repeated} files already on their way to it; repeats ignored` });
    if (over > 0) this.emit('warning', { message: `${from} asked for ${over} files over the limit (${MANIFEST_ENTRIES_PER_MESSAGE} a message, ${this.limits.wantBacklogPerPeer} waiting); ignored` });
    if (refused > 1) this.emit('warning', { message: `${refused - 1} more paths refused in that request from ${from}` });
    this.serveWants(from);
  }

  private serveWants(peer: string): void {
    for (let path = this.peers.next(peer); path !== undefined; path = this.peers.next(peer)) this.serveOne(peer, path);
  }

  private serveOne(peer: string, path: string): void {
    const outside = leavesFolder(this.root, plainPath(path));
    if (outside) return this.refuse(peer, path, `asked for: ${outside}`);
    const read = this.checkPath(plainPath(path), true);
    const e = this.index.get(path);
    if (!e) return;
    let content: Buffer | null = null;
    if (e.hash !== null && e.hash !== FOLDER) {
      try {
        content = read ?? readInside(this.root, path);
      } catch (err) {
        if (err instanceof RefusedPath) return this.refuse(peer, path, `asked for: ${err.message}`);
        return;
      }
      if (content === null) return;
    }
    this.sendVersion(peer, path, e, content);
  }
}
