// Row types of the auth database (source document's five tables plus the revocations table), for Kysely.
// Times are `YYYY-MM-DD HH:MM:SS` UTC strings on both SQLite and MySQL; booleans are 0/1.
import type { Generated } from 'kysely';

export type Tier = 'free' | 'personal' | 'pro' | 'team';

export interface UsersTable {
  id: Generated<number>;
  email: string;
  createdAt: string;
}

export interface DevicesTable {
  id: Generated<number>;
  userId: number;
  deviceName: string;
  platform: string;
  /** SHA-256 hex of the device token. */
  token: string;
  createdAt: string;
  lastSeen: string;
}

export interface MagicLinksTable {
  id: Generated<number>;
  email: string;
  /** SHA-256 hex of the e-mailed 64-hex token. */
  token: string;
  expiresAt: string;
  used: number;
  createdAt: string;
  /** SHA-256 hex of the poll token handed to the device that asked for the link. */
  pollToken: string | null;
  deviceName: string | null;
  platform: string | null;
  /** Verify's answer encrypted under a key derived from the poll token; cleared once polled. */
  pollResult: string | null;
  /** The client address that asked for the link (after trustProxy): the "requesting address". */
  requestIp: string | null;
  /** Salted SHA-256 hex of the matchCode shown by the requesting device (store/links.ts). */
  matchCode: string | null;
  /** Salted SHA-256 hex of the 6-digit code in the e-mail. */
  code: string | null;
  /** Wrong codes so far, matchCode on the page and e-mailed code together; the login locks at 5. */
  attempts: Generated<number>;
  /** Why the login ended without a device: 'declined' ("This wasn't me") or 'locked' (too many wrong codes). */
  endedBy: 'declined' | 'locked' | null;
}

export interface ProjectsTable {
  id: Generated<number>;
  userId: number;
  projectKey: string;
  name: string;
  roomId: string;
  createdAt: string;
}

export interface SubscriptionsTable {
  id: Generated<number>;
  userId: number;
  tier: Tier;
  expiresAt: string | null;
  createdAt: string;
}

export interface RevocationsTable {
  id: Generated<number>;
  userId: number;
  deviceId: number;
  revokedAt: string;
  /** A removed project's room (deviceId 0): relays refuse joins to it. */
  roomId: string | null;
}

export interface Database {
  users: UsersTable;
  devices: DevicesTable;
  magic_links: MagicLinksTable;
  projects: ProjectsTable;
  subscriptions: SubscriptionsTable;
  revocations: RevocationsTable;
}
