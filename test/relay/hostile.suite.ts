// Hostile clients against the relay: bad JSON, binary, huge and deeply nested frames, floods, a client that never
// reads, raw TCP junk and plain HTTP on the WebSocket port. After each, another room still works and /health answers.
// Written once for every engine: hostile.test.ts runs it on the single relay, test/cluster/conformance.test.ts on the
// cluster engine with 1 and 2 nodes (clients alternate between the nodes).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { RelayClient, sleep, token, uniqueRoom } from '../helpers/relay.ts';
import type { TestRelay } from '../helpers/relay.ts';
import type { StartRelay } from './engines.ts';

const MB = 1024 * 1024;
const isEnvelope = (f: any) => f && typeof f === 'object' && f.type === undefined && typeof f.from === 'string';

export function hostileSuite(startRelay: StartRelay, engine: string): void {
  describe(`relay under hostile input [${engine}]`, () => {
    let r: TestRelay;
    let w1: RelayClient;
    let w2: RelayClient;
    let n = 0;
    before(async () => {
      r = await startRelay({
        'limits.sendBuffer.bytes': 65536, 'limits.bytes.perSecond': 64 * MB, 'limits.messages.perSecond': 100_000,
        'limits.messages.burst': 100_000, 'join.timeout.seconds': 2,
      });
      const room = uniqueRoom('witness-');
      w1 = await r.device(room, 'w1');
      w2 = await r.device(room, 'w2');
    });
    after(() => r.close());

    /** The witness room still exchanges messages and /health answers. */
    async function assertAlive(): Promise<void> {
      const k = ++n;
      w1.envelope('w2', { alive: k });
      await w2.next((f) => isEnvelope(f) && f.payload?.alive === k, 3000);
      w2.envelope('broadcast', { alive: -k });
      await w1.next((f) => isEnvelope(f) && f.payload?.alive === -k, 3000);
      const h = await r.health();
      assert.equal(h.status, 200);
      assert.equal(h.body.status, 'ok');
    }

    test('invalid JSON and non-object JSON: BAD_FRAME, closed 1008 before join, kept open after', async () => {
      for (const junk of ['{', 'not json', '{"type":"join"', '\u0000\u0001', 'null', '[]', '"join"', '42', '']) {
        const c = await r.connect();
        c.send(junk);
        await c.expectRefused('BAD_FRAME', 1008);
      }
      const room = uniqueRoom();
      const a = await r.device(room, 'a');
      const b = await r.device(room, 'b');
      for (const junk of ['{', '{"from":"a",', 'null', '[1,2]', 'true', '\uFFFF']) {
        a.send(junk);
        assert.equal((await a.next('error')).code, 'BAD_FRAME', junk);
      }
      a.send({ what: 'ever' });
      assert.equal((await a.next('error')).code, 'UNKNOWN_FRAME');
      a.send({ type: 'join', room, device: 'a', token: token() });
      assert.equal((await a.next('error')).code, 'ALREADY_JOINED');
      a.envelope('', 'x');
      assert.equal((await a.next('error')).code, 'BAD_ENVELOPE');
      a.envelope('broadcast', 'x', { msgId: 'm'.repeat(65) });
      assert.equal((await a.next('error')).code, 'BAD_ENVELOPE');
      a.envelope('broadcast', 'x', { msgId: 17 });
      assert.equal((await a.next('error')).code, 'BAD_ENVELOPE');
      a.envelope('broadcast', { ok: true });
      await b.next(isEnvelope);
      assert.ok(a.isOpen);
      await assertAlive();
    });

    test('bad joins: BAD_JOIN closed 1008; a first frame that is not a join: NOT_JOINED', async () => {
      const bad: Record<string, unknown>[] = [
        { type: 'join', device: 'd', token: token() },
        { type: 'join', room: 'r', token: token() },
        { type: 'join', room: '', device: 'd', token: token() },
        { type: 'join', room: 'x'.repeat(256), device: 'd', token: token() },
        { type: 'join', room: 'r', device: 'x'.repeat(129), token: token() },
        { type: 'join', room: 'r', device: 'host', token: token() },
        { type: 'join', room: 'r', device: 'broadcast', token: token() },
        { type: 'join', room: 7, device: 'd', token: token() },
        { join: true, room: { $gt: '' }, device: 'd', token: token() },
      ];
      for (const frame of bad) {
        const c = await r.connect();
        c.send(frame);
        await c.expectRefused('BAD_JOIN', 1008);
      }
      const c = await r.connect();
      c.send({ type: 'ping' });
      await c.expectRefused('NOT_JOINED', 1008);
      const d = await r.connect();
      d.send({ from: 'a', to: 'broadcast', room: 'r', payload: 'x' });
      await d.expectRefused('NOT_JOINED', 1008);
      await assertAlive();
    });

    test('odd lastSeq values and odd but valid names never break the relay', async () => {
      for (const lastSeq of ['abc', -1, 1.5, 1e308, Number.MAX_SAFE_INTEGER, null, {}, [], true, '5']) {
        const c = await r.connect();
        c.send({ type: 'join', room: uniqueRoom(), device: 'd', token: token(), lastSeq });
        const ans = await c.next((f) => f?.type === 'joined' || f?.type === 'error');
        if (ans.type === 'error') {
          assert.equal(ans.code, 'BAD_JOIN', `lastSeq ${JSON.stringify(lastSeq)}: ${JSON.stringify(ans)}`);
          assert.equal((await c.waitClose()).code, 1008);
        } else {
          c.send({ type: 'ping' });
          await c.next('pong');
          await c.closeAndWait();
        }
      }
      for (const [room, device] of [['🚀 room "quoted" \\ \u2028', 'ü-device\u0000'], ['__proto__', 'constructor'], ['hasOwnProperty', 'toString'], ['x'.repeat(255), 'y'.repeat(127)]]) {
        const a = await r.device(room, device);
        const b = await r.device(room, device + '2');
        a.envelope(device + '2', { odd: true });
        const got = await b.next(isEnvelope);
        assert.equal(got.room, room);
        assert.equal(got.from, device);
        await a.closeAndWait();
        await b.closeAndWait();
      }
      await assertAlive();
    });

    test('binary frames: BAD_FRAME', async () => {
      const c = await r.connect();
      c.send(Buffer.from('{"type":"join","room":"x","device":"y"}'));
      await c.expectRefused('BAD_FRAME', 1008);
      const a = await r.device(uniqueRoom(), 'a');
      a.send(randomBytes(1000));
      assert.equal((await a.next('error')).code, 'BAD_FRAME');
      assert.ok(a.isOpen);
      await assertAlive();
    });

    test('a 10 MB frame: FRAME_TOO_LARGE and close 1009, before and after join', async () => {
      const c = await r.connect();
      c.send('{"type":"join","room":"' + 'x'.repeat(10 * MB) + '"}');
      await c.expectRefused('FRAME_TOO_LARGE', 1009, 5000);
      const a = await r.device(uniqueRoom(), 'a');
      a.envelope('broadcast', 'y'.repeat(10 * MB));
      await a.expectRefused('FRAME_TOO_LARGE', 1009, 5000);
      await assertAlive();
    });

    test('deeply nested JSON (100k levels) inside payload: forwarded or BAD_FRAME, never a crash', async () => {
      const room = uniqueRoom();
      const a = await r.device(room, 'a');
      const b = await r.device(room, 'b');
      const depth = 100_000;
      for (const [open, close] of [['[', ']'], ['{"a":', '}']]) {
        a.send(`{"from":"a","to":"broadcast","room":"${room}","payload":${open.repeat(depth)}1${close.repeat(depth)}}`);
        const deadline = Date.now() + 5000;
        while (!a.peek('error') && !b.peek(isEnvelope) && Date.now() < deadline && a.isOpen) await sleep(20);
        const err = a.peek('error');
        if (err) assert.equal(err.data.code, 'BAD_FRAME', err.raw);
        else assert.ok(b.peek(isEnvelope), 'neither forwarded nor refused within 5 s');
        if (err) await a.next('error');
        else await b.next(isEnvelope);
        assert.ok(a.isOpen);
      }
      // the same nesting as an escaped string is just a string: forwarded unchanged
      const nestedText = '['.repeat(depth) + ']'.repeat(depth);
      a.envelope('broadcast', nestedText, { tag: 'string' });
      const got = await b.next((f) => isEnvelope(f) && f.tag === 'string', 3000);
      assert.equal(got.payload, nestedText);
      await assertAlive();
    });

    test('20k tiny frames as fast as possible', async () => {
      const r2 = await startRelay();
      try {
        const room = uniqueRoom();
        const a = await r2.device(room, 'a');
        const b = await r2.device(room, 'b');
        const other = uniqueRoom();
        const x = await r2.device(other, 'x');
        const y = await r2.device(other, 'y');
        for (let i = 0; i < 20_000; i++) a.send(i % 2 ? '{"type":"ping"}' : `{"from":"a","to":"broadcast","room":"${room}","payload":${i}}`);
        await a.next((f) => f?.code === 'RATE_LIMITED', 5000);
        const t0 = Date.now();
        x.envelope('y', { during: 'flood' });
        await y.next(isEnvelope, 3000);
        assert.ok(Date.now() - t0 < 3000);
        await sleep(300);
        const routed = b.envelopes().length;
        assert.ok(routed <= 400, `a default token bucket (burst 200, 100/s) let ${routed} through`);
        assert.equal((await r2.health()).status, 200);
      } finally {
        await r2.close();
      }
      await assertAlive();
    });

    test('a client that never reads is bounded by limits.sendBuffer.bytes, then disconnected; it catches up on return', async () => {
      const room = uniqueRoom();
      const victim = await r.device(room, 'victim');
      const flooder = await r.device(room, 'flooder');
      const observer = await r.device(room, 'observer');
      (victim.ws as any)._socket.pause();
      const chunk = 'z'.repeat(64 * 1024);
      const total = 400; // 25 MB towards the victim: far over the 64 KiB allowance plus the kernel's socket buffers
      let lastSeq = 0;
      const slowClosed = async () => (await r.metricsOfEveryNode()).some((t) => /^hone_relay_disconnects_total\{code="SLOW_CONSUMER"\} 1$/m.test(t));
      for (let i = 0; i < total; i++) {
        flooder.envelope('broadcast', chunk, { i });
        if (i % 50 === 49) {
          lastSeq = (await observer.next((f) => isEnvelope(f) && f.i === i, 5000)).seq;
          if (await slowClosed()) break;
        }
      }
      assert.ok(await slowClosed(), 'the relay ended the victim as a slow consumer');
      const h = await r.health();
      assert.ok(h.body.connections >= 4, 'the others are still connected');
      // Reading again (within the 2 s the relay gives it), it gets what was queued, then the error frame and the
      // close, as docs/relay.md says.
      (victim.ws as any)._socket.resume();
      const closed = await victim.waitClose(5000);
      assert.equal(victim.seen('error')?.data.code, 'SLOW_CONSUMER');
      assert.equal(closed.code, 1008);
      assert.ok(await observer.next((f) => f?.type === 'presence' && f.device === 'victim' && f.state === 'left', 5000));
      // it comes back and catches up from the buffer
      const back = await r.connect();
      const ans = await back.join(room, 'victim', token(), { lastSeq: lastSeq - 5 });
      assert.equal(ans.type, 'joined');
      const d = await back.next('deltas', 5000);
      assert.ok(d.deltas.length >= 5);
      await back.closeAndWait();
      await flooder.closeAndWait();
      await observer.closeAndWait();
      await assertAlive();
    });

    test('junk bytes on the raw TCP port are dropped without harm', async () => {
      const port = Number(new URL(r.wsUrl).port);
      const payloads = [
        randomBytes(4096), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
        Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' + '\xff'.repeat(100)),
        Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + 'A'.repeat(500), 'latin1'),
        Buffer.concat([Buffer.from('GET /' + 'a'.repeat(100_000) + ' HTTP/1.1\r\n'), Buffer.from('X: ' + 'b'.repeat(100_000) + '\r\n\r\n')]),
      ];
      for (const p of payloads) {
        await new Promise<void>((resolve, reject) => {
          const s = connect(port, '127.0.0.1');
          const t = setTimeout(() => { s.destroy(); reject(new Error(`the relay kept a junk connection open for 5 s: ${p.subarray(0, 40).toString('latin1')}`)); }, 5000);
          s.on('connect', () => s.write(p));
          s.on('data', () => {});
          s.on('error', () => {});
          s.on('close', () => { clearTimeout(t); resolve(); });
        });
      }
      await assertAlive();
    });

    // Idle half-open sockets are cheap to hold open by the thousand; the relay sets headersTimeout 10 s for them.
    test('a TCP connection that never completes its HTTP request is dropped within 12 s', async () => {
      const port = Number(new URL(r.wsUrl).port);
      const limitMs = 12_000;
      await Promise.all([Buffer.alloc(0), Buffer.from('\r\n\r\n\r\n'), Buffer.from('GET /ws HTTP/1.1\r\nHost: x\r\n')].map((p) => new Promise<void>((resolve, reject) => {
        const t0 = Date.now();
        const s = connect(port, '127.0.0.1');
        const t = setTimeout(() => {
          s.removeAllListeners('close');
          s.destroy();
          reject(new Error(`a connection that sent ${JSON.stringify(p.toString())} was still open after ${Date.now() - t0} ms`));
        }, limitMs);
        s.on('connect', () => { if (p.length) s.write(p); });
        s.on('data', () => {});
        s.on('error', () => {});
        s.on('close', () => { clearTimeout(t); resolve(); });
      })));
      await assertAlive();
    });

    test('plain HTTP requests to the WebSocket port get a 4xx, not a crash', async () => {
      const base = r.wsUrl.replace(/^ws/, 'http');
      for (const [method, path] of [['GET', '/'], ['GET', '/ws'], ['POST', '/ws'], ['GET', '/health'], ['DELETE', '/x'], ['OPTIONS', '/']] as const) {
        const res = await fetch(base + path, { method, body: method === 'POST' ? 'x'.repeat(1000) : undefined });
        await res.arrayBuffer();
        assert.ok(res.status >= 400 && res.status < 500, `${method} ${path} → ${res.status}`);
      }
      await assertAlive();
    });

    test('a connection that never joins is closed after join.timeout.seconds', async () => {
      const c = await r.connect();
      await c.expectRefused('JOIN_TIMEOUT', 1008, 4000);
      await assertAlive();
    });
  });
}
