// Versioned migrations of the auth database, run at start through Kysely's Migrator.
// 001 is the source document's DDL exactly (MySQL) and its SQLite twin; later ones only add.
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';

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
        '004_room_revocations': statements({ mysql: ROOM_REVOCATIONS, sqlite: ROOM_REVOCATIONS }, dialect),
      };
    },
  };
}
