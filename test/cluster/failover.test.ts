// A relay node SIGKILLed mid-stream: its devices reconnect to the other nodes with lastSeq and resend what was not
// acked; every device still gets everything addressed to it exactly once, in order. Its hosts are re-elected.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RelayClient, sleep, token } from '../helpers/relay.ts';
import { clusterConfig, drainAcks, healPeers, Peer, sendRound, settledDeliveries, SHARED_REDIS, spreadPeers, startNode, stopCluster } from '../helpers/cluster.ts';
import type { NodeProcess } from '../helpers/cluster.ts';

describe('relay cluster: a node dies', () => {
  let conf: ReturnType<typeof clusterConfig>;
  let nodes: NodeProcess[] = [];
  const peers: Peer[] = [];
  const clients: RelayClient[] = [];

  before(async () => {
    conf = clusterConfig(SHARED_REDIS, { 'buffer.ttl.seconds': 6 });
    nodes = await Promise.all([0, 1, 2].map(() => startNode(conf.file, conf.dir)));
  });
  after(() => stopCluster({ nodes, peers, clients, dir: conf.dir, redis: { url: SHARED_REDIS, prefix: conf.prefix } }));

  test('SIGKILL mid-stream: its devices reconnect elsewhere, catch up, and nothing is lost, duplicated or reordered; its host is re-elected', async () => {
    const ROOMS = 9;
    const PER_ROOM = 4;
    const ROUNDS = 40;
    const KILL_AT = 15;
    const victim = nodes[2];
    const survivors = [nodes[0], nodes[1]];

    // a room whose host sits on the victim and never comes back
    const hostRoom = 'pair-KILLHOST';
    const h = (await RelayClient.connect(victim.ws)) as RelayClient;
    clients.push(h);
    assert.equal((await h.join(hostRoom, 'h', token(50, 1))).host, true);
    const m1 = (await RelayClient.connect(nodes[0].ws)) as RelayClient;
    const m2 = (await RelayClient.connect(nodes[1].ws)) as RelayClient;
    clients.push(m1, m2);
    assert.equal((await m1.join(hostRoom, 'm1', token(50, 2))).hostDevice, 'h');
    await sleep(20);
    assert.equal((await m2.join(hostRoom, 'm2', token(50, 3))).hostDevice, 'h');

    const { hosts } = await spreadPeers(nodes, 'KILL', ROOMS, PER_ROOM, peers);
    const onVictim = peers.filter((p) => p.url === victim.ws);
    assert.equal(onVictim.length, 12);

    // reconnect whoever lost its connection, to a surviving node, then resend what was not acked
    let killedAt = 0;
    const healing = healPeers(peers, survivors, (p, answer) => (p.label === 'd0' && answer.host !== true ? 'the host that came back within the window is no longer host' : null));
    try {
      for (let i = 0; i < ROUNDS; i++) {
        if (i === KILL_AT) {
          victim.child.kill('SIGKILL');
          killedAt = Date.now();
        }
        sendRound(peers, i, PER_ROOM);
        await sleep(25);
      }
      assert.equal((await victim.exited).signal, 'SIGKILL');
      // the stream goes on; stragglers are resent until everything is acked
      const acked = await drainAcks(peers, 20_000);
      assert.ok(acked, `unacked: ${peers.map((p) => p.outbox.size).join(',')}; errors: ${JSON.stringify(peers.flatMap((p) => p.errors).slice(0, 3))}`);
    } finally {
      healing.stop();
    }
    assert.deepEqual(healing.failures, []);
    assert.ok(onVictim.every((p) => p.closes.length === 1 && p.url !== victim.ws), 'every device of the dead node moved');

    const problems = await settledDeliveries(peers, (room) => hosts.get(room)!);
    assert.deepEqual(problems.slice(0, 20), []);
    const total = peers.reduce((n, p) => n + p.received.length, 0);
    assert.ok(total > ROOMS * PER_ROOM * ROUNDS, `deliveries: ${total}`);

    // the dead node's host: its devices leave when its heartbeat is 5 s old, then after the 6 s window m1
    // (the longest-connected) becomes host, agreed by both surviving nodes
    assert.deepEqual(await m1.next((f) => f?.type === 'presence' && f.device === 'h', 12_000), { type: 'presence', room: hostRoom, device: 'h', state: 'left' });
    const left = Date.now();
    assert.deepEqual(await m1.next('host', 10_000), { type: 'host', room: hostRoom, device: 'm1' });
    assert.deepEqual(await m2.next('host', 2000), { type: 'host', room: hostRoom, device: 'm1' });
    assert.ok(Date.now() - left >= 4000, 'the host kept its role for the window');
    assert.ok(Date.now() - killedAt < 25_000);
    const health = await nodes[0].health();
    assert.equal(health.cluster.redis, 'connected');
  });
});
