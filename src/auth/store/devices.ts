// Device records: creation with a freshly signed token (stored as its SHA-256), lookup, listing, removal.
// Removing a device records a revocation so relays learn of it (SPEC §3).
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { TokenKeys } from '../../common/token.ts';
import { sha256Hex, signToken } from '../../common/token.ts';
import { prepared } from '../db/prepared.ts';
import type { Database, DevicesTable } from '../db/tables.ts';
import { toDbTime, toIso } from '../time.ts';
import type { ReadCache } from './read-cache.ts';
import { cached, statement, writeNow } from './read-cache.ts';

type Db = Kysely<Database>;
export type DeviceRow = Omit<DevicesTable, 'id'> & { id: number };

const byId = prepared((db) => db.selectFrom('devices').selectAll().where('id', '=', 0));
const byUser = prepared((db) => db.selectFrom('devices').selectAll().where('userId', '=', 0).orderBy('id'));
const touch = prepared((db) => db.updateTable('devices').set({ lastSeen: '' }).where('id', '=', 0));

export async function createDevice(db: Db, keys: TokenKeys, d: { userId: number; deviceName: string; platform: string; now: number }): Promise<{ deviceId: number; deviceToken: string }> {
  const now = toDbTime(d.now);
  const placeholder = 'pending:' + randomBytes(16).toString('hex');
  const r = await db.insertInto('devices')
    .values({ userId: d.userId, deviceName: d.deviceName, platform: d.platform, token: placeholder, createdAt: now, lastSeen: now })
    .executeTakeFirstOrThrow();
  const deviceId = Number(r.insertId);
  const deviceToken = signToken({ userId: d.userId, deviceId, issuedAt: d.now }, keys);
  await db.updateTable('devices').set({ token: sha256Hex(deviceToken) }).where('id', '=', deviceId).execute();
  return { deviceId, deviceToken };
}

export async function findDevice(db: Db, deviceId: number): Promise<DeviceRow | undefined> {
  return (await byId.rows(db, [deviceId]))[0];
}

/** findDevice through the read cache (after checkCache). */
export function cachedDevice(c: ReadCache, db: Db, deviceId: number): DeviceRow | null {
  return cached(c, `d:${deviceId}`, () => statement(c, byId.compiled(db).sql).get(deviceId) as DeviceRow | undefined ?? null);
}

/** `lastSeen` is a database time (`toDbTime`). */
export async function touchDevice(db: Db, deviceId: number, lastSeen: string): Promise<void> {
  await touch.rows(db, [lastSeen, deviceId]);
}

/** touchDevice on the read cache's connection, synchronously; the cache is dropped at its next check. */
export function touchDeviceNow(c: ReadCache, db: Db, deviceId: number, lastSeen: string): void {
  writeNow(c, touch.compiled(db).sql, [lastSeen, deviceId]);
}

export async function listDevices(db: Db, userId: number): Promise<DeviceRow[]> {
  return byUser.rows(db, [userId]);
}

/** listDevices through the read cache (after checkCache or checkOwnWrites). */
export function cachedDeviceList(c: ReadCache, db: Db, userId: number): DeviceRow[] {
  return cached(c, `l:${userId}`, () => statement(c, byUser.compiled(db).sql).all(userId) as unknown as DeviceRow[]) ?? [];
}

/** Deletes the user's own device and records its revocation; false when it is not theirs or gone. */
export async function removeDevice(db: Db, userId: number, deviceId: number, now: number): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const r = await trx.deleteFrom('devices').where('id', '=', deviceId).where('userId', '=', userId).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) return false;
    await trx.insertInto('revocations').values({ userId, deviceId, revokedAt: toDbTime(now) }).execute();
    return true;
  });
}

export function deviceView(row: DeviceRow, currentDeviceId: number) {
  return {
    id: row.id,
    deviceName: row.deviceName,
    platform: row.platform,
    createdAt: toIso(row.createdAt),
    lastSeen: toIso(row.lastSeen),
    current: row.id === currentDeviceId,
  };
}
