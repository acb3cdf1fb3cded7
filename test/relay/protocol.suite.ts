// The relay WebSocket protocol of SPEC §6 and docs/relay.md, black-box with real `ws` clients against an in-process relay:
// joins, routing, seq, host election and hand-over, replacement, presence, catch-up, msgId, djb2 collisions, limits, /health, /metrics.
// Written once for every engine: protocol.test.ts runs it on the single relay, test/cluster/conformance.test.ts on the
// cluster engine with 1 and 2 nodes (clients alternate between the nodes).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VERSION } from '../../src/common/version.ts';
import { RelayClient, sleep, token, uniqueRoom } from '../helpers/relay.ts';
import type { TestRelay } from '../helpers/relay.ts';
import type { StartRelay } from './engines.ts';

const isEnvelope = (f: any) => f && typeof f === 'object' && f.type === undefined && typeof f.from === 'string';
const envWith = (key: string, value: unknown) => (f: any) => isEnvelope(f) && f.payload && f.payload[key] === value;

/** `nodes` > 1: a cluster behind one facade, where counts and per-relay limits are each node's. */
/** Devices a and b in a new room; a broadcasts k:1 and k:2, b reads them and leaves. */
async function bLeftAfterTwo(r: TestRelay) {
  const room = uniqueRoom();
  const a = await r.device(room, 'a');
  const b = await r.device(room, 'b');
  a.envelope('broadcast', { k: 1 });
  a.envelope('broadcast', { k: 2 });
  await b.next(envWith('k', 2));
  await b.closeAndWait();
  return { room, a };
}

