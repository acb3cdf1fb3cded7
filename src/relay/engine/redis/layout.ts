// The start-up check of a shard's place in cluster.redis: a list that would move rooms with buffered messages to
// another shard (or drop a shard that has some), or differs from the running relays' list, is refused with what to do.
import { createHash } from 'node:crypto';
import type { Shard } from './shards.ts';
import type { Keyspace } from './wire.ts';
import { shardIndex } from './wire.ts';

/** How a refusal for another relay's claim starts: the engine prefers any other refusal, which says more. */
export const CLAIMED = 'cluster.redis: the shard list changed: another relay is starting';

/** Buffered rooms read per command while checking. */
const PAGE = 5000;

/** What a shard stores of the list the relays using it started with: its place, and a digest of the whole list
 * (`identities`: the list by redisIdentity, in order). */
export function layoutOf(index: number, identities: string[]): string {
  return `${index}/${identities.length} ${createHash('sha256').update(identities.join(',')).digest('hex').slice(0, 12)}`;
}

/**
 * Null when this node may use the shard with the list it was started with, else the refusal. Rooms with nothing
 * buffered within the window move freely: their sequence starts again on the new shard with a new epoch, which
 * clients take as a resync (SPEC §6.1).
 */
export async function checkLayout(deps: { shard: Shard; identities: string[]; keys: Keyspace; ttlMs: number; deadAfterMs: number }): Promise<string | null> {
  const { shard, identities, keys, ttlMs } = deps;
  const { cmd } = shard.pair;
  const count = identities.length;
  const mine = layoutOf(shard.index, identities);
  const reply = await shard.pair.scripts.honeLayout(keys.prefix, deps.deadAfterMs, mine);
  const now = Number(reply[0]);
  const live = Number(reply[2]);
  const claimed = String(reply[3]);
  // A Redis used before sharding existed holds a one-server cluster's data; one server named another way (a new
  // host name) is still the same one-server cluster.
  const stored = reply[1] === '' ? null : String(reply[1]);
  const same = stored === mine || (count === 1 && (stored === null || stored.startsWith(`${layoutOf(0, identities).split(' ')[0]} `)));
  const where = `${shard.url} (shard ${shard.index + 1} of ${count} in this list)`;
  const wait = `once buffer.ttl.seconds (${Math.round(ttlMs / 1000)} s) have passed since the last message`;
  if (!same && live > 0) {
    const place = /^(\d+)\/(\d+) /.exec(stored ?? '');
    const theirs = stored === null ? 'a single Redis' : place ? `a list of ${place[2]} in which it is shard ${Number(place[1]) + 1}` : 'another list';
    return `cluster.redis: the shard list changed: ${live} relay(s) still running on ${where} were started with ${theirs}. ` +
      'Every relay of a cluster needs the same list in the same order: stop them all, then start them all with the new list.';
  }
  const dropped: string[] = [];
  const seen = await cmd.hgetall(keys.shardMessages);
  for (const [identity, at] of Object.entries(seen)) {
    if (!identities.includes(identity) && Number(at) >= now - ttlMs) dropped.push(`${identity} (${Math.max(0, Math.round((now - Number(at)) / 1000))} s ago)`);
  }
  if (dropped.length > 0) {
    return `cluster.redis: the shard list changed: ${dropped.join(', ')} is no longer in the list but held buffered messages that would be lost. ` +
      `Start with the previous list, or change it ${wait}.`;
  }
  // Checked last: the other refusals say more.
  const claim = claimed === mine || (count === 1 && claimed.startsWith(`${mine.split(' ')[0]} `)) ? null
    : `${CLAIMED} on ${where} with a different list, moments ago. ` +
      'Every relay of a cluster needs the same list in the same order; start this one with that list, or stop the other and try again.';
  if (same && count === 1) return claim;
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
  if (moved === 0) return claim;
  return `cluster.redis: the shard list changed: ${moved} room(s) with buffered messages on ${where} would move to another shard (${example}), ` +
    `losing those messages. Start with the previous list, or change it ${wait}.`;
}

/** Drops the claim `checkLayout` made on the shard (this node refuses to start, so it must not hold others back). */
export async function releaseLayout(deps: { shard: Shard; identities: string[]; keys: Keyspace; deadAfterMs: number }): Promise<void> {
  await deps.shard.pair.scripts.honeLayout(deps.keys.prefix, deps.deadAfterMs, layoutOf(deps.shard.index, deps.identities), 'release');
}

