// Checks `Authorization: Bearer <deviceToken>`: signature, then that the device still exists with that token.
// Keeps lastSeen current with at most one write per device per minute. On SQLite the device row comes from the read
// cache (made current first) and the whole check is synchronous; a token that passed every check since the cache was
// last dropped is not hashed again.
import type { FastifyRequest } from 'fastify';
import { parseToken, sha256Hex, safeEqual, verifyRelayAuthorization, verifyToken } from '../common/token.ts';
import type { TokenClaims } from '../common/token.ts';
import type { AuthContext } from './context.ts';
import { HttpError } from './http-errors.ts';
import { cachedDevice, findDevice, listDevices, touchDevice, touchDeviceNow } from './store/devices.ts';
import type { DeviceRow } from './store/devices.ts';
import type { ReadCache } from './store/read-cache.ts';
import { checkCache, keep, peek } from './store/read-cache.ts';
import { fromDbTime, toDbTime } from './time.ts';

export const LAST_SEEN_RESOLUTION_MS = 60_000;

export interface Caller {
  userId: number;
  deviceId: number;
  device: DeviceRow;
  /** All the user's devices, when asked for and read in the same query as the caller's (no read cache). */
  devices?: DeviceRow[];
}

/** Throws 429 when this address has used up its allowance of unauthenticated or failed requests. */
export function limitByIp(ctx: AuthContext, request: FastifyRequest): void {
  const r = ctx.limits.perIp.hit(request.ip);
  if (!r.allowed) throw new HttpError(429, 'RATE_LIMITED', 'Too many requests from this address; slow down.', { 'retry-after': String(r.retryAfter) });
}

const BEARER_RE = /^Bearer[ ]+(\S{1,256})\s*$/i;

/**
 * Checks `Authorization: Hone-Relay <HMAC-SHA256 of message>` (a relay's call, signed with auth.secret or the
 * previous one); throws 401 naming `what` the MAC covers, counted against the caller's address like any failed check.
 */
export function checkRelayMac(ctx: AuthContext, request: FastifyRequest, message: string, what: string): void {
  if (verifyRelayAuthorization(request.headers.authorization, message, ctx.keys)) return;
  limitByIp(ctx, request);
  throw new HttpError(401, 'UNAUTHORIZED', `Send "Authorization: Hone-Relay <HMAC-SHA256 of ${what}>".`);
}

function refuse(ctx: AuthContext, request: FastifyRequest, code: 'UNAUTHORIZED' | 'INVALID_TOKEN' | 'TOKEN_REVOKED'): HttpError {
  limitByIp(ctx, request);
  if (code === 'UNAUTHORIZED') return new HttpError(401, code, 'Send the device token as "Authorization: Bearer <deviceToken>".');
  if (code === 'INVALID_TOKEN') return new HttpError(401, code, 'The device token is not valid.');
  return new HttpError(401, code, 'This device has been signed out; sign in again.');
}

/**
 * The caller, synchronously when the read cache can answer (SQLite), else a promise. Throws (or rejects) 401 for a
 * missing, malformed, forged or revoked token. `withDevices`: without the read cache, the user's device list is read
 * instead of the caller's row and returned with it.
 */
export function authenticate(ctx: AuthContext, request: FastifyRequest, withDevices = false): Caller | Promise<Caller> {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || header.length === 0) throw refuse(ctx, request, 'UNAUTHORIZED');
  const m = BEARER_RE.exec(header);
  const token = m ? m[1] : '';
  const claims = parseToken(token);
  if (!claims) throw refuse(ctx, request, 'INVALID_TOKEN');
  if (ctx.cache !== undefined && checkCache(ctx.cache)) return fromCache(ctx, ctx.cache, request, claims, token);
  return fromDatabase(ctx, request, claims, token, withDevices);
}

function fromCache(ctx: AuthContext, cache: ReadCache, request: FastifyRequest, claims: TokenClaims, token: string): Caller {
  // The exact token that passed the signature and hash checks against this very row (same keys, same database
  // state: the entry is dropped with the row) passes them again; anything else is checked in full.
  const passed = peek<string>(cache, `t:${claims.deviceId}`);
  const known = passed !== undefined && safeEqual(passed, token);
  if (!known && !verifyToken(token, ctx.keys)) throw refuse(ctx, request, 'INVALID_TOKEN');
  const device = cachedDevice(cache, ctx.db, claims.deviceId);
  if (!device || (!known && !matches(device, claims, token))) throw refuse(ctx, request, 'TOKEN_REVOKED');
  if (!known) keep(cache, `t:${claims.deviceId}`, token);
  const lastSeen = staleLastSeen(ctx, device);
  if (lastSeen === null) return { userId: claims.userId, deviceId: claims.deviceId, device };
  touchDeviceNow(cache, ctx.db, claims.deviceId, lastSeen);
  return { userId: claims.userId, deviceId: claims.deviceId, device: { ...device, lastSeen } };
}

async function fromDatabase(ctx: AuthContext, request: FastifyRequest, claims: TokenClaims, token: string, withDevices: boolean): Promise<Caller> {
  if (!verifyToken(token, ctx.keys)) throw refuse(ctx, request, 'INVALID_TOKEN');
  let devices: DeviceRow[] | undefined;
  let device: DeviceRow | undefined;
  if (withDevices) device = (devices = await listDevices(ctx.db, claims.userId)).find((d) => d.id === claims.deviceId);
  else device = await findDevice(ctx.db, claims.deviceId);
  if (!matches(device, claims, token)) throw refuse(ctx, request, 'TOKEN_REVOKED');
  const lastSeen = staleLastSeen(ctx, device!);
  if (lastSeen === null) return { userId: claims.userId, deviceId: claims.deviceId, device: device!, devices };
  await touchDevice(ctx.db, claims.deviceId, lastSeen);
  return { userId: claims.userId, deviceId: claims.deviceId, device: { ...device!, lastSeen }, devices };
}

/** The device exists, is the token's user's, and holds this token's hash. */
export function matches(device: DeviceRow | null | undefined, claims: TokenClaims, token: string): boolean {
  return !!device && device.userId === claims.userId && safeEqual(device.token, sha256Hex(token));
}

/** The new lastSeen (database time) when the stored one is a minute old or more, else null. */
function staleLastSeen(ctx: AuthContext, device: DeviceRow): string | null {
  const now = ctx.clock();
  return now - fromDbTime(device.lastSeen) >= LAST_SEEN_RESOLUTION_MS ? toDbTime(now) : null;
}
