// KEY=VALUE configuration (SPEC §2): file parsing, HONE_* overrides, validation errors that name the key,
// unknown keys warned about; the cross-key rules of hone-auth; SQLite files (mode, bad paths).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, configWith, envName, loadConfig, parseKeyValue, PLACEHOLDER_SECRET } from '../../src/common/config.ts';
import type { Schema } from '../../src/common/config.ts';
import { prepareSqliteFile } from '../../src/common/sqlite-file.ts';
import { authConfigSchema, checkAuthConfig, newUserTier } from '../../src/auth/config.ts';
import { migrate, openDatabase } from '../../src/auth/db/database.ts';
import { checkRelayConfig, relayConfigSchema } from '../../src/relay/config.ts';
import { openSqliteState } from '../../src/relay/engine/local/sqlite-state.ts';

const schema = {
  host: { type: 'string', default: '0.0.0.0', doc: 'bind' },
  port: { type: 'int', default: 8445, min: 0, max: 65535, doc: 'port' },
  dev: { type: 'bool', default: false, doc: 'dev' },
  'auth.secret': { type: 'string', default: '', secret: true, maxLength: 20, doc: 'secret' },
  'token.algorithm': { type: 'enum', default: 'hmac-sha256', values: ['hmac-sha256', 'djb2'] as const, doc: 'alg' },
  'auth.url': { type: 'url', default: '', doc: 'url' },
} as const satisfies Schema;

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'hone-config-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(text: string): string {
  const path = join(dir, `c${n++}.conf`);
  writeFileSync(path, text);
  return path;
}

/** loadConfig with an empty environment and collected warnings. */
function load(opts: Parameters<typeof loadConfig>[1] = {}) {
  const warnings: string[] = [];
  const config = loadConfig(schema, { env: {}, warn: (m) => warnings.push(m), ...opts });
  return { config, warnings };
}

function configError(fn: () => unknown, ...parts: (string | RegExp)[]): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.ok(!caught.message.includes('\n'), 'one line');
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(caught.message.includes(p), `"${caught.message}" should mention "${p}"`);
    else assert.match(caught.message, p);
  }
  return caught;
}

describe('parseKeyValue', () => {
  test('KEY=VALUE lines with comments and blank lines, values trimmed, line numbers kept', () => {
    const m = parseKeyValue('# comment\n\n  host = 127.0.0.1  \n   # indented comment\nport=1\n', 'a.conf');
    assert.deepEqual([...m], [['host', { value: '127.0.0.1', line: 3 }], ['port', { value: '1', line: 5 }]]);
  });

  test('BOM and CRLF', () => {
    const m = parseKeyValue('\uFEFFhost=h\r\nport=2\r\n\r\n', 'a.conf');
    assert.deepEqual([...m], [['host', { value: 'h', line: 1 }], ['port', { value: '2', line: 2 }]]);
  });

  test('value may contain = and # (only whole lines are comments); empty value allowed', () => {
    const m = parseKeyValue('db.password=a=b#c\nauth.secret=\n', 'a.conf');
    assert.equal(m.get('db.password')?.value, 'a=b#c');
    assert.equal(m.get('auth.secret')?.value, '');
  });

  test('a later line wins over an earlier one', () => {
    assert.equal(parseKeyValue('port=1\nport=2', 'a.conf').get('port')?.value, '2');
  });

  test('a line without = or with a bad key → ConfigError naming file:line', () => {
    configError(() => parseKeyValue('host=x\njust text\n', 'a.conf'), 'a.conf:2', 'KEY=VALUE');
    configError(() => parseKeyValue('=value', 'b.conf'), 'b.conf:1');
    configError(() => parseKeyValue('\n\n9key=1', 'c.conf'), 'c.conf:3', '9key');
    configError(() => parseKeyValue('my key=1', 'd.conf'), 'd.conf:1', 'my key');
  });
});

