// Versioned migrations of the auth database, run at start through Kysely's Migrator.
// 001 is the source document's DDL exactly (MySQL) and its SQLite twin; later ones only add.
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import { normalizeEmail } from '../schemas.ts';
import { isDuplicate } from './database.ts';

export type Dialect = 'mysql' | 'sqlite';

const MYSQL_001 = [
  `CREATE TABLE users (
id INT AUTO_INCREMENT PRIMARY KEY,
email VARCHAR(255) NOT NULL UNIQUE,
createdAt DATETIME DEFAULT CURRENT_TIMESTAMP
)`,
  `CREATE TABLE devices (
id INT AUTO_INCREMENT PRIMARY KEY,
userId INT NOT NULL,
deviceName VARCHAR(255) NOT NULL,
platform VARCHAR(50) NOT NULL,
token VARCHAR(255) NOT NULL UNIQUE,
createdAt DATETIME DEFAULT CURRENT_TIMESTAMP,
lastSeen DATETIME DEFAULT CURRENT_TIMESTAMP,
FOREIGN KEY (userId) REFERENCES users(id) ON DELETE CASCADE
)`,
  `CREATE TABLE magic_links (
id INT AUTO_INCREMENT PRIMARY KEY,
email VARCHAR(255) NOT NULL,
token VARCHAR(255) NOT NULL UNIQUE,
expiresAt DATETIME NOT NULL,
used BOOLEAN DEFAULT FALSE,
createdAt DATETIME DEFAULT CURRENT_TIMESTAMP
)`,
  `CREATE TABLE projects (
id INT AUTO_INCREMENT PRIMARY KEY,
userId INT NOT NULL,
projectKey VARCHAR(255) NOT NULL,
name VARCHAR(255) NOT NULL,
roomId VARCHAR(255) NOT NULL UNIQUE,
createdAt DATETIME DEFAULT CURRENT_TIMESTAMP,
FOREIGN KEY (userId) REFERENCES users(id) ON DELETE CASCADE,
UNIQUE KEY unique_user_project (userId, projectKey)
)`,
  `CREATE TABLE subscriptions (
id INT AUTO_INCREMENT PRIMARY KEY,
userId INT NOT NULL UNIQUE,
tier ENUM('free', 'personal', 'pro', 'team') DEFAULT 'free',
expiresAt DATETIME,
createdAt DATETIME DEFAULT CURRENT_TIMESTAMP,
FOREIGN KEY (userId) REFERENCES users(id) ON DELETE CASCADE
)`,
];

const SQLITE_001 = [
  `CREATE TABLE users (
id INTEGER PRIMARY KEY AUTOINCREMENT,
email VARCHAR(255) NOT NULL UNIQUE,
createdAt DATETIME DEFAULT CURRENT_TIMESTAMP
)`,
  `CREATE TABLE devices (
id INTEGER PRIMARY KEY AUTOINCREMENT,
userId INT NOT NULL,
deviceName VARCHAR(255) NOT NULL,
platform VARCHAR(50) NOT NULL,
token VARCHAR(255) NOT NULL UNIQUE,
createdAt DATETIME DEFAULT CURRENT_TIMESTAMP,
lastSeen DATETIME DEFAULT CURRENT_TIMESTAMP,
FOREIGN KEY (userId) REFERENCES users(id) ON DELETE CASCADE
)`,
  `CREATE TABLE magic_links (
id INTEGER PRIMARY KEY AUTOINCREMENT,
email VARCHAR(255) NOT NULL,
token VARCHAR(255) NOT NULL UNIQUE,
expiresAt DATETIME NOT NULL,
used BOOLEAN DEFAULT FALSE,
createdAt DATETIME DEFAULT CURRENT_TIMESTAMP
)`,
  `CREATE TABLE projects (
id INTEGER PRIMARY KEY AUTOINCREMENT,
userId INT NOT NULL,
projectKey VARCHAR(255) NOT NULL,
name VARCHAR(255) NOT NULL,
roomId VARCHAR(255) NOT NULL UNIQUE,
createdAt DATETIME DEFAULT CURRENT_TIMESTAMP,
FOREIGN KEY (userId) REFERENCES users(id) ON DELETE CASCADE,
CONSTRAINT unique_user_project UNIQUE (userId, projectKey)
)`,
  `CREATE TABLE subscriptions (
id INTEGER PRIMARY KEY AUTOINCREMENT,
userId INT NOT NULL UNIQUE,
tier TEXT CHECK (tier IN ('free', 'personal', 'pro', 'team')) DEFAULT 'free',
expiresAt DATETIME,
createdAt DATETIME DEFAULT CURRENT_TIMESTAMP,
FOREIGN KEY (userId) REFERENCES users(id) ON DELETE CASCADE
)`,
];

