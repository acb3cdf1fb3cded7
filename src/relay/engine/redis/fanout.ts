// Cross-node fan-out: slot-channel subscriptions on the room's shard (ref-counted by the rooms with devices on this node) and, per
// room, the notices put back in seq order, exactly once; a gap (a notice lost in a reconnect) is filled from the buffer.
import type { RoutedEnvelope } from '../contract.ts';
import type { Shard, Shards } from './shards.ts';
import type { Keyspace, Notice } from './wire.ts';
import { parseNotice } from './wire.ts';

/** Per room: notices are released in seq order; other notices after the envelope whose seq they carry. */
interface Flow {
  /** Highest seq handed on; -1 until the first join told the room's seq. */
  fanned: number;
  early: Notice[];
  pending: Map<number, RoutedEnvelope>;
  events: Notice[];
  filling: boolean;
  refill: NodeJS.Timeout | null;
  waiters: Array<{ seq: number; resolve: () => void }>;
}

export interface SlotHandle {
  ready: Promise<void>;
  release(): void;
}

export interface Fanout {
  /** Subscribes to the room's slot channel (shared with the other rooms of the slot). */
  acquire(room: string): SlotHandle;
  /** Starts collecting the room's notices; `init` then says from which seq on they are new. */
  open(room: string): void;
  init(room: string, seq: number): void;
  close(room: string): void;
  /** Resolves once every envelope up to `seq` has been handed on (or after a fill, at most ~2 × timeoutMs). */
  settled(room: string, seq: number, timeoutMs: number): Promise<void>;
  /** Refetches what the rooms of a shard may have missed (after its subscription was re-established). */
  refill(shard: Shard): void;
}

/** Replay (no window): the room's seq and its buffered envelopes after `afterSeq`. */
export type Fetch = (room: string, afterSeq: number) => Promise<{ seq: number; entries: RoutedEnvelope[] }>;

