// The HTTP-level suite of hone-auth, run unchanged against SQLite and MariaDB (api-*.test.ts).
// Real SMTP, real HTTP, an injected clock for expiry; nothing mocked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { roomOwnership } from '../../src/common/room-id.ts';
import { hmacHex, sha256Hex } from '../../src/common/token.ts';
import { setTier } from '../../src/auth/store/users.ts';
import type { DbKind } from '../helpers/db.ts';
import { startAuth, TEST_SECRET } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };
const MIN = 60_000;

function assertError(r: { status: number; body: any }, status: number, code: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.ok, false);
  assert.equal(r.body.error.code, code);
  assert.equal(typeof r.body.error.message, 'string');
}

async function login(a: TestAuth, email: string, extra: Record<string, string> = {}) {
  const r = await a.json(`/auth/login?${new URLSearchParams({ email, ...extra })}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const link = a.smtp.linkIn(await a.smtp.nextMail(email));
  return { pollToken: r.body.pollToken as string, expiresAt: r.body.expiresAt as string, link, token: new URL(link).searchParams.get('token') as string };
}

export function authSuite(kind: DbKind): void {
  describe(`hone-auth over ${kind}`, () => {
    const logLines: string[] = [];
    let a: TestAuth;
    before(async () => {
      a = await startAuth(kind, { 'log.level': 'debug' }, { logStream: { write: (line: string) => logLines.push(line) } });
    });
    after(() => a.close());

    test('magic link through real SMTP, poll from the asking device, single use', async () => {
      const l = await login(a, 'Flow@Example.com', { deviceName: 'Work laptop', platform: 'darwin' });
      assert.match(l.token, /^[0-9a-f]{64}$/);
      assert.equal(new URL(l.link).searchParams.get('deviceName'), 'Work laptop');
      assert.equal(Date.parse(l.expiresAt) - a.clock.now, 15 * MIN);
      const pending = await a.json(`/auth/login/poll?pollToken=${l.pollToken}`);
      assert.equal(pending.status, 202);
      assert.deepEqual(pending.body, { ok: true, status: 'pending' });

      const v = await a.json(new URL(l.link).pathname + new URL(l.link).search);
      assert.equal(v.status, 200);
      assert.equal(v.body.ok, true);
      assert.match(v.body.deviceToken, new RegExp(`^${v.body.userId}:${v.body.deviceId}:\\d+\\.[0-9a-f]{64}$`));

      const polled = await a.json(`/auth/login/poll?pollToken=${l.pollToken}`);
      assert.equal(polled.status, 200);
      assert.deepEqual(polled.body, v.body);
      assertError(await a.json(`/auth/login/poll?pollToken=${l.pollToken}`), 410, 'POLL_DELIVERED');
      assertError(await a.json(`/auth/verify?token=${l.token}`), 410, 'LINK_USED');

      const me = await a.json('/auth/device', { token: v.body.deviceToken });
      assert.equal(me.status, 200);
      assert.deepEqual(Object.keys(me.body.device).sort(), ['createdAt', 'current', 'deviceName', 'id', 'lastSeen', 'platform']);
      assert.equal(me.body.device.deviceName, 'Work laptop');
      assert.equal(me.body.device.platform, 'darwin');
      assert.equal(me.body.device.current, true);
      assert.equal(me.body.device.createdAt, new Date(a.clock.now).toISOString());
    });

    test('browser: GET shows a confirm page without using the link; only the POST does', async () => {
      const l = await login(a, 'browser@example.com', { deviceName: 'Phone' });
      for (let i = 0; i < 2; i++) {
        const page = await a.request(new URL(l.link).pathname + new URL(l.link).search, { headers: { accept: 'text/html,application/xhtml+xml' } });
        assert.equal(page.status, 200);
        assert.match(page.headers.get('content-type') ?? '', /text\/html/);
        assert.equal(page.headers.get('x-frame-options'), 'DENY');
        const html = await page.text();
        assert.match(html, /Sign in Phone/);
        assert.match(html, /method="post" action="\/auth\/verify"/);
      }
      assert.equal((await a.json(`/auth/login/poll?pollToken=${l.pollToken}`)).status, 202, 'a prefetch must not burn the link');
      const done = await a.request('/auth/verify', {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: l.token, deviceName: 'Phone', platform: 'android' }).toString(),
      });
      assert.equal(done.status, 200);
      assert.match(await done.text(), /Signed in/);
      const polled = await a.json(`/auth/login/poll?pollToken=${l.pollToken}`);
      assert.equal(polled.status, 200);
      assert.match(polled.body.deviceToken, /^\d+:\d+:\d+\.[0-9a-f]{64}$/);
      const again = await a.request(`/auth/verify?token=${l.token}`, { headers: { accept: 'text/html' } });
      assert.equal(again.status, 410);
      assert.match(await again.text(), /already been used/);
      const unknown = await a.request(`/auth/verify?token=${'ab'.repeat(32)}`, { headers: { accept: 'text/html' } });
      assert.equal(unknown.status, 404);
      assert.match(await unknown.text(), /not valid/);
    });

    test('links expire after 15 minutes; so does the poll', async () => {
      const l = await login(a, 'late@example.com');
      a.clock.advance(15 * MIN + 1000);
      assertError(await a.json(`/auth/verify?token=${l.token}`), 410, 'LINK_EXPIRED');
      assertError(await a.json(`/auth/login/poll?pollToken=${l.pollToken}`), 410, 'LINK_EXPIRED');
      const page = await a.request(`/auth/verify?token=${l.token}`, { headers: { accept: 'text/html' } });
      assert.equal(page.status, 410);
      assert.match(await page.text(), /expired/);
    });

    test('unknown links and poll tokens', async () => {
      assertError(await a.json(`/auth/verify?token=${'0'.repeat(64)}`), 404, 'LINK_NOT_FOUND');
      assertError(await a.json('/auth/verify?token=short'), 404, 'LINK_NOT_FOUND');
      assertError(await a.json('/auth/login/poll?pollToken=nope'), 404, 'POLL_NOT_FOUND');
      assertError(await a.json('/auth/verify'), 400, 'BAD_REQUEST');
      assertError(await a.json('/auth/login'), 400, 'BAD_REQUEST');
      assertError(await a.json('/auth/login?email=not-an-email'), 400, 'BAD_REQUEST');
    });

    test('login answers the same for known and unknown addresses', async () => {
      await a.signIn('known@example.com');
      const known = await a.json('/auth/login?email=known@example.com');
      const unknown = await a.json('/auth/login?email=nobody-yet@example.com');
      assert.equal(known.status, unknown.status);
      assert.deepEqual(Object.keys(known.body).sort(), Object.keys(unknown.body).sort());
      assert.equal(known.body.expiresAt, unknown.body.expiresAt);
    });

    test('login is limited per e-mail address, with Retry-After', async () => {
      for (let i = 0; i < 5; i++) assert.equal((await a.json('/auth/login?email=spam@example.com')).status, 200);
      const r = await a.json('/auth/login?email=SPAM@example.com');
      assertError(r, 429, 'RATE_LIMITED');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
      a.clock.advance(15 * MIN);
      assert.equal((await a.json('/auth/login?email=spam@example.com')).status, 200);
    });

    test('devices: list, current, delete revokes at once and is published to relays', async () => {
      const desk = await a.signIn('owner@example.com', 'Desk');
      const phone = await a.signIn('owner@example.com', 'Phone', 'ios');
      assert.equal(desk.userId, phone.userId);
      const list = await a.json('/auth/devices', { token: desk.deviceToken });
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.devices.map((d: any) => [d.deviceName, d.current]), [['Desk', true], ['Phone', false]]);

      const other = await a.signIn('stranger@example.com');
      assertError(await a.json(`/auth/device/${phone.deviceId}`, { method: 'DELETE', token: other.deviceToken }), 404, 'DEVICE_NOT_FOUND');
      assertError(await a.json('/auth/device/999999', { method: 'DELETE', token: desk.deviceToken }), 404, 'DEVICE_NOT_FOUND');

      const sinceMac = hmacHex(TEST_SECRET, 'revocations|');
      const before = await a.json('/auth/revocations', { headers: { authorization: `Hone-Relay ${sinceMac}` } });
      assert.equal(before.status, 200);

      const del = await a.json(`/auth/device/${phone.deviceId}`, { method: 'DELETE', token: desk.deviceToken });
      assert.equal(del.status, 200);
      assert.deepEqual(del.body, { ok: true });
      assertError(await a.json('/auth/devices', { token: phone.deviceToken }), 401, 'TOKEN_REVOKED');
      assert.equal((await a.json('/auth/devices', { token: desk.deviceToken })).body.devices.length, 1);

      const cursor = before.body.cursor as string;
      const r = await a.json(`/auth/revocations?since=${cursor}`, { headers: { authorization: `Hone-Relay ${hmacHex(TEST_SECRET, `revocations|${cursor}`)}` } });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.revoked, [{ userId: phone.userId, deviceId: phone.deviceId, revokedAt: new Date(a.clock.now).toISOString() }]);
      const next = await a.json(`/auth/revocations?since=${r.body.cursor}`, { headers: { authorization: `Hone-Relay ${hmacHex(TEST_SECRET, `revocations|${r.body.cursor}`)}` } });
      assert.deepEqual(next.body.revoked, []);
      assert.equal(next.body.cursor, r.body.cursor);
      assertError(await a.json('/auth/revocations?since=', { headers: { authorization: `Hone-Relay ${hmacHex('wrong-secret-wrong-secret', 'revocations|')}` } }), 401, 'UNAUTHORIZED');
      assertError(await a.json('/auth/revocations', { headers: { authorization: `Bearer ${desk.deviceToken}` } }), 401, 'UNAUTHORIZED');

      // A device may sign itself out.
      assert.equal((await a.json(`/auth/device/${desk.deviceId}`, { method: 'DELETE', token: desk.deviceToken })).status, 200);
      assertError(await a.json('/auth/device', { token: desk.deviceToken }), 401, 'TOKEN_REVOKED');
    });

    test('missing and invalid tokens are 401', async () => {
      for (const path of ['/auth/device', '/auth/devices', '/auth/projects', '/auth/subscription']) {
        assertError(await a.json(path), 401, 'UNAUTHORIZED');
        assertError(await a.json(path, { token: 'nonsense' }), 401, 'INVALID_TOKEN');
      }
    });

    test('lastSeen moves with use, at most one write a minute', async () => {
      const s = await a.signIn('seen@example.com');
      const t0 = new Date(a.clock.now).toISOString();
      a.clock.advance(30_000);
      assert.equal((await a.json('/auth/device', { token: s.deviceToken })).body.device.lastSeen, t0);
      a.clock.advance(31_000);
      const moved = (await a.json('/auth/device', { token: s.deviceToken })).body.device.lastSeen;
      assert.equal(moved, new Date(Math.floor(a.clock.now / 1000) * 1000).toISOString());
      assert.equal((await a.json('/auth/devices', { token: s.deviceToken })).body.devices[0].lastSeen, moved);
    });

    test('projects: tier limits, idempotent registration, owner-proving rooms, delete only your own', async () => {
      const s = await a.signIn('projects@example.com');
      const post = (token: string, body: unknown) => a.json('/auth/project', { method: 'POST', token, headers: JSON_HEADERS, body: JSON.stringify(body) });
      const sub = await a.json('/auth/subscription', { token: s.deviceToken });
      assert.deepEqual(sub.body, { ok: true, tier: 'free', expiresAt: null });
      assertError(await post(s.deviceToken, { projectKey: 'alpha', name: 'Alpha' }), 403, 'TIER_LIMIT');

      await setTier(a.adb.db, 'projects@example.com', 'personal', null, a.clock.now);
      const p1 = await post(s.deviceToken, { projectKey: 'alpha', name: 'Alpha' });
      assert.equal(p1.status, 200);
      assert.deepEqual(Object.keys(p1.body.project).sort(), ['createdAt', 'id', 'name', 'projectKey', 'roomId']);
      const again = await post(s.deviceToken, { projectKey: 'alpha', name: 'Renamed?' });
      assert.deepEqual(again.body, p1.body, 'the same key returns the same record');
      const limited = await post(s.deviceToken, { projectKey: 'beta' });
      assertError(limited, 403, 'TIER_LIMIT');
      assert.match(limited.body.error.message, /pro/);

      assert.equal(roomOwnership(p1.body.project.roomId, s.userId, { secret: TEST_SECRET }), 'owner');
      assert.equal(roomOwnership(p1.body.project.roomId, s.userId + 1, { secret: TEST_SECRET }), 'not-owner');

      const expires = a.clock.now + 24 * 60 * MIN;
      await setTier(a.adb.db, 'projects@example.com', 'pro', expires, a.clock.now);
      const subPro = await a.json('/auth/subscription', { token: s.deviceToken });
      assert.deepEqual(subPro.body, { ok: true, tier: 'pro', expiresAt: new Date(expires).toISOString() });
      for (const key of ['beta', 'gamma', 'delta']) assert.equal((await post(s.deviceToken, { projectKey: key })).status, 200);
      const list = await a.json('/auth/projects', { token: s.deviceToken });
      assert.deepEqual(list.body.projects.map((p: any) => p.projectKey), ['alpha', 'beta', 'gamma', 'delta']);
      assert.equal(list.body.projects[1].name, 'beta', 'name defaults to the key');

      a.clock.advance(24 * 60 * MIN + 1000);
      assert.deepEqual((await a.json('/auth/subscription', { token: s.deviceToken })).body, { ok: true, tier: 'free', expiresAt: null });
      assertError(await post(s.deviceToken, { projectKey: 'epsilon' }), 403, 'TIER_LIMIT');
      assert.equal((await post(s.deviceToken, { projectKey: 'alpha' })).status, 200, 'existing projects stay registered');

      const other = await a.signIn('other-projects@example.com');
      assertError(await a.json(`/auth/project/${p1.body.project.id}`, { method: 'DELETE', token: other.deviceToken }), 404, 'PROJECT_NOT_FOUND');
      assert.equal((await a.json(`/auth/project/${p1.body.project.id}`, { method: 'DELETE', token: s.deviceToken })).status, 200);
      assertError(await a.json(`/auth/project/${p1.body.project.id}`, { method: 'DELETE', token: s.deviceToken }), 404, 'PROJECT_NOT_FOUND');
      assert.equal((await a.json('/auth/projects', { token: s.deviceToken })).body.projects.length, 3);
    });

    test('tokens and links are stored hashed; the database alone signs nobody in', async () => {
      const l = await login(a, 'hashed@example.com');
      const v = (await a.json(`/auth/verify?token=${l.token}`)).body;
      const devices = await a.adb.db.selectFrom('devices').selectAll().execute();
      const links = await a.adb.db.selectFrom('magic_links').selectAll().execute();
      const dump = JSON.stringify({ devices, links });
      assert.ok(!dump.includes(v.deviceToken.split('.')[1]), 'no device token signature at rest');
      assert.ok(!dump.includes(l.token), 'no magic-link token at rest');
      assert.ok(!dump.includes(l.pollToken), 'no poll token at rest');
      assert.ok(devices.some((d) => d.token === sha256Hex(v.deviceToken)));
    });

    test('health, unknown routes, cache headers', async () => {
      const h = await a.json('/health');
      assert.equal(h.status, 200);
      assert.equal(h.body.ok, true);
      assert.deepEqual(h.body.database, { dialect: kind, ok: true });
      assertError(await a.json('/nope'), 404, 'NOT_FOUND');
      assertError(await a.json('/auth/devices', { method: 'PUT' }), 404, 'NOT_FOUND');
      assert.equal(h.headers.get('cache-control'), 'no-store');
    });

    test('no secret ever reaches the log', async () => {
      const l = await login(a, 'logs@example.com');
      const v = (await a.json(`/auth/verify?token=${l.token}`)).body;
      await a.json(`/auth/login/poll?pollToken=${l.pollToken}`);
      await a.json('/auth/devices', { token: v.deviceToken });
      const all = logLines.join('');
      assert.ok(logLines.length > 5);
      for (const secret of [l.token, l.pollToken, v.deviceToken, v.deviceToken.split('.')[1], TEST_SECRET]) {
        assert.ok(!all.includes(secret), `log contains a secret: ${secret.slice(0, 12)}…`);
      }
    });
  });

  describe(`hone-auth over ${kind}: configuration-dependent behaviour`, () => {
    test('tiers.default=pro lets new users register projects', async () => {
      const a = await startAuth(kind, { 'tiers.default': 'pro' });
      try {
        const s = await a.signIn('selfhost@example.com');
        assert.equal((await a.json('/auth/subscription', { token: s.deviceToken })).body.tier, 'pro');
        for (const k of ['a', 'b', 'c']) {
          assert.equal((await a.json('/auth/project', { method: 'POST', token: s.deviceToken, headers: JSON_HEADERS, body: JSON.stringify({ projectKey: k }) })).status, 200);
        }
      } finally {
        await a.close();
      }
    });

    test('development mode: new users are pro; elsewhere the tier error names the command that raises it', async () => {
      const dev = await startAuth(kind, { dev: true });
      const prod = await startAuth(kind);
      try {
        const s = await dev.signIn('newcomer@example.com');
        assert.equal((await dev.json('/auth/subscription', { token: s.deviceToken })).body.tier, 'pro');
        assert.equal((await dev.json('/auth/project', { method: 'POST', token: s.deviceToken, headers: JSON_HEADERS, body: '{"projectKey":"first"}' })).status, 200);
        const p = await prod.signIn('Free@Example.com');
        const r = await prod.json('/auth/project', { method: 'POST', token: p.deviceToken, headers: JSON_HEADERS, body: '{"projectKey":"first"}' });
        assertError(r, 403, 'TIER_LIMIT');
        assert.match(r.body.error.message, /raises it with `hone-auth admin set-tier free@example\.com pro`\.$/);
      } finally {
        await dev.close();
        await prod.close();
      }
    });

    test('login is limited per IP address', async () => {
      const a = await startAuth(kind, { 'login.perIp': 3 });
      try {
        for (let i = 0; i < 3; i++) assert.equal((await a.json(`/auth/login?email=ip${i}@example.com`)).status, 200);
        assertError(await a.json('/auth/login?email=ip9@example.com'), 429, 'RATE_LIMITED');
      } finally {
        await a.close();
      }
    });

    test('SMTP down: 503 with a clear message, logged as failed, and nothing else lost', async () => {
      const lines: string[] = [];
      const a = await startAuth(kind, { 'smtp.port': 1, 'log.level': 'info' }, { logStream: { write: (line: string) => lines.push(line) } });
      try {
        const r = await a.json('/auth/login?email=down@example.com');
        assertError(r, 503, 'MAIL_UNAVAILABLE');
        assert.ok(lines.some((l) => l.includes('"event":"mail.failed"') && l.includes('down@example.com')));
        assert.equal((await a.json('/health')).status, 200);
      } finally {
        await a.close();
      }
    });

    test('secret rotation: tokens of the previous secret still work', async () => {
      const { freshDb } = await import('../helpers/db.ts');
      const db = await freshDb(kind);
      const oldSecret = 'old-secret-0123456789abcdef';
      const a = await startAuth(kind, { 'auth.secret': oldSecret }, { db });
      const s = await a.signIn('rotate@example.com');
      await a.close();
      const b = await startAuth(kind, { 'auth.secret': TEST_SECRET, 'auth.previousSecret': oldSecret }, { db });
      const c = await startAuth(kind, { 'auth.secret': TEST_SECRET }, { db });
      try {
        assert.equal((await b.json('/auth/device', { token: s.deviceToken })).status, 200);
        assertError(await c.json('/auth/device', { token: s.deviceToken }), 401, 'INVALID_TOKEN');
        const fresh = await b.signIn('rotate@example.com');
        assert.equal((await c.json('/auth/device', { token: fresh.deviceToken })).status, 200, 'new tokens use the new secret');
      } finally {
        await b.close();
        await c.close();
        await db.drop();
      }
    });
  });
}