describe('loadConfig', () => {
  test('no file → defaults', () => {
    const { config, warnings } = load();
    assert.deepEqual(config, { host: '0.0.0.0', port: 8445, dev: false, 'auth.secret': '', 'token.algorithm': 'hmac-sha256', 'auth.url': '' });
    assert.deepEqual(warnings, []);
  });

  test('missing file = defaults; with mustExist → ConfigError naming the file', () => {
    const missing = join(dir, 'nope.conf');
    assert.equal(load({ file: missing }).config.port, 8445);
    configError(() => load({ file: missing, mustExist: true }), missing, 'ENOENT');
  });

  test('a folder given as the file → ConfigError', () => {
    configError(() => load({ file: dir }), dir);
  });

  test('file values are typed', () => {
    const f = file('\uFEFF# hone\r\nhost=127.0.0.1\r\nport=9000\r\ndev=yes\r\ntoken.algorithm=djb2\r\nauth.url=http://auth:8445/\r\n');
    const { config, warnings } = load({ file: f });
    assert.deepEqual(config, { host: '127.0.0.1', port: 9000, dev: true, 'auth.secret': '', 'token.algorithm': 'djb2', 'auth.url': 'http://auth:8445' });
    assert.deepEqual(warnings, []);
  });

  test('bool spellings', () => {
    for (const v of ['true', 'TRUE', 'yes', 'on', '1']) assert.equal(load({ env: { HONE_DEV: v } }).config.dev, true, v);
    for (const v of ['false', 'No', 'off', '0']) assert.equal(load({ env: { HONE_DEV: v } }).config.dev, false, v);
  });

  test('precedence: overrides > HONE_* env > file > default', () => {
    const f = file('host=from-file\nport=1111\ndev=false\n');
    assert.equal(load({ file: f }).config.port, 1111);
    const env = { HONE_PORT: ' 2222 ', HONE_HOST: 'from-env' };
    const a = load({ file: f, env }).config;
    assert.equal(a.port, 2222);
    assert.equal(a.host, 'from-env');
    const b = load({ file: f, env, overrides: { port: 3333, dev: true, host: 'from-option' } }).config;
    assert.equal(b.port, 3333);
    assert.equal(b.dev, true);
    assert.equal(b.host, 'from-option');
    const c = load({ file: f, env, overrides: { port: '4444' } }).config;
    assert.equal(c.port, 4444, 'string overrides are converted');
  });

  test('env names: HONE_ + upper-case, dots → underscores', () => {
    assert.equal(envName('auth.secret'), 'HONE_AUTH_SECRET');
    assert.equal(envName('db.host'), 'HONE_DB_HOST');
    assert.equal(envName('login.perEmail'), 'HONE_LOGIN_PEREMAIL');
    assert.equal(load({ env: { HONE_TOKEN_ALGORITHM: 'djb2' } }).config['token.algorithm'], 'djb2');
    assert.equal(load({ env: { HONE_AUTH_URL: 'https://a.example' } }).config['auth.url'], 'https://a.example');
  });

  test('an empty env value overrides the file (set to empty)', () => {
    const f = file('host=from-file\n');
    assert.equal(load({ file: f, env: { HONE_HOST: '' } }).config.host, '');
  });

  test('bad int values → ConfigError naming key and file:line', () => {
    for (const v of ['abc', '1.5', '70000', '-1', '', '1e3', '0x10', '99999999999999999']) {
      const f = file(`# x\nport=${v}\n`);
      configError(() => load({ file: f }), `${f}:2`, 'port', 'whole number');
    }
  });

  test('bad bool, enum and url values → ConfigError naming key and file:line', () => {
    configError(() => load({ file: file('dev=maybe') }), ':1: ', 'dev', 'true or false');
    configError(() => load({ file: file('\n\n\ntoken.algorithm=md5') }), ':4: ', 'token.algorithm', 'hmac-sha256, djb2');
    configError(() => load({ file: file('token.algorithm=HMAC-SHA256') }), 'token.algorithm');
    for (const v of ['not a url', 'ftp://host', 'javascript:alert(1)', 'auth:8445']) {
      configError(() => load({ file: file(`auth.url=${v}`) }), 'auth.url', 'URL');
    }
  });

  test('cluster.redis: one URL or a comma-separated list; a bad item, a duplicate server or a non-Redis URL is refused', () => {
    const relay = (v: string) => checkRelayConfig(loadConfig(relayConfigSchema, { env: {}, overrides: { dev: true, 'cluster.redis': v } }));
    assert.equal(relay('redis://a:6379/0')['cluster.redis'], 'redis://a:6379/0');
    assert.equal(relay(' redis://a:6379/ , rediss://:pw@b:6380/1 ')['cluster.redis'], 'redis://a:6379,rediss://:pw@b:6380/1');
    for (const [v, item] of [['redis://a,,redis://b', 'item 2'], ['redis://a, not a url', 'item 2'], ['redis://a,', 'item 2'], [',redis://a', 'item 1']]) {
      configError(() => relay(v), 'cluster.redis', item);
    }
    configError(() => relay('redis://a:6379/0,https://b:6379'), 'cluster.redis', 'redis://');
    // The same server twice (another spelling of the port, the default database, a password) would split its rooms.
    configError(() => relay('redis://A:6379/0,redis://:pw@a'), 'cluster.redis', 'listed twice');
    configError(() => relay(Array.from({ length: 65 }, (_, i) => `redis://h${i}`).join(',')), 'cluster.redis', 'at most 64');
  });

  test('bad env value → ConfigError naming the variable and the key', () => {
    configError(() => load({ env: { HONE_PORT: 'abc' } }), 'HONE_PORT', 'port', '"abc"');
    configError(() => load({ env: { HONE_DEV: 'maybe' } }), 'HONE_DEV', 'dev');
  });

  test('bad override value → ConfigError naming the key', () => {
    configError(() => load({ overrides: { port: 'abc' } }), 'option', 'port');
  });

  test('a bad secret value is not echoed', () => {
    const e = configError(() => load({ env: { HONE_AUTH_SECRET: 'x'.repeat(21) + 'TOPSECRET' } }), 'auth.secret', 'at most 20');
    assert.ok(!e.message.includes('TOPSECRET'));
  });

  test('an unknown key is warned about (SPEC §2), naming file:line, the key and the likely intended one', () => {
    const warned = (run: (warn: (m: string) => void) => unknown) => {
      const w: string[] = [];
      run((m) => w.push(m));
      return w;
    };
    assert.deepEqual(warned((warn) => load({ file: file('host=h\nprot=8445\n'), warn })).map((m) => m.replace(/^.*?:2:/, ':2:')),
      [':2: unknown key "prot" is ignored (did you mean port?)']);
    assert.match(warned((warn) => load({ file: file('frobnicate=1\n'), warn }))[0], /unknown key "frobnicate" is ignored$/);
    // The same rule for both programs' real schemas (they share loadConfig).
    const typo = file('smtp.hostname=mail.example.com\n');
    assert.deepEqual(warned((warn) => loadConfig(authConfigSchema, { env: {}, file: typo, warn })),
      [`${typo}:1: unknown key "smtp.hostname" is ignored (did you mean smtp.host?)`]);
    assert.match(warned((warn) => loadConfig(relayConfigSchema, { env: {}, file: file('cluster.redisUrl=redis://x\n'), warn }))[0],
      /unknown key "cluster\.redisUrl" is ignored \(did you mean cluster\.redis\?\)/);
  });

  test('explicit: the keys given in the file, the environment or overrides', () => {
    const explicit = new Set<string>();
    load({ file: file('host=h\n'), env: { HONE_PORT: '1' }, overrides: { dev: true }, explicit });
    assert.deepEqual([...explicit].sort(), ['dev', 'host', 'port']);
  });

  test('syntax errors in the file name file:line', () => {
    const f = file('host=h\nport 8445\n');
    configError(() => load({ file: f }), `${f}:2`);
  });

  test('configWith: defaults with some values replaced', () => {
    const c = configWith(schema, { port: 1 });
    assert.equal(c.port, 1);
    assert.equal(c.host, '0.0.0.0');
  });
});

