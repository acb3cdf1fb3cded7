// What engines refuse joins with, the names both give revocations and how both make a room epoch: the few values
// beside the contract that are not types (contract.ts), shared by the routing code and both engines.
import { randomBytes } from 'node:crypto';

/** What a device whose token was revoked is told, whichever node or path refuses it. */
export const REVOKED_MESSAGE = 'This device was removed from the account; sign in again.';

/** Thrown by `RoomTable.join` to refuse a join with an error code of its own, then closed with `closeCode`. */
export class JoinRefused extends Error {
  readonly code: string;
  /** The close code after the error frame: 1013 (try again later) unless the refusal is final (1008). */
  readonly closeCode: number;
  constructor(code: string, message: string, closeCode = 1013) {
    super(message);
    this.code = code;
    this.closeCode = closeCode;
  }
}

export const LABEL_TAKEN_MESSAGE = 'This device label is held in this room by another account.';
export const ROOM_TAKEN_MESSAGE = 'This room is in use by another account.';
export const ROOM_REMOVED_MESSAGE = 'This project was removed from the account.';

/** How a revocation is named in a store and in a batch of learnt ones: `userId:deviceId`, or `room:<roomId>`. */
export const revocationKey = (r: { userId: number; deviceId: number; roomId?: string }): string =>
  r.roomId ? `room:${r.roomId}` : `${r.userId}:${r.deviceId}`;

/** A fresh room epoch (SPEC §6.1): 16 hex characters, new whenever a room's sequence starts again. */
export const newEpoch = (): string => randomBytes(8).toString('hex');
