// The single relay's durable state in SQLite (node:sqlite, WAL): buffered envelopes, room sequence numbers,
// what each device label was delivered, and revocations. Envelopes are written in one transaction per event-loop turn.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import type { Clock } from '../common/clock.ts';
import type { AcceptCallback, IncomingEnvelope, MessageBuffer, Revocation, RevocationStore, RoutedEnvelope } from './engine.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  room TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL, target TEXT NOT NULL, msgId TEXT,
  text TEXT NOT NULL, createdAt INTEGER NOT NULL, PRIMARY KEY (room, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_createdAt ON messages (createdAt);
CREATE TABLE IF NOT EXISTS room_seq (room TEXT PRIMARY KEY, seq INTEGER NOT NULL, updatedAt INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS delivered (
  room TEXT NOT NULL, device TEXT NOT NULL, seq INTEGER NOT NULL, updatedAt INTEGER NOT NULL,
  PRIMARY KEY (room, device)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS delivered_updatedAt ON delivered (updatedAt);
CREATE TABLE IF NOT EXISTS revocations (
  userId INTEGER NOT NULL, deviceId INTEGER NOT NULL, revokedAt TEXT NOT NULL, PRIMARY KEY (userId, deviceId)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
PRAGMA user_version = 1;
`;

/** Delivery marks older than this are forgotten (a device away that long resyncs anyway). */
const DELIVERED_KEEP_MS = 30 * 24 * 3600 * 1000;

interface Pending {
  envelope: RoutedEnvelope;
  msgId: string | null;
  done: AcceptCallback;
}

interface DedupeEntry {
  seq: number;
  at: number;
  /** Callbacks of duplicates that arrived while the first was not yet durable. */
  waiting: AcceptCallback[] | null;
}

export interface SqliteState {
  buffer: MessageBuffer;
  revocations: RevocationStore;
  /** Drops envelopes older than the window; called by the housekeeping timer. */
  trim(): void;
  close(): Promise<void>;
}

export interface SqliteStateOptions {
  path: string;
  ttlMs: number;
  clock: Clock;
  synchronous?: 'normal' | 'full';
}

export function openSqliteState(opts: SqliteStateOptions): SqliteState {
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
  const db = new DatabaseSync(opts.path, { timeout: 5000 });
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'};`);
  db.exec(SCHEMA);
  const { clock, ttlMs } = opts;

  const st = (sql: string): StatementSync => db.prepare(sql);
  const q = {
    insert: st('INSERT INTO messages (room, seq, sender, target, msgId, text, createdAt) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    upsertSeq: st('INSERT INTO room_seq (room, seq, updatedAt) VALUES (?, ?, ?) ON CONFLICT (room) DO UPDATE SET seq = excluded.seq, updatedAt = excluded.updatedAt'),
    getSeq: st('SELECT seq FROM room_seq WHERE room = ?'),
    maxBuffered: st('SELECT MAX(seq) AS seq FROM messages WHERE room = ?'),
    replay: st('SELECT seq, sender, target, text, createdAt FROM messages WHERE room = ? AND seq > ? AND createdAt >= ? ORDER BY seq'),
    trim: st('DELETE FROM messages WHERE createdAt < ?'),
    count: st('SELECT COUNT(*) AS n FROM messages'),
    withMsgId: st('SELECT room, sender, msgId, seq, createdAt FROM messages WHERE msgId IS NOT NULL AND createdAt >= ?'),
    getDelivered: st('SELECT seq FROM delivered WHERE room = ? AND device = ?'),
    putDelivered: st('INSERT INTO delivered (room, device, seq, updatedAt) VALUES (?, ?, ?, ?) ON CONFLICT (room, device) DO UPDATE SET seq = MAX(seq, excluded.seq), updatedAt = excluded.updatedAt'),
    trimDelivered: st('DELETE FROM delivered WHERE updatedAt < ?'),
    allRevoked: st('SELECT userId, deviceId FROM revocations'),
    putRevoked: st('INSERT OR IGNORE INTO revocations (userId, deviceId, revokedAt) VALUES (?, ?, ?)'),
    getMeta: st('SELECT value FROM meta WHERE key = ?'),
    putMeta: st('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
  };

  /** Highest assigned seq per room (lazily loaded); `durable` is the highest written. */
  const seqs = new Map<string, { assigned: number; durable: number }>();
  const dedupe = new Map<string, DedupeEntry>();
  const delivered = new Map<string, { room: string; device: string; seq: number }>();
  const dirtyDelivered = new Set<string>();
  const listeners: Array<(batch: RoutedEnvelope[]) => void> = [];
  let pending: Pending[] = [];
  let scheduled = false;
  let closed = false;
  let buffered = Number((q.count.get() as { n: number }).n);

  const dedupeKey = (room: string, from: string, msgId: string) => `${room}\u0000${from}\u0000${msgId}`;
  for (const row of q.withMsgId.all(clock() - ttlMs) as Array<{ room: string; sender: string; msgId: string; seq: number; createdAt: number }>) {
    dedupe.set(dedupeKey(row.room, row.sender, row.msgId), { seq: row.seq, at: row.createdAt, waiting: null });
  }

  function roomSeq(room: string): { assigned: number; durable: number } {
    let s = seqs.get(room);
    if (s === undefined) {
      const stored = (q.getSeq.get(room) as { seq: number } | undefined)?.seq ?? 0;
      const inBuffer = (q.maxBuffered.get(room) as { seq: number | null }).seq ?? 0;
      const seq = Math.max(stored, inBuffer);
      s = { assigned: seq, durable: seq };
      seqs.set(room, s);
    }
    return s;
  }

  function writeDelivered(now: number): void {
    for (const key of dirtyDelivered) {
      const d = delivered.get(key);
      if (d) q.putDelivered.run(d.room, d.device, d.seq, now);
    }
    dirtyDelivered.clear();
  }

  function flushNow(): void {
    scheduled = false;
    if (closed) return;
    const batch = pending;
    pending = [];
    if (batch.length === 0 && dirtyDelivered.size === 0) return;
    const now = clock();
    const touched = new Map<string, number>();
    try {
      db.exec('BEGIN');
      for (const { envelope: e, msgId } of batch) {
        q.insert.run(e.room, e.seq, e.from, e.to, msgId, e.text, e.createdAt);
        touched.set(e.room, e.seq);
      }
      for (const [room, seq] of touched) q.upsertSeq.run(room, seq, now);
      writeDelivered(now);
      db.exec('COMMIT');
    } catch (err) {
      try {
        db.exec('ROLLBACK');
      } catch {}
      // Nothing of the batch was written: give its seqs back (no accept ran since it was taken) and fail each.
      for (const { envelope: e } of batch) {
        const s = seqs.get(e.room);
        if (s && s.assigned >= e.seq) s.assigned = e.seq - 1;
      }
      for (const p of batch) settle(p, err as Error);
      return;
    }
    buffered += batch.length;
    for (const [room, seq] of touched) roomSeq(room).durable = seq;
    if (batch.length > 0) {
      const envelopes = batch.map((p) => p.envelope);
      for (const listener of listeners) listener(envelopes);
    }
    for (const p of batch) settle(p, null);
  }

  function settle(p: Pending, err: Error | null): void {
    const entry = p.msgId === null ? undefined : dedupe.get(dedupeKey(p.envelope.room, p.envelope.from, p.msgId));
    if (entry && err) dedupe.delete(dedupeKey(p.envelope.room, p.envelope.from, p.msgId as string));
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

  const buffer: MessageBuffer = {
    accept(incoming: IncomingEnvelope, done: AcceptCallback): void {
      if (closed) return done(new Error('the relay is shutting down'), 0, false);
      const now = clock();
      if (incoming.msgId !== null) {
        const key = dedupeKey(incoming.room, incoming.from, incoming.msgId);
        const seen = dedupe.get(key);
        if (seen && now - seen.at <= ttlMs) {
          if (seen.waiting) seen.waiting.push(done);
          else done(null, seen.seq, true);
          return;
        }
      }
      const s = roomSeq(incoming.room);
      const seq = ++s.assigned;
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
    currentSeq(room) {
      return roomSeq(room).assigned;
    },
    async replay(room, afterSeq) {
      const s = roomSeq(room);
      if (afterSeq > s.assigned) return { entries: [], complete: false };
      const rows = q.replay.all(room, afterSeq, clock() - ttlMs) as Array<{ seq: number; sender: string; target: string; text: string; createdAt: number }>;
      const entries = rows.map((r) => ({ room, seq: r.seq, from: r.sender, to: r.target, text: r.text, createdAt: r.createdAt, receivedAt: 0 }));
      const complete = afterSeq >= s.durable || (entries.length > 0 && entries[0].seq === afterSeq + 1);
      return { entries, complete };
    },
    async lastDelivered(room, device) {
      const mem = delivered.get(`${room}\u0000${device}`);
      if (mem) return mem.seq;
      return (q.getDelivered.get(room, device) as { seq: number } | undefined)?.seq ?? null;
    },
    noteDelivered(room, device, seq) {
      const key = `${room}\u0000${device}`;
      const d = delivered.get(key);
      if (d === undefined) delivered.set(key, { room, device, seq });
      else if (seq > d.seq) d.seq = seq;
      else return;
      dirtyDelivered.add(key);
      schedule();
    },
    size: () => buffered,
    async flush() {
      flushNow();
    },
  };

  const revokedSet = new Set<string>();
  for (const r of q.allRevoked.all() as Array<{ userId: number; deviceId: number }>) revokedSet.add(`${r.userId}:${r.deviceId}`);
  let cursor = (q.getMeta.get('revocations.cursor') as { value: string } | undefined)?.value ?? '';

  const revocations: RevocationStore = {
    isRevoked: (userId, deviceId) => revokedSet.has(`${userId}:${deviceId}`),
    cursor: () => cursor,
    add(revoked: Revocation[], next: string) {
      db.exec('BEGIN');
      try {
        for (const r of revoked) q.putRevoked.run(r.userId, r.deviceId, r.revokedAt);
        q.putMeta.run('revocations.cursor', next);
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
      for (const r of revoked) revokedSet.add(`${r.userId}:${r.deviceId}`);
      cursor = next;
    },
    count: () => revokedSet.size,
  };

  return {
    buffer,
    revocations,
    trim() {
      if (closed) return;
      const now = clock();
      buffered -= Number(q.trim.run(now - ttlMs).changes);
      for (const [key, entry] of dedupe) if (entry.waiting === null && now - entry.at > ttlMs) dedupe.delete(key);
      q.trimDelivered.run(now - DELIVERED_KEEP_MS);
      // Rooms idle past the window need no counter in memory: it is reloaded from room_seq when they return.
      if (seqs.size > 10_000) for (const [room, s] of seqs) if (s.assigned === s.durable) seqs.delete(room);
      if (delivered.size > 100_000) for (const key of [...delivered.keys()]) if (!dirtyDelivered.has(key)) delivered.delete(key);
    },
    async close() {
      if (closed) return;
      flushNow();
      closed = true;
      db.close();
    },
  };
}
