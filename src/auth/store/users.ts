// Users and their subscriptions: find-or-create on sign-in, the effective tier, the operator's set-tier.
// No row or an expired one means free (SPEC §5).
import type { Kysely } from 'kysely';
import type { Database, Tier } from '../db/tables.ts';
import { isDuplicate } from '../db/database.ts';
import { prepared } from '../db/prepared.ts';
import { HttpError } from '../http-errors.ts';
import { fromDbTime, toDbTime } from '../time.ts';
import type { ReadCache } from './read-cache.ts';
import { cached, statement } from './read-cache.ts';

type Db = Kysely<Database>;

/**
 * MySQL's default collation (utf8mb4_general_ci) finds "victim@exämple.com" when asked for "victim@example.com":
 * only a byte-exact match is the same user, a look-alike that the unique index will not admit is refused.
 */
function exactUser(row: { id: number; email: string } | undefined, email: string): number | undefined {
  if (row && row.email !== email) throw new HttpError(409, 'EMAIL_CONFLICT', 'This e-mail address is too similar to an existing account\'s to be used here.');
  return row?.id;
}

export async function findOrCreateUser(db: Db, email: string, now: number, defaultTier: Tier): Promise<number> {
  const existing = exactUser(await db.selectFrom('users').select(['id', 'email']).where('email', '=', email).executeTakeFirst(), email);
  if (existing !== undefined) return existing;
  try {
    const r = await db.insertInto('users').values({ email, createdAt: toDbTime(now) }).executeTakeFirstOrThrow();
    const id = Number(r.insertId);
    if (defaultTier !== 'free') {
      await db.insertInto('subscriptions').values({ userId: id, tier: defaultTier, expiresAt: null, createdAt: toDbTime(now) }).execute();
    }
    return id;
  } catch (err) {
    if (!isDuplicate(err)) throw err;
    const again = exactUser(await db.selectFrom('users').select(['id', 'email']).where('email', '=', email).executeTakeFirstOrThrow(), email);
    return again as number;
  }
}

export interface Subscription {
  tier: Tier;
  expiresAt: string | null;
}

const subscriptionOf = prepared((db) => db.selectFrom('subscriptions').select(['tier', 'expiresAt']).where('userId', '=', 0));

/** The tier in force now: the subscription's unless it is missing or expired. */
export async function currentSubscription(db: Db, userId: number, now: number): Promise<Subscription> {
  return inForce((await subscriptionOf.rows(db, [userId]))[0], now);
}

/** currentSubscription through the read cache (after checkCache or checkOwnWrites); expiry is judged at `now`. */
export function cachedSubscription(c: ReadCache, db: Db, userId: number, now: number): Subscription {
  const row = cached(c, `s:${userId}`, () => statement(c, subscriptionOf.compiled(db).sql).get(userId) as Subscription | undefined ?? null);
  return inForce(row ?? undefined, now);
}

function inForce(row: Subscription | undefined, now: number): Subscription {
  if (!row || (row.expiresAt !== null && fromDbTime(row.expiresAt) <= now)) return { tier: 'free', expiresAt: null };
  return { tier: row.tier, expiresAt: row.expiresAt };
}

/** Sets a user's tier, creating the user if they have not signed in yet. */
export async function setTier(db: Db, email: string, tier: Tier, expiresAt: number | null, now: number): Promise<number> {
  const userId = await findOrCreateUser(db, email, now, 'free');
  const expires = expiresAt === null ? null : toDbTime(expiresAt);
  const updated = await db.updateTable('subscriptions').set({ tier, expiresAt: expires }).where('userId', '=', userId).executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) {
    await db.insertInto('subscriptions').values({ userId, tier, expiresAt: expires, createdAt: toDbTime(now) }).execute();
  }
  return userId;
}

export interface UserSummary {
  id: number;
  email: string;
  createdAt: string;
  tier: Tier;
  expiresAt: string | null;
  devices: number;
  projects: number;
}

export async function listUsers(db: Db): Promise<UserSummary[]> {
  const rows = await db
    .selectFrom('users as u')
    .leftJoin('subscriptions as s', 's.userId', 'u.id')
    .select((eb) => [
      'u.id', 'u.email', 'u.createdAt', 's.tier', 's.expiresAt',
      eb.selectFrom('devices').select((e) => e.fn.countAll<number>().as('n')).whereRef('devices.userId', '=', 'u.id').as('devices'),
      eb.selectFrom('projects').select((e) => e.fn.countAll<number>().as('n')).whereRef('projects.userId', '=', 'u.id').as('projects'),
    ])
    .orderBy('u.id')
    .execute();
  return rows.map((r) => ({
    id: r.id, email: r.email, createdAt: r.createdAt, tier: r.tier ?? 'free', expiresAt: r.expiresAt ?? null,
    devices: Number(r.devices ?? 0), projects: Number(r.projects ?? 0),
  }));
}
