// The start-up check of a shard's place in cluster.redis: a list that would move rooms with buffered messages to
// another shard, or that differs from the one of relays still running on the shard, is refused with what to do.
import type { Shard } from './shards.ts';
import type { Keyspace } from './wire.ts';
import { shardIndex } from './wire.ts';

/** Buffered rooms read per command while checking. */
const PAGE = 5000;

export function layoutOf(index: number, count: number): string {
  return `${index}/${count}`;
}

/**
 * Null when this node may use the shard with the list it was started with, else the refusal. Rooms with nothing
 * buffered within the window move freely: their sequence starts again on the new shard with a new epoch, which
 * clients take as a resync (SPEC §6.1).
 */
export async function checkLayout(deps: { shard: Shard; count: number; keys: Keyspace; ttlMs: number; deadAfterMs: number }): Promise<string | null> {
  const { shard, count, keys, ttlMs } = deps;
  const { cmd } = shard.pair;
  const mine = layoutOf(shard.index, count);
  const [secs, micros] = await cmd.time();
  const now = Number(secs) * 1000 + Math.floor(Number(micros) / 1000);
  // A Redis used before sharding existed holds a one-server cluster's data.
  const stored = (await cmd.get(keys.layout)) ?? layoutOf(0, 1);
  const where = `${shard.url} (shard ${shard.index + 1} of ${count} in this list)`;
  if (stored !== mine) {
    const live = await cmd.zcount(keys.nodes, now - deps.deadAfterMs, '+inf');
    if (live > 0) {
      const [i, n] = stored.split('/').map(Number);
      return `cluster.redis: the shard list changed: ${where} is shard ${i + 1} of ${n} for the ${live} relay(s) still running on it. ` +
        'Every relay of a cluster needs the same list in the same order: stop them all, then start them all with the new list.';
    }
  }
  if (count === 1 && stored === mine) return null;
  let moved = 0;
  let example = '';
  for (let offset = 0; ; offset += PAGE) {
    const rooms = await cmd.zrangebyscore(keys.bufRooms, now - ttlMs, '+inf', 'LIMIT', offset, PAGE);
    for (const room of rooms) {
      const to = shardIndex(room, count);
      if (to === shard.index) continue;
      moved++;
      if (example === '') example = `room ${JSON.stringify(room.slice(0, 64))} would go to shard ${to + 1}`;
    }
    if (rooms.length < PAGE) break;
  }
  if (moved === 0) return null;
  return `cluster.redis: the shard list changed: ${moved} room(s) with buffered messages on ${where} would move to another shard (${example}), ` +
    `losing those messages. Start with the previous list, or stop every relay and change the list once buffer.ttl.seconds (${Math.round(ttlMs / 1000)} s) have passed since the last message.`;
}
