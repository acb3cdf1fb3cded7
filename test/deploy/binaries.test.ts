// The self-hosting promise: `npm run build:bin` makes hone-auth and hone-relay single executables that run from an empty
// directory holding only the binary and its config file, with no Node on PATH, and serve the whole login → project → relay flow.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBinaries } from '../../scripts/build-bin.ts';
import { VERSION } from '../../src/common/version.ts';
import { MYSQL } from '../helpers/db.ts';
import { freePort } from '../helpers/process.ts';
import type { Run } from '../helpers/process.ts';
import { startSmtp } from '../helpers/smtp.ts';
import type { TestSmtp } from '../helpers/smtp.ts';
import { bareEnv, fetchVia, loginProjectRelayFlow, pathWithoutNode, sizeOf, startProgram } from '../helpers/stack.ts';
import type { Started } from '../helpers/stack.ts';

const SECRET = 'binary-test-secret-0123456789abcdef0123456789abcdef';
/** The limits: each binary under 120 MB, listening within 300 ms (asserted with slack for a busy CI machine). */
const MAX_BYTES = 120e6;
const MAX_START_MS = 1500;
const REDIS_URL = process.env.HONE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let root: string;
let bins: { auth: string; relay: string };
let smtp: TestSmtp;

/** Runs a binary to completion in `cwd` with the bare environment. */
function runBin(bin: string, args: string[], cwd: string, env: Record<string, string> = {}): Run {
  const t0 = performance.now();
  const r = spawnSync(bin, args, { cwd, env: bareEnv(env), encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

/** A fresh empty directory holding only the binary (copied) and, when given, its config file. */
function installDir(name: string, bin: string, conf?: { file: string; text: string }): { dir: string; bin: string } {
  const dir = join(root, name);
  execFileSync('mkdir', ['-p', dir]);
  const to = join(dir, bin.split('/').pop() as string);
  copyFileSync(bin, to);
  if (conf) writeFileSync(join(dir, conf.file), conf.text);
  return { dir, bin: to };
}

const conf = (entries: Record<string, string | number>) => Object.entries(entries).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';

before(async () => {
  const built = await buildBinaries();
  bins = { auth: built.paths['hone-auth'], relay: built.paths['hone-relay'] };
  root = mkdtempSync(join(tmpdir(), 'hone-bin-'));
  smtp = await startSmtp();
});
after(async () => {
  await smtp?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('single executables', () => {
  test('each is under 120 MB and needs no Node: PATH without node, nothing beside it', () => {
    for (const bin of Object.values(bins)) assert.ok(sizeOf(bin) < MAX_BYTES, `${bin}: ${(sizeOf(bin) / 1e6).toFixed(1)} MB`);
    assert.ok(pathWithoutNode().length > 0);
    const which = spawnSync('sh', ['-c', 'command -v node'], { env: bareEnv(), encoding: 'utf8' });
    assert.notEqual(which.status, 0, `node is still on PATH: ${which.stdout}`);
  });

  test('hone-auth: --version, --help, secret and a bad config key, like the npm entry point', () => {
    const { dir, bin } = installDir('auth-cli', bins.auth);
    assert.equal(runBin(bin, ['--version'], dir).stdout.trim(), VERSION);
    const help = runBin(bin, ['--help'], dir);
    assert.equal(help.code, 0);
    for (const word of ['admin set-tier', 'admin users', 'secret', '--config']) assert.ok(help.stdout.includes(word), word);
    assert.match(runBin(bin, ['secret'], dir).stdout, /^[0-9a-f]{64}\n$/);
    const bad = runBin(bin, [], dir, { HONE_PORT: 'eighty' });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^hone-auth: HONE_PORT: port: expected a whole number/);
    const missing = runBin(bin, ['--config', 'nope.conf'], dir);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /nope\.conf: cannot read config file/);
    assert.deepEqual(readdirSync(dir), ['hone-auth'], 'nothing written for commands that do not serve');
  });

  test('hone-relay: --version, --help and the secret rule', () => {
    const { dir, bin } = installDir('relay-cli', bins.relay);
    assert.equal(runBin(bin, ['--version'], dir).stdout.trim(), VERSION);
    assert.match(runBin(bin, ['--help'], dir).stdout, /hone-relay \[--config relay\.conf\]/);
    const r = runBin(bin, [], dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /auth\.secret: required/);
  });

  test('from empty directories with only a config file: login → project → relay message, then a clean stop', async (t) => {
    const [authPort, httpPort, wsPort] = [await freePort(), await freePort(), await freePort()];
    const authUrl = `http://127.0.0.1:${authPort}`;
    const auth = installDir('auth', bins.auth, { file: 'auth.conf', text: conf({
      host: '127.0.0.1', port: authPort, 'auth.secret': SECRET, 'auth.publicUrl': authUrl,
      'smtp.host': '127.0.0.1', 'smtp.port': smtp.port, 'smtp.from': 'Hone Sync <sync@example.com>',
    }) });
    const relay = installDir('relay', bins.relay, { file: 'relay.conf', text: conf({
      host: '127.0.0.1', port: httpPort, 'ws.port': wsPort, 'auth.secret': SECRET, 'auth.url': authUrl,
    }) });
    const started: Started[] = [];
    try {
      // hone-auth reads ./auth.conf by default; hone-relay is given --config.
      const a = await startProgram([auth.bin], auth.dir, bareEnv());
      started.push(a);
      const r = await startProgram([relay.bin, '--config', 'relay.conf'], relay.dir, bareEnv());
      started.push(r);
      t.diagnostic(`start to listening: hone-auth ${a.ms.toFixed(0)} ms, hone-relay ${r.ms.toFixed(0)} ms`);
      assert.ok(a.ms < MAX_START_MS && r.ms < MAX_START_MS, `start-up: auth ${a.ms} ms, relay ${r.ms} ms`);
      assert.equal(r.listening.ws, `ws://127.0.0.1:${wsPort}`);
      assert.ok(existsSync(join(auth.dir, 'data', 'auth.db')), 'auth: SQLite at the default ./data/auth.db');
      assert.ok(existsSync(join(relay.dir, 'data', 'relay.db')), 'relay: SQLite at the default ./data/relay.db');

      const health = await fetchVia({}, `http://127.0.0.1:${httpPort}/health`);
      assert.equal(health.json.version, VERSION);
      assert.equal((await fetchVia({}, `${authUrl}/health`)).json.version, VERSION);

      await loginProjectRelayFlow({
        authUrl, wsUrl: `ws://127.0.0.1:${wsPort}/ws`, net: {}, smtp,
        async setTierPro(email) {
          const set = runBin(auth.bin, ['admin', 'set-tier', email, 'pro'], auth.dir);
          assert.equal(set.code, 0, set.stderr);
        },
      });
      const users = runBin(auth.bin, ['admin', 'users', '--json'], auth.dir);
      assert.equal(users.code, 0, users.stderr);
      assert.match(users.stdout, /owner@example\.com/);
      const metrics = await fetchVia({}, `http://127.0.0.1:${httpPort}/metrics`);
      assert.match(metrics.text, /^hone_relay_messages_routed_total 2$/m);
    } finally {
      for (const s of started.reverse()) {
        const run = await s.stop();
        assert.equal(run.code, 0, `clean exit on SIGTERM:\n${s.out()}`);
      }
    }
  });

  test('two relays in cluster mode (Redis, ioredis bundled): devices on different relays exchange messages', async () => {
    const prefix = `hone-bin-${process.pid}-${Date.now() % 1e6}`;
    const [authPort, ...ports] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const authUrl = `http://127.0.0.1:${authPort}`;
    const auth = installDir('cluster-auth', bins.auth, { file: 'auth.conf', text: conf({
      host: '127.0.0.1', port: authPort, 'auth.secret': SECRET, 'auth.publicUrl': authUrl, 'smtp.host': '127.0.0.1', 'smtp.port': smtp.port,
    }) });
    const relays = [0, 1].map((i) => installDir(`cluster-relay-${i}`, bins.relay, { file: 'relay.conf', text: conf({
      host: '127.0.0.1', port: ports[2 * i], 'ws.port': ports[2 * i + 1], 'auth.secret': SECRET, 'auth.url': authUrl,
      'cluster.redis': REDIS_URL, 'cluster.prefix': prefix,
    }) }));
    const started: Started[] = [];
    try {
      started.push(await startProgram([auth.bin], auth.dir, bareEnv()));
      for (const r of relays) started.push(await startProgram([r.bin], r.dir, bareEnv()));
      for (const i of [0, 1]) assert.equal((await fetchVia({}, `http://127.0.0.1:${ports[2 * i]}/health`)).json.status, 'ok');
      await loginProjectRelayFlow({
        authUrl, wsUrl: `ws://127.0.0.1:${ports[1]}/ws`, wsUrlB: `ws://127.0.0.1:${ports[3]}/ws`, net: {}, smtp,
        async setTierPro(email) {
          assert.equal(runBin(auth.bin, ['admin', 'set-tier', email, 'pro'], auth.dir).code, 0);
        },
      }, 'cluster@example.com');
    } finally {
      for (const s of started.reverse()) assert.equal((await s.stop()).code, 0, s.out());
      const { Redis } = await import('ioredis');
      const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await redis.connect().catch(() => {});
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000).catch(() => ['0', []] as [string, string[]]);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
      redis.disconnect();
    }
  });

  test('hone-auth on MySQL (mysql2 bundled): serves /health with the mysql dialect', async () => {
    const name = `hone_bin_${process.pid}_${Date.now() % 1e6}`;
    const { createConnection } = await import('mysql2/promise');
    const c = await createConnection(MYSQL);
    await c.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
    try {
      const port = await freePort();
      const auth = installDir('auth-mysql', bins.auth, { file: 'auth.conf', text: conf({
        host: '127.0.0.1', port, 'auth.secret': SECRET, 'db.host': MYSQL.host, 'db.port': MYSQL.port, 'db.user': MYSQL.user, 'db.name': name,
        'auth.publicUrl': `http://127.0.0.1:${port}`, 'smtp.host': '127.0.0.1',
      }) });
      const s = await startProgram([auth.bin], auth.dir, bareEnv());
      try {
        const health = await fetchVia({}, `http://127.0.0.1:${port}/health`);
        assert.equal(health.status, 200, health.text);
        assert.deepEqual(health.json.database, { dialect: 'mysql', ok: true });
        assert.ok(!existsSync(join(auth.dir, 'data')), 'no SQLite file when db.host is set');
      } finally {
        assert.equal((await s.stop()).code, 0);
      }
    } finally {
      await c.query(`DROP DATABASE IF EXISTS ${name}`);
      await c.end();
    }
  });
});
