// The real hone-auth entry point as an operator runs it: flags, operator commands, fatal one-line errors,
// serving /health and a clean exit on SIGTERM.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../../src/common/version.ts';
import { freePort, oneLine, programRunner } from '../helpers/process.ts';

const APP = fileURLToPath(new URL('../../src/auth/app.ts', import.meta.url));
const SECRET = 'cli-test-secret-0123456789abcdef0123456789abcdef';

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'hone-auth-cli-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

const { start, run } = programRunner(APP, () => dir);


/** What a production start needs besides the database: the public URL and a mail server (never contacted here). */
const PROD = { HONE_AUTH_PUBLICURL: 'https://auth.example.com', HONE_SMTP_HOST: '127.0.0.1' };
const dbEnv = (name: string) => ({ HONE_SQLITE_PATH: join(dir, name, 'auth.db'), HONE_AUTH_SECRET: SECRET, ...PROD });

describe('hone-auth command line', { concurrency: 3 }, () => {
  test('--version prints the package version', async () => {
    const r = await run(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), VERSION);
    assert.match(VERSION, /^\d+\.\d+\.\d+/);
  });

  test('--help prints usage', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /usage:/);
    for (const word of ['--config', '--dev', 'admin set-tier', 'admin users', 'secret', 'HONE_']) assert.ok(r.stdout.includes(word), word);
  });

  test('secret prints 64 hex characters, different each time', async () => {
    const [a, b] = await Promise.all([run(['secret']), run(['secret'])]);
    assert.equal(a.code, 0);
    assert.match(a.stdout, /^[0-9a-f]{64}\n$/);
    assert.notEqual(a.stdout, b.stdout);
  });

  test('an unknown flag exits non-zero with one line', async () => {
    const r = await run(['--frobnicate']);
    assert.notEqual(r.code, 0);
    assert.match(oneLine(r), /frobnicate/);
  });

  test("a flag of another command is refused with one line naming the command's flags", async () => {
    for (const [args, line] of [
      [['--expires', '2030-01-01'], 'hone-auth: serve does not take --expires; its flags: --config, --dev, --help, --version'],
      [['admin', 'users', '--expires', '2030-01-01'], 'hone-auth: admin users does not take --expires; its flags: --config, --dev, --json, --help, --version'],
      [['admin', 'set-tier', 'a@example.com', 'pro', '--json'], 'hone-auth: admin set-tier does not take --json; its flags: --config, --dev, --expires, --help, --version'],
      [['secret', '--config', 'auth.conf'], 'hone-auth: secret does not take --config; its flags: --help, --version'],
      [['--frobnicate'], 'hone-auth: serve does not take --frobnicate; its flags: --config, --dev, --help, --version'],
    ] as const) {
      const r = await run([...args], dbEnv('flags'));
      assert.notEqual(r.code, 0, args.join(' '));
      assert.equal(oneLine(r), line);
      assert.equal(r.stdout, '', 'nothing printed, nothing served');
    }
  });

  test('an unknown command exits non-zero with one line', async () => {
    const r = await run(['frobnicate'], dbEnv('unknown-cmd'));
    assert.notEqual(r.code, 0);
    assert.match(oneLine(r), /unknown command "frobnicate"/);
  });

  test('a bad config value (HONE_PORT=abc) exits non-zero with one line naming the key', async () => {
    const r = await run([], { HONE_PORT: 'abc', HONE_AUTH_SECRET: SECRET });
    assert.notEqual(r.code, 0);
    const line = oneLine(r);
    assert.match(line, /^hone-auth: /);
    assert.match(line, /HONE_PORT/);
    assert.match(line, /\bport\b/);
  });

  test('a bad value in the config file names file:line and key', async () => {
    const conf = join(dir, 'bad.conf');
    writeFileSync(conf, '# test\nauth.secret=' + SECRET + '\ntiers.default=gold\n');
    const r = await run(['--config', conf]);
    assert.notEqual(r.code, 0);
    const line = oneLine(r);
    assert.ok(line.includes(`${conf}:3`), line);
    assert.match(line, /tiers\.default/);
  });

  test('--config with a missing file exits non-zero with one line', async () => {
    const missing = join(dir, 'missing.conf');
    const r = await run(['--config', missing], { HONE_AUTH_SECRET: SECRET });
    assert.notEqual(r.code, 0);
    assert.ok(oneLine(r).includes(missing));
  });

  test('a production start refuses, in one line naming the key: no auth.publicUrl, no smtp.host, the guide\'s placeholder secret', async () => {
    const base = { HONE_SQLITE_PATH: join(dir, 'refuse', 'auth.db'), HONE_AUTH_SECRET: SECRET };
    const typo = join(dir, 'typo.conf');
    writeFileSync(typo, 'auth.publicUrl=https://auth.example.com\nsmtp.hostname=mail.example.com\n');
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [[], { ...base, HONE_SMTP_HOST: '127.0.0.1' }, /^hone-auth: auth\.publicUrl: required outside development.*http:\/\/localhost:8445/],
      [[], { ...base, HONE_AUTH_PUBLICURL: 'https://auth.example.com' }, /^hone-auth: smtp\.host: required outside development.*mail\.console=true/],
      [[], { ...base, ...PROD, HONE_AUTH_SECRET: 'PASTE-THE-SECRET-HERE-0123456789abcdef' }, /^hone-auth: auth\.secret: still the placeholder/],
      [[], { ...PROD, HONE_AUTH_SECRET: SECRET, HONE_SQLITE_PATH: join(dir, 'typo.conf', 'auth.db') }, /^hone-auth: sqlite\.path: cannot create the database folder .* \(a file is in the way/],
    ];
    const results = await Promise.all(cases.map(([args, env]) => run(args, env)));
    results.forEach((r, i) => {
      assert.equal(r.code, 2, r.stderr);
      assert.match(oneLine(r), cases[i][2]);
      assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
      assert.ok(!r.stderr.includes(SECRET));
    });
  });

  test('a misspelt key (smtp.hostname=) is warned about with the key it resembles, and the start refuses: smtp.host is empty', async () => {
    const typo = join(dir, 'typo.conf');
    writeFileSync(typo, 'auth.publicUrl=https://auth.example.com\nsmtp.hostname=mail.example.com\n');
    const r = await run(['--config', typo], { HONE_SQLITE_PATH: join(dir, 'refuse-typo', 'auth.db'), HONE_AUTH_SECRET: SECRET });
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.equal(lines[0], `hone-auth: warning: ${typo}:2: unknown key "smtp.hostname" is ignored (did you mean smtp.host?)`);
    assert.match(lines[1], /^hone-auth: smtp\.host: required outside development/);
  });

  test('admin commands need no auth.secret (nor public URL or mail server)', async () => {
    const r = await run(['admin', 'set-tier', '  Ädmin@Example.com ', 'pro'], { HONE_SQLITE_PATH: join(dir, 'nosecret-admin', 'auth.db') });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /<ädmin@example\.com> is now pro/);
  });

  test('missing auth.secret without --dev exits non-zero with a clear line', async () => {
    const r = await run([], { HONE_SQLITE_PATH: join(dir, 'nosecret', 'auth.db') });
    assert.notEqual(r.code, 0);
    const line = oneLine(r);
    assert.match(line, /auth\.secret/);
    assert.match(line, /required/);
    assert.match(line, /--dev/);
  });

  test('admin set-tier then admin users --json shows the user', async () => {
    const env = dbEnv('admin');
    const set = await run(['admin', 'set-tier', 'A@B.co', 'pro', '--expires', '2030-01-01'], env);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /a@b\.co.*pro.*2030-01-01T00:00:00\.000Z/);
    const list = await run(['admin', 'users', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    const users = JSON.parse(list.stdout);
    assert.equal(users.length, 1);
    assert.equal(users[0].email, 'a@b.co');
    assert.equal(users[0].tier, 'pro');
    assert.equal(users[0].expiresAt, '2030-01-01T00:00:00.000Z');
    assert.equal(typeof users[0].id, 'number');

    const again = await run(['admin', 'set-tier', 'a@b.co', 'team'], env);
    assert.equal(again.code, 0, again.stderr);
    const table = await run(['admin', 'users'], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /EMAIL/);
    assert.match(table.stdout, /a@b\.co\s+team/);
    assert.equal(table.stdout.match(/a@b\.co/g)?.length, 1, 'same user, not a second one');
  });

  test('admin users on an empty database', async () => {
    const r = await run(['admin', 'users'], dbEnv('empty'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no users/);
    const j = await run(['admin', 'users', '--json'], dbEnv('empty'));
    assert.deepEqual(JSON.parse(j.stdout), []);
  });

  test('admin set-tier with a bad tier, e-mail or date → one-line error, nothing written', async () => {
    const env = dbEnv('admin-bad');
    const tier = await run(['admin', 'set-tier', 'a@b.co', 'gold'], env);
    assert.notEqual(tier.code, 0);
    assert.match(oneLine(tier), /tier must be one of free, personal, pro, team/);
    const email = await run(['admin', 'set-tier', 'not-an-email', 'pro'], env);
    assert.notEqual(email.code, 0);
    assert.match(oneLine(email), /not an e-mail/);
    const date = await run(['admin', 'set-tier', 'a@b.co', 'pro', '--expires', '2030-13-45'], env);
    assert.notEqual(date.code, 0);
    assert.match(oneLine(date), /--expires/);
    const usage = await run(['admin', 'set-tier'], env);
    assert.notEqual(usage.code, 0);
    assert.match(oneLine(usage), /usage/);
    const sub = await run(['admin', 'frobnicate'], env);
    assert.notEqual(sub.code, 0);
    assert.match(oneLine(sub), /usage/);
    const list = await run(['admin', 'users', '--json'], env);
    assert.deepEqual(JSON.parse(list.stdout), []);
  });

  test('serves GET /health and exits 0 on SIGTERM; mail.console=true is warned about; the database file is 0600', async () => {
    const port = await freePort();
    const { child, done, out } = start([], { ...dbEnv('serve'), HONE_SMTP_HOST: '', HONE_MAIL_CONSOLE: 'true', HONE_HOST: '127.0.0.1', HONE_PORT: String(port) });
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      let res: Response | undefined;
      for (let i = 0; i < 200 && !res; i++) {
        if (child.exitCode !== null) break;
        res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
        if (!res) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(res, `server answered; output:\n${out()}`);
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.ok, true);
      // The line is logged after listen() returns, so a request can be answered before it reaches our pipe.
      const listening = new RegExp(`listening on http://127\\.0\\.0\\.1:${port}`);
      for (let i = 0; i < 100 && !listening.test(out()); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(out(), listening, 'one line names the URL');
      assert.match(out(), /hone-auth: warning: mail\.console=true: sign-in links and codes are printed to the log/);
      assert.equal(statSync(join(dir, 'serve', 'auth.db')).mode & 0o777, 0o600);
      child.kill('SIGTERM');
      const r = await done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.signal, null);
    } finally {
      clearTimeout(killer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  test('--dev without a secret serves and keeps its dev secret beside the database', async () => {
    const port = await freePort();
    const sqlite = join(dir, 'dev', 'auth.db');
    const { child, done, out } = start(['--dev'], { HONE_SQLITE_PATH: sqlite, HONE_HOST: '127.0.0.1', HONE_PORT: String(port) });
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      let status = 0;
      for (let i = 0; i < 200 && status === 0 && child.exitCode === null; i++) {
        status = (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status ?? 0;
        if (status === 0) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 200, out());
      child.kill('SIGTERM');
      assert.equal((await done).code, 0);
      const secret = (await import('node:fs')).readFileSync(join(dir, 'dev', 'dev.secret'), 'utf8').trim();
      assert.match(secret, /^[0-9a-f]{64}$/);
    } finally {
      clearTimeout(killer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  test('a port already in use exits non-zero with one clear line', async () => {
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address() as { port: number };
    try {
      const r = await run([], { ...dbEnv('inuse'), HONE_HOST: '127.0.0.1', HONE_PORT: String(port) });
      assert.notEqual(r.code, 0);
      assert.match(oneLine(r), new RegExp(`in use.*127\\.0\\.0\\.1:${port}|127\\.0\\.0\\.1:${port}.*in use`));
    } finally {
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });

  test('MySQL unreachable → non-zero exit within seconds, one line mentioning the database', async () => {
    const port = await freePort();
    const r = await run([], { HONE_AUTH_SECRET: SECRET, HONE_DB_HOST: '127.0.0.1', HONE_DB_PORT: String(port), ...PROD }, 15_000);
    assert.notEqual(r.code, 0);
    assert.equal(r.signal, null, 'exited by itself');
    assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
    const line = oneLine(r);
    assert.match(line, /database/);
    assert.match(line, /mysql/);
    assert.ok(line.includes(`127.0.0.1:${port}`), line);
    assert.ok(!line.includes(SECRET));
  });

  test('admin against unreachable MySQL fails the same way', async () => {
    const port = await freePort();
    const r = await run(['admin', 'users'], { HONE_AUTH_SECRET: SECRET, HONE_DB_HOST: '127.0.0.1', HONE_DB_PORT: String(port) }, 15_000);
    assert.notEqual(r.code, 0);
    assert.match(oneLine(r), /database/);
  });
});
