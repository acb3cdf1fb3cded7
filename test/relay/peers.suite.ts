// SPEC §6.1 on the relay, written once and run against every engine (peers.test.ts: single relay; test/cluster:
// cluster with 1 and 2 nodes): typed envelopes, label and room ownership, quotas, paged catch-up, epoch, djb2
// tokens confirmed with a real hone-auth, removed projects' rooms. Clients of one test spread over the nodes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hmacHex, sha256Hex, signToken } from '../../src/common/token.ts';
import { startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';
import { RelayClient, TEST_SECRET, token, uniqueRoom } from '../helpers/relay.ts';
import type { EngineCase, Relays } from './engines.ts';

/** Joins `room` as `label` on node `n` with user `u`'s token; the answer frame (joined or error). */
async function attempt(r: Relays, n: number, room: string, label: string, u: number, extra: Record<string, unknown> = {}, tok?: string) {
  const c = await r.node(n).connect();
  const answer = await c.join(room, label, tok ?? token(u, u * 10 + n), { extra });
  return { c, answer };
}

/** Tries a join (attempt i) until it is let in, as a close is processed a moment later (in Redis for a cluster). */
async function joinsEventually(tryJoin: (i: number) => Promise<{ type: string }>): Promise<boolean> {
  for (let i = 0; i < 60; i++) {
    if ((await tryJoin(i)).type === 'joined') return true;
    await new Promise((res) => setTimeout(res, 50));
  }
  return false;
}

/** The envelopes a client has received, by payload. */
const payloads = (c: RelayClient) => c.envelopes().map((e) => e.payload);

/** Sends `n` envelopes of `size` bytes each and waits for their acks. */
async function flood(c: RelayClient, n: number, size: number, tag = 'm'): Promise<number> {
  let last = 0;
  for (let i = 0; i < n; i++) {
    c.envelope('broadcast', `${tag}${i}:${'x'.repeat(size)}`, { msgId: `${tag}-${i}` });
    last = (await c.next((f) => f?.type === 'ack' && f.msgId === `${tag}-${i}`, 5000)).seq;
  }
  return last;
}

/** Every deltas frame of one catch-up (until one without "more"). */
async function pages(c: RelayClient): Promise<any[]> {
  const out: any[] = [];
  for (;;) {
    const p = await c.next('deltas', 5000);
    out.push(p);
    if (p.more !== true) return out;
  }
}

export function peersSuite(engine: EngineCase): void {
  describe(`SPEC §6.1 on the ${engine.name}`, () => {
    let r: Relays;
    before(async () => {
      r = await engine.start({ 'rooms.unregistered.shared': false });
    });
    after(() => r.close());

    test('typed envelopes are refused BAD_ENVELOPE (with the msgId) and never forwarded; the sender stays', async () => {
      const room = uniqueRoom();
      const a = await r.node(0).device(room, 'a', { userId: 1, deviceId: 1 });
      const b = await r.node(1).device(room, 'b', { userId: 1, deviceId: 2 });
      for (const type of ['deltas', 'host', 'error', 'presence', 'joined', 'ack', 'pong', 'TOKEN_REVOKED', 7, null]) {
        a.envelope('broadcast', { forged: true }, { type, msgId: `t-${String(type)}`, seq: 9007199254740990 });
        const err = await a.next('error');
        assert.equal(err.code, 'BAD_ENVELOPE', JSON.stringify(type));
        assert.equal(err.msgId, `t-${String(type)}`);
      }
      a.envelope('broadcast', 'honest', { msgId: 'h' });
      await a.next('ack');
      await b.next((f) => f?.payload === 'honest');
      assert.deepEqual(payloads(b), ['honest'], 'only the honest envelope reached the peer');
      assert.ok(a.isOpen && b.isOpen);
    });

    test('a label is its holder\'s: another account gets LABEL_TAKEN (1008), the holder is not replaced', async () => {
      const shared = await engine.start({ 'rooms.unregistered.shared': true });
      try {
        const room = uniqueRoom();
        const victim = await shared.node(0).device(room, 'laptop', { userId: 1, deviceId: 1 });
        const peer = await shared.node(0).device(room, 'phone', { userId: 1, deviceId: 2 });
        const { c: intruder, answer } = await attempt(shared, 1, room, 'laptop', 2);
        assert.equal(answer.code, 'LABEL_TAKEN');
        assert.equal((await intruder.waitClose()).code, 1008);
        assert.equal(intruder.seen('deltas'), undefined, 'no catch-up for a refused join');
        peer.envelope('laptop', 'still yours', { msgId: 'p1' });
        await victim.next((f) => f?.payload === 'still yours');
        assert.ok(victim.isOpen, 'the holder was not replaced');
        // The same account may take its own label over (a reconnect), as before.
        const again = await shared.node(1).device(room, 'laptop', { userId: 1, deviceId: 1 });
        assert.equal((await victim.waitClose()).code, 4001);
        assert.ok(again.isOpen);
        // With rooms.unregistered.shared=true another account may join with a label of its own.
        await shared.node(1).device(room, 'guest', { userId: 2, deviceId: 3 });
      } finally {
        await shared.close();
      }
    });

    test('two accounts joining one label at once: one holds it, the other gets LABEL_TAKEN, the holder is not replaced', async () => {
      const shared = await engine.start({ 'rooms.unregistered.shared': true });
      try {
        const room = uniqueRoom();
        const [a, b] = await Promise.all([shared.node(0).connect(), shared.node(0).connect()]);
        const answers = await Promise.all([a.join(room, 'laptop', token(1, 1)), b.join(room, 'laptop', token(2, 2))]);
        assert.deepEqual(answers.map((f) => f.type === 'joined' ? 'joined' : f.code).sort(), ['LABEL_TAKEN', 'joined'], JSON.stringify(answers));
        const holder = answers[0].type === 'joined' ? a : b;
        const peer = await shared.node(0).device(room, 'phone', { userId: holder === a ? 1 : 2, deviceId: 9 });
        peer.envelope('laptop', 'still yours', { msgId: 'p1' });
        await holder.next((f) => f?.payload === 'still yours');
        assert.ok(holder.isOpen, 'the holder was not replaced');
      } finally {
        await shared.close();
      }
    });

    test('an unregistered room is its first account\'s while it has members or buffered envelopes: ROOM_FORBIDDEN, no catch-up', async () => {
      const room = uniqueRoom();
      const owner = await r.node(0).device(room, 'a', { userId: 5, deviceId: 1 });
      owner.envelope('broadcast', 'secret', { msgId: 's1' });
      await owner.next('ack');
      const { c: other, answer } = await attempt(r, 1, room, 'b', 6, { lastSeq: 0 });
      assert.equal(answer.code, 'ROOM_FORBIDDEN');
      assert.equal((await other.waitClose()).code, 1008);
      assert.equal(other.seen('deltas'), undefined);
      await owner.closeAndWait();
      // No members, but the envelope is still buffered: still the owner's.
      const { answer: later } = await attempt(r, 0, room, 'b', 6, { lastSeq: 0 });
      assert.equal(later.code, 'ROOM_FORBIDDEN');
      // The owner's other devices are welcome.
      const own = await r.node(1).device(room, 'c', { userId: 5, deviceId: 2, lastSeq: 0 });
      assert.deepEqual((await own.next('deltas')).deltas.map((d: any) => JSON.parse(d.payload).payload), ['secret']);
    });

    test('an unregistered room left without a buffer can be taken by another account', async () => {
      const room = uniqueRoom();
      const first = await r.node(0).device(room, 'a', { userId: 7, deviceId: 1 });
      await first.closeAndWait();
      assert.ok(await joinsEventually(async () => (await attempt(r, 1, room, 'b', 8)).answer));
    });

    test('limits.room.bufferBytes: the oldest envelopes leave first and a catch-up that needed them says complete:false', async () => {
      const small = await engine.start({ 'limits.room.bufferBytes': 65536 });
      try {
        const room = uniqueRoom();
        const a = await small.node(0).device(room, 'a');
        const last = await flood(a, 40, 4000);
        const b = await small.node(1).device(room, 'b', { deviceId: 2, lastSeq: 0 });
        const all = await pages(b);
        const seqs = all.flatMap((p) => p.deltas.map((d: any) => d.seq));
        assert.equal(all[0].complete, false);
        assert.ok(seqs[0] > 1, 'the oldest left');
        assert.equal(seqs[seqs.length - 1], last, 'the newest stayed');
        const bytes = all.flatMap((p) => p.deltas).reduce((n: number, d: any) => n + d.payload.length, 0);
        assert.ok(bytes <= 65536 + 4200, `${bytes} bytes buffered`);
        const c = await small.node(0).device(room, 'c', { deviceId: 3, lastSeq: last - 2 });
        const tail = await c.next('deltas');
        assert.equal(tail.complete, true);
        assert.deepEqual(tail.deltas.map((d: any) => d.seq), [last - 1, last]);
      } finally {
        await small.close();
      }
    });

    test('limits.user.connections: across the relay (cluster: every node), TOO_MANY_CONNECTIONS 1013; a closed one frees a place', async () => {
      const capped = await engine.start({ 'limits.user.connections': 3 });
      try {
        const open: RelayClient[] = [];
        for (let i = 0; i < 3; i++) open.push(await capped.node(i).device(uniqueRoom(), `d${i}`, { userId: 11, deviceId: i + 1 }));
        const { c, answer } = await attempt(capped, 3, uniqueRoom(), 'd3', 11);
        assert.equal(answer.code, 'TOO_MANY_CONNECTIONS');
        assert.equal((await c.waitClose()).code, 1013);
        await capped.node(0).device(uniqueRoom(), 'other', { userId: 12, deviceId: 1 });
        await open[0].closeAndWait();
        assert.ok(await joinsEventually(async (i) => (await attempt(capped, i, uniqueRoom(), 'again', 11)).answer), 'a place was freed');
      } finally {
        await capped.close();
      }
    });

    test('limits.ip.connections: open connections per address, IPv6 per /64, refused with an error frame and 1013', async () => {
      const capped = await engine.start({ 'limits.ip.connections': 2, trustProxy: true });
      try {
        const from = (n: number, ip: string) => capped.node(n).connect({ headers: { 'x-forwarded-for': ip } });
        const held = [await from(0, '2001:db8:1:2::1'), await from(1, '2001:db8:1:2:ffff::9')];
        const third = await from(0, '2001:db8:1:2::abcd');
        const err = await third.next('error');
        assert.equal(err.code, 'TOO_MANY_CONNECTIONS');
        assert.equal((await third.waitClose()).code, 1013);
        // Another /64, and IPv4, are counted apart.
        const other = await from(1, '2001:db8:1:3::1');
        assert.equal(await other.join(uniqueRoom(), 'x', token(3, 3)).then((a) => a.type), 'joined');
        const v4 = await from(0, '203.0.113.9');
        assert.equal(await v4.join(uniqueRoom(), 'y', token(3, 4)).then((a) => a.type), 'joined');
        for (const c of held) await c.closeAndWait();
        assert.ok(await joinsEventually(async (i) => (await from(i, '2001:db8:1:2::5')).join(uniqueRoom(), 'z', token(3, 5))), 'closing frees the address\'s places');
      } finally {
        await capped.close();
      }
    });

    test('catch-up in pages of catchup.pageBytes: in order, each under the page size plus one envelope, "more" on all but the last', async () => {
      const paged = await engine.start({ 'catchup.pageBytes': 4096 });
      try {
        const room = uniqueRoom();
        const a = await paged.node(0).device(room, 'a');
        const last = await flood(a, 30, 1000);
        const b = await paged.node(1).device(room, 'b', { deviceId: 2, lastSeq: 0 });
        const all = await pages(b);
        assert.ok(all.length >= 7, `${all.length} pages`);
        assert.ok(all.slice(0, -1).every((p) => p.more === true));
        assert.equal(all[all.length - 1].more, undefined);
        assert.ok(all.every((p) => p.complete === true));
        const seqs = all.flatMap((p) => p.deltas.map((d: any) => d.seq));
        assert.deepEqual(seqs, Array.from({ length: last }, (_, i) => i + 1));
        for (const p of all) {
          const bytes = p.deltas.reduce((n: number, d: any) => n + d.payload.length, 0);
          assert.ok(bytes <= 4096 + 1200, `page of ${bytes} bytes`);
        }
        // Live traffic after the catch-up is neither lost nor sent twice.
        a.envelope('broadcast', 'live', { msgId: 'live' });
        await b.next((f) => f?.payload === 'live');
        assert.equal(payloads(b).filter((p) => p === 'live').length, 1);
      } finally {
        await paged.close();
      }
    });

    test('epoch: joined carries it, the same for every join and across a restart; another epoch gets catch-up from the start, incomplete', async () => {
      const room = uniqueRoom();
      const a = await r.node(0).device(room, 'a', { userId: 20, deviceId: 1 });
      const epoch = a.joinedFrame.epoch;
      assert.match(epoch, /^[0-9a-f]{16}$/);
      const last = await flood(a, 3, 10, 'e');
      const b = await r.node(1).device(room, 'b', { userId: 20, deviceId: 2, lastSeq: last, extra: { epoch } });
      assert.equal(b.joinedFrame.epoch, epoch);
      assert.deepEqual((await b.next('deltas')).deltas, []);
      const c = await r.node(0).device(room, 'c', { userId: 20, deviceId: 3, lastSeq: last, extra: { epoch: 'an-old-epoch' } });
      const d = await c.next('deltas');
      assert.equal(d.complete, false);
      assert.deepEqual(d.deltas.map((x: any) => x.seq), [1, 2, 3]);
      const { c: bad, answer } = await attempt(r, 0, uniqueRoom(), 'x', 20, { epoch: 7 });
      assert.equal(answer.code, 'BAD_JOIN');
      assert.equal((await bad.waitClose()).code, 1008);
    });

    test('epoch kept across a restart while the buffer survives', async () => {
      const own = await engine.start();
      let again: Relays | null = null;
      try {
        const room = uniqueRoom();
        const a = await own.node(0).device(room, 'a');
        const epoch = a.joinedFrame.epoch;
        const last = await flood(a, 2, 10, 'r');
        again = await own.restart();
        const b = await again.node(1).device(room, 'b', { deviceId: 2, lastSeq: 0, extra: { epoch } });
        assert.equal(b.joinedFrame.epoch, epoch);
        assert.equal(b.joinedFrame.seq, last);
        const d = await b.next('deltas');
        assert.equal(d.complete, true);
        assert.equal(d.deltas.length, 2);
      } finally {
        await (again ?? own).close();
      }
    });

    test('a fresh buffer (another database, a flushed Redis) is a new epoch', async () => {
      const one = await engine.start();
      const two = await engine.start();
      try {
        const room = uniqueRoom();
        const a = await one.node(0).device(room, 'a');
        const b = await two.node(0).device(room, 'a');
        assert.notEqual(a.joinedFrame.epoch, b.joinedFrame.epoch);
      } finally {
        await one.close();
        await two.close();
      }
    });
  });

  describe(`SPEC §6.1 with a real hone-auth on the ${engine.name}`, () => {
    let auth: TestAuth;
    let r: Relays;
    before(async () => {
      auth = await startAuth('sqlite', { 'token.algorithm': 'djb2', 'tiers.default': 'pro' });
      r = await engine.start({ 'token.algorithm': 'djb2', 'auth.url': auth.url });
    });
    after(async () => {
      await r.close();
      await auth.close();
    });

    test('djb2 tokens are confirmed with auth: an issued one joins, a forged one with a matching hash is refused', async () => {
      const me = await auth.signIn('djb2@example.com');
      assert.match(me.deviceToken, /\.\d+$/, 'auth issued a djb2 token');
      const room = uniqueRoom();
      await r.node(0).device(room, 'mine', { token: me.deviceToken });
      // A token signed with the secret for a device auth never issued: the hash matches, auth says no.
      const forged = signToken({ userId: me.userId + 1, deviceId: me.deviceId + 100, issuedAt: 1 }, { secret: TEST_SECRET, algorithm: 'djb2' });
      const { c, answer } = await attempt(r, 1, uniqueRoom(), 'x', 0, {}, forged);
      assert.equal(answer.code, 'INVALID_TOKEN');
      assert.equal((await c.waitClose()).code, 1008);
      // HMAC tokens need no confirmation.
      await r.node(1).device(uniqueRoom(), 'h', { userId: me.userId, deviceId: me.deviceId });
    });

    test('the token endpoint answers only signed requests and refuses hostile bodies with 4xx', async () => {
      const me = await auth.signIn('endpoint@example.com');
      const sign = async (t: string) => `Hone-Relay ${hmacHex(TEST_SECRET, `token|${sha256Hex(t)}`)}`;
      const ask = async (body: unknown, authorization?: string) => auth.json('/auth/relay/token', {
        method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: JSON.stringify(body),
      });
      assert.deepEqual((await ask({ token: me.deviceToken }, await sign(me.deviceToken))).body, { ok: true, valid: true });
      assert.equal((await ask({ token: me.deviceToken })).status, 401);
      assert.equal((await ask({ token: me.deviceToken }, `Hone-Relay ${'0'.repeat(64)}`)).status, 401);
      // A MAC of another token does not confirm this one (no replay across tokens).
      assert.equal((await ask({ token: me.deviceToken }, await sign('1:1:1.5'))).status, 401);
      for (const body of [{}, { token: 5 }, { token: 'x'.repeat(129) }, { token: 'a', extra: 1 }, [1], 'x']) {
        const res = await ask(body, await sign(String((body as any)?.token ?? '')));
        assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(body)}: ${res.status}`);
      }
      assert.deepEqual((await ask({ token: '1:1:1.123' }, await sign('1:1:1.123'))).body, { ok: true, valid: false });
    });

    test('a removed project\'s room refuses joins and closes its connections once the relay pulled revocations', async () => {
      const me = await auth.signIn('projects@example.com');
      const created = await auth.json('/auth/project', {
        method: 'POST', token: me.deviceToken, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ projectKey: 'p1' }),
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const room = created.body.project.roomId;
      const live = await r.node(0).device(room, 'ide', { token: me.deviceToken });
      assert.equal((await auth.json(`/auth/project/${created.body.project.id}`, { method: 'DELETE', token: me.deviceToken })).status, 200);
      await r.node(0).pullRevocations();
      const err = await live.next('error');
      assert.equal(err.code, 'ROOM_FORBIDDEN');
      assert.equal((await live.waitClose()).code, 1008);
      // Refused on every node, also one that has not pulled yet (cluster: the shared revocation set).
      for (let n = 0; n < r.nodes.length; n++) {
        const { c, answer } = await attempt(r, n, room, `ide${n}`, 0, {}, me.deviceToken);
        assert.equal(answer.code, 'ROOM_FORBIDDEN');
        assert.equal((await c.waitClose()).code, 1008);
      }
      // The user's other rooms are not affected.
      await r.node(0).device(uniqueRoom(), 'other', { token: me.deviceToken });
    });

    test('auth unreachable: an unconfirmed djb2 token is refused AUTH_UNAVAILABLE (1013), a confirmed one still joins', async () => {
      const me = await auth.signIn('outage@example.com');
      await r.node(0).device(uniqueRoom(), 'a', { token: me.deviceToken });
      const down = await engine.start({ 'token.algorithm': 'djb2', 'auth.url': 'http://127.0.0.1:9' });
      try {
        const { c, answer } = await attempt(down, 0, uniqueRoom(), 'x', 0, {}, me.deviceToken);
        assert.equal(answer.code, 'AUTH_UNAVAILABLE');
        assert.equal((await c.waitClose()).code, 1013);
      } finally {
        await down.close();
      }
      // The first relay confirmed it once and keeps the answer.
      await r.node(0).device(uniqueRoom(), 'b', { token: me.deviceToken });
    });
  });
}
