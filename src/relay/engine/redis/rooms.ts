// The cluster's room table: membership, host and hand-over live on the room's Redis shard (JOIN/LEAVE/ELECT); this node
// keeps a cache of the rooms it has devices in, updated from the room's notices in order, for the sync lookups.
import { randomBytes } from 'node:crypto';
import type { JoinClaims, JoinResult, RoomEvent, RoomTable } from '../contract.ts';
import { JoinRefused, LABEL_TAKEN_MESSAGE, revocationKey, REVOKED_MESSAGE, ROOM_REMOVED_MESSAGE, ROOM_TAKEN_MESSAGE } from '../refusals.ts';
import type { Fanout, SlotHandle } from './fanout.ts';
import type { Shard, Shards } from './shards.ts';
import type { Keyspace, Notice, RoomState } from './wire.ts';
import { parseRoomState } from './wire.ts';

interface LocalRoom {
  /** Device label → the join token of this node's connection holding it. */
  tokens: Map<string, string>;
  /** Device label → the token's account and device, for restoring memberships (absent in insecure development). */
  users: Map<string, JoinClaims>;
  slot: SlotHandle;
  /** False until the first join here has read the room's state. */
  known: boolean;
  host: string | null;
  members: Set<string>;
  elect: NodeJS.Timeout | null;
}

export interface ClusterRooms extends RoomTable {
  /** A notice of a room (presence, host, replace), in the room's order. */
  notice(n: Notice): void;
  /** A shard is back: refresh the cache of its rooms, finish leaves that failed, and re-add memberships when `restore`. */
  resync(shard: Shard, restore: boolean): Promise<void>;
  /** Pending leave scripts settled. */
  settle(): Promise<void>;
  close(): void;
}

const UNAVAILABLE = 'The relay cluster cannot reach the Redis of this room right now; try again in a few seconds.';

/** What the JOIN script's refusals become (FULL names the limit, so it is made where that is known). */
const REFUSALS: Record<string, JoinRefused | 'FULL'> = {
  FULL: 'FULL',
  REVOKED: new JoinRefused('TOKEN_REVOKED', REVOKED_MESSAGE, 1008),
  REMOVED: new JoinRefused('ROOM_FORBIDDEN', ROOM_REMOVED_MESSAGE, 1008),
  LABEL_TAKEN: new JoinRefused('LABEL_TAKEN', LABEL_TAKEN_MESSAGE, 1008),
  ROOM_TAKEN: new JoinRefused('ROOM_FORBIDDEN', ROOM_TAKEN_MESSAGE, 1008),
};

