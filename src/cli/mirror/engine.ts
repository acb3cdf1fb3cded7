// The mirror itself: keeps one folder in step with the other devices in a relay room. Local changes become file
// versions broadcast through the relay; peers' versions are applied, or resolved as conflicts; manifests on (re)join.
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Emitter } from '../../client/emitter.ts';
import type { RelayClient, RelayMessage } from '../../client/relay-client.ts';
import { absPath, clearTmp, remove, writeAtomic } from './apply.ts';
import type { Version } from './conflicts.ts';
import { bumpVV, compareVV, conflictName, mergeVV, sameContent, wins } from './conflicts.ts';
import type { PacerOptions } from './pacer.ts';
import { Pacer } from './pacer.ts';
import type { FileMsg, ManifestEntry, ManifestMsg, WantMsg } from './protocol.ts';
import { chunkMsg, chunks, fileMsg, MANIFEST_ENTRIES_PER_MESSAGE, manifestMsg, parseMirrorMsg, wantMsg } from './protocol.ts';
import { hashOf, isIgnored, statOf, walk } from './scan.ts';
import type { FileStat } from './scan.ts';
import type { IndexEntry, MirrorIndex } from './state.ts';
import { FolderWatcher } from './watch.ts';

export interface MirrorEvents extends Record<string, unknown> {
  /** A peer's change written into the folder. */
  applied: { op: 'write' | 'delete'; path: string; from: string; size: number | null; created: boolean };
  /** A local change sent to the peers. */
  sent: { op: 'write' | 'delete'; path: string; size: number | null };
  /** Both sides changed `path` independently. `keptAs`: where this device's losing version was saved (null when it won). */
  conflict: { path: string; winner: string; loser: string; keptAs: string | null };
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
}

/** Files up to this size are re-hashed on every watcher event (so same-size edits within one mtime tick are seen). */
const ALWAYS_HASH_BYTES = 8 * 1024 * 1024;
/** Incomplete chunked transfers are forgotten after this long (the manifest exchange fetches the file again). */
const TRANSFER_TTL_MS = 5 * 60_000;

interface Transfer { meta: FileMsg; from: string; parts: string[]; got: number; at: number }

export class Mirror extends Emitter<MirrorEvents> {
  readonly root: string;
  readonly device: string;
  private readonly client: RelayClient;
  private readonly index: MirrorIndex;
  private readonly watcher: FolderWatcher;
  private readonly pacer: Pacer;
  private readonly transfers = new Map<string, Transfer>();
  private readonly offs: Array<() => void> = [];
  private sweepTimer: ReturnType<typeof setInterval> | null = null;

