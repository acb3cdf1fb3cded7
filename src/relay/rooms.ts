// The single relay's room table: which device labels are in each room, who is host, and the hand-over.
// A host that drops keeps the role for the buffer window; then the longest-connected device takes it over.
import type { Clock } from '../common/clock.ts';
import type { JoinResult, RoomEvent, RoomTable } from './engine.ts';
import { SlotMap } from './slot-map.ts';

interface Room {
  /** Device label → when it (last) joined. */
  members: Map<string, number>;
  host: string | null;
  handOver: NodeJS.Timeout | null;
}

export interface LocalRoomTable extends RoomTable {
  /** Cancels hand-over timers (shutdown). */
  close(): void;
}

export function createLocalRooms(opts: { handOverMs: number; clock: Clock }): LocalRoomTable {
  const rooms = new SlotMap<Room>();
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
    if (next === null) rooms.delete(id);
    else emit({ type: 'host', room: id, device: next });
  }

  return {
    join(id: string, device: string): JoinResult {
      let room = rooms.get(id);
      if (room === undefined) {
        room = { members: new Map(), host: null, handOver: null };
        rooms.set(id, room);
      }
      const replacing = room.members.has(device);
      if (room.members.size === 0) occupied++;
      room.members.set(device, opts.clock());
      if (room.host === null) room.host = device;
      if (room.host === device && room.handOver) {
        clearTimeout(room.handOver);
        room.handOver = null;
      }
      if (!replacing) emit({ type: 'presence', room: id, device, state: 'joined' });
      return { isHost: room.host === device, hostDevice: room.host };
    },
    leave(id: string, device: string): void {
      const room = rooms.get(id);
      if (room === undefined || !room.members.delete(device)) return;
      if (room.members.size === 0) occupied--;
      emit({ type: 'presence', room: id, device, state: 'left' });
      if (room.host === device && room.handOver === null) {
        room.handOver = setTimeout(() => handOver(id, room), opts.handOverMs);
        room.handOver.unref();
      }
    },
    host: (id) => rooms.get(id)?.host ?? null,
    devices: (id) => rooms.get(id)?.members.size ?? 0,
    count: () => occupied,
    onEvent(listener) {
      listeners.push(listener);
    },
    close() {
      for (const [, room] of rooms.entries()) if (room.handOver) clearTimeout(room.handOver);
    },
  };
}
