// The cluster's message buffer: one ACCEPT script per envelope (seq, msgId dedupe, stream append, trim, publish),
// acked when Redis answers; fan-out comes back through the slot channel on every node, the sender's included.
import type { Mark } from '../delivery-marks.ts';
import { markKey, raiseMark } from '../delivery-marks.ts';
import type { AcceptCallback, IncomingEnvelope, MessageBuffer, RoutedEnvelope } from '../contract.ts';
import { newEpoch } from '../refusals.ts';
import type { Fanout } from './fanout.ts';
import type { Shard, Shards } from './shards.ts';
import type { Keyspace } from './wire.ts';

/** Delivery marks older than this are forgotten (a device away that long resyncs anyway). */
const DELIVERED_KEEP_MS = 30 * 24 * 3600 * 1000;
/** Delivery marks are written at most this often (batched across rooms). */
const DELIVERED_EVERY_MS = 100;
/** Marks per DELIVERED script (~0.3 ms of Redis time): a node with thousands of devices must not hold Redis for milliseconds. */
const DELIVERED_PER_CALL = 100;

export interface ClusterBuffer extends MessageBuffer {
  /** Fan-out entry point: a batch of one room's envelopes in seq order. */
  fan(batch: RoutedEnvelope[]): void;
  /** A shard's buffered count, as last read by housekeeping. */
  setSize(shard: number, n: number): void;
  close(): Promise<void>;
}

export function parseReplay(room: string, reply: unknown[]): { seq: number; more: boolean; entries: RoutedEnvelope[] } {
  const entries: RoutedEnvelope[] = [];
  for (let i = 2; i + 4 < reply.length; i += 5) {
    entries.push({
      room, seq: Number(reply[i]), createdAt: Number(reply[i + 1]), from: String(reply[i + 2]), to: String(reply[i + 3]),
      text: String(reply[i + 4]), receivedAt: 0,
    });
  }
  return { seq: Number(reply[0]), more: Number(reply[1]) === 1, entries };
}

export function createClusterBuffer(deps: { shards: Shards; keys: Keyspace; fanout: () => Fanout; ttlMs: number; roomBytes: number }): ClusterBuffer {
  const { shards, keys, ttlMs } = deps;
  const listeners: Array<(batch: RoutedEnvelope[]) => void> = [];
  const delivered = new Map<string, Mark>();
  let deliveredTimer: NodeJS.Timeout | null = null;
  let writing: Promise<void> = Promise.resolve();
  let accepting = 0;
  let idle: Array<() => void> = [];
  const sizes = shards.all.map(() => 0);
  let closed = false;
  /** Highest seq this node had accepted per room since the last flush (flush waits for their fan-out). */
  const accepted = new Map<string, number>();

  function writeDelivered(): Promise<void> {
    deliveredTimer = null;
    if (delivered.size === 0) return writing;
    const byShard = new Map<Shard, Array<[string, Mark]>>();
    for (const entry of delivered) {
      const shard = shards.of(entry[1].room);
      const list = byShard.get(shard);
      if (list === undefined) byShard.set(shard, [entry]);
      else list.push(entry);
    }
    delivered.clear();
    writing = Promise.all([...byShard].map(async ([shard, batch]) => {
      // One script per slice, each sent after the previous answered: Redis serves other clients in between.
      for (let i = 0; i < batch.length; i += DELIVERED_PER_CALL) {
        const argv: Array<string | number> = [keys.prefix, DELIVERED_KEEP_MS];
        for (const [, d] of batch.slice(i, i + DELIVERED_PER_CALL)) argv.push(d.room, d.device, d.seq);
        try {
          await shard.pair.scripts.honeDelivered(...argv);
        } catch {
          // Kept for the next write unless a newer mark replaced it meanwhile.
          for (const [key, d] of batch.slice(i)) if (!delivered.has(key)) delivered.set(key, d);
          return;
        }
      }
    })).then(() => undefined);
    return writing;
  }

  return {
    accept(e: IncomingEnvelope, done: AcceptCallback): void {
      if (closed) return done(new Error('the relay is shutting down'), 0, false);
      // Not before the scripts are loaded on a (re)opened connection: see connectRedis.
      const shard = shards.of(e.room);
      if (!shard.up()) return done(new Error('Redis is unreachable'), 0, false);
      accepting++;
      const msgKey = e.msgId === null ? keys.seq(e.room) : keys.msg(e.room, e.from, e.msgId);
      const args = [keys.seq(e.room), keys.log(e.room), msgKey, keys.bufRooms, keys.buffered, keys.bytes(e.room),
        e.room, e.from, e.to, e.head, e.tail, ttlMs, keys.channel(e.room), e.msgId === null ? 0 : 1, e.receivedAt, deps.roomBytes];
      shard.pair.scripts.honeAccept(args, (err, reply) => {
        try {
          if (err) return done(err, 0, false);
          const r = reply as unknown[];
          const seq = Number(r[0]);
          if (accepted.size > 10_000) accepted.clear();
          if (seq > (accepted.get(e.room) ?? 0)) accepted.set(e.room, seq);
          done(null, seq, Number(r[1]) === 1);
        } finally {
          if (--accepting === 0) for (const w of idle.splice(0)) w();
        }
      });
    },
    onDurable(listener) {
      listeners.push(listener);
    },
    fan(batch) {
      for (const l of listeners) l(batch);
    },
    async position(room) {
      const [seq, epoch] = await shards.of(room).pair.scripts.honePosition(keys.seq(room), keys.epoch(room), newEpoch());
      return { seq: Number(seq), epoch: String(epoch) };
    },
    async replay(room, afterSeq, maxBytes) {
      const { seq, more, entries } = parseReplay(room, await shards.of(room).pair.scripts.honeReplay(keys.seq(room), keys.log(room), afterSeq, ttlMs, maxBytes));
      // Live envelopes up to `seq` reach this node's fan-out before the caller stops holding them back.
      await deps.fanout().settled(room, seq, 1000);
      if (afterSeq > seq) return { entries: [], complete: false, more: false };
      const complete = afterSeq >= seq || (entries.length > 0 && entries[0].seq === afterSeq + 1);
      return { entries, complete, more };
    },
    async lastDelivered(room, device) {
      const mine = delivered.get(markKey(room, device));
      const stored = await shards.of(room).pair.cmd.hget(keys.dlv(room), device);
      const seq = Math.max(mine?.seq ?? -1, stored === null ? -1 : Number(stored));
      return seq < 0 ? null : seq;
    },
    noteDelivered(room, device, seq) {
      if (raiseMark(delivered, room, device, seq) === null) return;
      if (deliveredTimer === null && !closed) {
        deliveredTimer = setTimeout(writeDelivered, DELIVERED_EVERY_MS);
        deliveredTimer.unref();
      }
    },
    size: () => sizes.reduce((a, b) => a + b, 0),
    setSize(shard, n) {
      sizes[shard] = Math.max(0, n);
    },
    async flush() {
      if (accepting > 0) await new Promise<void>((resolve) => idle.push(resolve));
      // What this node accepted reaches its local peers first (their rooms' notices are in flight).
      const rooms = [...accepted];
      accepted.clear();
      await Promise.all(rooms.map(([room, seq]) => deps.fanout().settled(room, seq, 250)));
      if (deliveredTimer) clearTimeout(deliveredTimer);
      await writeDelivered();
    },
    async close() {
      await this.flush();
      closed = true;
      if (deliveredTimer) clearTimeout(deliveredTimer);
    },
  };
}
