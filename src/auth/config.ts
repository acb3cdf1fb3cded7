// The configuration schema of hone-auth (SPEC §2): every key, its default and its documentation.
// auth.conf.example and docs are written from this one declaration.
import type { ConfigOf } from '../common/config.ts';
import { checkNotPlaceholder, ConfigError } from '../common/config.ts';
import type { Tier } from './db/tables.ts';

export const authConfigSchema = {
  host: { type: 'string', default: '0.0.0.0', doc: 'Address to listen on.' },
  port: { type: 'int', default: 8445, min: 0, max: 65535, doc: 'HTTP port.' },
  dev: { type: 'bool', default: false, doc: 'Development mode (also --dev): an empty auth.secret is replaced by a random one kept in dev.secret beside sqlite.path.' },
  'auth.secret': { type: 'string', default: '', secret: true, doc: 'Secret shared with the relay; signs device tokens and room IDs. Generate one with `hone-auth secret`. Required unless dev.' },
  'auth.previousSecret': { type: 'string', default: '', secret: true, doc: 'The secret before a rotation: tokens signed with it still verify until you remove it.' },
  'auth.publicUrl': { type: 'url', default: 'http://localhost:8445', doc: 'Base URL of this service as users reach it; the e-mailed links start with it. Must be set outside development.' },
  'token.algorithm': { type: 'enum', default: 'hmac-sha256', values: ['hmac-sha256', 'djb2'] as const, doc: 'hmac-sha256, or djb2 to accept and issue tokens of older deployments (forgeable: compatibility only).' },
  'db.host': { type: 'string', default: '', doc: 'MySQL/MariaDB host; empty = embedded SQLite at sqlite.path.' },
  'db.port': { type: 'int', default: 3306, min: 1, max: 65535, doc: 'MySQL port.' },
  'db.user': { type: 'string', default: 'hone', doc: 'MySQL user.' },
  'db.password': { type: 'string', default: '', secret: true, doc: 'MySQL password.' },
  'db.name': { type: 'string', default: 'hone', doc: 'MySQL database name.' },
  'db.poolSize': { type: 'int', default: 10, min: 1, max: 1000, doc: 'MySQL connections kept open.' },
  'sqlite.path': { type: 'string', default: './data/auth.db', doc: 'SQLite database file (used when db.host is empty); its folder is created.' },
  'smtp.host': { type: 'string', default: '', doc: 'SMTP server; empty = print login links to the console (development, or mail.console=true).' },
  'mail.console': { type: 'bool', default: false, doc: 'Outside development, allow an empty smtp.host: sign-in links and codes are printed to the log, where anyone who reads it can sign in as anyone.' },
  'smtp.port': { type: 'int', default: 587, min: 1, max: 65535, doc: 'SMTP port (465 = implicit TLS, otherwise STARTTLS when offered).' },
  'smtp.user': { type: 'string', default: '', doc: 'SMTP user name; empty = no authentication.' },
  'smtp.password': { type: 'string', default: '', secret: true, doc: 'SMTP password.' },
  'smtp.from': { type: 'string', default: 'Hone Sync <no-reply@localhost>', doc: 'From address of login e-mails.' },
  'tiers.default': { type: 'enum', default: 'free', values: ['free', 'personal', 'pro', 'team'] as const, doc: 'Tier of new users (self-hosters set pro).' },
  'login.perEmail': { type: 'int', default: 5, min: 1, max: 100000, doc: 'Login links per e-mail address per 15 minutes.' },
  'login.perIp': { type: 'int', default: 30, min: 1, max: 100000, doc: 'Login links per IP address per 15 minutes.' },
  'login.ttl.minutes': { type: 'int', default: 15, min: 1, max: 1440, doc: 'How long a login link stays valid.' },
  'ratelimit.perIp': { type: 'int', default: 300, min: 1, max: 1000000, doc: 'Requests per IP per minute to the endpoints that need no token (verify, poll, revocations) and failed token checks.' },
  trustProxy: { type: 'bool', default: false, doc: 'Behind one reverse proxy (nginx): take the client address from the last X-Forwarded-For entry, the one the proxy added.' },
  'log.level': { type: 'enum', default: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, doc: 'Log level.' },
} as const;

export type AuthConfig = ConfigOf<typeof authConfigSchema>;

/** What the program is about to do: serving needs everything; `admin` commands need only the database. */
export interface CheckOptions {
  serving: boolean;
  /** Keys given explicitly (loadConfig's `explicit`); absent = assume all were. */
  explicit?: Set<string>;
  /** Told what is allowed but dangerous (mail.console). */
  warn?: (message: string) => void;
}

/** Cross-key rules that a single key's type cannot express. */
export function checkAuthConfig(config: AuthConfig, opts: CheckOptions = { serving: true }): AuthConfig {
  const secret = config['auth.secret'];
  if (secret || opts.serving) {
    if (!secret && !config.dev) {
      throw new ConfigError('auth.secret: required (generate one with `hone-auth secret`), or start with --dev for development');
    }
    if (secret && secret.length < 16) {
      throw new ConfigError('auth.secret: too short, use at least 16 characters (`hone-auth secret` prints 64)');
    }
    checkNotPlaceholder('auth.secret', secret);
    if (config['auth.previousSecret']) checkNotPlaceholder('auth.previousSecret', config['auth.previousSecret']);
  }
  if (!opts.serving || config.dev) return config;
  if (opts.explicit && !opts.explicit.has('auth.publicUrl')) {
    throw new ConfigError(`auth.publicUrl: required outside development: the address users reach this service on (sign-in e-mails would link to ${config['auth.publicUrl']}), e.g. auth.publicUrl=https://auth.example.com`);
  }
  if (!config['smtp.host']) {
    if (!config['mail.console']) {
      throw new ConfigError('smtp.host: required outside development (sign-in links would be printed to the log); set smtp.host, or mail.console=true to print them on purpose');
    }
    opts.warn?.('mail.console=true: sign-in links and codes are printed to the log; anyone who can read the log can sign in to any account');
  }
  return config;
}

/** The tier of new users: tiers.default, but at least pro in development so a newcomer can add a project. */
export function newUserTier(config: AuthConfig): Tier {
  return config.dev && config['tiers.default'] === 'free' ? 'pro' : config['tiers.default'];
}