  constructor(opts: MirrorOptions) {
    super();
    this.root = opts.root;
    this.device = opts.device;
    this.client = opts.client;
    this.index = opts.index;
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
    this.sweepTimer = setInterval(() => {
      const old = Date.now() - TRANSFER_TTL_MS;
      for (const [x, t] of this.transfers) if (t.at < old) this.transfers.delete(x);
    }, 30_000);
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
    this.index.close();
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.emit('warning', { message: (err as Error).message });
    }
  }

  // ---- local side ----

  /** Walks the whole folder: new, changed and deleted files since the index was written. */
  rescan(): void {
    const present = walk(this.root);
    for (const [rel, st] of present) this.checkFile(rel, st, false);
    for (const [rel, e] of [...this.index.files]) if (e.hash !== null && !present.has(rel)) this.localDelete(rel);
  }

  /** Looks at one path (a file, a folder, or something gone) and records + sends what changed. */
  private checkPath(rel: string, thorough: boolean): void {
    if (isIgnored(rel)) return;
    let st: Stats | null = null;
    try {
      st = lstatSync(absPath(this.root, rel));
    } catch { /* gone */ }
    if (st?.isFile()) return this.checkFile(rel, statOf(st), thorough);
    const present = st?.isDirectory() ? walk(this.root, rel) : new Map<string, FileStat>();
    for (const [p, s] of present) this.checkFile(p, s, thorough);
    const prefix = rel + '/';
    for (const [p, e] of [...this.index.files]) {
      if (e.hash !== null && (p === rel || p.startsWith(prefix)) && !present.has(p)) this.localDelete(p);
    }
  }

  private checkFile(rel: string, st: FileStat, thorough: boolean): void {
    const e = this.index.get(rel);
    const same = e && e.hash !== null && e.size === st.size && e.mtimeMs === st.mtimeMs;
    if (same && !(thorough && st.size <= ALWAYS_HASH_BYTES)) return;
    let content: Buffer;
    try {
      content = readFileSync(absPath(this.root, rel));
    } catch {
      return; // replaced or removed meanwhile: its own event follows
    }
    const hash = hashOf(content);
    if (e && e.hash === hash) {
      if (!same) this.index.set(rel, { ...e, size: st.size, mtimeMs: st.mtimeMs });
      return;
    }
    const entry: IndexEntry = {
      vv: bumpVV(e?.vv ?? {}, this.device), t: Math.max(Math.round(st.mtimeMs), (e?.t ?? 0) + 1), d: this.device, hash,
      size: content.length, mtimeMs: st.mtimeMs,
    };
    this.index.set(rel, entry);
    this.sendVersion('broadcast', rel, entry, content);
    this.emit('sent', { op: 'write', path: rel, size: content.length });
  }

  private localDelete(rel: string): void {
    const e = this.index.get(rel);
    if (!e || e.hash === null) return;
    const entry: IndexEntry = { vv: bumpVV(e.vv, this.device), t: Math.max(Date.now(), e.t + 1), d: this.device, hash: null, size: null, mtimeMs: null };
    this.index.set(rel, entry);
    this.sendVersion('broadcast', rel, entry, null);
    this.emit('sent', { op: 'delete', path: rel, size: null });
  }

  // ---- sending ----

  private queue(to: string, payload: unknown, dataChars = 0): void {
    // Frame size estimate for the pacer: the data plus generous room for the envelope and the message's fields.
    this.pacer.push({ to, payload, bytes: dataChars + 1024 });
  }

  private sendVersion(to: string, rel: string, v: Version, content: Buffer | null): void {
    const base = { dev: this.device, path: rel, vv: v.vv, t: v.t, d: v.d, hash: v.hash };
    if (v.hash === null || content === null) return this.queue(to, fileMsg({ ...base, hash: null }));
    const parts = chunks(content);
    const x = randomBytes(9).toString('base64url');
    this.queue(to, fileMsg({ ...base, size: content.length, x, n: parts.length, data: parts[0] }), parts[0].length);
    for (let i = 1; i < parts.length; i++) this.queue(to, chunkMsg({ dev: this.device, x, i, data: parts[i] }), parts[i].length);
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
    switch (msg.k) {
      case 'file': {
        if (msg.hash === null) return this.receive(msg, null);
        if (msg.n === 1) return this.receive(msg, Buffer.from(msg.data!, 'base64'));
        const parts = new Array<string>(msg.n!);
        parts[0] = msg.data!;
        this.transfers.set(msg.x!, { meta: msg, from: m.from, parts, got: 1, at: Date.now() });
        return;
      }
      case 'chunk': {
        const t = this.transfers.get(msg.x);
        if (!t || msg.i >= t.parts.length || t.parts[msg.i] !== undefined) return;
        t.parts[msg.i] = msg.data;
        if (++t.got < t.parts.length) return;
        this.transfers.delete(msg.x);
        return this.receive(t.meta, Buffer.concat(t.parts.map((p) => Buffer.from(p, 'base64'))));
      }
      case 'manifest':
        return this.onManifest(msg, m.from);
      case 'want':
        return this.onWant(msg, m.from);
    }
  }

  /** A peer's version of a file (content null for a deletion): apply, ignore as stale, or resolve a conflict. */
  private receive(meta: FileMsg, content: Buffer | null): void {
    const rel = meta.path;
    if (content !== null && hashOf(content) !== meta.hash) {
      return this.emit('warning', { message: `${rel} from ${meta.dev} arrived damaged (hash mismatch); it will be fetched again at the next manifest exchange` });
    }
    this.checkPath(rel, true); // an edit here that the watcher has not reported yet must not be overwritten unseen
    const remote: Version = { vv: meta.vv, t: meta.t, d: meta.d, hash: meta.hash };
    const local = this.index.get(rel);
    if (!local) {
      if (remote.hash === null) return this.index.set(rel, { ...remote, size: null, mtimeMs: null });
      return this.apply(rel, remote, content, meta.dev, true);
    }
    const order = compareVV(remote.vv, local.vv);
    if (order === 'equal' || order === 'before') return;
    if (order === 'after') {
      if (sameContent(local, remote)) return this.index.set(rel, { ...local, vv: remote.vv, t: remote.t, d: remote.d });
      return this.apply(rel, remote, content, meta.dev, local.hash === null);
    }
    // concurrent: neither side had seen the other's change
    const merged = mergeVV(local.vv, remote.vv);
    if (sameContent(local, remote)) {
      const w = wins(remote, local) ? remote : local;
      return this.index.set(rel, { ...local, vv: merged, t: w.t, d: w.d });
    }
    if (!wins(remote, local)) {
      // This side's version wins: keep it. The other side saves its own copy when it sees this version.
      return this.emit('conflict', { path: rel, winner: local.d, loser: remote.d, keptAs: null });
    }
    let keptAs: string | null = null;
    if (local.hash !== null) {
      keptAs = conflictName(rel, local.d, (p) => (this.index.get(p)?.hash ?? null) !== null || existsSync(absPath(this.root, p)));
      writeAtomic(this.root, keptAs, readFileSync(absPath(this.root, rel)));
      this.checkPath(keptAs, true); // a new file of this device: recorded and sent like any other
    }
    const resolved: Version = { ...remote, vv: merged };
    this.apply(rel, resolved, content, meta.dev, local.hash === null);
    if (keptAs) this.emit('conflict', { path: rel, winner: remote.d, loser: local.d, keptAs });
    // Tell the peers the outcome, so their version vectors include this side's lost change.
    this.sendVersion('broadcast', rel, resolved, content);
  }

  private apply(rel: string, v: Version, content: Buffer | null, from: string, created: boolean): void {
    if (v.hash === null) {
      remove(this.root, rel);
      this.index.set(rel, { ...v, size: null, mtimeMs: null });
      return this.emit('applied', { op: 'delete', path: rel, from, size: null, created: false });
    }
    if (content === null) return;
    let st: FileStat;
    try {
      st = writeAtomic(this.root, rel, content);
    } catch (err) {
      return this.emit('warning', { message: `cannot write ${rel}: ${(err as Error).message}` });
    }
    this.index.set(rel, { ...v, size: st.size, mtimeMs: st.mtimeMs });
    this.emit('applied', { op: 'write', path: rel, from, size: content.length, created });
  }

  private onManifest(msg: ManifestMsg, from: string): void {
    const wants: string[] = [];
    for (const [path, hash, vv, t, d] of msg.entries) {
      this.checkPath(path, false);
      const local = this.index.get(path);
      const remote: Version = { vv, t, d, hash };
      if (!local) {
        if (hash !== null) wants.push(path);
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
      if (hash === null) this.receive(fileMsg({ dev: msg.dev, path, vv, t, d, hash: null }), null);
      else wants.push(path);
    }
    for (let i = 0; i < wants.length; i += MANIFEST_ENTRIES_PER_MESSAGE) {
      this.queue(from, wantMsg({ dev: this.device, paths: wants.slice(i, i + MANIFEST_ENTRIES_PER_MESSAGE) }));
    }
    if (!msg.reply && msg.part === 0) this.sendManifest(from, true);
  }

  private onWant(msg: WantMsg, from: string): void {
    for (const path of msg.paths) {
      this.checkPath(path, true);
      const e = this.index.get(path);
      if (!e) continue;
      let content: Buffer | null = null;
      if (e.hash !== null) {
        try {
          content = readFileSync(absPath(this.root, path));
        } catch {
          continue;
        }
      }
      this.sendVersion(from, path, e, content);
    }
  }
}