describe('authConfigSchema and checkAuthConfig', () => {
  test('defaults match SPEC §2', () => {
    const c = loadConfig(authConfigSchema, { env: {} });
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.port, 8445);
    assert.equal(c['auth.publicUrl'], 'http://localhost:8445');
    assert.equal(c['sqlite.path'], './data/auth.db');
    assert.equal(c['tiers.default'], 'free');
    assert.equal(c['token.algorithm'], 'hmac-sha256');
    assert.equal(c['login.perEmail'], 5);
    assert.equal(c['login.perIp'], 30);
    assert.equal(c['db.host'], '');
    assert.equal(c['smtp.host'], '');
    assert.equal(c['auth.previousSecret'], '');
  });

  test('every key has a doc', () => {
    for (const [key, spec] of Object.entries(authConfigSchema)) assert.ok(spec.doc.length > 3, key);
  });

  test('empty secret without dev → error naming auth.secret; with dev → fine', () => {
    configError(() => checkAuthConfig(configWith(authConfigSchema)), 'auth.secret', 'required');
    assert.equal(checkAuthConfig(configWith(authConfigSchema, { dev: true })).dev, true);
  });

  test('short secret → error; 16 characters or more → fine', () => {
    configError(() => checkAuthConfig(configWith(authConfigSchema, { 'auth.secret': 'x'.repeat(15) })), 'auth.secret', 'too short');
    configError(() => checkAuthConfig(configWith(authConfigSchema, { 'auth.secret': 'short', dev: true })), 'auth.secret');
    assert.ok(checkAuthConfig(configWith(authConfigSchema, { 'auth.secret': 'x'.repeat(16), 'smtp.host': 'mail' })));
    assert.ok(checkAuthConfig(configWith(authConfigSchema, { 'auth.secret': 'a'.repeat(64), 'smtp.host': 'mail' })));
  });

  const PROD = { 'auth.secret': 'a'.repeat(64), 'smtp.host': 'mail.example.com' } as const;

  test("the self-hosting guide's placeholder secret is refused by both services", () => {
    for (const secret of [PLACEHOLDER_SECRET, PLACEHOLDER_SECRET.toLowerCase(), 'PASTE-THE-SECRET-HERE-and-something-else']) {
      configError(() => checkAuthConfig(configWith(authConfigSchema, { ...PROD, 'auth.secret': secret })), 'auth.secret', 'placeholder');
      configError(() => checkAuthConfig(configWith(authConfigSchema, { ...PROD, dev: true, 'auth.secret': secret })), 'placeholder');
      configError(() => checkRelayConfig(configWith(relayConfigSchema, { 'auth.secret': secret })), 'auth.secret', 'placeholder');
    }
    configError(() => checkAuthConfig(configWith(authConfigSchema, { ...PROD, 'auth.previousSecret': PLACEHOLDER_SECRET })), 'auth.previousSecret', 'placeholder');
  });

  test('outside development: auth.publicUrl must be given, and an empty smtp.host needs mail.console=true (warned)', () => {
    const given = new Set(['auth.publicUrl']);
    configError(() => checkAuthConfig(configWith(authConfigSchema, PROD), { serving: true, explicit: new Set() }), 'auth.publicUrl', 'required outside development', 'http://localhost:8445');
    assert.ok(checkAuthConfig(configWith(authConfigSchema, PROD), { serving: true, explicit: given }));
    assert.ok(checkAuthConfig(configWith(authConfigSchema, { ...PROD, dev: true }), { serving: true, explicit: new Set() }), 'development keeps the localhost default');
    const noSmtp = configWith(authConfigSchema, { ...PROD, 'smtp.host': '' });
    configError(() => checkAuthConfig(noSmtp, { serving: true, explicit: given }), 'smtp.host', 'mail.console=true');
    const warnings: string[] = [];
    assert.ok(checkAuthConfig({ ...noSmtp, 'mail.console': true }, { serving: true, explicit: given, warn: (m) => warnings.push(m) }));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /mail\.console=true: sign-in links and codes are printed to the log/);
    assert.ok(checkAuthConfig(configWith(authConfigSchema, { dev: true }), { serving: true, explicit: new Set() }), 'development prints links without asking');
  });

  test('admin commands (not serving) need no secret, public URL or mail server; a secret given is still checked', () => {
    assert.ok(checkAuthConfig(configWith(authConfigSchema), { serving: false, explicit: new Set() }));
    configError(() => checkAuthConfig(configWith(authConfigSchema, { 'auth.secret': 'short' }), { serving: false }), 'too short');
  });

  test('development makes new users pro (unless tiers.default says more); production keeps tiers.default', () => {
    assert.equal(newUserTier(configWith(authConfigSchema, { dev: true })), 'pro');
    assert.equal(newUserTier(configWith(authConfigSchema, { dev: true, 'tiers.default': 'team' })), 'team');
    assert.equal(newUserTier(configWith(authConfigSchema)), 'free');
  });
});

