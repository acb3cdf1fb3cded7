// Operator commands of hone-auth: `admin set-tier`, `admin users`, `secret`.
// They use the same database and store functions as the service.
import { randomBytes } from 'node:crypto';
import { expected } from '../common/cli.ts';
import type { AuthDb } from './db/database.ts';
import type { Tier } from './db/tables.ts';
import { email as EMAIL, normalizeEmail } from './schemas.ts';
import { listUsers, setTier } from './store/users.ts';
import { toIso } from './time.ts';

const TIERS: readonly Tier[] = ['free', 'personal', 'pro', 'team'];

export function newSecret(): string {
  return randomBytes(32).toString('hex');
}

export async function adminSetTier(db: AuthDb, args: string[], expires: string | undefined, now: number): Promise<string> {
  const [email, tier] = args;
  if (!email || !tier) throw expected('usage: hone-auth admin set-tier <email> <free|personal|pro|team> [--expires YYYY-MM-DD]');
  // The same rule as an address sent to GET /auth/login, and the same normalised form stored.
  if (!new RegExp(EMAIL.pattern, 'u').test(email) || email.length > EMAIL.maxLength) throw expected(`"${email}" is not an e-mail address`);
  const address = normalizeEmail(email);
  if (!TIERS.includes(tier as Tier)) throw expected(`tier must be one of ${TIERS.join(', ')}, got "${tier}"`);
  let expiresAt: number | null = null;
  if (expires !== undefined) {
    expiresAt = /^\d{4}-\d{2}-\d{2}$/.test(expires) ? Date.parse(expires + 'T00:00:00Z') : NaN;
    if (Number.isNaN(expiresAt)) throw expected(`--expires takes a date as YYYY-MM-DD, got "${expires}"`);
  }
  const userId = await setTier(db.db, address, tier as Tier, expiresAt, now);
  return `user ${userId} <${address}> is now ${tier}${expiresAt === null ? '' : ` until ${new Date(expiresAt).toISOString()}`}`;
}

export async function adminUsers(db: AuthDb, json: boolean): Promise<string> {
  const users = await listUsers(db.db);
  const rows = users.map((u) => ({ ...u, createdAt: toIso(u.createdAt), expiresAt: toIso(u.expiresAt) }));
  if (json) return JSON.stringify(rows, null, 2);
  if (rows.length === 0) return 'no users yet';
  const table = [['ID', 'EMAIL', 'TIER', 'EXPIRES', 'DEVICES', 'PROJECTS', 'CREATED'],
    ...rows.map((u) => [String(u.id), u.email, u.tier, u.expiresAt ?? '-', String(u.devices), String(u.projects), u.createdAt ?? ''])];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  return table.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}
