// RelayClient with an end-to-end codec (scripted socket): every envelope sent is sealed and says "encrypted":true;
// received payloads are delivered only when they open; what does not open (another key, a flipped byte, plaintext,
// a sealed payload without a key) is reported as `undecryptable`, its seq counted as seen, and never delivered.
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { e2eCodec } from '../../src/client/e2e/codec.ts';
import { keyIdOf } from '../../src/client/e2e/kdf.ts';
import { RelayClient } from '../../src/client/relay-client.ts';
import type { RelayClientOptions } from '../../src/client/relay-client.ts';
import { memorySeqStore } from '../../src/client/seq-store.ts';
import { reportUndecryptable } from '../../src/cli/project-keys.ts';
import { FakeSocket, ManualTime } from './fakes.ts';

const keyOf = (fill: number) => {
  const key = Buffer.alloc(32, fill);
  return { key, keyId: keyIdOf(key), kdf: { log2N: 15, r: 8, p: 1 } };
};
const ours = e2eCodec(keyOf(1));
const theirs = e2eCodec(keyOf(2));
const ROOM = 'pair-ROOM';

function make(time: ManualTime, extra: Partial<RelayClientOptions> = {}) {
  let n = 0;
  const client = new RelayClient({
    url: 'ws://relay.test/ws', room: ROOM, device: 'desk', token: 't', WebSocket: FakeSocket,
    timers: time, now: () => time.now, random: () => 0.5, newMsgId: () => `m${++n}`, pingIntervalMs: 0, ...extra,
  });
  const messages: any[] = [];
  const bad: any[] = [];
  client.on('message', (m) => messages.push(m));
  client.on('undecryptable', (u) => bad.push(u));
  return { client, messages, bad };
}
const env = (seq: number, payload: unknown, from = 'phone/mirror', encrypted = true) => ({ from, to: 'broadcast', room: ROOM, seq, ts: 1, encrypted, payload });

let time: ManualTime;
beforeEach(() => {
  FakeSocket.reset();
  time = new ManualTime();
});

test('with a codec every envelope sent is sealed, says "encrypted":true, and opens to what was sent', async () => {
  const { client } = make(time, { codec: ours });
  assert.equal(client.encrypted, true);
  client.send('broadcast', { path: 'secret.txt', data: 'c2VjcmV0' });
  client.send('phone', 'plain words', { encrypted: false });
  await client.start();
  FakeSocket.last.accept();
  const sent = FakeSocket.last.envelopes();
  assert.equal(sent.length, 2);
  for (const e of sent) {
    assert.equal(e.encrypted, true);
    assert.match(e.payload, /^hse\.[A-Za-z0-9_-]+$/);
    assert.doesNotMatch(JSON.stringify(e), /secret|c2VjcmV0|plain words/);
  }
  assert.deepEqual(ours.open(sent[0].payload, ROOM, 'desk'), { ok: true, payload: { path: 'secret.txt', data: 'c2VjcmV0' } });
  assert.deepEqual(ours.open(sent[1].payload, ROOM, 'desk'), { ok: true, payload: 'plain words' });
  // the outbox keeps the plaintext for this device's own reports
  assert.equal(client.pendingMessages()[0].to, 'broadcast');
});

test('received: sealed with our key → delivered; another key, flipped byte, plaintext, garbage → undecryptable, seq advanced', async () => {
  const store = memorySeqStore();
  const { client, messages, bad } = make(time, { codec: ours, seqStore: store });
  await client.start();
  FakeSocket.last.accept();
  const good = ours.seal({ n: 1 }, ROOM, 'phone/mirror');
  const raw = Buffer.from(good.slice(4), 'base64url');
  raw[raw.length - 1] ^= 0x80;
  FakeSocket.last.receive(env(1, good));
  FakeSocket.last.receive(env(2, theirs.seal({ n: 2 }, ROOM, 'laptop-b/mirror'), 'laptop-b/mirror'));
  FakeSocket.last.receive(env(3, 'hse.' + raw.toString('base64url')));
  FakeSocket.last.receive(env(4, { hs: 'hone-sync-mirror', k: 'want', dev: 'x', paths: ['a'] }, 'old/mirror', false));
  FakeSocket.last.receive(env(5, 'hse.%%%'));
  FakeSocket.last.receive(env(6, good, 'laptop/mirror')); // re-attributed to another sender: bound to phone/mirror, so rejected
  FakeSocket.last.receive(env(6, good, 'phone/mirror')); // same seq again: a duplicate, ignored
  FakeSocket.last.receive({ type: 'deltas', room: ROOM, complete: true, deltas: [
    { seq: 7, deviceId: 'phone/mirror', createdAt: 1, payload: JSON.stringify(env(0, ours.seal('caught up', ROOM, 'phone/mirror'))) },
    { seq: 8, deviceId: 'laptop-b/mirror', createdAt: 1, payload: JSON.stringify(env(0, theirs.seal('x', ROOM, 'laptop-b/mirror'), 'laptop-b/mirror')) },
  ] });
  assert.deepEqual(messages.map((m) => [m.seq, m.payload, m.encrypted, m.replayed]), [[1, { n: 1 }, true, false], [7, 'caught up', true, true]]);
  assert.deepEqual(bad.map((u) => [u.seq, u.from, u.reason, u.replayed]), [
    [2, 'laptop-b/mirror', 'other-key', false], [3, 'phone/mirror', 'tampered', false], [4, 'old/mirror', 'plaintext', false],
    [5, 'phone/mirror', 'malformed', false], [6, 'laptop/mirror', 'tampered', false], [8, 'laptop-b/mirror', 'other-key', true],
  ]);
  assert.equal(client.lastSeq, 8);
  assert.equal(store.value, 8, 'dropped payloads count as seen: a restart does not fetch them again');
});

test('without a codec a sealed payload is reported as no-key instead of being delivered as text; plain ones pass', async () => {
  const { client, messages, bad } = make(time);
  assert.equal(client.encrypted, false);
  await client.start();
  FakeSocket.last.accept();
  FakeSocket.last.receive(env(1, ours.seal('secret', ROOM, 'phone/mirror')));
  FakeSocket.last.receive(env(2, 'hello', 'phone/send', false));
  FakeSocket.last.receive(env(3, { ide: 'own scheme' }, 'ide', true)); // the IDE's own encrypted payloads are not ours to judge
  assert.deepEqual(messages.map((m) => [m.seq, m.payload, m.encrypted]), [[2, 'hello', false], [3, { ide: 'own scheme' }, true]]);
  assert.deepEqual(bad.map((u) => [u.seq, u.reason]), [[1, 'no-key']]);
  client.send('broadcast', 'out');
  assert.equal(FakeSocket.last.envelopes()[0].encrypted, false);
});

test('reportUndecryptable: one line per sending device and reason, with the device name a person knows', async () => {
  const { client } = make(time, { codec: ours });
  const lines: string[] = [];
  reportUndecryptable(client, 'notes', (u) => lines.push(u.text));
  await client.start();
  FakeSocket.last.accept();
  for (let i = 1; i <= 4; i++) FakeSocket.last.receive(env(i, theirs.seal(i, ROOM, i % 2 ? 'laptop-b/mirror' : 'laptop-b/send'), i % 2 ? 'laptop-b/mirror' : 'laptop-b/send'));
  FakeSocket.last.receive(env(5, 'hse.AAAA', 'phone/mirror'));
  assert.deepEqual(lines, [
    'laptop-b uses another passphrase for project notes; nothing from it was applied',
    'phone sent a message in project notes that is not a valid encrypted payload (format version 0); it was dropped',
  ]);
});
