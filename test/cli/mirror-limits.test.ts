// The mirror's per-peer limits with driven time: a Mirror on a real folder, its RelayClient on a scripted socket
// (test/client/fakes.ts) that plays the relay; unfinished transfers expire on the injected clock, wants are served as the queue drains.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayClient } from '../../src/client/relay-client.ts';
import { Mirror } from '../../src/cli/mirror/engine.ts';
import type { MirrorLimits } from '../../src/cli/mirror/engine.ts';
import type { PacerOptions } from '../../src/cli/mirror/pacer.ts';
import { CHUNK_BYTES } from '../../src/cli/mirror/protocol.ts';
import { MirrorIndex } from '../../src/cli/mirror/state.ts';
import { FakeSocket, ManualTime } from '../client/fakes.ts';

const TAG = 'hone-sync-mirror';
let root: string;
let time: ManualTime;
let mirror: Mirror;
let client: RelayClient;
let seq = 0;
let index: MirrorIndex;

async function start(limits: Partial<MirrorLimits> = {}, pacer: Partial<PacerOptions> = {}) {
  root = mkdtempSync(join(tmpdir(), 'hone-mirror-limits-'));
  for (let i = 0; i < 5; i++) writeFileSync(join(root, `f${i}.bin`), Buffer.alloc(100_000, i));
  time = new ManualTime();
  FakeSocket.reset();
  client = new RelayClient({ url: 'ws://relay.test/ws', room: 'r', device: 'desk/mirror', token: 't', WebSocket: FakeSocket, pingIntervalMs: 0, timers: time, now: () => time.now });
  index = new MirrorIndex(root, 'r', 'desk', 60_000);
  mirror = new Mirror({ root, device: 'desk', client, index, rescanMs: 0, now: () => time.now, limits, pacer });
  const events: Array<[string, any]> = [];
  for (const e of ['refused', 'warning', 'applied']) mirror.on(e, (v) => events.push([e, v]));
  mirror.start();
  await client.start();
  FakeSocket.last.accept(0);
  return events;
}
const deliver = (payload: unknown, from = 'evil') => FakeSocket.last.receive({ from, to: 'desk/mirror', room: 'r', seq: ++seq, ts: 1, payload });

beforeEach(() => { seq = 0; });
afterEach(() => {
  mirror.stop();
  client.close();
  rmSync(root, { recursive: true, force: true });
});

test('unfinished transfers are forgotten after transferTtlMs on the injected clock, with a warning; a chunk after that is ignored', async () => {
  const events = await start({ transferTtlMs: 60_000 });
  const size = CHUNK_BYTES + 10;
  const data = Buffer.alloc(size, 1);
  const hash = createHash('sha256').update(data).digest('hex');
  deliver({ hs: TAG, k: 'file', dev: 'laptop', path: 'slow.bin', vv: { laptop: 1 }, t: 1, d: 'laptop', hash, size, x: 'x1', n: 2, data: data.subarray(0, CHUNK_BYTES).toString('base64') });
  assert.equal(mirror.transfersInFlight, 1);
  time.advance(59_000);
  mirror.sweep();
  assert.equal(mirror.transfersInFlight, 1, 'not before the time');
  time.advance(2_000);
  mirror.sweep();
  assert.equal(mirror.transfersInFlight, 0);
  assert.match(events.find(([e]) => e === 'warning')?.[1].message, /slow\.bin from evil did not arrive in full within 60 s/);
  deliver({ hs: TAG, k: 'chunk', dev: 'laptop', x: 'x1', i: 1, data: data.subarray(CHUNK_BYTES).toString('base64') });
  assert.equal(events.filter(([e]) => e === 'applied').length, 0);
  // another peer cannot complete (or poison) evil's transfer: ids are per sender
  deliver({ hs: TAG, k: 'file', dev: 'laptop', path: 'slow.bin', vv: { laptop: 2 }, t: 2, d: 'laptop', hash, size, x: 'x2', n: 2, data: data.subarray(0, CHUNK_BYTES).toString('base64') });
  deliver({ hs: TAG, k: 'chunk', dev: 'other', x: 'x2', i: 1, data: Buffer.alloc(10, 9).toString('base64') }, 'other');
  assert.equal(mirror.transfersInFlight, 1);
  deliver({ hs: TAG, k: 'chunk', dev: 'laptop', x: 'x2', i: 1, data: data.subarray(CHUNK_BYTES).toString('base64') });
  assert.equal(mirror.transfersInFlight, 0);
  assert.deepEqual(events.filter(([e]) => e === 'applied').map(([, v]) => v.path), ['slow.bin']);
});

test('wants are de-duplicated and wait while the peer\'s queue is over its limit (one message a second: the queue cannot drain here)', async () => {
  const events = await start({ queuedBytesPerPeer: 150_000 }, { messagesPerSecond: 1, messageBurst: 1, now: () => time.now });
  deliver({ hs: TAG, k: 'want', dev: 'laptop', paths: ['f0.bin', 'f1.bin', 'f2.bin', 'f0.bin', 'f3.bin', 'f4.bin', 'f1.bin'] });
  // f0 and f1 (133 KB of base64 each) are queued for evil, which puts it over 150 KB: f2, f3, f4 wait as names only
  assert.equal(mirror.waitingWants, 3);
  assert.match(events.find(([e]) => e === 'warning')?.[1].message, /evil asked for 2 files already on their way to it/);
  deliver({ hs: TAG, k: 'want', dev: 'laptop', paths: ['f0.bin', 'f4.bin', 'f1.bin'] });
  assert.equal(mirror.waitingWants, 3, 'asked again: nothing more is queued or read');
  deliver({ hs: TAG, k: 'want', dev: 'laptop', paths: new Array(5000).fill('f9.bin') });
  assert.ok(events.some(([e, v]) => e === 'warning' && /3000 files over the limit/.test(v.message)));
});

test('deletions of paths this side never had are remembered only up to a bound (a peer cannot grow the index without end)', async () => {
  const events = await start({ foreignTombstones: 3 });
  for (let i = 0; i < 6; i++) deliver({ hs: TAG, k: 'file', dev: 'laptop', path: `made-up-${i}`, vv: { laptop: 1 }, t: 1, d: 'laptop', hash: null });
  assert.deepEqual([...index.files.keys()].filter((p) => p.startsWith('made-up-')), ['made-up-0', 'made-up-1', 'made-up-2']);
  assert.equal(events.filter(([e, v]) => e === 'warning' && /deletions of paths this device never had/.test(v.message)).length, 1);
});
