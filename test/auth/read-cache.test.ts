// hone-auth's SQLite read cache stays coherent: changes made by another connection to the same file (hone-auth admin,
// a second instance, the sqlite3 shell) and this process's own writes are seen on the very next request.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { adminSetTier } from '../../src/auth/admin.ts';
import { migrate, openDatabase } from '../../src/auth/db/database.ts';
import type { AuthDb } from '../../src/auth/db/database.ts';
import { cachedDevice, createDevice, removeDevice } from '../../src/auth/store/devices.ts';
import { checkCache, checkOwnWrites, createReadCache } from '../../src/auth/store/read-cache.ts';
import { setTier } from '../../src/auth/store/users.ts';
import { freshDb } from '../helpers/db.ts';
import type { TestDb } from '../helpers/db.ts';
import { startAuth, TEST_SECRET } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('hone-auth read cache (SQLite): changes by other connections are seen at once', () => {
  let db: TestDb;
  let a: TestAuth;
  let other: AuthDb;
  before(async () => {
    db = await freshDb('sqlite');
    a = await startAuth('sqlite', {}, { db });
    other = openDatabase(a.config); // a second connection to the same file, as `hone-auth admin` opens
  });
  after(async () => {
    await other.close();
    await a.close();
    await db.drop();
  });

  test('a device removed by another connection is refused on the very next request', async () => {
    const desk = await a.signIn('coherent@example.com', 'Desk');
    const phone = await a.signIn('coherent@example.com', 'Phone');
    for (let i = 0; i < 3; i++) {
      assert.equal((await a.json('/auth/devices', { token: phone.deviceToken })).status, 200);
      assert.equal((await a.json('/auth/devices', { token: desk.deviceToken })).body.devices.length, 2);
    }
    assert.ok(await removeDevice(other.db, phone.userId, phone.deviceId, a.clock.now));
    const refused = await a.json('/auth/devices', { token: phone.deviceToken });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'TOKEN_REVOKED');
    assert.equal((await a.json('/auth/device', { token: phone.deviceToken })).status, 401);
    assert.deepEqual((await a.json('/auth/devices', { token: desk.deviceToken })).body.devices.map((d: any) => d.deviceName), ['Desk']);
  });

  test('the sqlite3 shell deleting a row, a device added elsewhere, admin set-tier: all seen at once', async () => {
    const s = await a.signIn('shell@example.com', 'Desk');
    assert.equal((await a.json('/auth/devices', { token: s.deviceToken })).body.devices.length, 1);
    const added = await createDevice(other.db, { secret: TEST_SECRET, algorithm: 'hmac-sha256' }, { userId: s.userId, deviceName: 'Tablet', platform: 'android', now: a.clock.now });
    assert.deepEqual((await a.json('/auth/devices', { token: s.deviceToken })).body.devices.map((d: any) => d.deviceName), ['Desk', 'Tablet']);
    assert.equal((await a.json('/auth/device', { token: added.deviceToken })).status, 200);

    const shell = new DatabaseSync(a.config['sqlite.path']);
    try {
      shell.prepare('DELETE FROM devices WHERE id = ?').run(added.deviceId);
    } finally {
      shell.close();
    }
    assert.equal((await a.json('/auth/device', { token: added.deviceToken })).body.error.code, 'TOKEN_REVOKED');
    assert.equal((await a.json('/auth/devices', { token: s.deviceToken })).body.devices.length, 1);

    assert.equal((await a.json('/auth/subscription', { token: s.deviceToken })).body.tier, 'free');
    await adminSetTier(other, ['shell@example.com', 'pro'], undefined, a.clock.now);
    assert.equal((await a.json('/auth/subscription', { token: s.deviceToken })).body.tier, 'pro');
    const project = await a.json('/auth/project', { method: 'POST', token: s.deviceToken, headers: JSON_HEADERS, body: JSON.stringify({ projectKey: 'k' }) });
    assert.equal(project.status, 200);
  });

  test('a device removed through a second hone-auth instance on the same file is refused by the first at once', async () => {
    const b = await startAuth('sqlite', {}, { db });
    try {
      const desk = await a.signIn('two@example.com', 'Desk');
      const phone = await a.signIn('two@example.com', 'Phone');
      assert.equal((await a.json('/auth/device', { token: phone.deviceToken })).status, 200);
      assert.equal((await b.json(`/auth/device/${phone.deviceId}`, { method: 'DELETE', token: desk.deviceToken })).status, 200);
      assert.equal((await a.json('/auth/device', { token: phone.deviceToken })).body.error.code, 'TOKEN_REVOKED');
    } finally {
      await b.close();
    }
  });
});

