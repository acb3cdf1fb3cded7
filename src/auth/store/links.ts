// Magic links (SPEC §5): creation (64 hex from a CSPRNG, stored hashed, with a matchCode and an e-mailed code, also
// hashed), single-use completion by the link or the code, decline, lock-out after 5 wrong codes, and the poll handle.
// Verify's answer waits for the poll encrypted under the poll token, so the database alone cannot sign anyone in.
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomInt } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { TokenKeys } from '../../common/token.ts';
import { safeEqual, sha256Hex } from '../../common/token.ts';
import type { Database, MagicLinksTable, Tier } from '../db/tables.ts';
import { HttpError } from '../http-errors.ts';
import { fromDbTime, toDbTime } from '../time.ts';
import { createDevice } from './devices.ts';
import { findOrCreateUser } from './users.ts';

type Db = Kysely<Database>;
type Row = Omit<MagicLinksTable, 'id' | 'attempts'> & { id: number; attempts: number };

/** Wrong codes (matchCode on the page and e-mailed code together) before a login locks. */
export const MAX_ATTEMPTS = 5;
/** matchCode characters: no 0/O, 1/I/L, so it survives being read off one screen and typed on another. */
const MATCH_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';

export interface VerifyResult {
  ok: true;
  deviceToken: string;
  userId: number;
  deviceId: number;
}

/** A completed sign-in and what the "New device signed in" e-mail says about it. */
export interface Completed {
  result: VerifyResult;
  email: string;
  deviceName: string;
  platform: string;
  requestIp: string | null;
}

/** The codes are stored as SHA-256 salted with the row's link-token hash, like every other secret here. */
function codeHash(kind: 'match' | 'code', salt: string, code: string): string {
  return sha256Hex(`hone-${kind}|${salt}|${code}`);
}

/** What a person types: case, spaces and dashes do not matter. */
export function normalizeCode(raw: string): string {
  return raw.replace(/[\s-]+/g, '').toUpperCase();
}

/**
 * `pollResult` holds, before verify, `k:` + the poll key sealed under the magic token (only the e-mail has it);
 * after verify, `r:` + verify's answer sealed under the poll key (only the asking device can derive it); after the poll, NULL.
 */
export async function createLink(db: Db, l: { email: string; deviceName: string | null; platform: string | null; requestIp: string; now: number; ttlMs: number }): Promise<{ token: string; pollToken: string; expiresAt: number; matchCode: string; code: string }> {
  const token = randomBytes(32).toString('hex');
  const pollToken = randomBytes(32).toString('base64url');
  const matchCode = Array.from({ length: 6 }, () => MATCH_ALPHABET[randomInt(MATCH_ALPHABET.length)]).join('');
  const code = String(randomInt(1_000_000)).padStart(6, '0');
  const expiresAt = fromDbTime(toDbTime(l.now + l.ttlMs));
  const tokenHash = sha256Hex(token);
  await db.insertInto('magic_links').values({
    email: l.email, token: tokenHash, expiresAt: toDbTime(expiresAt), used: 0, createdAt: toDbTime(l.now),
    pollToken: sha256Hex(pollToken), deviceName: l.deviceName, platform: l.platform,
    pollResult: 'k:' + seal(derive('link', token), derive('poll', pollToken)),
    requestIp: l.requestIp, matchCode: codeHash('match', tokenHash, matchCode), code: codeHash('code', tokenHash, code), endedBy: null,
  }).execute();
  return { token, pollToken, expiresAt, matchCode, code };
}

export const LINK_ERRORS = {
  unknown: () => new HttpError(404, 'LINK_NOT_FOUND', 'This sign-in link is not valid.'),
  expired: () => new HttpError(410, 'LINK_EXPIRED', 'This sign-in link has expired; request a new one.'),
  used: () => new HttpError(410, 'LINK_USED', 'This sign-in link has already been used.'),
  declined: () => new HttpError(410, 'LOGIN_DECLINED', 'This sign-in was declined ("This wasn\'t me"); request a new one if it was you.'),
  locked: () => new HttpError(410, 'LOGIN_LOCKED', `Too many wrong codes (${MAX_ATTEMPTS}); this sign-in is locked and its link no longer works. Request a new one.`),
};

type Ended = 'unknown' | 'expired' | 'used' | 'declined' | 'locked';

