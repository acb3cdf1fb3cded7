// The cluster's Redis (one this test starts itself, AOF on) restarted mid-stream: while it is down joins are refused
// with CLUSTER_UNAVAILABLE and envelopes answered BUFFER_UNAVAILABLE; afterwards the nodes carry on, nothing lost.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RelayClient, sleep, token } from '../helpers/relay.ts';
import { clusterConfig, compareDeliveries, OwnRedis, Peer, spreadPeers, startNode, stopCluster, until } from '../helpers/cluster.ts';
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
    const round = (i: number) => {
      for (const p of peers) {
        const j = Number(p.label.slice(1));
        p.send(i % 3 === 0 ? 'broadcast' : i % 3 === 1 ? 'host' : `d${(j + 1) % PER_ROOM}`);
      }
    };
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
      let h: any;
      for (let t = 0; t < 100 && (h = await n.health()).cluster.redis !== 'connected'; t++) await sleep(50);
      assert.equal(h.cluster.redis, 'connected', 'the node reconnected');
      assert.equal(h.status, 'ok');
    }
    for (const p of peers) p.resend();
    for (let k = 0; k < 10; k++, i++) {
      round(i);
      await sleep(25);
    }
    const acked = await until(() => {
      if (Date.now() % 500 < 30) for (const p of peers) p.resend();
      return peers.every((p) => p.outbox.size === 0);
    }, 15_000);
    assert.ok(acked, `unacked: ${peers.map((p) => p.outbox.size).join(',')}`);
    let problems: string[] = [];
    await until(() => (problems = compareDeliveries(peers, (room) => hosts.get(room)!)).length === 0, 10_000, 200);
    assert.deepEqual(problems.slice(0, 20), []);
    assert.ok(Math.max(...peers.flatMap((p) => [...p.acks.values()])) > before, 'seq continued after the restart');

    // joins work again
    const again = (await RelayClient.connect(nodes[2].ws)) as RelayClient;
    clients.push(again);
    const joined = await again.join('pair-RR0', 'late', token(1, 9));
    assert.equal(joined.type, 'joined');
    assert.equal(joined.hostDevice, 'd0');
  });
});
