// Unit tests of RelayClient's own logic with a manual clock and a scripted socket: backoff and reconnect,
// the bounded outbox (ordered flush, drop-oldest, removal only on ack), dedupe by seq, resync, fatal refusals, and
// SPEC §6.1: forged relay frames inside envelopes, implausible seqs, paged catch-up, epochs.
import { beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { backoffDelay } from '../../src/client/backoff.ts';
import { RelayClient } from '../../src/client/relay-client.ts';
import type { RelayClientOptions } from '../../src/client/relay-client.ts';
import { memorySeqStore } from '../../src/client/seq-store.ts';
import { FakeSocket, ManualTime } from './fakes.ts';

function make(time: ManualTime, extra: Partial<RelayClientOptions> = {}) {
  let n = 0;
  const client = new RelayClient({
    url: 'ws://relay.test/ws', room: 'pair-ROOM', device: 'desk', token: 't', WebSocket: FakeSocket,
    timers: time, now: () => time.now, random: () => 0.5, newMsgId: () => `m${++n}`, pingIntervalMs: 0, ...extra,
  });
  const events: Array<[string, any]> = [];
  for (const e of ['state', 'joined', 'message', 'resync', 'host', 'presence', 'error', 'ack', 'dropped', 'disconnected', 'fatal', 'caughtUp']) {
    client.on(e, (v) => events.push([e, v]));
  }
  return { client, events, of: (name: string) => events.filter(([e]) => e === name).map(([, v]) => v) };
}

const env = (seq: number, payload: unknown, from = 'phone') => ({ from, to: 'broadcast', room: 'pair-ROOM', seq, ts: 1, encrypted: false, payload });

test('the relay client core imports nothing from Node (it must bundle for a browser)', () => {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(new URL(file, import.meta.url), 'utf8');
    for (const [, spec] of text.matchAll(/^import [^;]*? from '([^']+)';/gms)) {
      assert.ok(spec.startsWith('./'), `${file} imports ${spec}`);
      visit(new URL(spec, new URL(file, import.meta.url)).href);
    }
    assert.doesNotMatch(text, /\b(process|Buffer|require)\b\s*[.(]/, `${file} uses a Node global`);
  };
  visit(new URL('../../src/client/relay-client.ts', import.meta.url).href);
  assert.deepEqual([...seen].map((f) => f.replace(/.*\/src\/client\//, '')).sort(), ['backoff.ts', 'emitter.ts', 'outbox.ts', 'payload-codec.ts', 'protocol.ts', 'relay-client.ts']);
});

describe('backoff', () => {
  test('grows exponentially, is capped, and jitters within [cap/2, cap]', () => {
    assert.deepEqual([0, 1, 2, 3].map((a) => backoffDelay(a, () => 0.999999)), [500, 1000, 2000, 4000]);
    assert.deepEqual([0, 1, 2, 3].map((a) => backoffDelay(a, () => 0)), [250, 500, 1000, 2000]);
    assert.equal(backoffDelay(20, () => 0.999999), 30_000);
    assert.equal(backoffDelay(1000, () => 0), 15_000);
    assert.equal(backoffDelay(2, () => 0.5, { baseMs: 100, factor: 3, maxMs: 10_000 }), 675);
  });
});

describe('RelayClient (scripted socket)', () => {
  let time: ManualTime;
  beforeEach(() => {
    FakeSocket.reset();
    time = new ManualTime();
  });

  test('joins with token and stored lastSeq, then reconnects with backoff and jitter until joined again', async () => {
    const store = memorySeqStore(41);
    const { client, of } = make(time, { seqStore: store });
    await client.start();
    assert.equal(FakeSocket.instances.length, 1);
    const join = FakeSocket.last.accept(41);
    assert.deepEqual(join, { type: 'join', room: 'pair-ROOM', device: 'desk', token: 't', lastSeq: 41 });
    assert.equal(client.state, 'joined');

    FakeSocket.last.serverClose(1006);
    assert.equal(client.state, 'waiting');
    // Three failed attempts: delays 375, 750, 1500 (random 0.5 → 3/4 of the cap).
    for (const expected of [375, 750, 1500]) {
      const before: number = FakeSocket.instances.length;
      time.advance(expected - 1);
      assert.equal(FakeSocket.instances.length, before, 'not before the delay');
      time.advance(1);
      assert.equal(FakeSocket.instances.length, before + 1, 'reconnects after the delay');
      FakeSocket.last.serverClose(1006);
    }
    assert.deepEqual(of('disconnected').map((d) => d.delayMs), [375, 750, 1500, 3000]);
    time.advance(3000);
    FakeSocket.last.accept(41);
    assert.equal(of('joined').at(-1).reconnect, true);
    // A successful join resets the backoff.
    FakeSocket.last.serverClose(1001, 'SHUTTING_DOWN');
    assert.equal(of('disconnected').at(-1).delayMs, 375);
    client.close();
    assert.equal(time.pending, 0, 'close cancels every timer');
  });

  test('a connection that never answers is dropped after connectTimeoutMs and retried', async () => {
    const { client, of } = make(time, { connectTimeoutMs: 2000 });
    await client.start();
    time.advance(2000);
    assert.equal(of('disconnected').length, 1);
    assert.equal(FakeSocket.instances[0].closedByClient !== null, true);
    time.advance(375);
    assert.equal(FakeSocket.instances.length, 2);
    client.close();
  });

  test('no frame for two ping intervals → the connection is treated as dead', async () => {
    const { client, of } = make(time, { pingIntervalMs: 1000 });
    await client.start();
    FakeSocket.last.accept();
    time.advance(1000);
    assert.deepEqual(FakeSocket.last.sent.at(-1), { type: 'ping' });
    FakeSocket.last.receive({ type: 'pong' });
    time.advance(1000);
    assert.equal(of('disconnected').length, 0);
    time.advance(1000);
    assert.equal(of('disconnected').length, 1);
    client.close();
  });

  test('outbox: messages sent while disconnected are flushed in order on join and kept until acked', async () => {
    const { client, of } = make(time);
    await client.start();
    client.send('broadcast', 'a');
    client.send('host', { b: 2 });
    client.send('phone', 'c');
    assert.equal(client.pending, 3);
    const s1 = FakeSocket.last;
    s1.accept();
    assert.deepEqual(s1.envelopes().map((e) => [e.msgId, e.to, e.payload]), [['m1', 'broadcast', 'a'], ['m2', 'host', { b: 2 }], ['m3', 'phone', 'c']]);
    assert.equal(s1.envelopes()[0].from, 'desk');
    assert.equal(s1.envelopes()[0].room, 'pair-ROOM');
    s1.receive({ type: 'ack', msgId: 'm1', seq: 10 });
    assert.equal(client.pending, 2);
    assert.deepEqual(of('ack'), [{ msgId: 'm1', seq: 10 }]);
    // Dropped before m2/m3 were acked: they are sent again, same msgIds, in order, after the rejoin.
    s1.serverClose(1006);
    client.send('broadcast', 'd');
    time.advance(375);
    const s2 = FakeSocket.last;
    assert.notEqual(s2, s1);
    s2.accept(10);
    assert.deepEqual(s2.envelopes().map((e) => e.msgId), ['m2', 'm3', 'm4']);
    const drained = client.drain(1000);
    for (const [id, seq] of [['m2', 11], ['m3', 12], ['m4', 13]] as const) s2.receive({ type: 'ack', msgId: id, seq });
    await drained;
    assert.equal(client.pending, 0);
    client.close();
  });

  test('outbox: bounded; the oldest is dropped with an event', async () => {
    const { client, of } = make(time, { outboxLimit: 2 });
    await client.start();
    client.send('broadcast', 1);
    client.send('broadcast', 2);
    client.send('broadcast', 3);
    assert.deepEqual(of('dropped'), [{ msgId: 'm1', to: 'broadcast', payload: 1, reason: 'outbox-full' }]);
    FakeSocket.last.accept();
    assert.deepEqual(FakeSocket.last.envelopes().map((e) => e.payload), [2, 3]);
    client.close();
  });

  test('outbox: RATE_LIMITED is resent later in order; a rejected envelope is dropped with its code', async () => {
    const { client, of } = make(time, { retryDelayMs: 500 });
    await client.start();
    const s = FakeSocket.last;
    s.accept();
    client.send('broadcast', 1);
    client.send('broadcast', 2);
    client.send('nobody?', 3);
    s.receive({ type: 'ack', msgId: 'm1', seq: 1 });
    s.receive({ type: 'error', code: 'RATE_LIMITED', error: 'slow down', msgId: 'm2' });
    s.receive({ type: 'error', code: 'RATE_LIMITED', error: 'slow down', msgId: 'm3' });
    assert.equal(s.envelopes().length, 3);
    time.advance(500);
    assert.deepEqual(s.envelopes().slice(3).map((e) => e.msgId), ['m2', 'm3']);
    s.receive({ type: 'error', code: 'BAD_ENVELOPE', error: 'bad', msgId: 'm3' });
    assert.deepEqual(of('dropped').map((d) => [d.msgId, d.reason, d.code]), [['m3', 'rejected', 'BAD_ENVELOPE']]);
    assert.equal(client.pending, 1);
    assert.equal(client.state, 'joined', 'envelope errors do not end the connection');
    client.close();
  });

  test('send refuses a frame over maxFrameBytes', async () => {
    const { client } = make(time, { maxFrameBytes: 2000 });
    assert.throws(() => client.send('broadcast', 'x'.repeat(3000)), RangeError);
    assert.equal(client.pending, 0);
  });

  test('dedupe by seq: live and replayed envelopes at or below lastSeq are ignored; lastSeq is saved', async () => {
    const store = memorySeqStore();
    const { client, of } = make(time, { seqStore: store });
    await client.start();
    const s = FakeSocket.last;
    s.accept();
    s.receive(env(5, 'a'));
    s.receive(env(5, 'a again'));
    s.receive(env(6, 'b'));
    s.receive(env(4, 'old'));
    assert.deepEqual(of('message').map((m) => [m.seq, m.payload, m.replayed]), [[5, 'a', false], [6, 'b', false]]);
    assert.equal(store.value, 6);
    s.serverClose(1006);
    time.advance(375);
    const s2 = FakeSocket.last;
    const join = s2.accept(8);
    assert.equal(join.lastSeq, 6);
    s2.receive({ type: 'deltas', room: 'pair-ROOM', complete: true, deltas: [6, 7, 8].map((n) => ({ seq: n, deviceId: 'phone', payload: JSON.stringify(env(0, `r${n}`)), createdAt: 1 })) });
    s2.receive(env(8, 'r8 live duplicate'));
    assert.deepEqual(of('message').map((m) => m.payload), ['a', 'b', 'r7', 'r8']);
    assert.equal(of('message').at(-1).replayed, true);
    assert.equal(client.duplicates, 4);
    assert.equal(client.lastSeq, 8);
    client.close();
  });

  test('deltas with complete:false → messages in order, then a resync event; a relay behind our seq → resync too', async () => {
    const { client, of } = make(time, { seqStore: memorySeqStore(50) });
    await client.start();
    const s = FakeSocket.last;
    s.accept(60);
    s.receive({ type: 'deltas', room: 'pair-ROOM', complete: false, deltas: [{ seq: 58, deviceId: 'phone', payload: JSON.stringify(env(58, 'x')), createdAt: 1 }] });
    assert.deepEqual(of('message').map((m) => m.seq), [58]);
    assert.deepEqual(of('resync'), [{ room: 'pair-ROOM', lastSeq: 58, reason: 'buffer-expired' }]);
    s.serverClose(1006);
    time.advance(375);
    FakeSocket.last.accept(3); // the relay lost its state: its seq is behind ours
    assert.deepEqual(of('resync').at(-1), { room: 'pair-ROOM', lastSeq: 58, reason: 'relay-reset' });
    assert.equal(client.lastSeq, 3);
    client.close();
  });

  test('host and presence frames become events', async () => {
    const { client, of } = make(time);
    await client.start();
    const s = FakeSocket.last;
    s.accept(0, false);
    assert.equal(client.isHost, false);
    s.receive({ type: 'presence', room: 'pair-ROOM', device: 'phone', state: 'left' });
    s.receive({ type: 'host', room: 'pair-ROOM', device: 'desk' });
    assert.deepEqual(of('presence'), [{ room: 'pair-ROOM', device: 'phone', state: 'left' }]);
    assert.deepEqual(of('host'), [{ room: 'pair-ROOM', device: 'desk', isMe: true }]);
    assert.equal(client.isHost, true);
    client.close();
  });

  for (const [code, closeCode] of [['TOKEN_REVOKED', 1008], ['INVALID_TOKEN', 1008], ['ROOM_FORBIDDEN', 1008], ['REPLACED', 4001]] as const) {
    test(`fatal: ${code} stops reconnecting and is surfaced`, async () => {
      const { client, of } = make(time);
      await client.start();
      const ready = client.ready();
      const s = FakeSocket.last;
      if (code === 'REPLACED') s.accept();
      else s.open();
      s.receive({ type: 'error', code, error: 'human sentence' });
      s.serverClose(closeCode, code);
      assert.equal(client.state, 'failed');
      assert.deepEqual(of('fatal'), [{ code, message: 'human sentence', closeCode }]);
      time.advance(120_000);
      assert.equal(FakeSocket.instances.length, 1, 'no reconnect');
      if (code !== 'REPLACED') await assert.rejects(ready, (e: any) => e.code === code);
      assert.throws(() => client.send('broadcast', 1));
    });
  }

  test('ROOM_FULL (1013) and SLOW_CONSUMER are not fatal: it retries', async () => {
    const { client, of } = make(time);
    await client.start();
    FakeSocket.last.open();
    FakeSocket.last.receive({ type: 'error', code: 'ROOM_FULL', error: 'full' });
    FakeSocket.last.serverClose(1013);
    assert.equal(client.state, 'waiting');
    assert.match(of('disconnected')[0].reason, /ROOM_FULL/);
    time.advance(375);
    assert.equal(FakeSocket.instances.length, 2);
    client.close();
  });
});

describe('RelayClient and peers that cannot be trusted (SPEC §6.1)', () => {
  let time: ManualTime;
  beforeEach(() => {
    FakeSocket.reset();
    time = new ManualTime();
  });
  const HUGE = 9007199254740990;
  const delta = (seq: number, payload: unknown) => ({ seq, deviceId: 'phone', payload: JSON.stringify(env(0, payload)), createdAt: 1 });

  test('an envelope that carries a relay frame\'s `type` stays an envelope: no jump of lastSeq, no host, no presence, no error', async () => {
    const store = memorySeqStore();
    const { client, of } = make(time, { seqStore: store });
    await client.start();
    const s = FakeSocket.last;
    s.accept(10, true);
    // what a hostile peer sends through a relay that forwards typed envelopes (each with the relay's own seq)
    s.receive({ ...env(11, 'x', 'evil'), type: 'deltas', room: 'pair-ROOM', complete: true, deltas: [delta(HUGE, 'poison')] });
    s.receive({ ...env(12, 'x', 'evil'), type: 'host', device: 'evil' });
    s.receive({ ...env(13, 'x', 'evil'), type: 'presence', device: 'desk', state: 'left' });
    s.receive({ ...env(14, 'x', 'evil'), type: 'error', code: 'TOKEN_REVOKED', error: 'signed out' });
    s.receive(Object.assign({ type: 'joined', seq: HUGE, host: false, hostDevice: 'evil' }, env(15, 'x', 'evil'))); // the relay's seq wins
    s.receive({ type: 'deltas', from: 'evil', deltas: [delta(HUGE, 'poison')] }); // no seq: not even an envelope
    assert.deepEqual(of('message').map((m) => [m.seq, m.from]), [[11, 'evil'], [12, 'evil'], [13, 'evil'], [14, 'evil'], [15, 'evil']]);
    assert.equal(client.lastSeq, 15);
    assert.equal(store.value, 15);
    assert.equal(client.isHost, true);
    assert.equal(client.hostDevice, 'desk');
    assert.deepEqual([of('host'), of('presence'), of('error'), of('resync')], [[], [], [], []]);
    assert.equal(of('joined').length, 1);
    // the forged TOKEN_REVOKED was never a refusal: the next drop (even a policy close) is an ordinary disconnect
    s.serverClose(1008);
    assert.equal(client.state, 'waiting');
    assert.equal(of('fatal').length, 0);
    time.advance(375);
    FakeSocket.last.accept(16);
    FakeSocket.last.receive(env(16, 'honest'));
    assert.equal(of('message').at(-1).payload, 'honest', 'a real message after the attack is not taken for a duplicate');
    client.close();
  });

  test('a relay error frame is final only with a fatal code, as the last frame, followed by the policy close', async () => {
    const { client, of } = make(time);
    await client.start();
    let s = FakeSocket.last;
    s.accept();
    s.receive({ type: 'error', code: 'WHATEVER_NEW', error: 'made up' });
    s.serverClose(1008);
    assert.equal(client.state, 'waiting', 'an unexpected code does not stop the client');
    time.advance(375);
    s = FakeSocket.last;
    s.accept();
    s.receive({ type: 'error', code: 'TOKEN_REVOKED', error: 'old news' });
    s.receive({ type: 'pong' });
    s.serverClose(1006);
    assert.equal(client.state, 'waiting', 'a fatal code followed by other frames and a network close is not a refusal');
    time.advance(375);
    s = FakeSocket.last;
    s.accept();
    s.receive({ type: 'error', code: 'TOKEN_REVOKED', error: 'no' });
    s.serverClose(1006);
    assert.equal(client.state, 'waiting', 'no policy close: retried');
    assert.equal(of('fatal').length, 0);
    time.advance(375);
    s = FakeSocket.last;
    s.open();
    s.receive({ type: 'error', code: 'TOKEN_REVOKED', error: 'revoked' });
    s.serverClose(1008);
    assert.equal(client.state, 'failed');
    assert.deepEqual(of('fatal').map((f) => f.code), ['TOKEN_REVOKED']);
  });

  test('a seq far past anything the relay has shown is delivered but does not move lastSeq', async () => {
    const store = memorySeqStore(5);
    const { client, of } = make(time, { seqStore: store });
    await client.start();
    const s = FakeSocket.last;
    s.accept(20);
    s.receive(env(HUGE, 'huge'));
    s.receive({ type: 'deltas', room: 'pair-ROOM', complete: true, deltas: [delta(HUGE - 1, 'huge too'), { seq: -3, deviceId: 'x', payload: '{}', createdAt: 1 }, { seq: 1.5, deviceId: 'x', payload: JSON.stringify(env(0, 'frac')), createdAt: 1 }] });
    assert.equal(client.lastSeq, 5);
    assert.equal(store.value, 5);
    assert.equal(client.implausibleSeqs, 2);
    s.receive(env(21, 'next'));
    s.receive(env(21 + 999_999, 'a busy room, still plausible'));
    assert.deepEqual(of('message').map((m) => m.payload), ['huge', 'huge too', 'next', 'a busy room, still plausible']);
    assert.equal(client.lastSeq, 1_000_020);
    client.close();
  });

  test('paged catch-up: pages in order, more:true on all but the last, one resync and one caughtUp at the end', async () => {
    const store = memorySeqStore(10);
    const { client, events, of } = make(time, { seqStore: store });
    await client.start();
    const s = FakeSocket.last;
    s.accept(16);
    const page = (seqs: number[], more: boolean) => ({ type: 'deltas', room: 'pair-ROOM', complete: false, ...(more ? { more: true } : {}), deltas: seqs.map((n) => delta(n, `p${n}`)) });
    s.receive(page([12, 13], true));
    assert.deepEqual(of('resync'), [], 'no resync before the last page');
    s.receive(page([14], true));
    s.receive(page([15, 16], false));
    assert.deepEqual(of('message').map((m) => [m.seq, m.replayed]), [[12, true], [13, true], [14, true], [15, true], [16, true]]);
    assert.deepEqual(of('resync'), [{ room: 'pair-ROOM', lastSeq: 16, reason: 'buffer-expired' }]);
    assert.deepEqual(of('caughtUp'), [{ room: 'pair-ROOM', complete: false, pages: 3, messages: 5 }]);
    const names = events.map(([e]) => e).filter((e) => e === 'resync' || e === 'caughtUp' || e === 'message');
    assert.deepEqual(names.slice(-2), ['resync', 'caughtUp'], 'the resync comes after every page was delivered');
    assert.equal(store.value, 16);
    client.close();
  });

  test('epoch: sent with lastSeq, stored with it; a changed epoch is a gap (resync once, the new sequence from the start)', async () => {
    const store = memorySeqStore(40, 'ep-1');
    const { client, of } = make(time, { seqStore: store });
    await client.start();
    let s = FakeSocket.last;
    s.open();
    assert.deepEqual(s.sent[0], { type: 'join', room: 'pair-ROOM', device: 'desk', token: 't', lastSeq: 40, epoch: 'ep-1' });
    s.receive({ type: 'joined', room: 'pair-ROOM', device: 'desk', host: true, hostDevice: 'desk', seq: 42, epoch: 'ep-1' });
    s.receive(env(41, 'a'));
    assert.deepEqual([store.value, store.epoch], [41, 'ep-1']);
    s.serverClose(1006);
    time.advance(375);
    s = FakeSocket.last;
    s.open();
    assert.equal(s.sent[0].epoch, 'ep-1');
    // the relay lost its database: a new sequence, numbered from 1 again (its seq may even be above ours)
    s.receive({ type: 'joined', room: 'pair-ROOM', device: 'desk', host: true, hostDevice: 'desk', seq: 90, epoch: 'ep-2' });
    assert.deepEqual(of('resync'), [{ room: 'pair-ROOM', lastSeq: 41, reason: 'epoch-changed' }]);
    assert.equal(of('joined').at(-1).epoch, 'ep-2');
    assert.deepEqual([store.value, store.epoch], [0, 'ep-2']);
    s.receive({ type: 'deltas', room: 'pair-ROOM', complete: false, deltas: [delta(1, 'new 1'), delta(2, 'new 2')] });
    assert.deepEqual(of('message').slice(1).map((m) => m.payload), ['new 1', 'new 2'], 'not dropped as duplicates of the old sequence');
    assert.equal(of('resync').length, 1, 'the catch-up\'s complete:false is the same gap');
    assert.deepEqual([store.value, store.epoch, client.seqEpoch], [2, 'ep-2', 'ep-2']);
    client.close();
  });

  test('epoch: one that is not 1 to 128 printable ASCII characters (a line break, a space, too long) counts as absent', async () => {
    for (const bad of ['ep\nlastSeq.other=999', 'ep 1', '', 'e'.repeat(129), 42]) {
      const store = memorySeqStore(7, 'ep-7');
      const { client, of } = make(time, { seqStore: store });
      await client.start();
      const s = FakeSocket.last;
      s.open();
      s.receive({ type: 'joined', room: 'pair-ROOM', device: 'desk', host: true, hostDevice: 'desk', seq: 9, epoch: bad });
      assert.equal(of('joined')[0].epoch, '', String(bad));
      assert.deepEqual([of('resync'), store.epoch, client.seqEpoch], [[], 'ep-7', 'ep-7'], String(bad));
      client.close();
    }
  });

  test('epoch: a relay that predates epochs is joined without one; the first epoch seen is adopted without a resync', async () => {
    const store = memorySeqStore(7);
    const { client, of } = make(time, { seqStore: store });
    await client.start();
    const s = FakeSocket.last;
    s.open();
    assert.equal('epoch' in s.sent[0], false);
    s.receive({ type: 'joined', room: 'pair-ROOM', device: 'desk', host: true, hostDevice: 'desk', seq: 9, epoch: 'ep-9' });
    assert.deepEqual(of('resync'), []);
    assert.deepEqual([store.value, store.epoch], [7, 'ep-9']);
    client.close();
  });
});
