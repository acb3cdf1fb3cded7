// Revocations shared by the cluster: each node pulls from auth with its own cursor (so it closes its own revoked
// connections) and adds what it learns to a Redis set that every node reads, so joins are refused cluster-wide and
// a node that cannot reach auth still closes the revoked devices' connections it holds.
import type { Revocation, RevocationStore } from '../contract.ts';
import { revocationKey } from '../refusals.ts';
import type { RedisPair } from './redis.ts';
import type { Keyspace } from './wire.ts';

export interface ClusterRevocations extends RevocationStore {
  /** Reads the shared set when it has grown (housekeeping, every second); the first call also takes the cursor. */
  sync(): Promise<void>;
}

export function createClusterRevocations(deps: { pair: RedisPair; keys: Keyspace; log: { warn(obj: object, msg: string): void } }): ClusterRevocations {
  const { pair, keys } = deps;
  const revoked = new Set<string>();
  let cursor = '';
  let started = false;
  let remoteCount = 0;
  let unsaved: { members: string[]; cursor: string } | null = null;
  const listeners: Array<(learned: Set<string>) => void> = [];

  function save(): void {
    if (unsaved === null) return;
    const { members, cursor: next } = unsaved;
    const multi = pair.cmd.multi();
    if (members.length > 0) multi.sadd(keys.revoked, ...members);
    multi.set(keys.revocationCursor, next);
    multi.exec().then(() => {
      if (unsaved !== null && unsaved.cursor === next) unsaved = null;
    }, () => {});
  }

  return {
    isRevoked: (userId, deviceId) => revoked.has(revocationKey({ userId, deviceId })),
    isRoomRemoved: (room) => revoked.has(revocationKey({ userId: 0, deviceId: 0, roomId: room })),
    cursor: () => cursor,
    add(list: Revocation[], next: string) {
      const members = list.map(revocationKey);
      for (const m of members) revoked.add(m);
      cursor = next;
      unsaved = { members: [...(unsaved?.members ?? []), ...members], cursor: next };
      save();
    },
    count: () => revoked.size,
    async sync() {
      save();
      if (!started) {
        const stored = await pair.cmd.get(keys.revocationCursor);
        // A node starting with nothing connected can take the cluster's place in auth's list.
        if (stored !== null && cursor === '') cursor = stored;
        started = true;
      }
      const n = await pair.cmd.scard(keys.revoked);
      if (n === remoteCount) return;
      remoteCount = n;
      const learned = new Set<string>();
      for (const m of await pair.cmd.smembers(keys.revoked)) {
        if (revoked.has(m)) continue;
        revoked.add(m);
        learned.add(m);
      }
      if (learned.size > 0) for (const l of listeners) l(learned);
    },
    onLearned(listener) {
      listeners.push(listener);
    },
  };
}