describe('SQLite files (sqlite.path, auth and relay)', () => {
  test('created mode 0600, with their folder', async () => {
    for (const name of ['auth', 'relay']) {
      const path = join(dir, `fresh-${name}`, 'sub', `${name}.db`);
      if (name === 'auth') {
        const adb = openDatabase(configWith(authConfigSchema, { 'sqlite.path': path }));
        await migrate(adb);
        await adb.close();
      } else {
        await openSqliteState({ path, ttlMs: 60_000, clock: () => 0 }).close();
      }
      assert.equal(statSync(path).mode & 0o777, 0o600, name);
    }
  });

  test('a path under a regular file, or a folder as the path: one ConfigError naming sqlite.path, no stack trace', () => {
    const blocker = file('not a folder');
    for (const path of [join(blocker, 'auth.db'), join(blocker, 'deeper', 'auth.db')]) {
      configError(() => prepareSqliteFile(path), 'sqlite.path', 'a file is in the way');
      configError(() => openDatabase(configWith(authConfigSchema, { 'sqlite.path': path })), 'sqlite.path');
      configError(() => openSqliteState({ path, ttlMs: 60_000, clock: () => 0 }), 'sqlite.path');
    }
    configError(() => prepareSqliteFile(dir), 'sqlite.path', 'is a folder');
  });
});
