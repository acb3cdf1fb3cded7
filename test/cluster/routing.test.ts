// Three hone-relay processes on one Redis: devices of many rooms spread over the nodes exchange host, broadcast and
// direct envelopes; every device gets exactly what was addressed to it, once, in order. Presence, host and replace too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RelayClient, sleep, token } from '../helpers/relay.ts';
import { clusterConfig, compareDeliveries, Peer, SHARED_REDIS, spreadPeers, startNode, stopCluster, until } from '../helpers/cluster.ts';
import type { NodeProcess } from '../helpers/cluster.ts';

describe('relay cluster: routing across three nodes', () => {
  let conf: ReturnType<typeof clusterConfig>;
  let nodes: NodeProcess[] = [];
  const peers: Peer[] = [];
  const clients: RelayClient[] = [];

  before(async () => {
    conf = clusterConfig(SHARED_REDIS, { 'buffer.ttl.seconds': 3 });
    nodes = await Promise.all([0, 1, 2].map(() => startNode(conf.file, conf.dir)));
  });
  after(() => stopCluster({ nodes, peers, clients, dir: conf.dir, redis: { url: SHARED_REDIS, prefix: conf.prefix } }));

  async function device(node: number, room: string, label: string, userId = 1, deviceId = 1): Promise<RelayClient & { joined: any }> {
    const c = (await RelayClient.connect(nodes[node].ws)) as RelayClient & { joined: any };
    clients.push(c);
    c.joined = await c.join(room, label, token(userId, deviceId));
    assert.equal(c.joined.type, 'joined', JSON.stringify(c.joined));
    return c;
  }

  test('many rooms, devices on all nodes, host/broadcast/direct: nothing lost, duplicated or reordered', async () => {
    const ROOMS = 12;
    const PER_ROOM = 4;
    const EACH = 30;
    const { hosts, answers } = await spreadPeers(nodes, 'CL', ROOMS, PER_ROOM, peers);
    answers.forEach((a, k) => k % PER_ROOM === 0 || assert.equal(a.hostDevice, 'd0', 'the first device of a room is its host on every node'));
    for (let i = 0; i < EACH; i++) {
      for (const p of peers) {
        const j = Number(p.label.slice(1));
        p.send(i % 3 === 0 ? 'broadcast' : i % 3 === 1 ? 'host' : `d${(j + 1) % PER_ROOM}`);
      }
      if (i % 10 === 9) await sleep(50);
    }
    const acked = await until(() => peers.every((p) => p.outbox.size === 0), 15_000);
    assert.ok(acked, `unacked: ${peers.map((p) => p.outbox.size).join(',')}; errors: ${JSON.stringify(peers.flatMap((p) => p.errors).slice(0, 3))}`);
    let problems: string[] = [];
    await until(() => (problems = compareDeliveries(peers, (room) => hosts.get(room)!)).length === 0, 10_000, 200);
    assert.deepEqual(problems.slice(0, 20), []);
    // acks and deliveries agree on the seq of each envelope
    const seqOf = new Map<string, number>();
    for (const p of peers) for (const [msgId, seq] of p.acks) seqOf.set(`${p.room}/${msgId}`, seq);
    for (const p of peers) for (const e of p.received) assert.equal(e.seq, seqOf.get(`${p.room}/${e.msgId}`), `${e.msgId}: delivered seq = acked seq`);
    // one sequence per room: 4 × 30 envelopes numbered 1…120
    for (let r = 0; r < ROOMS; r++) {
      const seqs = peers.filter((p) => p.room === `pair-CL${r}`).flatMap((p) => [...p.acks.values()]).sort((a, b) => a - b);
      assert.deepEqual(seqs, Array.from({ length: PER_ROOM * EACH }, (_, i) => i + 1));
    }
    assert.ok(peers.every((p) => p.errors.length === 0), JSON.stringify(peers.flatMap((p) => p.errors).slice(0, 3)));
  });

  test('presence and host hand-over are agreed across nodes', async () => {
    const room = 'pair-CLHOST';
    const a = await device(0, room, 'a', 7, 1);
    assert.equal(a.joined.host, true);
    const b = await device(1, room, 'b', 7, 2);
    assert.equal(b.joined.hostDevice, 'a');
    assert.deepEqual(await a.next('presence'), { type: 'presence', room, device: 'b', state: 'joined' });
    const c = await device(2, room, 'c', 7, 3);
    await a.next((f) => f?.type === 'presence' && f.device === 'c');
    await b.next((f) => f?.type === 'presence' && f.device === 'c');
    // the host leaves: it keeps the role for the window (3 s), then the longest-connected device (b) takes over
    await a.closeAndWait();
    assert.deepEqual(await b.next('presence'), { type: 'presence', room, device: 'a', state: 'left' });
    await c.next((f) => f?.type === 'presence' && f.device === 'a');
    const toHost = await b.next('host', 6000);
    assert.deepEqual(toHost, { type: 'host', room, device: 'b' });
    assert.deepEqual(await c.next('host', 2000), { type: 'host', room, device: 'b' });
    c.envelope('host', 'for the new host', { msgId: 'h1' });
    assert.equal((await b.next((f) => f?.payload === 'for the new host')).from, 'c');
  });

  test('a device that joins again on another node replaces its old connection there (4001)', async () => {
    const room = 'pair-CLREPL';
    const a = await device(0, room, 'a', 8, 1);
    const old = await device(1, room, 'b', 8, 2);
    await a.next('presence');
    const fresh = await device(2, room, 'b', 8, 2);
    const closed = await old.waitClose(3000);
    assert.equal(closed.code, 4001);
    assert.ok(old.seen((f) => f?.type === 'error' && f.code === 'REPLACED'));
    // a replacement is not a leave: no presence for it, and the new connection gets the traffic
    await a.expectNone((f) => f?.type === 'presence', 300);
    a.envelope('b', 'direct', { msgId: 'r1' });
    assert.equal((await fresh.next((f) => f?.payload === 'direct')).from, 'a');
    assert.equal(fresh.joined.hostDevice, 'a');
  });

  test('room limits hold across nodes', async () => {
    const room = 'pair-CLFULL';
    for (let i = 0; i < 10; i++) await device(i % 3, room, `x${i}`, 9, i + 1);
    const c = (await RelayClient.connect(nodes[1].ws)) as RelayClient;
    clients.push(c);
    const answer = await c.join(room, 'x10', token(9, 11));
    assert.equal(answer.code, 'ROOM_FULL');
    assert.equal((await c.waitClose()).code, 1013);
  });

  test('/health and /metrics show the node\'s cluster state', async () => {
    await sleep(1100);
    const h = await nodes[0].health();
    assert.equal(h.status, 'ok');
    assert.equal(h.cluster.redis, 'connected');
    assert.equal(typeof h.cluster.nodeId, 'string');
    assert.ok(h.cluster.roomsLocal > 0, JSON.stringify(h.cluster));
    assert.ok(h.cluster.roomsRemote >= 0, JSON.stringify(h.cluster));
    const ids = new Set((await Promise.all(nodes.map((n) => n.health()))).map((x) => x.cluster.nodeId));
    assert.equal(ids.size, 3);
    assert.match(await nodes[2].metrics(), /^hone_relay_cluster_redis_up 1$/m);
  });
});
