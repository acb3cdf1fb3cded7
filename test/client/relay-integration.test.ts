// RelayClient against a real hone-relay and hone-auth: two devices exchange messages through a project room,
// outbox flush and catch-up across a relay restart, resume from a stored lastSeq, revocation and forbidden rooms, and a
// same-user device that forges relay frames inside its envelopes (SPEC §6.1).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthClient } from '../../src/client/auth-client.ts';
import { RelayClient } from '../../src/client/relay-client.ts';
import type { RelayClientOptions, RelayMessage } from '../../src/client/relay-client.ts';
import { memorySeqStore } from '../../src/client/seq-store.ts';
import { startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';
import { RelayClient as RawClient, sleep, startRelay } from '../helpers/relay.ts';
import { until } from '../helpers/wait.ts';
import type { TestRelay } from '../helpers/relay.ts';

/** Waits for `cond` (up to `ms`), failing the test with what it waited for. */
const waitFor = async (what: string, cond: () => boolean, ms = 5000) => {
  if (!(await until(cond, ms, 10))) throw new Error(`timed out waiting for ${what}`);
};

describe('RelayClient against hone-relay + hone-auth', () => {
  let auth: TestAuth;
  let relay: TestRelay;
  let desk: { deviceToken: string; deviceId: number };
  let phone: { deviceToken: string; deviceId: number };
  let roomId: string;
  const clients: RelayClient[] = [];

  const client = (device: string, token: string, extra: Partial<RelayClientOptions> = {}) => {
    const c = new RelayClient({ url: relay.wsUrl, room: roomId, device, token, backoff: { baseMs: 50, maxMs: 400 }, ...extra });
    const got: RelayMessage[] = [];
    c.on('message', (m) => got.push(m));
    clients.push(c);
    return Object.assign(c, { got });
  };

  before(async () => {
    auth = await startAuth('sqlite', { 'tiers.default': 'pro' });
    relay = await startRelay({ 'auth.url': auth.url });
    desk = await auth.signIn('ann@example.com', 'desk');
    phone = await auth.signIn('ann@example.com', 'phone');
    roomId = (await new AuthClient({ url: auth.url, token: desk.deviceToken }).addProject('notes')).roomId;
  });
  after(async () => {
    for (const c of clients) c.close();
    await relay.close();
    await auth.close();
  });

  test('two devices exchange broadcast, host and direct messages; acks empty the outbox', async () => {
    const a = client('desk', desk.deviceToken);
    const b = client('phone', phone.deviceToken);
    await a.start();
    await a.ready(3000);
    await b.start();
    await b.ready(3000);
    assert.equal(a.isHost, true);
    const presence: string[] = [];
    a.on('presence', (p) => presence.push(`${p.device}:${p.state}`));

    a.send('broadcast', 'hello phone');
    a.send('phone', { direct: true });
    b.send('host', 'to the host');
    await a.drain(3000);
    await b.drain(3000);
    await waitFor('phone gets 2', () => b.got.length === 2);
    await waitFor('desk gets 1', () => a.got.length === 1);
    assert.deepEqual(b.got.map((m) => [m.from, m.to, m.payload]), [['desk', 'broadcast', 'hello phone'], ['desk', 'phone', { direct: true }]]);
    assert.deepEqual(a.got.map((m) => [m.from, m.to, m.payload]), [['phone', 'host', 'to the host']]);
    assert.ok(b.got[0].seq < b.got[1].seq);
    assert.equal(a.got[0].room, roomId);
    b.close();
    await waitFor('presence left', () => presence.includes('phone:left'));
    a.close();
  });

  test('relay restart: messages queued while it is down are flushed on reconnect and caught up by the peer; a restarted client resumes from its stored lastSeq', async () => {
    const phoneSeq = memorySeqStore();
    const a = client('desk', desk.deviceToken);
    const b = client('phone', phone.deviceToken, { seqStore: phoneSeq });
    await a.start();
    await b.start();
    await Promise.all([a.ready(3000), b.ready(3000)]);
    a.send('broadcast', 'before');
    await waitFor('before', () => b.got.some((m) => m.payload === 'before'));

    // Stop the relay (keeping its SQLite buffer) and start it again on the same ports.
    const ports = { port: Number(new URL(relay.httpUrl).port), 'ws.port': Number(new URL(relay.wsUrl).port) };
    const path = relay.sqlitePath;
    await relay.close({ keepFiles: true });
    await waitFor('both notice', () => a.state !== 'joined' && b.state !== 'joined');
    a.send('broadcast', 'while down 1');
    a.send('broadcast', 'while down 2');
    assert.equal(a.pending, 2);
    relay = await startRelay({ 'auth.url': auth.url, ...ports }, { sqlitePath: path });
    await a.drain(5000);
    await waitFor('phone catches up', () => b.got.filter((m) => String(m.payload).startsWith('while down')).length === 2);
    assert.deepEqual(b.got.map((m) => m.payload), ['before', 'while down 1', 'while down 2']);
    const seqs = b.got.map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));

    // The phone app quits; the desk sends; a new phone client with the same store gets exactly the missed ones.
    b.close();
    a.send('broadcast', 'missed 1');
    a.send('phone', 'missed 2');
    await a.drain(3000);
    const b2 = client('phone', phone.deviceToken, { seqStore: phoneSeq });
    await b2.start();
    await waitFor('replay', () => b2.got.length === 2);
    assert.deepEqual(b2.got.map((m) => [m.payload, m.replayed]), [['missed 1', true], ['missed 2', true]]);
    await sleep(100);
    assert.equal(b2.got.length, 2, 'nothing already seen is delivered again');
    a.close();
    b2.close();
  });

  test('revocation: removing the phone closes it with TOKEN_REVOKED and it stops reconnecting', async () => {
    const extra = await auth.signIn('ann@example.com', 'tablet');
    const t = client('tablet', extra.deviceToken);
    const fatal: string[] = [];
    t.on('fatal', (f) => fatal.push(f.code));
    await t.start();
    await t.ready(3000);
    await new AuthClient({ url: auth.url, token: desk.deviceToken }).removeDevice(extra.deviceId);
    await waitFor('revoked', () => fatal.length > 0, 5000);
    assert.deepEqual(fatal, ['TOKEN_REVOKED']);
    assert.equal(t.state, 'failed');
  });

  test("another user's token cannot join the room: ROOM_FORBIDDEN, fatal", async () => {
    const eve = await auth.signIn('eve@example.com', 'evil');
    const e = client('evil', eve.deviceToken);
    await e.start();
    await assert.rejects(e.ready(3000), (err: any) => err.code === 'ROOM_FORBIDDEN');
    assert.equal(e.state, 'failed');
  });

  test('a same-user device forging relay frames inside envelopes: lastSeq, host and state hold; a later honest message arrives; a drop is retried', async () => {
    const store = memorySeqStore();
    const a = client('desk', desk.deviceToken, { seqStore: store });
    const errors: string[] = [];
    const hosts: string[] = [];
    a.on('error', (e) => errors.push(e.code));
    a.on('host', (h) => hosts.push(h.device));
    await a.start();
    await a.ready(3000);
    const wasHost = a.isHost;
    const evil = await RawClient.connect(relay.wsUrl);
    assert.equal((await evil.join(roomId, 'phone-evil', phone.deviceToken)).type, 'joined');
    const huge = 9007199254740990;
    const forged = [
      { type: 'deltas', room: roomId, complete: true, deltas: [{ seq: huge, deviceId: 'x', payload: JSON.stringify({ from: 'x', to: 'broadcast', room: roomId, seq: huge, payload: 'poison' }), createdAt: 1 }] },
      { type: 'host', room: roomId, device: 'phone-evil' },
      { type: 'presence', room: roomId, device: 'desk', state: 'left' },
      { type: 'error', code: 'TOKEN_REVOKED', error: 'forged' },
      { type: 'joined', room: roomId, device: 'desk', host: false, hostDevice: 'phone-evil', seq: huge },
    ];
    for (const f of forged) evil.send({ ...f, from: 'phone-evil', to: 'broadcast', ts: Date.now(), payload: 'x' });
    evil.send({ from: 'phone-evil', room: roomId, to: 'broadcast', ts: Date.now(), payload: 'honest after' });
    await waitFor('the honest message', () => a.got.some((m) => m.payload === 'honest after'));
    // a relay that refuses typed envelopes (BAD_ENVELOPE) delivers none of them; an older one delivers them as envelopes
    assert.ok(a.got.every((m) => m.from === 'phone-evil' && m.seq < 1_000_000), JSON.stringify(a.got.map((m) => m.seq)));
    assert.ok((store.value ?? 0) < 1_000_000, `lastSeq ${store.value}`);
    assert.deepEqual([errors, hosts, a.isHost, a.state], [[], [], wasHost, 'joined']);
    // the forged TOKEN_REVOKED is not remembered: a dropped connection is retried and joins again
    const ports = { port: Number(new URL(relay.httpUrl).port), 'ws.port': Number(new URL(relay.wsUrl).port) };
    const path = relay.sqlitePath;
    evil.ws.close();
    await relay.close({ keepFiles: true });
    await waitFor('dropped', () => a.state !== 'joined');
    relay = await startRelay({ 'auth.url': auth.url, ...ports }, { sqlitePath: path });
    await a.ready(5000);
    assert.equal(a.state, 'joined');
    a.close();
  });
});
