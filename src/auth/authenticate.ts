// Checks `Authorization: Bearer <deviceToken>`: signature first (no database), then that the device still exists
// with that token. Keeps lastSeen current with at most one write per device per minute.
import type { FastifyRequest } from 'fastify';
import { sha256Hex, safeEqual, verifyToken } from '../common/token.ts';
import type { AuthContext } from './context.ts';
import { HttpError } from './http-errors.ts';
import { findDevice, touchDevice } from './store/devices.ts';
import type { DeviceRow } from './store/devices.ts';
import { fromDbTime, toDbTime } from './time.ts';

export const LAST_SEEN_RESOLUTION_MS = 60_000;

export interface Caller {
  userId: number;
  deviceId: number;
  device: DeviceRow;
}

/** Throws 429 when this address has used up its allowance of unauthenticated or failed requests. */
export function limitByIp(ctx: AuthContext, request: FastifyRequest): void {
  const r = ctx.limits.perIp.hit(request.ip);
  if (!r.allowed) throw new HttpError(429, 'RATE_LIMITED', 'Too many requests from this address; slow down.', { 'retry-after': String(r.retryAfter) });
}

export async function authenticate(ctx: AuthContext, request: FastifyRequest): Promise<Caller> {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || header.length === 0) {
    limitByIp(ctx, request);
    throw new HttpError(401, 'UNAUTHORIZED', 'Send the device token as "Authorization: Bearer <deviceToken>".');
  }
  const m = /^Bearer[ ]+(\S{1,256})\s*$/i.exec(header);
  const claims = m ? verifyToken(m[1], ctx.keys) : null;
  if (!m || !claims) {
    limitByIp(ctx, request);
    throw new HttpError(401, 'INVALID_TOKEN', 'The device token is not valid.');
  }
  const device = await findDevice(ctx.db, claims.deviceId);
  if (!device || device.userId !== claims.userId || !safeEqual(device.token, sha256Hex(m[1]))) {
    limitByIp(ctx, request);
    throw new HttpError(401, 'TOKEN_REVOKED', 'This device has been signed out; sign in again.');
  }
  const now = ctx.clock();
  if (now - fromDbTime(device.lastSeen) >= LAST_SEEN_RESOLUTION_MS) {
    await touchDevice(ctx.db, device.id, now);
    device.lastSeen = toDbTime(now);
  }
  return { userId: claims.userId, deviceId: claims.deviceId, device };
}
