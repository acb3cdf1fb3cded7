// The cluster's Redis (one this test starts itself, AOF on) restarted mid-stream: while it is down joins are refused
// with CLUSTER_UNAVAILABLE and envelopes answered BUFFER_UNAVAILABLE; afterwards the nodes carry on, nothing lost.
// A Redis that hangs (SIGSTOP) is dropped after 5 s without an answer and treated the same way.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { RelayClient, sleep, token } from '../helpers/relay.ts';
import { clusterConfig, drainAcks, OwnRedis, Peer, sendRound, settledDeliveries, spreadPeers, startNode, stopCluster, until, waitHealth } from '../helpers/cluster.ts';
import type { NodeProcess } from '../helpers/cluster.ts';

describe('relay cluster: Redis restarts', () => {
  const redis = new OwnRedis();
  let conf: ReturnType<typeof clusterConfig>;
  let nodes: NodeProcess[] = [];
  const peers: Peer[] = [];
  const clients: RelayClient[] = [];

  before(async () => {
    await redis.start();
    conf = clusterConfig(redis.url, { 'buffer.ttl.seconds': 20 });
    nodes = await Promise.all([0, 1, 2].map(() => startNode(conf.file, conf.dir)));
  });
  after(async () => {
    await stopCluster({ nodes, peers, clients, dir: conf.dir });
    await redis.destroy();
  });

  test('down: joins refused, envelopes refused, health degraded; back: nodes reconnect and carry on, nothing lost', async () => {
    const ROOMS = 6;
    const PER_ROOM = 3;
    const { hosts } = await spreadPeers(nodes, 'RR', ROOMS, PER_ROOM, peers);
    const round = (i: number) => sendRound(peers, i, PER_ROOM);
    let i = 0;
    for (; i < 10; i++) {
      round(i);
      await sleep(25);
    }
    const before = Math.max(...peers.flatMap((p) => [...p.acks.values()]));

    await redis.stop();
    for (let k = 0; k < 5; k++, i++) {
      round(i);
      await sleep(25);
    }
    // a join while Redis is away is refused, not served from a split view
    const late = (await RelayClient.connect(nodes[1].ws)) as RelayClient;
    clients.push(late);
    const refused = await late.join('pair-RR0', 'late', token(1, 9));
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'CLUSTER_UNAVAILABLE');
    assert.equal((await late.waitClose()).code, 1013);
    assert.ok(await until(() => peers.some((p) => p.errors.some((e) => e.code === 'BUFFER_UNAVAILABLE')), 3000), 'envelopes are answered BUFFER_UNAVAILABLE');
    const health = await nodes[0].health();
    assert.equal(health.status, 'degraded');
    assert.equal(health.cluster.redis, 'down');
    assert.match(await nodes[0].metrics(), /^hone_relay_cluster_redis_up 0$/m);
    assert.ok(peers.every((p) => p.open), 'connected devices stay connected');

    await redis.start();
    for (const n of nodes) {
      const h = await waitHealth(n, (b) => b.cluster.redis === 'connected', 5000);
      assert.equal(h.cluster.redis, 'connected', 'the node reconnected');
      assert.equal(h.status, 'ok');
    }
    for (const p of peers) p.resend();
    for (let k = 0; k < 10; k++, i++) {
      round(i);
      await sleep(25);
    }
    const acked = await drainAcks(peers, 15_000, 500);
    assert.ok(acked, `unacked: ${peers.map((p) => p.outbox.size).join(',')}`);
    const problems = await settledDeliveries(peers, (room) => hosts.get(room)!);
    assert.deepEqual(problems.slice(0, 20), []);
    assert.ok(Math.max(...peers.flatMap((p) => [...p.acks.values()])) > before, 'seq continued after the restart');

    // joins work again
    const again = (await RelayClient.connect(nodes[2].ws)) as RelayClient;
    clients.push(again);
    const joined = await again.join('pair-RR0', 'late', token(1, 9));
    assert.equal(joined.type, 'joined');
    assert.equal(joined.hostDevice, 'd0');
  });

  /** Devices `a` (on node A) and `b` (on node B) of one user in `room`. */
  async function twoDevices(room: string, A: NodeProcess, B: NodeProcess, userId: number): Promise<{ a: RelayClient; b: RelayClient }> {
    const a = (await RelayClient.connect(A.ws)) as RelayClient;
    const b = (await RelayClient.connect(B.ws)) as RelayClient;
    clients.push(a, b);
    assert.equal((await a.join(room, 'a', token(userId, 1))).type, 'joined');
    assert.equal((await b.join(room, 'b', token(userId, 2))).type, 'joined');
    return { a, b };
  }

  test('hangs (SIGSTOP): after 5 s without an answer the node drops the connection, refuses envelopes, says degraded; SIGCONT: it carries on', async () => {
    const { a, b } = await twoDevices('pair-HANG', nodes[0], nodes[1], 3);
    a.envelope('broadcast', 'before', { msgId: 'h0' });
    await a.next('ack');
    assert.equal((await b.next((f) => f?.payload === 'before')).from, 'a');

    redis.pause();
    try {
      const t0 = Date.now();
      a.envelope('broadcast', 'while hung', { msgId: 'h1' });
      const err = await a.next('error', 12_000);
      assert.equal(err.code, 'BUFFER_UNAVAILABLE');
      assert.equal(err.msgId, 'h1');
      // The 5 s watchdog runs from the first command left unanswered (housekeeping may have sent one up to 1 s earlier).
      assert.ok(Date.now() - t0 >= 3000, `refused by the watchdog, not at once (${Date.now() - t0} ms)`);
      assert.equal((await nodes[0].health()).cluster.redis, 'down');
    } finally {
      redis.resume();
    }
    for (const n of nodes) {
      const h = await waitHealth(n, (b) => b.cluster.redis === 'connected', 10_000);
      assert.equal(h.status, 'ok', 'the node reconnected');
    }
    // The refused envelope may still have run when Redis woke up; resent with its msgId it is delivered once.
    a.envelope('broadcast', 'while hung', { msgId: 'h1' });
    a.envelope('broadcast', 'after', { msgId: 'h2' });
    const acks = [await a.next('ack', 5000), await a.next('ack', 5000)];
    assert.deepEqual(acks.map((k) => k.msgId), ['h1', 'h2']);
    assert.ok(acks[0].seq < acks[1].seq);
    assert.equal((await b.next((f) => f?.payload === 'after', 5000)).from, 'a');
    assert.equal(b.frames.filter((f) => f.data?.payload === 'while hung').length, 1, 'delivered exactly once');
  });

  test('SCRIPT FLUSH under a running cluster: the envelope that meets the empty cache is refused, the scripts come back, resent it is delivered once', async () => {
    const { a, b } = await twoDevices('pair-FLUSH', nodes[0], nodes[2], 4);
    assert.equal(spawnSync('redis-cli', ['-p', String(redis.port), 'SCRIPT', 'FLUSH'], { encoding: 'utf8' }).stdout.trim(), 'OK');
    a.envelope('broadcast', 'after flush', { msgId: 'f1' });
    const first = await a.next((f) => f?.type === 'ack' || f?.type === 'error', 5000);
    if (first.type === 'error') {
      assert.equal(first.code, 'BUFFER_UNAVAILABLE');
      let ack: any;
      for (let t = 0; t < 40 && !ack; t++) {
        await sleep(100);
        a.envelope('broadcast', 'after flush', { msgId: 'f1' });
        ack = await a.next((f) => f?.type === 'ack' || f?.type === 'error', 5000).then((f) => (f.type === 'ack' ? f : undefined));
      }
      assert.ok(ack, 'accepted again once the scripts are loaded');
    }
    assert.equal((await b.next((f) => f?.payload === 'after flush', 5000)).from, 'a');
    await sleep(200);
    assert.equal(b.frames.filter((f) => f.data?.payload === 'after flush').length, 1, 'delivered exactly once');
  });
});
