// Open connections per key counted for the whole cluster (limits.ip.connections, limits.user.connections): each node
// keeps its own count per key on shard 0 (CONNS script), so a dead node's are dropped with it by housekeeping.
import type { ConnectionCounter } from '../contract.ts';
import type { Shard } from './shards.ts';
import type { Keyspace } from './wire.ts';

export interface ClusterCounter extends ConnectionCounter {
  /** Writes this node's counts again (Redis came back, possibly empty). */
  restore(): Promise<void>;
}

export function createClusterCounter(deps: { shard: Shard; keys: Keyspace; nodeId: string }): ClusterCounter {
  const { shard, keys, nodeId } = deps;
  const { scripts } = shard.pair;
  /** This node's open connections per key. */
  const mine = new Map<string, number>();

  return {
    async acquire(key, limit) {
      const n = mine.get(key) ?? 0;
      if (n >= limit) return false;
      // Redis unreachable: this node's own count decides until it is back (restore then writes it).
      if (shard.up()) {
        const added = await scripts.honeConns(keys.prefix, nodeId, key, 1, limit).then(Number, () => -1);
        if (added === 0) return false;
      }
      mine.set(key, (mine.get(key) ?? 0) + 1);
      return true;
    },
    release(key) {
      const n = (mine.get(key) ?? 0) - 1;
      if (n > 0) mine.set(key, n);
      else mine.delete(key);
      if (shard.up()) scripts.honeConns(keys.prefix, nodeId, key, -1, -1).catch(() => {});
    },
    async restore() {
      for (const [key, n] of mine) await scripts.honeConns(keys.prefix, nodeId, key, n, 0).catch(() => {});
    },
  };
}
