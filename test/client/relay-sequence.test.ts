// RelayClient against a real hone-relay for SPEC §6.1's sequence rules: a catch-up in several pages (single relay and
// cluster engine) is delivered once, in order; a relay restarted on a fresh database (new epoch) is a resync, not a
// stream of "duplicates"; a restart that keeps its files keeps the epoch and resumes without one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayClient } from '../../src/client/relay-client.ts';
import type { RelayClientOptions, RelayEvents, RelayMessage } from '../../src/client/relay-client.ts';
import { fileSeqStore, memorySeqStore } from '../../src/client/seq-store.ts';
import { clusterEngine, localEngine } from '../relay/engines.ts';
import type { Relays } from '../relay/engines.ts';
import { until as waitUntil } from '../helpers/wait.ts';
import { startRelay, token, uniqueRoom } from '../helpers/relay.ts';
import type { TestRelay } from '../helpers/relay.ts';

const until = async (what: string, cond: () => boolean, ms = 5000) => assert.ok(await waitUntil(cond, ms, 10), `timed out waiting for ${what}`);

/** A RelayClient that records what it delivers and its caughtUp / resync events. */
function recorder(url: string, room: string, device: string, deviceId: number, extra: Partial<RelayClientOptions> = {}) {
  const c = new RelayClient({ url, room, device, token: token(1, deviceId), backoff: { baseMs: 50, maxMs: 400 }, ...extra });
  const got: RelayMessage[] = [];
  const caughtUp: RelayEvents['caughtUp'][] = [];
  const resyncs: RelayEvents['resync'][] = [];
  const epochs: string[] = [];
  c.on('message', (m) => got.push(m));
  c.on('caughtUp', (e) => caughtUp.push(e));
  c.on('resync', (e) => resyncs.push(e));
  c.on('joined', (j) => epochs.push(j.epoch));
  return Object.assign(c, { got, caughtUp, resyncs, epochs });
}

const PAGE = 1024;

for (const engine of [localEngine, clusterEngine(2)]) {
  describe(`RelayClient catch-up in pages (${engine.name})`, () => {
    let relays: Relays;
    before(async () => {
      relays = await engine.start({ 'catchup.pageBytes': PAGE });
    });
    after(async () => {
      await relays.close();
    });

    test('a catch-up over catchup.pageBytes arrives as several pages: each message once, in seq order, one caughtUp at the end, lastSeq at the last seq', async () => {
      const room = uniqueRoom();
      const store = memorySeqStore(0);
      const desk = recorder(relays.node(0).wsUrl, room, 'desk', 1);
      try {
        await desk.start();
        await desk.ready(3000);
        // 40 messages of ~200 bytes: broadcasts and direct ones for the phone, and some for another device in between.
        const expected: string[] = [];
        for (let i = 0; i < 40; i++) {
          const to = i % 5 === 3 ? 'tablet' : i % 4 === 1 ? 'phone' : 'broadcast';
          const text = `m${String(i).padStart(2, '0')}-` + 'x'.repeat(200);
          desk.send(to, text);
          if (to !== 'tablet') expected.push(text);
        }
        await desk.drain(5000);
        const phone = recorder(relays.node(1).wsUrl, room, 'phone', 2, { seqStore: store });
        try {
          await phone.start();
          await until('the catch-up', () => phone.caughtUp.length > 0);
          assert.equal(phone.caughtUp.length, 1);
          const [done] = phone.caughtUp;
          assert.ok(done.pages > 3, `${done.pages} pages`);
          assert.equal(done.complete, true);
          assert.equal(done.messages, expected.length);
          assert.deepEqual(phone.got.map((m) => m.payload), expected);
          assert.ok(phone.got.every((m) => m.replayed && m.from === 'desk'));
          const seqs = phone.got.map((m) => m.seq);
          assert.deepEqual(seqs, [...new Set(seqs)].sort((x, y) => x - y));
          assert.equal(phone.lastSeq, seqs[seqs.length - 1]);
          assert.equal(store.value, seqs[seqs.length - 1]);
          assert.equal(phone.duplicates, 0);
          assert.deepEqual(phone.resyncs, []);
          // Live traffic afterwards: delivered once, no second caughtUp.
          desk.send('broadcast', 'live');
          await until('live', () => phone.got.some((m) => m.payload === 'live'));
          assert.equal(phone.got.filter((m) => m.payload === 'live').length, 1);
          assert.equal(phone.got.length, expected.length + 1);
          assert.equal(phone.caughtUp.length, 1);
          assert.equal(store.value, phone.got[phone.got.length - 1].seq);
        } finally {
          phone.close();
        }
      } finally {
        desk.close();
      }
    });
  });
}

