// Synced projects: idempotent registration by projectKey within the tier's limit, listing, removal.
// Room IDs are issued so that they prove their owner (SPEC §6).
import type { Kysely } from 'kysely';
import { issueRoomId } from '../../common/room-id.ts';
import type { Database, ProjectsTable, Tier } from '../db/tables.ts';
import { isDuplicate } from '../db/database.ts';
import { prepared } from '../db/prepared.ts';
import { HttpError } from '../http-errors.ts';
import { toDbTime, toIso } from '../time.ts';
import type { ReadCache } from './read-cache.ts';
import { cached, statement } from './read-cache.ts';

type Db = Kysely<Database>;
type ProjectRow = Omit<ProjectsTable, 'id'> & { id: number };

export const TIER_LIMITS: Record<Tier, number> = { free: 0, personal: 1, pro: Infinity, team: Infinity };

function nextTierFor(count: number): string {
  return count < 1 ? 'personal' : 'pro';
}

const byKey = prepared((db) => db.selectFrom('projects').selectAll().where('userId', '=', 0).where('projectKey', '=', ''));

/** The user's project with exactly this key; MySQL's case- and accent-insensitive collation also finds look-alikes, which are refused. */
export async function findByKey(db: Db, userId: number, projectKey: string): Promise<ProjectRow | undefined> {
  return exactKey((await byKey.rows(db, [userId, projectKey]))[0], projectKey);
}

/** findByKey through the read cache (after checkCache or checkOwnWrites). */
export function cachedByKey(c: ReadCache, db: Db, userId: number, projectKey: string): ProjectRow | undefined {
  const row = cached(c, `p:${userId}:${projectKey}`, () => statement(c, byKey.compiled(db).sql).get(userId, projectKey) as ProjectRow | undefined ?? null);
  return exactKey(row ?? undefined, projectKey);
}

function exactKey(row: ProjectRow | undefined, projectKey: string): ProjectRow | undefined {
  if (row && row.projectKey !== projectKey) {
    throw new HttpError(409, 'PROJECT_KEY_CONFLICT', `You already have a project whose key differs from this one only in case, accents or trailing spaces ("${row.projectKey}").`);
  }
  return row;
}

export async function registerProject(db: Db, p: { userId: number; projectKey: string; name: string; tier: Tier; now: number; secret: string }): Promise<ProjectRow> {
  const existing = await findByKey(db, p.userId, p.projectKey);
  if (existing) return existing;
  const limit = TIER_LIMITS[p.tier];
  const count = await db.selectFrom('projects').select((e) => e.fn.countAll<number>().as('n')).where('userId', '=', p.userId).executeTakeFirstOrThrow();
  if (Number(count.n) >= limit) {
    const user = await db.selectFrom('users').select('email').where('id', '=', p.userId).executeTakeFirst();
    throw new HttpError(403, 'TIER_LIMIT', `The ${p.tier} tier allows ${limit} synced project${limit === 1 ? '' : 's'}; the ${nextTierFor(limit)} tier allows more. `
      + `The server's operator raises it with \`hone-auth admin set-tier ${user?.email ?? '<your e-mail>'} pro\`.`);
  }
  try {
    const roomId = issueRoomId(p.userId, p.secret);
    const r = await db.insertInto('projects')
      .values({ userId: p.userId, projectKey: p.projectKey, name: p.name, roomId, createdAt: toDbTime(p.now) })
      .executeTakeFirstOrThrow();
    return { id: Number(r.insertId), userId: p.userId, projectKey: p.projectKey, name: p.name, roomId, createdAt: toDbTime(p.now) };
  } catch (err) {
    // A concurrent registration of the same key won the race: answer with its record.
    const raced = isDuplicate(err) ? await findByKey(db, p.userId, p.projectKey) : undefined;
    if (raced) return raced;
    throw err;
  }
}

export async function listProjects(db: Db, userId: number): Promise<ProjectRow[]> {
  return db.selectFrom('projects').selectAll().where('userId', '=', userId).orderBy('id').execute();
}

/** Deletes the user's project and records its room's revocation, so relays refuse joins to it (SPEC §6.1). */
export async function removeProject(db: Db, userId: number, projectId: number, now: number): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('projects').select('roomId').where('id', '=', projectId).where('userId', '=', userId).executeTakeFirst();
    if (!row) return false;
    const r = await trx.deleteFrom('projects').where('id', '=', projectId).where('userId', '=', userId).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) return false;
    await trx.insertInto('revocations').values({ userId, deviceId: 0, roomId: row.roomId, revokedAt: toDbTime(now) }).execute();
    return true;
  });
}

export function projectView(row: ProjectRow) {
  return { id: row.id, projectKey: row.projectKey, name: row.name, roomId: row.roomId, createdAt: toIso(row.createdAt) };
}
