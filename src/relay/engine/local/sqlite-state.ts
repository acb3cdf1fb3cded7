// The single relay's durable state in SQLite (node:sqlite, WAL): an append-only log of routed envelopes, room
// sequence numbers, what each device label was delivered, and revocations. One transaction per event-loop turn.
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import type { Clock } from '../../../common/clock.ts';
import { prepareSqliteFile } from '../../../common/sqlite-file.ts';
import type { Checkpointer } from './checkpointer.ts';
import type { Mark } from '../delivery-marks.ts';
import { markKey, raiseMark } from '../delivery-marks.ts';
import { startCheckpointer } from './checkpointer.ts';
import type { AcceptCallback, IncomingEnvelope, MessageBuffer, Revocation, RevocationStore, RoutedEnvelope } from '../contract.ts';
import { newEpoch, revocationKey } from '../refusals.ts';

// The log is a plain rowid table appended in arrival order: an insert touches the last page only, and trimming
// the window deletes a prefix of ids. Lookups by room go through an in-memory index (RoomLog) built at start.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS log (
  id INTEGER PRIMARY KEY, room TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL, target TEXT NOT NULL,
  msgId TEXT, text TEXT NOT NULL, createdAt INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS room_seq (room TEXT PRIMARY KEY, seq INTEGER NOT NULL, updatedAt INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delivered (
  room TEXT NOT NULL, device TEXT NOT NULL, seq INTEGER NOT NULL, updatedAt INTEGER NOT NULL,
  PRIMARY KEY (room, device)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS delivered_updatedAt ON delivered (updatedAt);
CREATE TABLE IF NOT EXISTS revocations (
  userId INTEGER NOT NULL, deviceId INTEGER NOT NULL, revokedAt TEXT NOT NULL, PRIMARY KEY (userId, deviceId)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS revoked_rooms (room TEXT PRIMARY KEY, revokedAt TEXT NOT NULL) WITHOUT ROWID;
`;

/** Schema 3: each room's epoch (SPEC §6.1), the identity of its sequence, kept with the counter. */
const TO_V3 = 'ALTER TABLE room_seq ADD COLUMN epoch TEXT';

/** Schema 1 kept envelopes in a `messages` table keyed by (room, seq); moved into `log` in arrival order. */
const FROM_V1 = `
INSERT INTO log (room, seq, sender, target, msgId, text, createdAt)
  SELECT room, seq, sender, target, msgId, text, createdAt FROM messages ORDER BY createdAt, room, seq;
INSERT INTO room_seq (room, seq, updatedAt) SELECT room, MAX(seq), MAX(createdAt) FROM messages GROUP BY room
  ON CONFLICT (room) DO UPDATE SET seq = MAX(room_seq.seq, excluded.seq);
DROP TABLE messages;
`;

/** Delivery marks older than this are forgotten (a device away that long resyncs anyway). */
const DELIVERED_KEEP_MS = 30 * 24 * 3600 * 1000;
/** Granularity of the window's cut: envelopes leave the buffer at most this late. */
const MARK_MS = 50;
/** Room counters and delivery marks are written at most this often (the log alone can rebuild counters). */
const STATE_WRITE_MS = 1000;

interface Pending {
  envelope: RoutedEnvelope;
  msgId: string | null;
  done: AcceptCallback;
}

interface DedupeEntry {
  seq: number;
  at: number;
  /** Callbacks of duplicates that arrived while the first was not yet durable; null once durable. */
  waiting: AcceptCallback[] | null;
}

/** A room's buffered envelopes in seq order: their seqs, log ids and text sizes, live from `head`. */
interface RoomLog {
  seqs: number[];
  ids: number[];
  sizes: number[];
  head: number;
  /** Bytes of the live entries, and when the newest was written. */
  bytes: number;
  lastAt: number;
}

/** A room's sequence counter: assigned (in memory), durable (written to the log), and its epoch. */
interface RoomSeq {
  assigned: number;
  durable: number;
  epoch: string;
}

export interface SqliteState {
  buffer: MessageBuffer;
  revocations: RevocationStore;
  /** Drops envelopes older than the window; once a second also writes counters and marks. Housekeeping timer. */
  trim(): void;
  /** Whether the room has envelopes within the window (its claim on an unregistered room lasts while it does). */
  hasBuffered(room: string): boolean;
  close(): Promise<void>;
}

export interface SqliteStateOptions {
  path: string;
  ttlMs: number;
  /** limits.room.bufferBytes: past it a room's oldest envelopes leave the buffer. */
  roomBytes?: number;
  clock: Clock;
  synchronous?: 'normal' | 'full';
}

function openDb(path: string, synchronous: 'normal' | 'full'): DatabaseSync {
  prepareSqliteFile(path);
  const db = new DatabaseSync(path, { timeout: 5000 });
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'};`);
  const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  db.exec('BEGIN');
  try {
    db.exec(SCHEMA);
    if (version === 1) db.exec(FROM_V1);
    if (version < 3) db.exec(TO_V3);
    db.exec('PRAGMA user_version = 3');
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    db.close();
    throw err;
  }
  return db;
}

export function openSqliteState(opts: SqliteStateOptions): SqliteState {
  const db = openDb(opts.path, opts.synchronous ?? 'normal');
  let checkpointer: Checkpointer | null = null;
  if (opts.path !== ':memory:') {
    db.exec('PRAGMA wal_autocheckpoint = 0');
    checkpointer = startCheckpointer(opts.path, 200, () => {
      // Without the worker, SQLite checkpoints on the main thread again (every 1000 pages).
      checkpointer = null;
      if (!closed) db.exec('PRAGMA wal_autocheckpoint = 1000');
    });
  }
  const { clock, ttlMs } = opts;
  const st = (sql: string): StatementSync => db.prepare(sql);
  const q = {
    insert: st('INSERT INTO log (id, room, seq, sender, target, msgId, text, createdAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    byId: st('SELECT sender, target, text, createdAt FROM log WHERE id = ?'),
    trimTo: st('DELETE FROM log WHERE id <= ?'),
    trimOld: st('DELETE FROM log WHERE createdAt < ?'),
    scan: st('SELECT id, room, seq, sender, msgId, createdAt, length(CAST(text AS BLOB)) AS size FROM log ORDER BY id'),
    evict: st('DELETE FROM log WHERE id = ?'),
    allSeqs: st('SELECT room, seq, epoch FROM room_seq'),
    getSeq: st('SELECT seq, epoch FROM room_seq WHERE room = ?'),
    upsertSeq: st('INSERT INTO room_seq (room, seq, updatedAt, epoch) VALUES (?, ?, ?, ?) ON CONFLICT (room) DO UPDATE SET seq = MAX(seq, excluded.seq), updatedAt = excluded.updatedAt, epoch = excluded.epoch'),
    getDelivered: st('SELECT seq FROM delivered WHERE room = ? AND device = ?'),
    putDelivered: st('INSERT INTO delivered (room, device, seq, updatedAt) VALUES (?, ?, ?, ?) ON CONFLICT (room, device) DO UPDATE SET seq = MAX(seq, excluded.seq), updatedAt = excluded.updatedAt'),
    trimDelivered: st('DELETE FROM delivered WHERE updatedAt < ?'),
    allRevoked: st('SELECT userId, deviceId FROM revocations'),
    putRevoked: st('INSERT OR IGNORE INTO revocations (userId, deviceId, revokedAt) VALUES (?, ?, ?)'),
    getMeta: st('SELECT value FROM meta WHERE key = ?'),
    putMeta: st('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    allRevokedRooms: st('SELECT room FROM revoked_rooms'),
    putRevokedRoom: st('INSERT OR IGNORE INTO revoked_rooms (room, revokedAt) VALUES (?, ?)'),
  };
  const roomBytes = opts.roomBytes ?? Number.MAX_SAFE_INTEGER;

  const seqs = new Map<string, RoomSeq>();
  const logs = new Map<string, RoomLog>();
  const dedupe = new Map<string, DedupeEntry>();
  const delivered = new Map<string, Mark>();
  const dirtyDelivered = new Set<string>();
  const dirtySeqs = new Set<string>();
  /** [last id, createdAt] marks, oldest first from `marksHead`, at most one per MARK_MS: where the window's cut falls. */
  const marks: Array<[number, number]> = [];
  let marksHead = 0;
  const listeners: Array<(batch: RoutedEnvelope[]) => void> = [];
  let pending: Pending[] = [];
  let scheduled = false;
  let closed = false;
  let lastStateWrite = 0;
  let lastDeliveredTrim = 0;
  /** The highest log id deleted so far. */
  let trimmedTo = 0;
  const dedupeKey = (room: string, from: string, msgId: string) => `${room}\u0000${from}\u0000${msgId}`;

  // Start: forget what left the window while the relay was down, then index what is left.
  const startedAt = clock();
  q.trimOld.run(startedAt - ttlMs);
  let nextId = 1;
  let buffered = 0;
  const stored = new Map<string, number>();
  const epochs = new Map<string, string>();
  for (const r of q.allSeqs.all() as Array<{ room: string; seq: number; epoch: string | null }>) {
    stored.set(r.room, r.seq);
    if (r.epoch !== null) epochs.set(r.room, r.epoch);
  }
  for (const row of q.scan.all() as Array<{ id: number; room: string; seq: number; sender: string; msgId: string | null; createdAt: number; size: number }>) {
    appendToLog(row.room, row.seq, row.id, row.size, row.createdAt);
    stored.set(row.room, Math.max(stored.get(row.room) ?? 0, row.seq));
    if (row.msgId !== null) dedupe.set(dedupeKey(row.room, row.sender, row.msgId), { seq: row.seq, at: row.createdAt, waiting: null });
    nextId = row.id + 1;
    buffered++;
    mark(row.id, row.createdAt);
  }
  for (const [room, seq] of stored) seqs.set(room, { assigned: seq, durable: seq, epoch: epochs.get(room) ?? firstEpoch(room, seq) });

  /** A room whose counter has no epoch yet (new, or from schema 2) gets one, written at once. */
  function firstEpoch(room: string, seq: number): string {
    const epoch = newEpoch();
    q.upsertSeq.run(room, seq, clock(), epoch);
    return epoch;
  }

  /** Notes that ids up to `id` were written at `at` (coalesced: a mark covers MARK_MS, so the list stays short). */
  function mark(id: number, at: number): void {
    const last = marks.length > marksHead ? marks[marks.length - 1] : undefined;
    if (last !== undefined && at - last[1] < MARK_MS) last[0] = id;
    else marks.push([id, at]);
  }

  function appendToLog(room: string, seq: number, id: number, size: number, at: number): void {
    let log = logs.get(room);
    if (log === undefined) logs.set(room, (log = { seqs: [], ids: [], sizes: [], head: 0, bytes: 0, lastAt: 0 }));
    log.seqs.push(seq);
    log.ids.push(id);
    log.sizes.push(size);
    log.bytes += size;
    log.lastAt = at;
  }

  /** Moves the room's live start past its oldest entry (left the window or evicted). */
  function dropOldest(log: RoomLog): void {
    log.bytes -= log.sizes[log.head];
    log.head++;
  }

  /** limits.room.bufferBytes: the oldest envelopes of the rooms just written leave the buffer first. */
  function evictOverLimit(rooms: Iterable<string>): void {
    const ids: number[] = [];
    for (const room of rooms) {
      const log = logs.get(room);
      while (log !== undefined && log.bytes > roomBytes && log.head < log.ids.length - 1) {
        ids.push(log.ids[log.head]);
        dropOldest(log);
      }
    }
    if (ids.length === 0) return;
    try {
      db.exec('BEGIN');
      for (const id of ids) q.evict.run(id);
      db.exec('COMMIT');
      buffered -= ids.length;
    } catch {
      // Left in the file, but out of the index: never replayed, and gone with the window.
      try {
        db.exec('ROLLBACK');
      } catch {}
    }
  }

  function roomSeq(room: string): RoomSeq {
    let s = seqs.get(room);
    if (s === undefined) {
      const row = q.getSeq.get(room) as { seq: number; epoch: string | null } | undefined;
      const seq = row?.seq ?? 0;
      s = { assigned: seq, durable: seq, epoch: row?.epoch ?? firstEpoch(room, seq) };
      seqs.set(room, s);
    }
    return s;
  }

  /** writeState in its own transaction (shutdown, explicit flush). */
  function writeStateNow(now: number): void {
    db.exec('BEGIN');
    try {
      writeState(now);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Room counters and delivery marks, batched: the log keeps every seq of the window, so counters survive a crash. */
  function writeState(now: number): void {
    for (const room of dirtySeqs) {
      const s = seqs.get(room);
      if (s) q.upsertSeq.run(room, s.durable, now, s.epoch);
    }
    dirtySeqs.clear();
    for (const key of dirtyDelivered) {
      const d = delivered.get(key);
      if (d) q.putDelivered.run(d.room, d.device, d.seq, now);
    }
    dirtyDelivered.clear();
    lastStateWrite = now;
  }

  function flushNow(): void {
    scheduled = false;
    if (closed) return;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    const now = clock();
    const firstId = nextId;
    try {
      db.exec('BEGIN');
      for (const { envelope: e, msgId } of batch) q.insert.run(nextId++, e.room, e.seq, e.from, e.to, msgId, e.text, e.createdAt);
      db.exec('COMMIT');
    } catch (err) {
      try {
        db.exec('ROLLBACK');
      } catch {}
      nextId = firstId;
      // Nothing of the batch was written: give its seqs back (no accept ran since it was taken) and fail each.
      for (const { envelope: e } of batch) {
        const s = seqs.get(e.room);
        if (s && s.assigned >= e.seq) s.assigned = e.seq - 1;
      }
      for (const p of batch) settle(p, err as Error);
      return;
    }
    let id = firstId;
    for (const { envelope: e } of batch) {
      appendToLog(e.room, e.seq, id++, Buffer.byteLength(e.text), e.createdAt);
      const s = roomSeq(e.room);
      s.durable = e.seq;
      dirtySeqs.add(e.room);
    }
    buffered += batch.length;
    evictOverLimit(new Set(batch.map((p) => p.envelope.room)));
    mark(nextId - 1, now);
    const envelopes = batch.map((p) => p.envelope);
    for (const listener of listeners) listener(envelopes);
    for (const p of batch) settle(p, null);
  }

  function settle(p: Pending, err: Error | null): void {
    const key = p.msgId === null ? null : dedupeKey(p.envelope.room, p.envelope.from, p.msgId);
    const entry = key === null ? undefined : dedupe.get(key);
    if (entry && err && key !== null) dedupe.delete(key);
    p.done(err, p.envelope.seq, false);
    if (entry?.waiting) {
      for (const cb of entry.waiting) cb(err, p.envelope.seq, true);
      entry.waiting = null;
    }
  }

  function schedule(): void {
    if (!scheduled) {
      scheduled = true;
      setImmediate(flushNow);
    }
  }

  /** Index of the first live entry of `log` with seq > afterSeq (binary search; seqs ascend). */
  function firstAfter(log: RoomLog, afterSeq: number): number {
    let lo = log.head;
    let hi = log.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (log.seqs[mid] > afterSeq) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  const buffer: MessageBuffer = {
    accept(incoming: IncomingEnvelope, done: AcceptCallback): void {
      if (closed) return done(new Error('the relay is shutting down'), 0, false);
      const now = clock();
      if (incoming.msgId !== null) {
        const seen = dedupe.get(dedupeKey(incoming.room, incoming.from, incoming.msgId));
        if (seen && now - seen.at <= ttlMs) {
          if (seen.waiting) seen.waiting.push(done);
          else done(null, seen.seq, true);
          return;
        }
      }
      const seq = ++roomSeq(incoming.room).assigned;
      const envelope: RoutedEnvelope = {
        room: incoming.room, seq, from: incoming.from, to: incoming.to,
        text: incoming.head + seq + incoming.tail, createdAt: now, receivedAt: incoming.receivedAt,
      };
      if (incoming.msgId !== null) dedupe.set(dedupeKey(incoming.room, incoming.from, incoming.msgId), { seq, at: now, waiting: [] });
      pending.push({ envelope, msgId: incoming.msgId, done });
      schedule();
    },
    onDurable(listener) {
      listeners.push(listener);
    },
    async position(room) {
      const s = roomSeq(room);
      return { seq: s.assigned, epoch: s.epoch };
    },
    async replay(room, afterSeq, maxBytes) {
      const s = roomSeq(room);
      if (afterSeq > s.assigned) return { entries: [], complete: false, more: false };
      const log = logs.get(room);
      const cutoff = clock() - ttlMs;
      const entries: RoutedEnvelope[] = [];
      let more = false;
      if (log !== undefined) {
        let bytes = 0;
        for (let i = firstAfter(log, afterSeq); i < log.seqs.length; i++) {
          if (bytes >= maxBytes) {
            more = true;
            break;
          }
          const row = q.byId.get(log.ids[i]) as { sender: string; target: string; text: string; createdAt: number } | undefined;
          if (row === undefined || row.createdAt < cutoff) continue;
          entries.push({ room, seq: log.seqs[i], from: row.sender, to: row.target, text: row.text, createdAt: row.createdAt, receivedAt: 0 });
          bytes += log.sizes[i];
        }
      }
      const complete = afterSeq >= s.durable || (entries.length > 0 && entries[0].seq === afterSeq + 1);
      return { entries, complete, more };
    },
    async lastDelivered(room, device) {
      const mem = delivered.get(markKey(room, device));
      if (mem) return mem.seq;
      return (q.getDelivered.get(room, device) as { seq: number } | undefined)?.seq ?? null;
    },
    noteDelivered(room, device, seq) {
      const key = raiseMark(delivered, room, device, seq);
      if (key !== null) dirtyDelivered.add(key);
    },
    size: () => buffered,
    async flush() {
      flushNow();
      if (!closed) writeStateNow(clock());
    },
  };

  const revokedSet = new Set<string>();
  for (const r of q.allRevoked.all() as Array<{ userId: number; deviceId: number }>) revokedSet.add(revocationKey(r));
  for (const r of q.allRevokedRooms.all() as Array<{ room: string }>) revokedSet.add(revocationKey({ userId: 0, deviceId: 0, roomId: r.room }));
  let cursor = (q.getMeta.get('revocations.cursor') as { value: string } | undefined)?.value ?? '';

  const revocations: RevocationStore = {
    isRevoked: (userId, deviceId) => revokedSet.has(revocationKey({ userId, deviceId })),
    isRoomRemoved: (room) => revokedSet.has(revocationKey({ userId: 0, deviceId: 0, roomId: room })),
    cursor: () => cursor,
    add(revoked: Revocation[], next: string) {
      db.exec('BEGIN');
      try {
        for (const r of revoked) {
          if (r.roomId) q.putRevokedRoom.run(r.roomId, r.revokedAt);
          else q.putRevoked.run(r.userId, r.deviceId, r.revokedAt);
        }
        q.putMeta.run('revocations.cursor', next);
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
      for (const r of revoked) revokedSet.add(revocationKey(r));
      cursor = next;
    },
    count: () => revokedSet.size,
  };

  /** Deletes the log's prefix that left the window (called often, so each delete is small). */
  function trimWindow(now: number): void {
    const cutoff = now - ttlMs;
    let upTo = 0;
    // A mark's ids were written no later than its time plus MARK_MS: cut only marks wholly outside the window.
    while (marksHead < marks.length && marks[marksHead][1] + MARK_MS <= cutoff) upTo = marks[marksHead++][0];
    if (marksHead > 256 && marksHead * 2 > marks.length) {
      marks.splice(0, marksHead);
      marksHead = 0;
    }
    if (upTo === 0) return;
    buffered -= Number(q.trimTo.run(upTo).changes);
    trimmedTo = upTo;
  }

  /** Frees the in-memory index and msgIds of what left the window (once a second). */
  function sweepMemory(now: number): void {
    for (const [room, log] of logs) {
      while (log.head < log.ids.length && log.ids[log.head] <= trimmedTo) dropOldest(log);
      if (log.head === log.ids.length) logs.delete(room);
      else if (log.head > 1024 && log.head * 2 > log.ids.length) {
        log.seqs = log.seqs.slice(log.head);
        log.ids = log.ids.slice(log.head);
        log.sizes = log.sizes.slice(log.head);
        log.head = 0;
      }
    }
    for (const [key, entry] of dedupe) if (entry.waiting === null && now - entry.at > ttlMs) dedupe.delete(key);
  }

  return {
    buffer,
    revocations,
    hasBuffered(room) {
      const log = logs.get(room);
      return log !== undefined && log.head < log.ids.length && log.lastAt >= clock() - ttlMs;
    },
    trim() {
      if (closed) return;
      const now = clock();
      const slow = now - lastStateWrite >= STATE_WRITE_MS;
      db.exec('BEGIN');
      try {
        trimWindow(now);
        if (slow) writeState(now);
        if (now - lastDeliveredTrim >= 3600_000) {
          q.trimDelivered.run(now - DELIVERED_KEEP_MS);
          lastDeliveredTrim = now;
        }
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
      if (!slow) return;
      sweepMemory(now);
      // Rooms idle past the window need no counter in memory: it is reloaded from room_seq when they return.
      if (seqs.size > 10_000) for (const [room, s] of seqs) if (s.assigned === s.durable && !dirtySeqs.has(room) && !logs.has(room)) seqs.delete(room);
      if (delivered.size > 100_000) for (const key of [...delivered.keys()]) if (!dirtyDelivered.has(key)) delivered.delete(key);
    },
    async close() {
      if (closed) return;
      flushNow();
      writeStateNow(clock());
      closed = true;
      await checkpointer?.stop();
      db.close();
    },
  };
}
