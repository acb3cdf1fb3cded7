// Who may join and speak on the relay (SPEC §3, §6): project-room ownership, forged and djb2 tokens, revocation
// pulled from a real hone-auth, from/room spoofing and rooms.allowUnregistered.
// Written once for every engine: security.test.ts runs it on the single relay, test/cluster/conformance.test.ts on the
// cluster engine with 1 and 2 nodes (clients alternate between the nodes).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { issueRoomId } from '../../src/common/room-id.ts';
import { configWith } from '../../src/common/config.ts';
import { djb2 } from '../../src/common/token.ts';
import { checkRelayConfig, relayConfigSchema } from '../../src/relay/config.ts';
import { startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';
import { sleep, TEST_SECRET, token, uniqueRoom } from '../helpers/relay.ts';
import type { TestRelay } from '../helpers/relay.ts';
import type { StartRelay } from './engines.ts';

const OTHER_SECRET = 'another-secret-0123456789abcdef0123456789abcdef';
const isEnvelope = (f: any) => f && typeof f === 'object' && f.type === undefined && typeof f.from === 'string';

/** A djb2 token computed here from the SPEC §3 definition (not with the project's signer). */
function djb2Token(userId: number, deviceId: number, secret: string): string {
  const p = `${userId}:${deviceId}:${Date.now()}`;
  const h1 = djb2(`${secret}|${p}`);
  return `${p}.${djb2(`${h1}|${secret}|${p}`)}`;
}

async function refusedJoin(r: TestRelay, room: string, device: string, tok: string | null, code: string, closeCode = 1008): Promise<void> {
  const c = await r.connect();
  const ans = await c.join(room, device, tok);
  assert.equal(ans.type, 'error', `expected ${code}, got ${JSON.stringify(ans)}`);
  assert.equal(ans.code, code, JSON.stringify(ans));
  assert.equal(typeof ans.error, 'string');
  assert.equal((await c.waitClose()).code, closeCode);
}

export function securitySuite(startRelay: StartRelay, engine: string): void {
  describe(`relay security (hmac-sha256) [${engine}]`, () => {
    let r: TestRelay;
    before(async () => { r = await startRelay(); });
    after(() => r.close());

    test("a valid token of another user cannot join a user's project room", async () => {
      const roomOfA = issueRoomId(1, TEST_SECRET);
      const owner = await r.device(roomOfA, 'desktop', { userId: 1, deviceId: 1 });
      assert.equal(owner.joinedFrame.type, 'joined');
      await refusedJoin(r, roomOfA, 'intruder', token(2, 9), 'ROOM_FORBIDDEN');
      await refusedJoin(r, issueRoomId(1, OTHER_SECRET), 'desktop', token(1, 1), 'ROOM_FORBIDDEN');
      const other = await r.device(roomOfA, 'phone', { userId: 1, deviceId: 2 });
      assert.equal(other.joinedFrame.type, 'joined', 'any device of the owner may join');
      await owner.expectNone((f) => f?.device === 'intruder', 100, 'the refused device was announced');
    });

    test('missing, malformed, forged and foreign-secret tokens are INVALID_TOKEN', async () => {
      const room = uniqueRoom();
      const good = token(1, 1);
      const bad = [
        null, '', 'x', '1:1:1', `${good}0`, good.replace(/.$/, (ch) => (ch === '0' ? '1' : '0')),
        `1:1:${Date.now()}.${'f'.repeat(64)}`, `1:1:${Date.now()}.${'0'.repeat(64)}`,
        token(1, 1, { secret: OTHER_SECRET }), good.toUpperCase(), `${good} `, good.replace(/^1:/, '2:'),
      ];
      for (const t of bad) await refusedJoin(r, room, 'dev', t, 'INVALID_TOKEN');
      for (const t of [123, { token: good }, [good]]) {
        const c = await r.connect();
        c.send({ type: 'join', room, device: 'dev', token: t });
        const err = await c.next('error');
        assert.ok(['INVALID_TOKEN', 'BAD_JOIN'].includes(err.code), `a ${typeof t} token: ${JSON.stringify(err)}`);
        assert.equal((await c.waitClose()).code, 1008);
      }
    });

    test('djb2 tokens are refused when the relay uses hmac — even when made with the right secret', async () => {
      const room = uniqueRoom();
      await refusedJoin(r, room, 'dev', djb2Token(1, 1, TEST_SECRET), 'INVALID_TOKEN');
      await refusedJoin(r, room, 'dev', djb2Token(1, 1, 'guess'), 'INVALID_TOKEN');
      await refusedJoin(r, room, 'dev', token(1, 1, { algorithm: 'djb2' }), 'INVALID_TOKEN');
    });

    test('from spoofing and room mismatch are refused, the envelope is dropped, the connection stays', async () => {
      const room = uniqueRoom();
      const otherRoom = uniqueRoom();
      const a = await r.device(room, 'a');
      const b = await r.device(room, 'b');
      const o = await r.device(otherRoom, 'b');
      a.envelope('broadcast', { m: 'spoof' }, { from: 'b', msgId: 'sp-1' });
      const e1 = await a.next('error');
      assert.equal(e1.code, 'FROM_MISMATCH');
      assert.equal(e1.msgId, 'sp-1');
      a.envelope('broadcast', { m: 'cross' }, { room: otherRoom });
      assert.equal((await a.next('error')).code, 'ROOM_MISMATCH');
      a.envelope('broadcast', { m: 'nofrom' }, { from: undefined });
      a.envelope('broadcast', { m: 'ok' });
      await b.next((f) => isEnvelope(f) && f.payload.m === 'ok');
      await sleep(100);
      assert.deepEqual(b.envelopes().map((e) => e.payload.m).filter((m) => m !== 'nofrom'), ['ok'], 'spoofed envelopes were routed');
      assert.deepEqual(o.envelopes(), [], 'an envelope crossed into another room');
      assert.ok(a.isOpen);
      assert.ok(!a.frames.some((f) => f.data?.type === 'ack'), 'dropped envelopes are not acked');
    });
  });

  describe(`relay security: configuration [${engine}]`, () => {
    test('rooms.allowUnregistered=false refuses pair-… rooms; issued rooms still work', async () => {
      const r = await startRelay({ 'rooms.allowUnregistered': false });
      try {
        await refusedJoin(r, 'pair-ABC123', 'desktop-1', token(1, 1), 'ROOM_FORBIDDEN');
        await refusedJoin(r, 'ab', 'desktop-1', token(1, 1), 'ROOM_FORBIDDEN');
        const room = issueRoomId(1, TEST_SECRET);
        const c = await r.device(room, 'desktop-1');
        assert.equal(c.joinedFrame.type, 'joined');
      } finally {
        await r.close();
      }
    });

    test('token.algorithm=djb2 without auth to confirm them: djb2 tokens are refused AUTH_UNAVAILABLE, HMAC ones join; the config check asks for auth.url', async () => {
      // Confirmation with a real hone-auth runs in peers.suite.ts (both engines).
      const r = await startRelay({ 'token.algorithm': 'djb2' });
      try {
        await refusedJoin(r, 'pair-DJB', 'a', djb2Token(3, 4, TEST_SECRET), 'AUTH_UNAVAILABLE', 1013);
        await r.device('pair-DJB', 'b', { token: token(3, 5) });
        await refusedJoin(r, 'pair-DJB', 'x', djb2Token(3, 4, 'guess'), 'INVALID_TOKEN');
      } finally {
        await r.close();
      }
      assert.throws(() => checkRelayConfig(configWith(relayConfigSchema, { 'auth.secret': TEST_SECRET, 'token.algorithm': 'djb2' })), /djb2 needs auth\.url/);
    });

    test('auth.previousSecret: tokens of the old secret are still accepted', async () => {
      const r = await startRelay({ 'auth.secret': OTHER_SECRET, 'auth.previousSecret': TEST_SECRET });
      try {
        await r.device('pair-ROT', 'old', { token: token(1, 1) });
        await r.device('pair-ROT', 'new', { token: token(1, 2, { secret: OTHER_SECRET }) });
        await refusedJoin(r, 'pair-ROT', 'x', token(1, 3, { secret: 'third-secret-0123456789abcdef' }), 'INVALID_TOKEN');
      } finally {
        await r.close();
      }
    });

    test('dev=true with a secret set still checks tokens', async () => {
      const r = await startRelay({ dev: true });
      try {
        await refusedJoin(r, 'pair-DEV', 'x', null, 'INVALID_TOKEN');
        await r.device('pair-DEV', 'ok');
      } finally {
        await r.close();
      }
    });
  });

  describe(`relay revocation with auth unreachable [${engine}]`, () => {
    test('keeps serving with what it knows', async () => {
      const { createServer } = await import('node:net');
      const srv = createServer();
      await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
      const port = (srv.address() as { port: number }).port;
      await new Promise<void>((res) => srv.close(() => res()));
      const r = await startRelay({ 'auth.url': `http://127.0.0.1:${port}` });
      try {
        await r.pullRevocations(); // a pull that fails
        const a = await r.device('pair-NOAUTH', 'a');
        const b = await r.device('pair-NOAUTH', 'b');
        a.envelope('b', { m: 1 });
        await b.next(isEnvelope);
        const h = await r.health();
        assert.equal(h.status, 200);
      } finally {
        await r.close();
      }
    });
  });

  describe(`relay revocation from a real hone-auth [${engine}]`, () => {
    let auth: TestAuth;
    let r: TestRelay;
    before(async () => {
      auth = await startAuth('sqlite');
      r = await startRelay({ 'auth.url': auth.url });
    });
    after(async () => {
      await r.close();
      await auth.close();
    });

    test('removing a device closes its relay connection within 2 s (TOKEN_REVOKED) and refuses it afterwards', async () => {
      const d1 = await auth.signIn('revoke@example.com', 'Desktop');
      const d2 = await auth.signIn('revoke@example.com', 'Phone');
      assert.equal(d1.userId, d2.userId);
      const room = uniqueRoom();
      const desktop = await r.device(room, 'desktop', { token: d1.deviceToken });
      const phone = await r.device(room, 'phone', { token: d2.deviceToken });
      await r.pullRevocations(); // the relay has polled at least once with both devices live

      const del = await auth.json(`/auth/device/${d2.deviceId}`, { method: 'DELETE', token: d1.deviceToken });
      assert.equal(del.status, 200, JSON.stringify(del.body));
      const t0 = Date.now();
      const err = await phone.next('error', 2500);
      assert.equal(err.code, 'TOKEN_REVOKED', JSON.stringify(err));
      const closed = await phone.waitClose(2500);
      const ms = Date.now() - t0;
      assert.ok(ms <= 2000, `closed after ${ms} ms`);
      assert.equal(closed.code, 1008);

      await refusedJoin(r, room, 'phone', d2.deviceToken, 'TOKEN_REVOKED');
      await refusedJoin(r, uniqueRoom(), 'phone-again', d2.deviceToken, 'TOKEN_REVOKED');

      desktop.envelope('broadcast', { still: 'works' });
      desktop.send({ type: 'ping' });
      await desktop.next('pong');
      assert.ok(desktop.isOpen, 'other devices of the user keep their connection');
      await desktop.next((f) => f?.type === 'presence' && f.device === 'phone' && f.state === 'left');
    });

    test('a relay started after the removal refuses the token too (revocations are pulled from the beginning)', async () => {
      const d1 = await auth.signIn('revoke2@example.com', 'Desktop');
      const d2 = await auth.signIn('revoke2@example.com', 'Tablet');
      const del = await auth.json(`/auth/device/${d2.deviceId}`, { method: 'DELETE', token: d1.deviceToken });
      assert.equal(del.status, 200);
      const r2 = await startRelay({ 'auth.url': auth.url });
      try {
        await r2.pullRevocations();
        await refusedJoin(r2, uniqueRoom(), 'tablet', d2.deviceToken, 'TOKEN_REVOKED');
        await r2.device(uniqueRoom(), 'desktop', { token: d1.deviceToken });
      } finally {
        await r2.close();
      }
    });
  });
}
