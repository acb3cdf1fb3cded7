// Room IDs that prove their owner (SPEC §6 "Room ownership"): `<24 hex random>.<32 hex MAC over userId and random>`.
// Auth issues them for projects; the relay checks them locally with the shared secret.
import { randomBytes } from 'node:crypto';
import { hmacHex, safeEqual } from './token.ts';

const ISSUED_RE = /^([0-9a-f]{24})\.([0-9a-f]{32})$/;

function roomMac(secret: string, userId: number, random: string): string {
  return hmacHex(secret, `room|${userId}|${random}`).slice(0, 32);
}

export function issueRoomId(userId: number, secret: string): string {
  const random = randomBytes(12).toString('hex');
  return `${random}.${roomMac(secret, userId, random)}`;
}

export type RoomOwnership = 'owner' | 'not-owner' | 'unregistered';

/** Whether `userId` owns `roomId`; rooms not in the issued format are `unregistered` (e.g. `pair-ABC123`). */
export function roomOwnership(roomId: string, userId: number, keys: { secret: string; previousSecret?: string }): RoomOwnership {
  const m = ISSUED_RE.exec(roomId);
  if (!m) return 'unregistered';
  let ok = false;
  for (const secret of [keys.secret, keys.previousSecret]) {
    if (secret && safeEqual(roomMac(secret, userId, m[1]), m[2])) ok = true;
  }
  return ok ? 'owner' : 'not-owner';
}
