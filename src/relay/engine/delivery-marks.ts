// Delivery marks: the highest seq handed to each device label in each room, kept in memory until an engine writes
// them; both engines (SQLite, Redis) raise them the same way.
export interface Mark {
  room: string;
  device: string;
  seq: number;
}

export const markKey = (room: string, device: string): string => `${room}\u0000${device}`;

/** Raises the mark of (room, device) to `seq`; answers its key when it rose, null when it was already there. */
export function raiseMark(marks: Map<string, Mark>, room: string, device: string, seq: number): string | null {
  const key = markKey(room, device);
  const d = marks.get(key);
  if (d === undefined) marks.set(key, { room, device, seq });
  else if (seq > d.seq) d.seq = seq;
  else return null;
  return key;
}