const MYSQL_002 = [
  `ALTER TABLE magic_links
ADD COLUMN pollToken VARCHAR(64) NULL UNIQUE,
ADD COLUMN deviceName VARCHAR(255) NULL,
ADD COLUMN platform VARCHAR(50) NULL,
ADD COLUMN pollResult TEXT NULL`,
  `CREATE INDEX magic_links_email_created ON magic_links (email, createdAt)`,
  `CREATE TABLE revocations (
id INT AUTO_INCREMENT PRIMARY KEY,
userId INT NOT NULL,
deviceId INT NOT NULL,
revokedAt DATETIME NOT NULL
)`,
];

const SQLITE_002 = [
  `ALTER TABLE magic_links ADD COLUMN pollToken VARCHAR(64) NULL`,
  `CREATE UNIQUE INDEX magic_links_poll_token ON magic_links (pollToken)`,
  `ALTER TABLE magic_links ADD COLUMN deviceName VARCHAR(255) NULL`,
  `ALTER TABLE magic_links ADD COLUMN platform VARCHAR(50) NULL`,
  `ALTER TABLE magic_links ADD COLUMN pollResult TEXT NULL`,
  `CREATE INDEX magic_links_email_created ON magic_links (email, createdAt)`,
  `CREATE INDEX devices_user ON devices (userId)`,
  `CREATE TABLE revocations (
id INTEGER PRIMARY KEY AUTOINCREMENT,
userId INT NOT NULL,
deviceId INT NOT NULL,
revokedAt DATETIME NOT NULL
)`,
];

const MYSQL_003 = [
  `ALTER TABLE magic_links
ADD COLUMN requestIp VARCHAR(64) NULL,
ADD COLUMN matchCode VARCHAR(64) NULL,
ADD COLUMN code VARCHAR(64) NULL,
ADD COLUMN attempts INT NOT NULL DEFAULT 0,
ADD COLUMN endedBy VARCHAR(16) NULL`,
  // Exact comparison: utf8mb4_general_ci would equate "a" and "ä" and let one address block another (SPEC §5).
  `ALTER TABLE users MODIFY email VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL`,
  `ALTER TABLE magic_links MODIFY email VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL`,
];

const SQLITE_003 = [
  `ALTER TABLE magic_links ADD COLUMN requestIp VARCHAR(64) NULL`,
  `ALTER TABLE magic_links ADD COLUMN matchCode VARCHAR(64) NULL`,
  `ALTER TABLE magic_links ADD COLUMN code VARCHAR(64) NULL`,
  `ALTER TABLE magic_links ADD COLUMN attempts INT NOT NULL DEFAULT 0`,
  `ALTER TABLE magic_links ADD COLUMN endedBy VARCHAR(16) NULL`,
];

/**
 * Stored addresses in their normalised form (schemas.ts normalizeEmail). A user whose normalised address already
 * belongs to another user keeps the old spelling (merging accounts is the operator's decision); links are rewritten.
 */
async function normaliseEmails(db: Kysely<any>): Promise<void> {
  const users = await db.selectFrom('users').select(['id', 'email']).execute() as Array<{ id: number; email: string }>;
  for (const u of users) {
    const email = normalizeEmail(u.email);
    if (email === u.email) continue;
    try {
      await db.updateTable('users').set({ email }).where('id', '=', u.id).execute();
    } catch (err) {
      if (!isDuplicate(err)) throw err;
    }
  }
  const links = await db.selectFrom('magic_links').select(['id', 'email']).execute() as Array<{ id: number; email: string }>;
  for (const l of links) {
    if (normalizeEmail(l.email) !== l.email) await db.updateTable('magic_links').set({ email: normalizeEmail(l.email) }).where('id', '=', l.id).execute();
  }
}

/** Removed projects reach relays through the revocation feed: a revocation may name a room. */
const ROOM_REVOCATIONS = ['ALTER TABLE revocations ADD COLUMN roomId VARCHAR(255) NULL'];

function statements(list: Record<Dialect, string[]>, dialect: Dialect): Migration {
  return {
    async up(db: Kysely<any>) {
      for (const s of list[dialect]) await sql.raw(s).execute(db);
    },
  };
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return {
    async getMigrations() {
      return {
        '001_source_schema': statements({ mysql: MYSQL_001, sqlite: SQLITE_001 }, dialect),
        '002_poll_and_revocations': statements({ mysql: MYSQL_002, sqlite: SQLITE_002 }, dialect),
        '003_signin_codes_and_normalised_emails': {
          async up(db: Kysely<any>) {
            await statements({ mysql: MYSQL_003, sqlite: SQLITE_003 }, dialect).up(db);
            await normaliseEmails(db);
          },
        },
        '004_room_revocations': statements({ mysql: ROOM_REVOCATIONS, sqlite: ROOM_REVOCATIONS }, dialect),
      };
    },
  };
}
