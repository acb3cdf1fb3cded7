// Revocations shared by the cluster: each node pulls from auth with its own cursor (so it closes its own revoked
// connections) and adds what it learns to a set on every shard that every node reads, so joins (checked on the room's
// shard) are refused cluster-wide and a node that cannot reach auth still closes the revoked devices' connections.
import type { Revocation, RevocationStore } from '../contract.ts';
import { revocationKey } from '../refusals.ts';
import type { Shard, Shards } from './shards.ts';
import type { Keyspace } from './wire.ts';

export interface ClusterRevocations extends RevocationStore {
  /** Reads the shared set when it has grown (housekeeping, every second); the first call also takes the cursor. */
  sync(): Promise<void>;
  /** A shard came back (possibly empty): writes every revocation this node knows to it again. */
  restore(shard: Shard): void;
}

export function createClusterRevocations(deps: { shards: Shards; keys: Keyspace; log: { warn(obj: object, msg: string): void } }): ClusterRevocations {
  const { shards, keys } = deps;
  const control = shards.control;
  const revoked = new Set<string>();
  let cursor = '';
  let started = false;
  /** Per shard: the size of its set when last read, and members not yet written to it. */
  const remoteCount = new Map<Shard, number>();
  const unsaved = new Map<Shard, Set<string>>(shards.all.map((s) => [s, new Set()]));
  let unsavedCursor: string | null = null;
  const listeners: Array<(learned: Set<string>) => void> = [];

  function save(): void {
    for (const shard of shards.all) {
      const members = [...unsaved.get(shard)!];
      const next = shard === control ? unsavedCursor : null;
      if ((members.length === 0 && next === null) || !shard.up()) continue;
      const multi = shard.pair.cmd.multi();
      if (members.length > 0) multi.sadd(keys.revoked, ...members);
      if (next !== null) multi.set(keys.revocationCursor, next);
      multi.exec().then(() => {
        for (const m of members) unsaved.get(shard)!.delete(m);
        if (next !== null && unsavedCursor === next) unsavedCursor = null;
      }, () => {});
    }
  }

  return {
    isRevoked: (userId, deviceId) => revoked.has(revocationKey({ userId, deviceId })),
    isRoomRemoved: (room) => revoked.has(revocationKey({ userId: 0, deviceId: 0, roomId: room })),
    cursor: () => cursor,
    add(list: Revocation[], next: string) {
      const members = list.map(revocationKey);
      for (const m of members) revoked.add(m);
      cursor = next;
      for (const set of unsaved.values()) for (const m of members) set.add(m);
      unsavedCursor = next;
      save();
    },
    count: () => revoked.size,
    restore(shard) {
      for (const m of revoked) unsaved.get(shard)!.add(m);
      remoteCount.delete(shard);
      save();
    },
    async sync() {
      save();
      if (!started && control.up()) {
        const stored = await control.pair.cmd.get(keys.revocationCursor);
        // A node starting with nothing connected can take the cluster's place in auth's list.
        if (stored !== null && cursor === '') cursor = stored;
        started = true;
      }
      const learned = new Set<string>();
      for (const shard of shards.all) {
        if (!shard.up()) continue;
        const n = await shard.pair.cmd.scard(keys.revoked);
        if (n === remoteCount.get(shard)) continue;
        remoteCount.set(shard, n);
        for (const m of await shard.pair.cmd.smembers(keys.revoked)) {
          if (revoked.has(m)) continue;
          revoked.add(m);
          learned.add(m);
        }
      }
      if (learned.size > 0) for (const l of listeners) l(learned);
    },
    onLearned(listener) {
      listeners.push(listener);
    },
  };
}