export function protocolSuite(startRelay: StartRelay, engine: string, nodes = 1): void {
  const perNode = nodes > 1 ? 'counts and limits are per node' : false;
  describe(`relay protocol (buffer window 60 s) [${engine}]`, () => {
    let r: TestRelay;
    before(async () => { r = await startRelay(); });
    after(() => r.close());

    test('both join shapes are accepted; joined carries room, device, host, hostDevice and the room seq', async () => {
      const room = uniqueRoom();
      const a = await r.connect();
      const ja = await a.join(room, 'desktop-1', token(1, 1), { shape: 'type' });
      assert.equal(ja.type, 'joined', JSON.stringify(ja));
      assert.equal(ja.room, room);
      assert.equal(ja.device, 'desktop-1');
      assert.equal(ja.host, true);
      assert.equal(ja.hostDevice, 'desktop-1');
      assert.equal(ja.seq, 0);

      const b = await r.connect();
      const jb = await b.join(room, 'phone-1', token(1, 2), { shape: 'flag', lastSeq: 0 });
      assert.equal(jb.type, 'joined', JSON.stringify(jb));
      assert.equal(jb.room, room);
      assert.equal(jb.device, 'phone-1');
      assert.equal(jb.host, false);
      assert.equal(jb.hostDevice, 'desktop-1');
      assert.equal(jb.seq, 0);

      a.envelope('broadcast', { n: 1 });
      a.envelope('broadcast', { n: 2 });
      await b.next(envWith('n', 2));
      const c = await r.device(room, 'tablet-1', { shape: 'flag' });
      assert.equal(c.joinedFrame.seq, 2, 'joined.seq is the room current sequence number');
      assert.equal(c.joinedFrame.host, false);
    });

    test('routing: host, broadcast (never back to the sender) and a device label', async () => {
      const room = uniqueRoom();
      const a = await r.device(room, 'a');
      const b = await r.device(room, 'b');
      const c = await r.device(room, 'c');

      b.envelope('host', { m: 'to-host' });
      const gotHost = await a.next(envWith('m', 'to-host'));
      assert.equal(gotHost.from, 'b');
      assert.equal(gotHost.to, 'host');
      assert.equal(gotHost.room, room);

      a.envelope('broadcast', { m: 'bc' });
      const atB = await b.next(envWith('m', 'bc'));
      const atC = await c.next(envWith('m', 'bc'));
      assert.equal(atB.seq, atC.seq);
      assert.equal(atB.from, 'a');

      c.envelope('b', { m: 'direct' });
      const direct = await b.next(envWith('m', 'direct'));
      assert.equal(direct.to, 'b');

      await Promise.all([
        a.expectNone(envWith('m', 'bc'), 300, 'broadcast came back to its sender'),
        b.expectNone(envWith('m', 'to-host'), 0, 'host message reached a non-host'),
        c.expectNone(envWith('m', 'to-host'), 0, 'host message reached a non-host'),
        a.expectNone(envWith('m', 'direct'), 0, 'direct message reached another device'),
        c.expectNone(envWith('m', 'direct'), 0, 'direct message came back to its sender'),
      ]);
    });

    test('seq is stamped by the relay, replaces the client value and increases by one per envelope', async () => {
      const room = uniqueRoom();
      const a = await r.device(room, 'a');
      const b = await r.device(room, 'b');
      for (let i = 0; i < 10; i++) a.envelope('broadcast', { i }, { seq: 999 - i });
      const got: number[] = [];
      for (let i = 0; i < 10; i++) got.push((await b.next(envWith('i', i))).seq);
      assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      b.envelope('a', { i: 'back' }, { seq: 0 });
      assert.equal((await a.next(envWith('i', 'back'))).seq, 11, 'one sequence per room, whoever sends');
    });

    test('the first device to join is host; later ones are not; a host that returns within the window keeps the role', async () => {
      const room = uniqueRoom();
      const a = await r.device(room, 'first');
      const b = await r.device(room, 'second');
      assert.equal(a.joinedFrame.host, true);
      assert.equal(b.joinedFrame.host, false);
      assert.equal(b.joinedFrame.hostDevice, 'first');
      await a.closeAndWait();
      b.envelope('host', { m: 'while-away' });
      await b.expectNone('host', 300, 'host changed inside the buffer window');
      const a2 = await r.device(room, 'first', { lastSeq: 0 });
      assert.equal(a2.joinedFrame.host, true, 'the host keeps its role for the buffer window');
      const deltas = await a2.next('deltas');
      assert.deepEqual(deltas.deltas.map((d: any) => JSON.parse(d.payload).payload.m), ['while-away'], 'host messages sent while it was away are caught up');
    });

    test('a device that joins again with the same label replaces its older connection (closed 4001)', async () => {
      const room = uniqueRoom();
      const old = await r.device(room, 'laptop');
      const peer = await r.device(room, 'peer');
      const fresh = await r.device(room, 'laptop');
      const closed = await old.waitClose(2000);
      assert.equal(closed.code, 4001);
      const err = old.seen('error');
      assert.ok(err, 'an error frame says why');
      assert.equal(err.data.code, 'REPLACED');
      peer.envelope('laptop', { m: 'after-replace' });
      await fresh.next(envWith('m', 'after-replace'));
      assert.equal(fresh.joinedFrame.host, true, 'the replaced host label stays host');
      await peer.expectNone((f) => f?.type === 'presence' && f.state === 'left' && f.device === 'laptop', 200, 'a replacement is not a departure');
    });

    test('presence: others are told when a device joins and leaves', async () => {
      const room = uniqueRoom();
      const a = await r.device(room, 'a');
      const b = await r.device(room, 'b');
      const joined = await a.next((f) => f?.type === 'presence' && f.device === 'b');
      assert.deepEqual(joined, { type: 'presence', room, device: 'b', state: 'joined' });
      await b.closeAndWait();
      const left = await a.next((f) => f?.type === 'presence' && f.device === 'b' && f.state === 'left');
      assert.deepEqual(left, { type: 'presence', room, device: 'b', state: 'left' });
      await b.expectNone((f) => f?.type === 'presence' && f.device === 'b', 0, 'a device is told about itself');
    });

    test('ping gets pong, in both join shapes', async () => {
      const room = uniqueRoom();
      const a = await r.device(room, 'a', { shape: 'flag' });
      a.send('{"type":"ping"}');
      assert.deepEqual(await a.next('pong'), { type: 'pong' });
      const b = await r.device(room, 'b');
      b.send({ type: 'ping' });
      await b.next('pong');
    });

    test('catch-up with lastSeq: buffered envelopes addressed to the device, in order, in one deltas frame first', async () => {
      const room = uniqueRoom();
      const a = await r.device(room, 'a');
      const b = await r.device(room, 'b');
      const c = await r.device(room, 'c');
      a.envelope('broadcast', { k: 1 });
      await b.next(envWith('k', 1));
      await b.closeAndWait();
      a.envelope('broadcast', { k: 2 });
      a.envelope('b', { k: 3 });
      a.envelope('c', { k: 'not-for-b' });
      a.envelope('host', { k: 'host-only' }); // a itself is host: nothing for b
      c.envelope('broadcast', { k: 4 });
      await c.next(envWith('k', 'not-for-b'));
      await a.next(envWith('k', 4));

      const b2 = await r.connect();
      const joined = await b2.join(room, 'b', token(1, 2), { lastSeq: 1 });
      assert.equal(joined.type, 'joined');
      const deltasFrame = await b2.nextFrame('deltas');
      assert.equal(b2.frames.indexOf(deltasFrame), 1, `deltas comes first: ${b2.frames.map((f) => f.raw.slice(0, 100)).join(' | ')}`);
      const deltas = deltasFrame.data;
      assert.equal(deltas.room, room);
      assert.equal(deltas.complete, true);
      assert.deepEqual(deltas.deltas.map((d: any) => JSON.parse(d.payload).payload.k), [2, 3, 4]);
      const seqs = deltas.deltas.map((d: any) => d.seq);
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
      for (const d of deltas.deltas) {
        assert.equal(typeof d.payload, 'string');
        const env = JSON.parse(d.payload);
        assert.equal(env.seq, d.seq);
        assert.equal(d.deviceId, env.from);
        assert.equal(typeof d.createdAt, 'number');
        assert.ok(Math.abs(d.createdAt - Date.now()) < 60_000, 'createdAt is milliseconds since the epoch');
      }
      assert.equal(deltas.deltas[2].deviceId, 'c');

      const b3 = await r.connect();
      await b3.join(room, 'b', token(1, 2), { lastSeq: 0, shape: 'flag' });
      const all = await b3.next('deltas');
      assert.deepEqual(all.deltas.map((d: any) => JSON.parse(d.payload).payload.k), [1, 2, 3, 4], 'lastSeq 0 asks for everything buffered');
    });

    test('catch-up without lastSeq starts after the last seq the relay delivered to that label; a new label gets none', async () => {
      const { room, a } = await bLeftAfterTwo(r);
      a.envelope('broadcast', { k: 3 });
      a.envelope('b', { k: 4 });
      await sleep(100);
      const b2 = await r.device(room, 'b');
      const deltas = await b2.next('deltas');
      assert.deepEqual(deltas.deltas.map((d: any) => JSON.parse(d.payload).payload.k), [3, 4]);
      assert.equal(deltas.complete, true);

      const fresh = await r.device(room, 'never-seen');
      await fresh.expectNone('deltas', 300, 'a label with no baseline got a deltas frame');
    });

    test('catch-up while the room is busy: deltas then live frames, no gap and no duplicate', async () => {
      const room = uniqueRoom();
      const a = await r.device(room, 'a');
      const b = await r.device(room, 'b');
      a.envelope('broadcast', { k: 0 });
      const base = (await b.next(envWith('k', 0))).seq;
      await b.closeAndWait();
      let sending = true;
      let k = 1;
      const pump = (async () => {
        while (sending) {
          a.envelope('broadcast', { k: k++ });
          if (k % 5 === 0) await sleep(10);
        }
      })();
      await sleep(100);
      const seqs: number[] = [];
      for (let round = 0; round < 3; round++) {
        const b2 = await r.connect();
        const j = await b2.join(room, 'b', token(1, 2), { lastSeq: seqs.at(-1) ?? base });
        assert.equal(j.type, 'joined');
        await sleep(150);
        const d = b2.seen('deltas');
        if (d) seqs.push(...d.data.deltas.map((e: any) => e.seq));
        seqs.push(...b2.envelopes().map((e) => e.seq));
        await b2.closeAndWait();
        await sleep(50);
      }
      sending = false;
      await pump;
      assert.ok(seqs.length > 20, `received ${seqs.length}`);
      const expected = Array.from({ length: seqs.length }, (_, i) => base + 1 + i);
      assert.deepEqual(seqs, expected, 'every seq exactly once, in order, across deltas and live frames');
    });

    test('an envelope routed while a joining device reads its catch-up reaches it at once, with no later traffic', async () => {
      // The catch-up read is held open until the envelope has been routed (a slow disk), so the envelope is held back
      // for the joining device and released after its deltas frame: it must leave then, not wait for the room's next one.
      let routed!: () => void;
      const envelopeRouted = new Promise<void>((resolve) => { routed = resolve; });
      const slow = await startRelay({}, {
        wrapEngine: (engine) => ({
          ...engine,
          buffer: Object.assign(Object.create(engine.buffer), {
            async replay(room: string, afterSeq: number) {
              const answer = await engine.buffer.replay(room, afterSeq, 1e9);
              await envelopeRouted;
              return answer;
            },
          }),
        }),
      });
      try {
        const room = uniqueRoom();
        const a = await slow.device(room, 'a');
        const b = await slow.connect();
        b.send({ type: 'join', room, device: 'b', token: token(1, 2), lastSeq: 0 });
        assert.equal((await b.next('joined')).type, 'joined');
        a.envelope('broadcast', { only: 'one' }, { msgId: 'single' });
        await a.next('ack');
        routed();
        assert.deepEqual((await b.next('deltas')).deltas, []);
        assert.deepEqual((await b.next(envWith('only', 'one'), 2000)).payload, { only: 'one' });
      } finally {
        await slow.close();
      }
    });

    test('msgId: ack with the seq; a duplicate is acked with the first seq and not routed again (also after a reconnect)', async () => {
      const room = uniqueRoom();
      const a = await r.device(room, 'a');
      const b = await r.device(room, 'b');
      a.envelope('broadcast', { m: 'once' }, { msgId: 'msg-0001' });
      const ack = await a.next('ack');
      assert.deepEqual(ack, { type: 'ack', msgId: 'msg-0001', seq: ack.seq });
      assert.equal(typeof ack.seq, 'number');
      const got = await b.next(envWith('m', 'once'));
      assert.equal(got.seq, ack.seq);
      assert.equal(got.msgId, 'msg-0001', 'msgId is an unknown-to-peers field and is kept');

      a.envelope('broadcast', { m: 'once' }, { msgId: 'msg-0001' });
      const ack2 = await a.next('ack');
      assert.deepEqual(ack2, { type: 'ack', msgId: 'msg-0001', seq: ack.seq });
      await b.expectNone(envWith('m', 'once'), 300, 'duplicate msgId routed again');

      await a.closeAndWait();
      const a2 = await r.device(room, 'a');
      a2.envelope('broadcast', { m: 'once' }, { msgId: 'msg-0001' });
      assert.deepEqual(await a2.next('ack'), { type: 'ack', msgId: 'msg-0001', seq: ack.seq });
      await b.expectNone(envWith('m', 'once'), 300, 'resend after reconnect routed again');

      b.envelope('a', { m: 'same-id-other-label' }, { msgId: 'msg-0001' });
      const ackB = await b.next('ack');
      assert.ok(ackB.seq > ack.seq, 'the same msgId from another label is a different message');
      await a2.next(envWith('m', 'same-id-other-label'));

      a2.envelope('broadcast', { m: 'no-id' });
      await b.next(envWith('m', 'no-id'));
      await a2.expectNone('ack', 200, 'ack for an envelope without msgId');
    });

    test('djb2-colliding rooms ("ab"/"bA", "1:5:1764015988461"/"2:5:1765020898292") never see each other', async () => {
      for (const [r1, r2] of [['ab', 'bA'], ['1:5:1764015988461', '2:5:1765020898292']]) {
        const x1 = await r.device(r1, 'one');
        const y1 = await r.device(r2, 'one');
        const x2 = await r.device(r1, 'two');
        const y2 = await r.device(r2, 'two');
        assert.equal(x1.joinedFrame.host, true);
        assert.equal(y1.joinedFrame.host, true, 'each room has its own host');
        assert.equal(y2.joinedFrame.seq, 0, 'each room has its own sequence');
        const step = async (fromX: RelayClient, fromY: RelayClient, to: string, atX: RelayClient, atY: RelayClient, n: number) => {
          fromX.envelope(to, { room: r1, n });
          fromY.envelope(to, { room: r2, n });
          const [gx, gy] = await Promise.all([atX.next(envWith('room', r1)), atY.next(envWith('room', r2))]);
          assert.equal(gx.payload.n, n);
          assert.equal(gy.payload.n, n);
          assert.equal(gx.seq, n, `${r1} has its own sequence`);
          assert.equal(gy.seq, n, `${r2} has its own sequence`);
        };
        await step(x1, y1, 'broadcast', x2, y2, 1);
        await step(x2, y2, 'host', x1, y1, 2);
        await step(x1, y1, 'two', x2, y2, 3);
        await sleep(300);
        for (const c of [x1, x2]) assert.ok(!c.envelopes().some((e) => e.room === r2 || e.payload?.room === r2), `${r1} saw ${r2}`);
        for (const c of [y1, y2]) assert.ok(!c.envelopes().some((e) => e.room === r1 || e.payload?.room === r1), `${r2} saw ${r1}`);
        for (const c of [x1, x2, y1, y2]) await c.closeAndWait();
      }
    });

    test('/health reports status, uptime, rooms, connections, buffered messages and version', async () => {
      const h = await r.health();
      assert.equal(h.status, 200);
      assert.equal(h.body.status, 'ok');
      const uptimeKey = Object.keys(h.body).find((k) => /^uptime/i.test(k));
      assert.ok(uptimeKey, `an uptime field: ${JSON.stringify(h.body)}`);
      assert.equal(typeof h.body[uptimeKey], 'number');
      assert.equal(h.body.version, VERSION);
      for (const k of ['rooms', 'connections']) assert.equal(typeof h.body[k], 'number', `${k}: ${JSON.stringify(h.body)}`);
      const bufferedKey = Object.keys(h.body).find((k) => /buffer/i.test(k));
      assert.ok(bufferedKey, `a buffered-messages field: ${JSON.stringify(h.body)}`);
    });

    test('GET / is a status page', async () => {
      const res = await fetch(r.httpUrl + '/');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      await res.text();
    });
  });

  describe(`relay /health and /metrics counts [${engine}]`, () => {
    let r: TestRelay;
    before(async () => { r = await startRelay(); });
    after(() => r.close());

    test('/health counts rooms, connections and buffered messages', { skip: perNode }, async () => {
      const h0 = (await r.health()).body;
      assert.equal(h0.rooms, 0);
      assert.equal(h0.connections, 0);
      const bufferedKey = Object.keys(h0).find((k) => /buffer/i.test(k))!;
      const a = await r.device('pair-H1', 'a');
      const b = await r.device('pair-H1', 'b');
      await r.device('pair-H2', 'a');
      a.envelope('broadcast', { x: 1 }, { msgId: 'h-1' });
      await a.next('ack');
      await b.next(envWith('x', 1));
      let h = (await r.health()).body;
      assert.equal(h.rooms, 2);
      assert.equal(h.connections, 3);
      const bufferedOf = (body: any) => (typeof body[bufferedKey] === 'number' ? body[bufferedKey] : body[bufferedKey]?.messages);
      // A cluster node reads the cluster's count from Redis once a second.
      for (let i = 0; i < 40 && bufferedOf(h) !== 1; i++) h = await new Promise((res) => setTimeout(res, 50)).then(async () => (await r.health()).body);
      const buffered = bufferedOf(h);
      assert.equal(buffered, 1, JSON.stringify(h));
      const uptimeKey = Object.keys(h0).find((k) => /^uptime/i.test(k))!;
      assert.ok(h[uptimeKey] >= h0[uptimeKey]);
    });

    test('/metrics is Prometheus text with the relay metric families', { skip: perNode }, async () => {
      const m = await r.metrics();
      assert.equal(m.status, 200);
      assert.match(m.contentType, /^text\/plain/);
      const families = [...m.text.matchAll(/^# TYPE (\S+) (\S+)/gm)].map((x) => x[1]);
      const want: [string, RegExp][] = [
        ['open connections', /connections$/], ['rooms', /rooms$/], ['buffered messages', /buffered/], ['routed messages', /routed/],
        ['dropped or refused messages', /dropped|error|reject/], ['duplicates', /duplicate/], ['joins', /join/], ['routing latency', /routing|latency/],
        ['process', /process_/], ['event loop', /eventloop/],
      ];
      for (const [what, re] of want) assert.ok(families.some((f) => re.test(f)), `no ${what} family in: ${families.join(', ')}`);
      const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(m.text)?.[1]);
      const connections = families.find((f) => /connections$/.test(f))!;
      assert.equal(value(connections), 3, `${connections} after the /health test: ${m.text.split('\n').filter((l) => l.startsWith(connections)).join(' | ')}`);
      const routed = families.find((f) => /routed/.test(f))!;
      const routedTotal = m.text.split('\n').filter((l) => l.startsWith(routed) && !l.startsWith('#')).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
      assert.ok(routedTotal >= 1, `${routed}: ${routedTotal}`);
    });
  });

  describe(`relay host hand-over and buffer window (buffer.ttl.seconds=1) [${engine}]`, () => {
    let r: TestRelay;
    before(async () => { r = await startRelay({ 'buffer.ttl.seconds': 1 }, { manualTime: true }); });
    after(() => r.close());

    test('a host that stays away past the window hands over to the longest-connected device, and the room is told', async () => {
      const room = uniqueRoom();
      const a = await r.device(room, 'a');
      const b = await r.device(room, 'b');
      await r.advance(50);
      const c = await r.device(room, 'c');
      await a.closeAndWait();
      await r.advance(1000);
      const hb = await b.next('host', 4000);
      assert.deepEqual(hb, { type: 'host', room, device: 'b' });
      const hc = await c.next('host', 1000);
      assert.deepEqual(hc, { type: 'host', room, device: 'b' });
      c.envelope('host', { m: 'new-host' });
      await b.next(envWith('m', 'new-host'));
      const a2 = await r.device(room, 'a');
      assert.equal(a2.joinedFrame.host, false);
      assert.equal(a2.joinedFrame.hostDevice, 'b');
    });

    test('complete:false when lastSeq is older than what the buffer holds', async () => {
      const { room, a } = await bLeftAfterTwo(r);
      await r.advance(2300);
      a.envelope('broadcast', { k: 3 }, { msgId: 'k3' });
      await a.next('ack');
      const b2 = await r.connect();
      await b2.join(room, 'b', token(1, 2), { lastSeq: 0 });
      const old = await b2.next('deltas');
      assert.equal(old.complete, false, JSON.stringify(old));
      assert.deepEqual(old.deltas.map((d: any) => JSON.parse(d.payload).payload.k), [3]);
      const b3 = await r.connect();
      await b3.join(room, 'b', token(1, 2), { lastSeq: 2 });
      const recent = await b3.next('deltas');
      assert.equal(recent.complete, true, 'nothing after lastSeq 2 has left the buffer');
      assert.deepEqual(recent.deltas.map((d: any) => JSON.parse(d.payload).payload.k), [3]);
    });
  });

  describe(`relay limits [${engine}]`, () => {
    test('frame size: error FRAME_TOO_LARGE, then close 1009; smaller frames pass', async () => {
      const r = await startRelay({ 'limits.frame.bytes': 2048 });
      try {
        const a = await r.device('pair-L1', 'a');
        const b = await r.device('pair-L1', 'b');
        a.envelope('broadcast', 'x'.repeat(1500));
        await b.next(isEnvelope);
        a.envelope('broadcast', 'x'.repeat(3000));
        await a.expectRefused('FRAME_TOO_LARGE', 1009);
        await b.expectNone(isEnvelope, 200, 'the oversized frame was routed');
      } finally {
        await r.close();
      }
    });

    test('message rate: RATE_LIMITED errors carrying the msgId, the connection stays', async () => {
      const r = await startRelay({ 'limits.messages.perSecond': 5, 'limits.messages.burst': 5 }, { manualTime: true });
      try {
        const a = await r.device('pair-L2', 'a');
        const b = await r.device('pair-L2', 'b');
        for (let i = 0; i < 30; i++) a.envelope('broadcast', { i }, { msgId: `r-${i}` });
        const err = await a.next((f) => f?.type === 'error' && f.code === 'RATE_LIMITED');
        assert.match(err.msgId, /^r-\d+$/);
        assert.equal(typeof err.error, 'string');
        await sleep(300);
        const routed = b.envelopes().length;
        assert.ok(routed >= 5 && routed < 30, `routed ${routed} of 30`);
        const acks = a.frames.filter((f) => f.data?.type === 'ack').length;
        assert.equal(acks, routed, 'dropped envelopes are not acked');
        assert.ok(a.isOpen);
        await r.advance(1100);
        a.envelope('broadcast', { i: 'later' });
        await b.next(envWith('i', 'later'));
      } finally {
        await r.close();
      }
    });

    test('byte rate: RATE_LIMITED when the byte bucket is empty', async () => {
      const r = await startRelay({ 'limits.bytes.perSecond': 4096 });
      try {
        const a = await r.device('pair-L3', 'a');
        const b = await r.device('pair-L3', 'b');
        for (let i = 0; i < 10; i++) a.envelope('broadcast', { i, pad: 'p'.repeat(1500) });
        await a.next((f) => f?.type === 'error' && f.code === 'RATE_LIMITED');
        await sleep(200);
        assert.ok(b.envelopes().length < 10);
        assert.ok(a.isOpen);
      } finally {
        await r.close();
      }
    });

    test('connections per IP per minute: TOO_MANY_CONNECTIONS, close 1013', async () => {
      const r = await startRelay({ 'limits.connections.perIpPerMinute': 3 });
      try {
        const ok: RelayClient[] = [];
        for (let i = 0; i < 3; i++) ok.push(await r.connect());
        let refused: RelayClient | null = null;
        try {
          refused = await r.connect();
        } catch (err) {
          assert.fail(`the fourth connection should get an error frame, not a failed upgrade: ${(err as Error).message}`);
        }
        await refused!.expectRefused('TOO_MANY_CONNECTIONS', 1013);
        const j = await ok[0].join('pair-L4', 'a', token());
        assert.equal(j.type, 'joined', 'connections within the limit still work');
      } finally {
        await r.close();
      }
    });

    test('devices per room: ROOM_FULL close 1013; a label already there may still replace itself', async () => {
      const r = await startRelay({ 'limits.devicesPerRoom': 2 });
      try {
        await r.device('pair-L5', 'a');
        await r.device('pair-L5', 'b');
        const c = await r.connect();
        const ans = await c.join('pair-L5', 'c', token());
        assert.equal(ans.type, 'error');
        assert.equal(ans.code, 'ROOM_FULL');
        assert.equal((await c.waitClose()).code, 1013);
        const again = await r.device('pair-L5', 'b');
        assert.equal(again.joinedFrame.type, 'joined');
        await r.device('pair-L6', 'c');
      } finally {
        await r.close();
      }
    });

    test('rooms per relay: RELAY_FULL close 1013; a room frees its slot when its last device leaves', { skip: perNode }, async () => {
      const r = await startRelay({ 'limits.rooms': 2 });
      try {
        const a = await r.device('pair-R1', 'a');
        await r.device('pair-R1', 'b');
        const only = await r.device('pair-R2', 'a');
        await r.device('pair-R1', 'c'); // more devices in a room that exists are fine
        const c = await r.connect();
        const ans = await c.join('pair-R3', 'a', token());
        assert.equal(ans.code, 'RELAY_FULL', JSON.stringify(ans));
        assert.equal((await c.waitClose()).code, 1013);
        await a.closeAndWait();
        const d = await r.connect();
        assert.equal((await d.join('pair-R3', 'a', token())).code, 'RELAY_FULL', 'pair-R1 still has devices');
        await only.closeAndWait();
        await sleep(100);
        const e = await r.device('pair-R3', 'a');
        assert.equal(e.joinedFrame.type, 'joined');
      } finally {
        await r.close();
      }
    });

    test('join timeout: JOIN_TIMEOUT close 1008', async () => {
      const r = await startRelay({ 'join.timeout.seconds': 1 }, { manualTime: true });
      try {
        const c = await r.connect();
        await r.advance(1000);
        await c.expectRefused('JOIN_TIMEOUT', 1008, 3000);
      } finally {
        await r.close();
      }
    });

    test('graceful close: sockets closed with 1001', async () => {
      const r = await startRelay();
      const c = await RelayClient.connect(r.wsUrl);
      assert.equal((await c.join('pair-G', 'a', token())).type, 'joined');
      const closing = r.close();
      const info = await c.waitClose(3000);
      await closing;
      assert.equal(info.code, 1001);
    });
  });
}