export function createFanout(deps: {
  shards: Shards;
  keys: Keyspace;
  fetch: Fetch;
  onEnvelopes(batch: RoutedEnvelope[]): void;
  onNotice(notice: Notice): void;
}): Fanout {
  const { shards } = deps;
  const flows = new Map<string, Flow>();
  /** Subscriptions by shard index and channel. */
  const slots = new Map<string, { refs: number; ready: Promise<void> }>();

  const onMessage = (_channel: Buffer, message: Buffer) => {
    const notice = parseNotice(message);
    if (notice === null) return;
    const flow = flows.get(notice.room);
    if (flow === undefined) return;
    if (flow.fanned < 0) flow.early.push(notice);
    else take(notice.room, flow, notice);
  };
  for (const shard of shards.all) shard.pair.sub.on('messageBuffer', onMessage);

  function take(room: string, flow: Flow, n: Notice): void {
    if (n.kind === 'envelope') {
      if (n.seq <= flow.fanned) return;
      flow.pending.set(n.seq, { room, seq: n.seq, from: n.from, to: n.to, text: n.text, createdAt: n.createdAt, receivedAt: n.receivedAt });
    } else {
      flow.events.push(n);
    }
    drain(room, flow, flow.fanned);
  }

  /** Hands on what is in order; seqs up to `through` that are missing (left the buffer) are skipped. */
  function drain(room: string, flow: Flow, through: number): void {
    let batch: RoutedEnvelope[] = [];
    const flush = () => {
      if (batch.length > 0) deps.onEnvelopes(batch);
      batch = [];
    };
    for (;;) {
      while (flow.events.length > 0 && flow.events[0].seq <= flow.fanned) {
        flush();
        deps.onNotice(flow.events.shift() as Notice);
      }
      const next = flow.pending.get(flow.fanned + 1);
      if (next !== undefined) {
        flow.pending.delete(next.seq);
        flow.fanned = next.seq;
        batch.push(next);
        continue;
      }
      if (flow.fanned < through) {
        let to = through;
        for (const s of flow.pending.keys()) if (s - 1 < to) to = s - 1;
        flow.fanned = Math.max(flow.fanned + 1, to);
        continue;
      }
      break;
    }
    flush();
    if (flow.waiters.length > 0) {
      const still = [];
      for (const w of flow.waiters) if (w.seq <= flow.fanned) w.resolve(); else still.push(w);
      flow.waiters = still;
    }
    if (flow.pending.size > 0 || flow.events.length > 0) fill(room, flow);
  }

  function fill(room: string, flow: Flow): void {
    if (flow.filling || flow.refill !== null) return;
    flow.filling = true;
    deps.fetch(room, flow.fanned).then(({ seq, entries }) => {
      flow.filling = false;
      if (flows.get(room) !== flow) return;
      // Redis lost its data (restarted without persistence): the room starts again from its new seq.
      if (seq < flow.fanned) flow.fanned = seq;
      for (const e of entries) if (e.seq > flow.fanned && !flow.pending.has(e.seq)) flow.pending.set(e.seq, e);
      drain(room, flow, seq);
    }, () => {
      flow.filling = false;
      // Redis unreachable: tried again when the subscription is back (refillAll) or shortly.
      if (flows.get(room) === flow && flow.refill === null) {
        flow.refill = setTimeout(() => {
          flow.refill = null;
          if (flows.get(room) === flow) fill(room, flow);
        }, 500);
        flow.refill.unref();
      }
    });
  }

  return {
    acquire(room) {
      const channel = deps.keys.channel(room);
      const shard = shards.of(room);
      const { sub } = shard.pair;
      const id = `${shard.index}|${channel}`;
      let slot = slots.get(id);
      if (slot === undefined) {
        const created: { refs: number; ready: Promise<void> } = { refs: 0, ready: Promise.resolve() };
        created.ready = sub.subscribe(channel).then(() => undefined, (err: Error) => {
          if (slots.get(id) === created) slots.delete(id);
          throw err;
        });
        created.ready.catch(() => {});
        slots.set(id, created);
        slot = created;
      }
      const held = slot;
      held.refs++;
      let released = false;
      return {
        ready: held.ready,
        release() {
          if (released) return;
          released = true;
          if (--held.refs > 0 || slots.get(id) !== held) return;
          slots.delete(id);
          sub.unsubscribe(channel).catch(() => {});
        },
      };
    },
    open(room) {
      if (!flows.has(room)) flows.set(room, { fanned: -1, early: [], pending: new Map(), events: [], filling: false, refill: null, waiters: [] });
    },
    init(room, seq) {
      const flow = flows.get(room);
      if (flow === undefined || flow.fanned >= 0) return;
      flow.fanned = seq;
      const early = flow.early;
      flow.early = [];
      // Notices published before the join's state was read are already in it.
      for (const n of early) if (n.seq > seq || (n.kind !== 'envelope' && n.seq === seq)) take(room, flow, n);
    },
    close(room) {
      const flow = flows.get(room);
      if (flow === undefined) return;
      flows.delete(room);
      if (flow.refill) clearTimeout(flow.refill);
      for (const w of flow.waiters) w.resolve();
    },
    settled(room, seq, timeoutMs) {
      const flow = flows.get(room);
      if (flow === undefined || flow.fanned < 0 || flow.fanned >= seq) return Promise.resolve();
      return new Promise((resolve) => {
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          clearTimeout(t1);
          clearTimeout(t2);
          resolve();
        };
        flow.waiters.push({ seq, resolve: finish });
        // Not arrived in time: fetch from the buffer; give up after a second wait.
        const t1 = setTimeout(() => fill(room, flow), timeoutMs);
        const t2 = setTimeout(finish, 2 * timeoutMs);
      });
    },
    refill(shard) {
      for (const [room, flow] of flows) if (flow.fanned >= 0 && shards.of(room) === shard) fill(room, flow);
    },
  };
}
