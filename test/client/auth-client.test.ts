// AuthClient against a real hone-auth (SQLite) with a real SMTP server: login and waiting for the e-mailed link,
// devices, projects (idempotent, tier limit), subscription, revocation, and the typed errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { AuthClient, AuthError } from '../../src/client/auth-client.ts';
import { adminSetTier } from '../../src/auth/admin.ts';
import { startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('AuthClient against hone-auth', () => {
  let auth: TestAuth;
  before(async () => { auth = await startAuth('sqlite'); });
  after(() => auth.close());

  test('login → the link is opened elsewhere → waitForLink delivers the token; then me/devices/subscription', async () => {
    const client = new AuthClient({ url: auth.url });
    const handle = await client.login('ada@example.com', 'Desktop', 'linux');
    assert.equal(handle.pollToken.length > 10, true);
    assert.equal(handle.expiresAt > auth.clock.now, true);
    const ticks: number[] = [];
    const waiting = client.waitForLink(handle, { now: () => auth.clock.now, intervalMs: 50, onTick: (t) => ticks.push(t.remainingMs) });
    // "Another device" opens the e-mailed link.
    const link = auth.smtp.linkIn(await auth.smtp.nextMail('ada@example.com'));
    const verify = await fetch(link);
    assert.equal(verify.status, 200);
    const signed = await waiting;
    assert.match(signed.deviceToken, /^\d+:\d+:\d+\.[0-9a-f]{64}$/);

    client.token = signed.deviceToken;
    const me = await client.me();
    assert.equal(me.deviceName, 'Desktop');
    assert.equal(me.current, true);
    const devices = await client.devices();
    assert.deepEqual(devices.map((d) => d.id), [signed.deviceId]);
    assert.deepEqual(await client.subscription(), { tier: 'free', expiresAt: null });
  });

  test('projects: free tier refused with TIER_LIMIT; personal allows one, idempotent by key; remove', async () => {
    const { deviceToken } = await auth.signIn('bob@example.com', 'Laptop');
    const client = new AuthClient({ url: auth.url, token: deviceToken });
    await assert.rejects(client.addProject('app'), (e: unknown) => e instanceof AuthError && e.code === 'TIER_LIMIT' && e.status === 403 && /personal/.test(e.message));
    await adminSetTier(auth.adb, ['bob@example.com', 'personal'], undefined, auth.clock.now);
    const p = await client.addProject('app', 'My App');
    assert.equal(p.projectKey, 'app');
    assert.equal(p.name, 'My App');
    assert.match(p.roomId, /^[0-9a-f]{24}\.[0-9a-f]{32}$/);
    assert.deepEqual(await client.addProject('app', 'My App'), p);
    await assert.rejects(client.addProject('second'), (e: any) => e.code === 'TIER_LIMIT');
    assert.deepEqual((await client.projects()).map((x) => x.id), [p.id]);
    await client.removeProject(p.id);
    assert.deepEqual(await client.projects(), []);
    await assert.rejects(client.removeProject(p.id), (e: any) => e.code === 'PROJECT_NOT_FOUND' && e.status === 404);
  });

  test('removing a device revokes it: TOKEN_REVOKED (401) afterwards', async () => {
    const a = await auth.signIn('cy@example.com', 'A');
    const b = await auth.signIn('cy@example.com', 'B');
    const ca = new AuthClient({ url: auth.url, token: a.deviceToken });
    const cb = new AuthClient({ url: auth.url, token: b.deviceToken });
    assert.equal((await ca.devices()).length, 2);
    await ca.removeDevice(b.deviceId);
    await assert.rejects(cb.me(), (e: any) => e instanceof AuthError && e.code === 'TOKEN_REVOKED' && e.status === 401);
    await assert.rejects(ca.removeDevice(b.deviceId), (e: any) => e.code === 'DEVICE_NOT_FOUND');
    await assert.rejects(new AuthClient({ url: auth.url }).me(), (e: any) => e.code === 'NOT_SIGNED_IN');
    await assert.rejects(new AuthClient({ url: auth.url, token: '1:1:1.abc' }).me(), (e: any) => e.code === 'INVALID_TOKEN' && e.status === 401);
  });

  test('waitForLink: cancellable, ends at the link expiry, retries while the server is unreachable', async () => {
    const client = new AuthClient({ url: auth.url });
    const handle = await client.login('dee@example.com', 'D', 'linux');
    const ctl = new AbortController();
    const waiting = client.waitForLink(handle, { signal: ctl.signal, intervalMs: 20, now: () => auth.clock.now });
    setTimeout(() => ctl.abort(), 100);
    await assert.rejects(waiting, (e: any) => e.code === 'CANCELLED');

    let fake = auth.clock.now;
    await assert.rejects(client.waitForLink(handle, { intervalMs: 10, now: () => (fake += 5 * 60_000) }), (e: any) => e.code === 'LINK_EXPIRED');

    const down = new AuthClient({ url: `http://127.0.0.1:${await closedPort()}`, timeoutMs: 500 });
    const errors: string[] = [];
    let t = Date.now();
    await assert.rejects(
      down.waitForLink({ ...handle, expiresAt: t + 1000 }, { intervalMs: 10, now: () => (t += 300), onTick: (i) => errors.push(i.lastError?.code ?? '') }),
      (e: any) => e.code === 'LINK_EXPIRED',
    );
    assert.ok(errors.length >= 2 && errors.every((c) => c === 'UNREACHABLE'), errors.join());
  });

  test("errors: unreachable server → UNREACHABLE; the server's error bodies keep their code and status", async () => {
    const down = new AuthClient({ url: `http://127.0.0.1:${await closedPort()}`, token: 'x' });
    await assert.rejects(down.devices(), (e: any) => e instanceof AuthError && e.code === 'UNREACHABLE' && e.status === 0 && /cannot reach/.test(e.message));
    const other = new AuthClient({ url: auth.url + '/nothing-here', token: 'x' });
    await assert.rejects(other.devices(), (e: any) => e.code === 'NOT_FOUND' && e.status === 404);
    await assert.rejects(new AuthClient({ url: auth.url }).login('not-an-email', 'x', 'y'), (e: any) => e.code === 'BAD_REQUEST' && e.status === 400);
  });
});