describe('hone-auth read cache (SQLite): this process\'s own writes are seen at once', () => {
  let a: TestAuth;
  before(async () => {
    a = await startAuth('sqlite');
  });
  after(() => a.close());

  test('lastSeen, removal, a new device through login, projects and tiers', async () => {
    const desk = await a.signIn('own@example.com', 'Desk');
    const phone = await a.signIn('own@example.com', 'Phone');
    const list = async (token: string) => (await a.json('/auth/devices', { token })).body.devices as any[];
    const t0 = new Date(a.clock.now).toISOString();
    assert.deepEqual((await list(phone.deviceToken)).map((d) => d.lastSeen), [t0, t0]);
    await list(desk.deviceToken);

    // lastSeen: desk's write shows in phone's (cached) answer.
    a.clock.advance(61_000);
    const t1 = new Date(a.clock.now).toISOString();
    assert.equal((await a.json('/auth/device', { token: desk.deviceToken })).body.device.lastSeen, t1);
    assert.deepEqual((await list(phone.deviceToken)).map((d) => d.lastSeen), [t1, t1]);

    // A new device through the magic link.
    const laptop = await a.signIn('own@example.com', 'Laptop');
    assert.deepEqual((await list(desk.deviceToken)).map((d) => d.deviceName), ['Desk', 'Phone', 'Laptop']);

    // Removal through the API.
    assert.equal((await a.json(`/auth/device/${phone.deviceId}`, { method: 'DELETE', token: laptop.deviceToken })).status, 200);
    assert.equal((await a.json('/auth/devices', { token: phone.deviceToken })).body.error.code, 'TOKEN_REVOKED');
    assert.deepEqual((await list(desk.deviceToken)).map((d) => d.deviceName), ['Desk', 'Laptop']);

    // Tier and projects: a re-registration after a removal is a new record, not the cached one.
    assert.equal((await a.json('/auth/subscription', { token: desk.deviceToken })).body.tier, 'free');
    await setTier(a.adb.db, 'own@example.com', 'pro', null, a.clock.now);
    assert.equal((await a.json('/auth/subscription', { token: desk.deviceToken })).body.tier, 'pro');
    const post = () => a.json('/auth/project', { method: 'POST', token: desk.deviceToken, headers: JSON_HEADERS, body: JSON.stringify({ projectKey: 'p' }) });
    const first = (await post()).body.project;
    assert.deepEqual((await post()).body.project, first);
    assert.equal((await a.json(`/auth/project/${first.id}`, { method: 'DELETE', token: desk.deviceToken })).status, 200);
    const second = (await post()).body.project;
    assert.notEqual(second.id, first.id);
    await setTier(a.adb.db, 'own@example.com', 'free', null, a.clock.now);
    assert.equal((await a.json('/auth/subscription', { token: desk.deviceToken })).body.tier, 'free');
  });
});

test('read cache mechanics: reads once, drops on any commit or own write, stays out of open transactions', async () => {
  const db = await freshDb('sqlite');
  const adb = openDatabase({ ...db.config, 'db.poolSize': 1 });
  const other = openDatabase({ ...db.config, 'db.poolSize': 1 });
  try {
    await migrate(adb);
    const c = createReadCache(adb.sqlite!);
    const keys = { secret: TEST_SECRET, algorithm: 'hmac-sha256' as const };
    const userId = await setTier(adb.db, 'mechanics@example.com', 'free', null, Date.now());
    const { deviceId } = await createDevice(adb.db, keys, { userId, deviceName: 'A', platform: 'linux', now: Date.now() });

    assert.ok(checkCache(c));
    const row = cachedDevice(c, adb.db, deviceId);
    assert.equal(row?.deviceName, 'A');
    assert.ok(checkCache(c));
    assert.equal(cachedDevice(c, adb.db, deviceId), row, 'served from the cache while nothing changed');

    await other.db.updateTable('devices').set({ deviceName: 'B' }).where('id', '=', deviceId).execute();
    assert.ok(checkCache(c));
    assert.equal(cachedDevice(c, adb.db, deviceId)?.deviceName, 'B', 'another connection\'s commit drops the cache');

    await adb.db.updateTable('devices').set({ deviceName: 'C' }).where('id', '=', deviceId).execute();
    assert.ok(checkOwnWrites(c));
    assert.equal(cachedDevice(c, adb.db, deviceId)?.deviceName, 'C', 'a write on this connection drops the cache');

    await adb.db.transaction().execute(async (trx) => {
      await trx.updateTable('devices').set({ deviceName: 'D' }).where('id', '=', deviceId).execute();
      assert.equal(checkCache(c), false, 'no cached reads while a transaction is open');
      throw new Error('roll back');
    }).catch((err: Error) => assert.equal(err.message, 'roll back'));
    assert.ok(checkCache(c));
    assert.equal(cachedDevice(c, adb.db, deviceId)?.deviceName, 'C', 'the rolled-back write was never cached');

    await removeDevice(other.db, userId, deviceId, Date.now());
    assert.ok(checkCache(c));
    assert.equal(cachedDevice(c, adb.db, deviceId), null);
  } finally {
    await other.close();
    await adb.close();
    await db.drop();
  }
});
