// hone-sync's messages where they used to mislead, through the real CLI against a real hone-auth and the real
// hone-relay program: a relay whose auth.secret differs from auth's (relay log, /health, status, send, mirror, watch), a device name
// that does not exist, removing a project that does not exist, adding a folder that does not exist.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminSetTier } from '../../src/auth/admin.ts';
import { SECRET_MISMATCH_MESSAGE } from '../../src/cli/explain.ts';
import { SECRET_REJECTED } from '../../src/relay/revocations.ts';
import { startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';
import { until } from '../helpers/wait.ts';
import { freePort, programRunner } from '../helpers/process.ts';
import { run } from './run.ts';

const RELAY_APP = fileURLToPath(new URL('../../src/relay/app.ts', import.meta.url));
const OTHER_SECRET = 'not-the-auth-secret-0123456789abcdef0123456789abcdef';

describe('hone-sync messages against a relay with another auth.secret', () => {
  let auth: TestAuth;
  let dir: string;
  let relay: ReturnType<ReturnType<typeof programRunner>['start']>;
  let httpPort = 0;
  let env: Record<string, string>;
  const hs = (...args: string[]) => run(args, env);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hone-sync-messages-'));
    auth = await startAuth('sqlite');
    const wsPort = await freePort();
    httpPort = await freePort();
    relay = programRunner(RELAY_APP, () => dir).start([], {
      HONE_AUTH_SECRET: OTHER_SECRET, HONE_AUTH_URL: auth.url, HONE_PORT: String(httpPort), HONE_WS_PORT: String(wsPort), HONE_HOST: '127.0.0.1',
    });
    assert.ok(await until(() => relay.out().includes('"event":"listening"') || relay.child.exitCode !== null, 20_000), relay.out());
    env = { HOME: dir, HONE_SYNC_CONFIG: join(dir, 'sync.conf') };
    const signed = await auth.signIn('dan@example.com', 'desk');
    await adminSetTier(auth.adb, ['dan@example.com', 'pro'], undefined, Date.now());
    for (const [k, v] of [['syncEnabled', 'true'], ['syncAuthUrl', auth.url], ['syncRelayUrl', `ws://127.0.0.1:${wsPort}/ws`],
      ['syncDeviceName', 'desk'], ['syncDeviceToken', signed.deviceToken]]) {
      const r = await hs('config', 'set', k, v);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal((await hs('projects', 'add', 'notes')).code, 0);
  });
  after(async () => {
    relay?.child.kill('SIGTERM');
    await auth?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the relay logs that auth rejects its secret (not 'cannot reach auth') and /health says degraded", async () => {
    assert.ok(await until(() => relay.out().includes('"event":"revocations.failed"'), 10_000), relay.out());
    const line = JSON.parse(relay.out().split('\n').find((l) => l.includes('"event":"revocations.failed"'))!);
    assert.equal(line.msg, "revocations: hone-auth rejects this relay's auth.secret (401); devices signed in there are refused here until both have the same secret");
    assert.equal(line.err, SECRET_REJECTED);
    assert.doesNotMatch(relay.out(), /cannot reach auth/);
    const health = await (await fetch(`http://127.0.0.1:${httpPort}/health`)).json();
    assert.equal(health.status, 'degraded');
    assert.equal(health.revocations.ok, false);
    assert.equal(health.revocations.error, SECRET_REJECTED);
    const page = await (await fetch(`http://127.0.0.1:${httpPort}/`, { headers: { accept: 'text/html' } })).text();
    assert.match(page, /auth rejects this relay&#39;s auth\.secret \(401\)/);
  });

  test('status: signed in, but the relay refuses the token auth accepts — said as a secret mismatch, exit 5', async () => {
    const st = await hs('status');
    assert.equal(st.code, 5, st.stderr);
    assert.match(st.stdout, /^signed in  yes$/m);
    assert.ok(st.stdout.includes(`relay up   yes, but ${SECRET_MISMATCH_MESSAGE}`), st.stdout);
    assert.doesNotMatch(st.stdout, /signed out|hone-sync login/);
  });

  test('send: the secret mismatch, not "signed out — run hone-sync login"', async () => {
    const r = await hs('send', 'notes', 'hello');
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.stderr, `hone-sync: ${SECRET_MISMATCH_MESSAGE}\n`);
    const json = await hs('send', 'notes', 'hello', '--json');
    assert.equal(JSON.parse(json.stdout).error.code, 'SECRET_MISMATCH');
  });

  test('mirror (and watch): the same secret mismatch, not "signed out"', async () => {
    const m = await hs('mirror', join(dir, 'mirrored'), '--project', 'notes', '--create');
    assert.equal(m.code, 5, m.stderr);
    assert.equal(m.stderr.split('\n').filter(Boolean).at(-1), `hone-sync: ${SECRET_MISMATCH_MESSAGE}`);
    const w = await hs('watch', 'notes', '--timeout', '10');
    assert.equal(w.code, 5, w.stderr);
    assert.equal(w.stderr.split('\n').filter(Boolean).at(-1), `hone-sync: ${SECRET_MISMATCH_MESSAGE}`);
  });

  test('send --to a device that does not exist is refused, naming the devices', async () => {
    const r = await hs('send', 'notes', 'hello', '--to', 'nosuchdevice');
    assert.equal(r.code, 6, r.stderr);
    assert.equal(r.stderr, 'hone-sync: no device named "nosuchdevice" in your account (your devices: desk); --to takes host, broadcast or one of these names\n');
  });

  test('projects rm of a project that does not exist lists the projects and does not suggest adding it', async () => {
    const r = await hs('projects', 'rm', 'nosuch');
    assert.equal(r.code, 6, r.stderr);
    assert.equal(r.stderr, 'hone-sync: no project "nosuch" in your account (your projects: notes)\n');
  });

  test('projects add of a folder that does not exist is refused, not registered under its path', async () => {
    const missing = join(dir, 'no', 'such-folder');
    const r = await hs('projects', 'add', missing);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `hone-sync: "${missing}" is not a folder; create it first, or give the project's key (a name without slashes); see hone-sync --help\n`);
    const list = JSON.parse((await hs('projects', '--json')).stdout).projects;
    assert.deepEqual(list.map((p: { projectKey: string }) => p.projectKey), ['notes']);
  });
});