function stateOf(row: Row | undefined, now: number): Ended | 'valid' {
  if (!row) return 'unknown';
  if (row.endedBy === 'declined' || row.endedBy === 'locked') return row.endedBy;
  if (Number(row.used)) return 'used';
  if (fromDbTime(row.expiresAt) <= now) return 'expired';
  return 'valid';
}

function byToken(db: Db, token: string): Promise<Row | undefined> {
  return db.selectFrom('magic_links').selectAll().where('token', '=', sha256Hex(token)).executeTakeFirst() as Promise<Row | undefined>;
}

export type LinkState = { state: 'valid'; link: Row } | { state: Ended };

/** Looks at a link without changing it (what the browser's confirm page and HEAD show). */
export async function linkState(db: Db, token: string, now: number): Promise<LinkState> {
  const row = await byToken(db, token);
  const state = stateOf(row, now);
  return state === 'valid' ? { state, link: row! } : { state };
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

/** The error for a login another request ended first (one that still looks valid was just used up). */
async function endedMeanwhile(db: Db, id: number, now: number): Promise<HttpError> {
  const state = stateOf(await db.selectFrom('magic_links').selectAll().where('id', '=', id).executeTakeFirst() as Row | undefined, now);
  return LINK_ERRORS[state === 'valid' ? 'used' : state]();
}

/** Ends a login without a device (decline or lock-out): the link and the poll are dead from then on. */
async function endLogin(db: Db, id: number, endedBy: 'declined' | 'locked'): Promise<boolean> {
  const r = await db.updateTable('magic_links').set({ used: 1, endedBy, pollResult: null }).where('id', '=', id).where('used', '=', 0).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * Checks a typed code against the stored hash, one reserved try at a time: a try is counted before the comparison
 * (so concurrent guesses cannot exceed MAX_ATTEMPTS) and the login locks on the last wrong one.
 * Throws 400 CODE_MISMATCH (tries left) or 410 LOGIN_LOCKED; returns when the code is right.
 */
async function checkCode(db: Db, row: Row, kind: 'match' | 'code', typed: string, now: number): Promise<void> {
  const tries = await db.transaction().execute(async (trx) => {
    const r = await trx.updateTable('magic_links').set((eb) => ({ attempts: eb('attempts', '+', 1) }))
      .where('id', '=', row.id).where('used', '=', 0).where('attempts', '<', MAX_ATTEMPTS).executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return null;
    return Number((await trx.selectFrom('magic_links').select('attempts').where('id', '=', row.id).executeTakeFirstOrThrow()).attempts);
  });
  if (tries === null) {
    const again = await db.selectFrom('magic_links').selectAll().where('id', '=', row.id).executeTakeFirst() as Row | undefined;
    const state = stateOf(again, now);
    if (state !== 'valid') throw LINK_ERRORS[state]();
    await endLogin(db, row.id, 'locked');
    throw LINK_ERRORS.locked();
  }
  const stored = kind === 'match' ? row.matchCode : row.code;
  if (stored !== null && safeEqual(codeHash(kind, row.token, typed), stored)) return;
  if (tries >= MAX_ATTEMPTS) {
    await endLogin(db, row.id, 'locked');
    throw LINK_ERRORS.locked();
  }
  const left = MAX_ATTEMPTS - tries;
  throw new HttpError(400, 'CODE_MISMATCH', `That code does not match; ${left} ${left === 1 ? 'try' : 'tries'} left before this sign-in locks.`);
}

/** Marks the row used (exactly once, even under races) and creates the user and the device, inside `trx`. */
async function complete(trx: Transaction<Database>, keys: TokenKeys, row: Row, c: { deviceName: string | null; platform: string | null; now: number; defaultTier: Tier }): Promise<Completed> {
  const claimed = await trx.updateTable('magic_links').set({ used: 1 }).where('id', '=', row.id).where('used', '=', 0).executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1) throw await endedMeanwhile(trx, row.id, c.now);
  const deviceName = c.deviceName ?? row.deviceName ?? 'Unnamed device';
  const platform = c.platform ?? row.platform ?? 'unknown';
  const userId = await findOrCreateUser(trx, row.email, c.now, c.defaultTier);
  const { deviceId, deviceToken } = await createDevice(trx, keys, { userId, deviceName, platform, now: c.now });
  return { result: { ok: true, deviceToken, userId, deviceId }, email: row.email, deviceName, platform, requestIp: row.requestIp };
}

/** Where a confirmation comes from and what it proves (SPEC §5). */
export interface Confirmation {
  /** The confirming client's address. */
  from: string;
  /** matchCode typed on the page; undefined for the JSON path (which never completes from another address). */
  matchCode?: string;
}

/**
 * Uses up a link: from the requesting address in one step; from any other address only with the right matchCode
 * (a JSON client gets 403 CONFIRM_IN_BROWSER). Creates the user and the device and leaves the answer for the poll,
 * all in one transaction, so a failure loses nothing.
 */
export async function consumeLink(db: Db, keys: TokenKeys, c: { token: string; deviceName: string | null; platform: string | null; now: number; defaultTier: Tier; confirm: Confirmation }): Promise<Completed> {
  const row = await byToken(db, c.token);
  const state = stateOf(row, c.now);
  if (state !== 'valid') throw LINK_ERRORS[state]();
  if (row!.requestIp === null || row!.requestIp !== c.confirm.from) {
    if (c.confirm.matchCode === undefined) throw new HttpError(403, 'CONFIRM_IN_BROWSER', 'This link was opened on another network than the device that asked for it; open it in a browser and enter the code that device shows.');
    if (c.confirm.matchCode === '') throw new HttpError(400, 'MATCH_CODE_REQUIRED', 'Enter the code shown on the device that asked to sign in.');
    await checkCode(db, row!, 'match', c.confirm.matchCode, c.now);
  }
  return db.transaction().execute(async (trx) => {
    const done = await complete(trx, keys, row!, c);
    if (row!.pollResult?.startsWith('k:')) {
      const pollKey = unseal(derive('link', c.token), row!.pollResult.slice(2));
      const sealed = 'r:' + seal(pollKey, Buffer.from(JSON.stringify(done.result), 'utf8'));
      await trx.updateTable('magic_links').set({ pollResult: sealed }).where('id', '=', row!.id).execute();
    }
    return done;
  });
}

/**
 * POST /auth/login/code: the requesting device (it holds the poll token) finishes with the e-mailed code.
 * `beforeTry(email)` runs before the code is compared and may refuse (the per-account budget of code tries).
 */
export async function completeWithCode(db: Db, keys: TokenKeys, c: { pollToken: string; code: string; now: number; defaultTier: Tier; beforeTry?: (email: string) => void }): Promise<Completed> {
  const row = await db.selectFrom('magic_links').selectAll().where('pollToken', '=', sha256Hex(c.pollToken)).executeTakeFirst() as Row | undefined;
  if (!row) throw new HttpError(404, 'POLL_NOT_FOUND', 'Unknown poll token.');
  const state = stateOf(row, c.now);
  if (state !== 'valid') throw LINK_ERRORS[state]();
  c.beforeTry?.(row.email);
  await checkCode(db, row, 'code', c.code, c.now);
  return db.transaction().execute(async (trx) => {
    const done = await complete(trx, keys, row, { deviceName: null, platform: null, now: c.now, defaultTier: c.defaultTier });
    // Delivered here, so the poll has nothing left to hand out.
    await trx.updateTable('magic_links').set({ pollResult: null }).where('id', '=', row.id).execute();
    return done;
  });
}

/** "This wasn't me": ends the login; its poll answers 410 LOGIN_DECLINED. */
export async function declineLink(db: Db, token: string, now: number): Promise<void> {
  const row = await byToken(db, token);
  const state = stateOf(row, now);
  if (state !== 'valid') throw LINK_ERRORS[state]();
  if (await endLogin(db, row!.id, 'declined')) return;
  throw await endedMeanwhile(db, row!.id, now);
}

/**
 * The poll handle's view: pending (202) until the link is used, then verify's answer exactly once,
 * then gone (410). The answer is sealed under the poll token, which only the asking device holds.
 */
export async function pollLink(db: Db, pollToken: string, now: number, graceMs: number): Promise<{ status: 'pending' } | { status: 'done'; result: VerifyResult }> {
  const row = await db.selectFrom('magic_links').select(['id', 'used', 'expiresAt', 'pollResult', 'endedBy'])
    .where('pollToken', '=', sha256Hex(pollToken)).executeTakeFirst();
  if (!row) throw new HttpError(404, 'POLL_NOT_FOUND', 'Unknown poll token.');
  if (row.endedBy === 'declined' || row.endedBy === 'locked') throw LINK_ERRORS[row.endedBy]();
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
