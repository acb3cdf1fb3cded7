// MariaDB lost while hone-auth runs: 503 on the requests that need it, health says so, and service
// resumes by itself when the database is back — no restart, nothing lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAuth } from '../helpers/auth.ts';
import { MYSQL } from '../helpers/db.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

test('database outage → 503, then recovery without a restart', async () => {
  const proxy = await startTcpProxy(MYSQL.host, MYSQL.port);
  const a = await startAuth('mysql', { 'db.port': proxy.port });
  try {
    const s = await a.signIn('outage@example.com');
    assert.equal((await a.json('/auth/devices', { token: s.deviceToken })).status, 200);

    await proxy.cut();
    const down = await a.json('/auth/devices', { token: s.deviceToken });
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.equal(down.body.error.code, 'DATABASE_UNAVAILABLE');
    assert.ok(down.headers.get('retry-after'));
    const health = await a.json('/health');
    assert.equal(health.status, 503);
    assert.equal(health.body.database.ok, false);
    const login = await a.json('/auth/login?email=during@example.com');
    assert.equal(login.status, 503);

    await proxy.restore();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await a.json('/auth/devices', { token: s.deviceToken })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 200, 'service resumes once the database is back');
    assert.equal((await a.json('/health')).status, 200);
    const again = await a.signIn('outage@example.com', 'Second');
    assert.equal(again.userId, s.userId, 'nothing was lost');
  } finally {
    await a.close();
    await proxy.close();
  }
});