describe('RelayClient across relay restarts: the epoch (single relay)', () => {
  let relay: TestRelay;
  let dir: string;
  const clients: RelayClient[] = [];
  const track = <T extends RelayClient>(c: T) => (clients.push(c), c);
  const ports = () => ({ port: Number(new URL(relay.httpUrl).port), 'ws.port': Number(new URL(relay.wsUrl).port) });

  before(async () => {
    relay = await startRelay();
    dir = mkdtempSync(join(tmpdir(), 'hone-seq-'));
  });
  after(async () => {
    for (const c of clients) c.close();
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('restarted on a fresh database: a client holding an old-epoch lastSeq reports the epoch change and gets every message of the new sequence', async () => {
    const room = uniqueRoom();
    const desk = track(recorder(relay.wsUrl, room, 'desk', 1));
    const liveStore = memorySeqStore();
    const live = track(recorder(relay.wsUrl, room, 'phone', 2, { seqStore: liveStore }));
    const storedPath = join(dir, 'fresh-state');
    const stored = fileSeqStore(storedPath, room, 'tablet', 0);
    const tablet = track(recorder(relay.wsUrl, room, 'tablet', 3, { seqStore: stored }));
    for (const c of [desk, live, tablet]) await c.start();
    await Promise.all([desk.ready(3000), live.ready(3000), tablet.ready(3000)]);
    const oldEpoch = live.epochs[0];
    for (let i = 1; i <= 5; i++) desk.send('broadcast', `old ${i}`);
    await until('old messages', () => live.got.length === 5 && tablet.got.length === 5);
    assert.equal(live.lastSeq, 5);
    assert.deepEqual(stored.load(), { seq: 5, epoch: oldEpoch });
    tablet.close(); // this one resumes later from its state file

    // The relay comes back on the same ports with an empty database: the room's sequence starts again.
    const at = ports();
    await relay.close();
    await until('both notice', () => desk.state !== 'joined' && live.state !== 'joined');
    relay = await startRelay(at);
    await Promise.all([desk.ready(5000), live.ready(5000)]);
    for (let i = 1; i <= 3; i++) desk.send('broadcast', `new ${i}`);
    await desk.drain(5000);
    await until('new messages (live)', () => live.got.length === 8);
    const newEpoch = live.epochs[live.epochs.length - 1];
    assert.notEqual(newEpoch, oldEpoch);
    assert.deepEqual(live.resyncs, [{ room, lastSeq: 5, reason: 'epoch-changed' }]);
    assert.deepEqual(live.got.slice(5).map((m) => [m.payload, m.seq]), [['new 1', 1], ['new 2', 2], ['new 3', 3]]);
    assert.equal(live.duplicates, 0);
    assert.deepEqual([live.lastSeq, live.seqEpoch, liveStore.value, liveStore.epoch], [3, newEpoch, 3, newEpoch]);

    // A client restarted from its state file (old epoch, lastSeq 5): resync, then the new room's 1..3 in the catch-up.
    const tablet2 = track(recorder(relay.wsUrl, room, 'tablet', 3, { seqStore: fileSeqStore(storedPath, room, 'tablet', 0) }));
    await tablet2.start();
    await until('the catch-up', () => tablet2.caughtUp.length === 1);
    assert.deepEqual(tablet2.resyncs, [{ room, lastSeq: 5, reason: 'epoch-changed' }]);
    assert.deepEqual(tablet2.got.map((m) => [m.payload, m.seq, m.replayed]), [['new 1', 1, true], ['new 2', 2, true], ['new 3', 3, true]]);
    assert.equal(tablet2.caughtUp[0].complete, false);
    assert.equal(tablet2.duplicates, 0);
    assert.deepEqual(fileSeqStore(storedPath, room, 'tablet', 0).load(), { seq: 3, epoch: newEpoch });
    for (const c of [desk, live, tablet2]) c.close();
  });

  test('restarted on its own files: the epoch is kept and clients resume without a resync', async () => {
    const room = uniqueRoom();
    const desk = track(recorder(relay.wsUrl, room, 'desk', 1));
    const live = track(recorder(relay.wsUrl, room, 'phone', 2, { seqStore: memorySeqStore() }));
    const storedPath = join(dir, 'kept-state');
    const tablet = track(recorder(relay.wsUrl, room, 'tablet', 3, { seqStore: fileSeqStore(storedPath, room, 'tablet', 0) }));
    for (const c of [desk, live, tablet]) await c.start();
    await Promise.all([desk.ready(3000), live.ready(3000), tablet.ready(3000)]);
    const epoch = live.epochs[0];
    for (let i = 1; i <= 4; i++) desk.send('broadcast', `before ${i}`);
    await until('before', () => live.got.length === 4 && tablet.got.length === 4);
    tablet.close();

    const at = ports();
    const sqlitePath = relay.sqlitePath;
    await relay.close({ keepFiles: true });
    await until('both notice', () => desk.state !== 'joined' && live.state !== 'joined');
    desk.send('broadcast', 'while down');
    relay = await startRelay(at, { sqlitePath });
    await desk.drain(5000);
    desk.send('broadcast', 'after');
    await desk.drain(5000);
    await until('after (live)', () => live.got.some((m) => m.payload === 'after'));
    assert.deepEqual(live.epochs, [epoch, epoch]);
    assert.deepEqual(live.resyncs, []);
    assert.deepEqual(live.got.map((m) => [m.payload, m.seq]), [['before 1', 1], ['before 2', 2], ['before 3', 3], ['before 4', 4], ['while down', 5], ['after', 6]]);
    assert.equal(live.duplicates, 0);

    const tablet2 = track(recorder(relay.wsUrl, room, 'tablet', 3, { seqStore: fileSeqStore(storedPath, room, 'tablet', 0) }));
    await tablet2.start();
    await until('the catch-up', () => tablet2.caughtUp.length === 1);
    assert.deepEqual([tablet2.epochs, tablet2.resyncs, tablet2.caughtUp[0].complete], [[epoch], [], true]);
    assert.deepEqual(tablet2.got.map((m) => [m.payload, m.seq, m.replayed]), [['while down', 5, true], ['after', 6, true]]);
    assert.deepEqual(fileSeqStore(storedPath, room, 'tablet', 0).load(), { seq: 6, epoch });
    for (const c of [desk, live, tablet2]) c.close();
  });
});
