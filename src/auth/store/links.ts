// Magic links: creation (64 hex from a CSPRNG, stored hashed), single-use consumption, and the poll handle.
// Verify's answer waits for the poll encrypted under the poll token, so the database alone cannot sign anyone in.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { TokenKeys } from '../../common/token.ts';
import { sha256Hex } from '../../common/token.ts';
import type { Database, Tier } from '../db/tables.ts';
import { HttpError } from '../http-errors.ts';
import { fromDbTime, toDbTime } from '../time.ts';
import { createDevice } from './devices.ts';
import { findOrCreateUser } from './users.ts';

type Db = Kysely<Database>;

export interface VerifyResult {
  ok: true;
  deviceToken: string;
  userId: number;
  deviceId: number;
}

/**
 * `pollResult` holds, before verify, `k:` + the poll key sealed under the magic token (only the e-mail has it);
 * after verify, `r:` + verify's answer sealed under the poll key (only the asking device can derive it); after the poll, NULL.
 */
export async function createLink(db: Db, l: { email: string; deviceName: string | null; platform: string | null; now: number; ttlMs: number }): Promise<{ token: string; pollToken: string; expiresAt: number }> {
  const token = randomBytes(32).toString('hex');
  const pollToken = randomBytes(32).toString('base64url');
  const expiresAt = fromDbTime(toDbTime(l.now + l.ttlMs));
  await db.insertInto('magic_links').values({
    email: l.email, token: sha256Hex(token), expiresAt: toDbTime(expiresAt), used: 0, createdAt: toDbTime(l.now),
    pollToken: sha256Hex(pollToken), deviceName: l.deviceName, platform: l.platform,
    pollResult: 'k:' + seal(derive('link', token), derive('poll', pollToken)),
  }).execute();
  return { token, pollToken, expiresAt };
}

export type LinkState =
  | { state: 'valid'; deviceName: string | null; platform: string | null }
  | { state: 'unknown' | 'expired' | 'used' };

export const LINK_ERRORS = {
  unknown: () => new HttpError(404, 'LINK_NOT_FOUND', 'This sign-in link is not valid.'),
  expired: () => new HttpError(410, 'LINK_EXPIRED', 'This sign-in link has expired; request a new one.'),
  used: () => new HttpError(410, 'LINK_USED', 'This sign-in link has already been used.'),
};

/** Looks at a link without using it up (what the browser's confirm page shows). */
export async function linkState(db: Db, token: string, now: number): Promise<LinkState> {
  const row = await db.selectFrom('magic_links').select(['used', 'expiresAt', 'deviceName', 'platform'])
    .where('token', '=', sha256Hex(token)).executeTakeFirst();
  if (!row) return { state: 'unknown' };
  if (Number(row.used)) return { state: 'used' };
  if (fromDbTime(row.expiresAt) <= now) return { state: 'expired' };
  return { state: 'valid', deviceName: row.deviceName, platform: row.platform };
}

function derive(purpose: 'link' | 'poll', secret: string): Buffer {
  return createHash('sha256').update(`hone-${purpose}-key|${secret}`).digest();
}

function seal(key: Buffer, plain: Buffer): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
}

function unseal(key: Buffer, sealed: string): Buffer {
  const buf = Buffer.from(sealed, 'base64');
  const d = createDecipheriv('aes-256-gcm', key, buf.subarray(0, 12));
  d.setAuthTag(buf.subarray(12, 28));
  return Buffer.concat([d.update(buf.subarray(28)), d.final()]);
}

/**
 * Uses up a link: marks it used (exactly once, even under races), creates the user and the device,
 * and leaves the answer for the poll. All in one transaction, so a failure loses nothing.
 */
export async function consumeLink(db: Db, keys: TokenKeys, c: { token: string; deviceName: string | null; platform: string | null; now: number; defaultTier: Tier }): Promise<VerifyResult & { deviceName: string }> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('magic_links').selectAll().where('token', '=', sha256Hex(c.token)).executeTakeFirst();
    if (!row) throw LINK_ERRORS.unknown();
    if (Number(row.used)) throw LINK_ERRORS.used();
    if (fromDbTime(row.expiresAt) <= c.now) throw LINK_ERRORS.expired();
    const claimed = await trx.updateTable('magic_links').set({ used: 1 }).where('id', '=', row.id).where('used', '=', 0).executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) throw LINK_ERRORS.used();
    const deviceName = c.deviceName ?? row.deviceName ?? 'Unnamed device';
    const platform = c.platform ?? row.platform ?? 'unknown';
    const userId = await findOrCreateUser(trx, row.email, c.now, c.defaultTier);
    const { deviceId, deviceToken } = await createDevice(trx, keys, { userId, deviceName, platform, now: c.now });
    const result: VerifyResult = { ok: true, deviceToken, userId, deviceId };
    if (row.pollResult?.startsWith('k:')) {
      const pollKey = unseal(derive('link', c.token), row.pollResult.slice(2));
      const sealed = 'r:' + seal(pollKey, Buffer.from(JSON.stringify(result), 'utf8'));
      await trx.updateTable('magic_links').set({ pollResult: sealed }).where('id', '=', row.id).execute();
    }
    return { ...result, deviceName };
  });
}

/**
 * The poll handle's view: pending (202) until the link is used, then verify's answer exactly once,
 * then gone (410). The answer is sealed under the poll token, which only the asking device holds.
 */
export async function pollLink(db: Db, pollToken: string, now: number, graceMs: number): Promise<{ status: 'pending' } | { status: 'done'; result: VerifyResult }> {
  const row = await db.selectFrom('magic_links').select(['id', 'used', 'expiresAt', 'pollResult'])
    .where('pollToken', '=', sha256Hex(pollToken)).executeTakeFirst();
  if (!row) throw new HttpError(404, 'POLL_NOT_FOUND', 'Unknown poll token.');
  const expiresAt = fromDbTime(row.expiresAt);
  if (row.pollResult?.startsWith('r:')) {
    const taken = await db.updateTable('magic_links').set({ pollResult: null })
      .where('id', '=', row.id).where('pollResult', 'is not', null).executeTakeFirst();
    if (Number(taken.numUpdatedRows) !== 1) throw new HttpError(410, 'POLL_DELIVERED', 'This sign-in was already delivered.');
    if (now > expiresAt + graceMs) throw LINK_ERRORS.expired();
    return { status: 'done', result: JSON.parse(unseal(derive('poll', pollToken), row.pollResult.slice(2)).toString('utf8')) };
  }
  if (Number(row.used)) throw new HttpError(410, 'POLL_DELIVERED', 'This sign-in was already delivered, or the link was used elsewhere.');
  if (expiresAt <= now) throw LINK_ERRORS.expired();
  return { status: 'pending' };
}