export function createClusterRooms(deps: {
  shards: Shards;
  keys: Keyspace;
  fanout: Fanout;
  nodeId: string;
  ttlMs: number;
  devicesPerRoom: number;
  log: { warn(obj: object, msg: string): void };
}): ClusterRooms {
  const { shards, keys, fanout, nodeId, ttlMs } = deps;
  const scripts = (room: string) => shards.of(room).pair.scripts;
  const P = keys.prefix;
  const local = new Map<string, LocalRoom>();
  const listeners: Array<(event: RoomEvent) => void> = [];
  const emit = (event: RoomEvent) => {
    for (const l of listeners) l(event);
  };
  /** Leaves that could not reach Redis, retried on resync. */
  const failedLeaves: Array<[string, string, string]> = [];
  const inflight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    p.finally(() => inflight.delete(p)).catch(() => {});
    return p;
  };

  /** The JOIN script's last arguments: the revoked set, and whose token joins (empty in insecure development). */
  const whoArgs = (room: string, claims: JoinClaims | undefined): Array<string | number> => [
    keys.revoked, claims ? String(claims.userId) : '', claims ? revocationKey(claims) : '', claims?.claimRoom ? 1 : 0,
    revocationKey({ userId: 0, deviceId: 0, roomId: room }),
  ];

  function teardown(room: string, lr: LocalRoom): void {
    if (local.get(room) !== lr) return;
    local.delete(room);
    if (lr.elect) clearTimeout(lr.elect);
    fanout.close(room);
    lr.slot.release();
  }

  function leaveRemote(room: string, device: string, token: string): void {
    track(scripts(room).honeLeave(P, room, device, nodeId, token, keys.channel(room), ttlMs)).catch(() => {
      failedLeaves.push([room, device, token]);
    });
  }

  /** The host is away: the nodes with devices in the room try the election when its window may be over. */
  function armElection(room: string, lr: LocalRoom, ms: number): void {
    if (lr.elect) clearTimeout(lr.elect);
    lr.elect = setTimeout(() => {
      lr.elect = null;
      if (local.get(room) !== lr) return;
      scripts(room).honeElect(P, room, ttlMs, keys.channel(room)).then((wait) => {
        if (Number(wait) > 0 && local.get(room) === lr) armElection(room, lr, Number(wait) + 50);
      }, () => {
        if (local.get(room) === lr) armElection(room, lr, 1000);
      });
    }, ms);
    lr.elect.unref();
  }

  function adopt(room: string, lr: LocalRoom, state: RoomState): void {
    lr.host = state.host;
    lr.members = new Set(state.members.keys());
    lr.known = true;
    if (lr.host !== null && !lr.members.has(lr.host)) armElection(room, lr, ttlMs);
  }

  return {
    async join(room: string, device: string, claims?: JoinClaims): Promise<JoinResult> {
      if (!shards.of(room).up()) throw new JoinRefused('CLUSTER_UNAVAILABLE', UNAVAILABLE);
      let lr = local.get(room);
      if (lr === undefined) {
        lr = { tokens: new Map(), users: new Map(), slot: fanout.acquire(room), known: false, host: null, members: new Set(), elect: null };
        local.set(room, lr);
        fanout.open(room);
      }
      const token = randomBytes(9).toString('base64url');
      lr.tokens.set(device, token);
      if (claims) lr.users.set(device, claims);
      else lr.users.delete(device);
      let reply: unknown[];
      try {
        await lr.slot.ready;
        reply = await track(scripts(room).honeJoin(P, room, device, nodeId, token, deps.devicesPerRoom, ttlMs, keys.channel(room), 0, ...whoArgs(room, claims)));
      } catch (err) {
        if (lr.tokens.get(device) === token) {
          lr.tokens.delete(device);
          if (lr.tokens.size === 0) teardown(room, lr);
          // The script may have run with its answer lost: undo it (a no-op otherwise).
          leaveRemote(room, device, token);
        }
        deps.log.warn({ event: 'cluster.join.failed', err: (err as Error).message }, 'cluster: join could not reach Redis');
        throw new JoinRefused('CLUSTER_UNAVAILABLE', UNAVAILABLE);
      }
      // A room state starts with its host's label, which may be any string ("constructor" included).
      const refusal = typeof reply[0] === 'string' && Object.hasOwn(REFUSALS, reply[0]) ? REFUSALS[reply[0]] : undefined;
      if (refusal !== undefined) {
        if (lr.tokens.get(device) === token) {
          lr.tokens.delete(device);
          lr.users.delete(device);
          if (lr.tokens.size === 0) teardown(room, lr);
        }
        throw refusal === 'FULL' ? new JoinRefused('ROOM_FULL', `This room already has ${deps.devicesPerRoom} devices connected.`) : refusal;
      }
      // The first join here fixes the cache and where the room's notices start; later ones are in the notices.
      const state = parseRoomState(reply);
      if (local.get(room) === lr && !lr.known) {
        adopt(room, lr, state);
        fanout.init(room, state.seq);
      }
      return { isHost: state.host === device, hostDevice: state.host ?? device };
    },
    leave(room: string, device: string): void {
      const lr = local.get(room);
      const token = lr?.tokens.get(device);
      if (lr === undefined || token === undefined) return;
      lr.tokens.delete(device);
      lr.users.delete(device);
      leaveRemote(room, device, token);
      if (lr.tokens.size === 0) teardown(room, lr);
    },
    host: (room) => local.get(room)?.host ?? null,
    devices: (room) => local.get(room)?.members.size ?? 0,
    count: () => local.size,
    onEvent(listener) {
      listeners.push(listener);
    },
    notice(n: Notice): void {
      const lr = local.get(n.room);
      if (lr === undefined) return;
      switch (n.kind) {
        case 'presence':
          if (n.joined) lr.members.add(n.device);
          else lr.members.delete(n.device);
          emit({ type: 'presence', room: n.room, device: n.device, state: n.joined ? 'joined' : 'left' });
          if (!n.joined && n.device === lr.host) armElection(n.room, lr, ttlMs);
          return;
        case 'host':
          lr.host = n.device;
          if (lr.elect) clearTimeout(lr.elect);
          lr.elect = null;
          emit({ type: 'host', room: n.room, device: n.device });
          return;
        case 'replace':
          // Our connection for the label was the one replaced (on another node): it is closed with 4001.
          if (lr.tokens.get(n.device) === n.token) {
            lr.tokens.delete(n.device);
            lr.users.delete(n.device);
            emit({ type: 'replaced', room: n.room, device: n.device });
            if (lr.tokens.size === 0) teardown(n.room, lr);
          }
          return;
        default:
          return;
      }
    },
    async resync(shard: Shard, restore: boolean) {
      const mine = ([room]: [string, ...unknown[]]) => shards.of(room) === shard;
      const retry = failedLeaves.filter(mine);
      failedLeaves.splice(0, failedLeaves.length, ...failedLeaves.filter((l) => !mine(l)));
      for (const [room, device, token] of retry) leaveRemote(room, device, token);
      for (const [room, lr] of [...local].filter(mine)) {
        try {
          if (restore) {
            for (const [device, token] of [...lr.tokens]) {
              const claims = lr.users.get(device);
              await shard.pair.scripts.honeJoin(P, room, device, nodeId, token, deps.devicesPerRoom, ttlMs, keys.channel(room), 1, ...whoArgs(room, claims && { ...claims, claimRoom: false }));
            }
          }
          const reply = await shard.pair.scripts.honeState(P, room);
          if (local.get(room) !== lr || !lr.known) continue;
          const before = lr.host;
          adopt(room, lr, parseRoomState(reply));
          if (lr.host !== null && lr.host !== before) emit({ type: 'host', room, device: lr.host });
        } catch (err) {
          deps.log.warn({ event: 'cluster.resync.failed', err: (err as Error).message }, 'cluster: could not refresh a room');
        }
      }
    },
    async settle() {
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
    close() {
      for (const [room, lr] of [...local]) teardown(room, lr);
    },
  };
}
