// What every route of hone-auth is handed: config, database, clock, mailer, token keys, limiters.
// Built once by server.ts; no module keeps state of its own (the read cache lives here too).
import type { Kysely } from 'kysely';
import type { TokenKeys } from '../common/token.ts';
import type { AuthConfig } from './config.ts';
import type { AuthDb } from './db/database.ts';
import type { Database } from './db/tables.ts';
import type { Mailer } from './mailer.ts';
import type { RateLimiter } from '../common/rate-limit.ts';
import type { ReadCache } from './store/read-cache.ts';
import type { Clock } from './time.ts';

export interface AuthContext {
  config: AuthConfig;
  adb: AuthDb;
  db: Kysely<Database>;
  /** SQLite only (MySQL may be shared by several instances and is read on every request): see store/read-cache.ts. */
  cache?: ReadCache;
  clock: Clock;
  mailer: Mailer;
  /** Mail sent after the answer (new-device notices); awaited when the server closes. */
  background: Set<Promise<void>>;
  keys: TokenKeys;
  limits: {
    loginPerEmail: RateLimiter;
    loginPerIp: RateLimiter;
    /** Unauthenticated endpoints and failed token checks, per IP per minute. */
    perIp: RateLimiter;
    /** Codes typed on POST /auth/login/code, per account (normalised e-mail) per day. */
    codeTriesPerEmail: RateLimiter;
  };
}
