// The single relay's room table: which device labels are in each room, who is host, and the hand-over.
// A host that drops keeps the role for the buffer window; then the longest-connected device takes it over.
// Labels belong to the account holding them, claimed rooms to their first account (SPEC §6.1).
import type { Clock } from '../../../common/clock.ts';
import type { Scheduler, Timer } from '../../scheduler.ts';
import type { JoinClaims, JoinResult, RoomEvent, RoomTable } from '../contract.ts';
import { JoinRefused, LABEL_TAKEN_MESSAGE, ROOM_TAKEN_MESSAGE } from '../refusals.ts';

interface Room {
  /** Device label → when it (last) joined. */
  members: Map<string, number>;
  /** Device label → the account holding it (absent in insecure development). */
  users: Map<string, number>;
  host: string | null;
  handOver: Timer | null;
}

export interface LocalRoomTable extends RoomTable {
  /** Cancels hand-over timers (shutdown). */
  close(): void;
}

export function createLocalRooms(opts: { handOverMs: number; clock: Clock; scheduler: Scheduler; hasBuffered(room: string): boolean }): LocalRoomTable {
  const rooms = new Map<string, Room>();
  /** Claimed rooms (unregistered, not shared) → the account that joined first; theirs while members or buffer last. */
  const owners = new Map<string, number>();
  /** Rooms with at least one connected device (what limits.rooms and /health count). */
  let occupied = 0;
  const listeners: Array<(event: RoomEvent) => void> = [];
  const emit = (event: RoomEvent) => {
    for (const l of listeners) l(event);
  };

  function handOver(id: string, room: Room): void {
    room.handOver = null;
    if (room.host !== null && room.members.has(room.host)) return;
    let next: string | null = null;
    let since = Infinity;
    for (const [device, joinedAt] of room.members) {
      if (joinedAt < since) {
        since = joinedAt;
        next = device;
      }
    }
    room.host = next;
    if (next === null) {
      rooms.delete(id);
      if (!opts.hasBuffered(id)) owners.delete(id);
    }
    else emit({ type: 'host', room: id, device: next });
  }

  return {
    async join(id: string, device: string, claims?: JoinClaims): Promise<JoinResult> {
      let room = rooms.get(id);
      if (claims !== undefined) {
        const holder = room?.users.get(device);
        if (holder !== undefined && holder !== claims.userId) throw new JoinRefused('LABEL_TAKEN', LABEL_TAKEN_MESSAGE, 1008);
        if (claims.claimRoom) {
          const owner = owners.get(id);
          if (owner !== undefined && owner !== claims.userId && ((room?.members.size ?? 0) > 0 || opts.hasBuffered(id))) {
            throw new JoinRefused('ROOM_FORBIDDEN', ROOM_TAKEN_MESSAGE, 1008);
          }
          owners.set(id, claims.userId);
        }
      }
      if (room === undefined) {
        room = { members: new Map(), users: new Map(), host: null, handOver: null };
        rooms.set(id, room);
      }
      if (claims !== undefined) room.users.set(device, claims.userId);
      const replacing = room.members.has(device);
      if (room.members.size === 0) occupied++;
      room.members.set(device, opts.clock());
      if (room.host === null) room.host = device;
      if (room.host === device && room.handOver) {
        room.handOver.cancel();
        room.handOver = null;
      }
      if (!replacing) emit({ type: 'presence', room: id, device, state: 'joined' });
      return { isHost: room.host === device, hostDevice: room.host };
    },
    leave(id: string, device: string): void {
      const room = rooms.get(id);
      if (room === undefined || !room.members.delete(device)) return;
      room.users.delete(device);
      if (room.members.size === 0) occupied--;
      emit({ type: 'presence', room: id, device, state: 'left' });
      if (room.host === device && room.handOver === null) {
        room.handOver = opts.scheduler.after(opts.handOverMs, () => handOver(id, room));
      }
    },
    host: (id) => rooms.get(id)?.host ?? null,
    devices: (id) => rooms.get(id)?.members.size ?? 0,
    count: () => occupied,
    onEvent(listener) {
      listeners.push(listener);
    },
    close() {
      for (const room of rooms.values()) room.handOver?.cancel();
    },
  };
}
