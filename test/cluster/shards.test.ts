// A cluster on several Redis shards (issue 18), each a redis-server of the test's own: rooms placed by shardIndex with
// all their keys and their channel on that shard, delivery across a node kill, one shard killed and restarted from
// its AOF (its rooms refuse meanwhile, the others deliver, what was acked survives), and a changed shard list refused.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { keyspace, shardIndex } from '../../src/relay/engine/redis/wire.ts';
import { RelayClient, sleep, token } from '../helpers/relay.ts';
import {
  clusterConfig, drainAcks, healPeers, OwnRedis, Peer, prefixKeys, sendRound, settledDeliveries, spreadPeers, startNode, stopCluster, until, waitHealth,
} from '../helpers/cluster.ts';
import type { NodeProcess } from '../helpers/cluster.ts';

/** Runs `fn` with a connection to one shard. */
async function onShard<T>(shard: OwnRedis, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(shard.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** The room a room key `<prefix>:{<room>}:<name>` belongs to, or null for a key that is not a room's. */
function roomOfKey(prefix: string, key: string): string | null {
  if (!key.startsWith(`${prefix}:{`)) return null;
  const end = key.indexOf('}:', prefix.length + 2);
  return end < 0 ? null : key.slice(prefix.length + 2, end);
}

/** Joins a fresh client as `device` of account `userId` (a room belongs to its first account) and answers it with
 * its answer frame (`joined` or `error`). */
async function joinOnce(node: NodeProcess, clients: RelayClient[], room: string, device: string, userId: number, opts: { lastSeq?: number } = {}): Promise<{ client: RelayClient; answer: any }> {
  const client = (await RelayClient.connect(node.ws)) as RelayClient;
  clients.push(client);
  return { client, answer: await client.join(room, device, token(userId, 7), opts) };
}

/** Every envelope of the deltas pages a join with lastSeq was answered with, and whether every page said complete. */
async function caughtUp(client: RelayClient): Promise<{ envelopes: any[]; complete: boolean }> {
  const envelopes: any[] = [];
  let complete = true;
  for (;;) {
    const page = await client.next('deltas', 5000);
    complete &&= page.complete === true;
    envelopes.push(...page.deltas.map((d: any) => JSON.parse(d.payload)));
    if (page.more !== true) return { envelopes, complete };
  }
}

describe('sharded cluster: three Redis shards', () => {
  const shards = [new OwnRedis(), new OwnRedis(), new OwnRedis()];
  let conf: ReturnType<typeof clusterConfig>;
  let nodes: NodeProcess[] = [];
  const peers: Peer[] = [];
  const clients: RelayClient[] = [];
  const hostOf = new Map<string, string>();
  const host = (room: string) => hostOf.get(room)!;

  before(async () => {
    await Promise.all(shards.map((s) => s.start()));
    conf = clusterConfig(shards.map((s) => s.url).join(','), { 'buffer.ttl.seconds': 60 });
    nodes = await Promise.all([0, 1, 2].map(() => startNode(conf.file, conf.dir)));
  });
  after(async () => {
    await stopCluster({ nodes, peers, clients, dir: conf.dir });
    await Promise.all(shards.map((s) => s.destroy()));
  });

  /** `rooms` rooms `pair-<name><r>` of `perRoom` devices over `on`; answers the peers, each room's host recorded. */
  async function roomsOf(on: NodeProcess[], name: string, rooms: number, perRoom: number): Promise<Peer[]> {
    const mine: Peer[] = [];
    const { hosts } = await spreadPeers(on, name, rooms, perRoom, mine);
    for (const [room, device] of hosts) hostOf.set(room, device);
    peers.push(...mine);
    return mine;
  }

  test('rooms spread over the shards: each room\'s keys and channel on its shard and no other; every envelope delivered once, in order', async () => {
    const ROOMS = 12;
    const PER_ROOM = 3;
    const keys = keyspace(conf.prefix);
    // two of the three nodes: every room spans both
    const mine = await roomsOf([nodes[0], nodes[1]], 'SPREAD', ROOMS, PER_ROOM);
    const rooms = [...new Set(mine.map((p) => p.room))];
    const placed = rooms.map((room) => shardIndex(room, shards.length));
    for (let s = 0; s < shards.length; s++) assert.ok(placed.includes(s), `shard ${s} holds some of the rooms (${placed.join(',')})`);

    for (let i = 0; i < 12; i++) {
      sendRound(mine, i, PER_ROOM);
      await sleep(20);
    }
    assert.ok(await drainAcks(mine, 10_000), `unacked: ${mine.map((p) => p.outbox.size).join(',')}; errors: ${JSON.stringify(mine.flatMap((p) => p.errors).slice(0, 3))}`);
    assert.deepEqual((await settledDeliveries(mine, host)).slice(0, 20), []);

    const onShards = await Promise.all(shards.map((s) => prefixKeys(s.url, conf.prefix)));
    for (const room of rooms) {
      const holders = onShards.flatMap((list, s) => (list.includes(keys.seq(room)) ? [s] : []));
      assert.deepEqual(holders, [shardIndex(room, shards.length)], `${keys.seq(room)} is on its shard only`);
    }
    onShards.forEach((list, s) => {
      const strays = list.filter((key) => {
        const room = roomOfKey(conf.prefix, key);
        return room !== null && shardIndex(room, shards.length) !== s;
      });
      assert.deepEqual(strays, [], `shard ${s} holds only its own rooms' keys`);
    });

    // each room's pub/sub channel is on its shard (a node subscribes there for rooms it has devices in), no other
    const channels = await Promise.all(shards.map((s) => onShard(s, (r) => r.pubsub('CHANNELS', `${conf.prefix}:*`) as Promise<string[]>)));
    for (const room of rooms) {
      const holders = channels.flatMap((list, s) => (list.includes(keys.channel(room)) ? [s] : []));
      assert.deepEqual(holders, [shardIndex(room, shards.length)], `${keys.channel(room)} is subscribed on its shard only`);
    }
    // node heartbeats run on every shard
    for (const s of shards) assert.equal(await onShard(s, (r) => r.zcard(keys.nodes)), nodes.length, `every node's heartbeat on ${s.url}`);
  });

  test('a node SIGKILLed mid-stream, rooms on all three shards: its devices reconnect elsewhere with lastSeq and resend; nothing lost, duplicated or reordered', async () => {
    const ROOMS = 6;
    const PER_ROOM = 3;
    const ROUNDS = 30;
    const KILL_AT = 10;
    const victim = nodes[2];
    const survivors = [nodes[0], nodes[1]];
    // device d<j> of room r on node (r + j) mod 3: every room spans the three nodes
    const mine = await roomsOf(nodes, 'KILL', ROOMS, PER_ROOM);
    const placed = new Set(mine.map((p) => shardIndex(p.room, shards.length)));
    assert.equal(placed.size, shards.length, 'the rooms are on every shard');
    const onVictim = mine.filter((p) => p.url === victim.ws);
    assert.equal(onVictim.length, ROOMS);

    const healing = healPeers(mine, survivors, (p, answer) => (p.label === host(p.room) && answer.host !== true ? 'the host that came back within the window is no longer host' : null));
    try {
      for (let i = 0; i < ROUNDS; i++) {
        if (i === KILL_AT) victim.child.kill('SIGKILL');
        sendRound(mine, i, PER_ROOM);
        await sleep(25);
      }
      assert.equal((await victim.exited).signal, 'SIGKILL');
      assert.ok(await drainAcks(mine, 20_000), `unacked: ${mine.map((p) => p.outbox.size).join(',')}; errors: ${JSON.stringify(mine.flatMap((p) => p.errors).slice(0, 3))}`);
    } finally {
      healing.stop();
    }
    assert.deepEqual(healing.failures, []);
    assert.ok(onVictim.every((p) => p.closes.length === 1 && p.url !== victim.ws), 'every device of the dead node moved');
    assert.deepEqual((await settledDeliveries(mine, host)).slice(0, 20), []);
    const total = mine.reduce((n, p) => n + p.received.length, 0);
    assert.ok(total > ROOMS * PER_ROOM * ROUNDS, `deliveries: ${total}`);
  });

  /**
   * Kills shard `down` (SIGKILL) under traffic in rooms of every shard on `live`: joins to its rooms are refused and
   * envelopes there answered BUFFER_UNAVAILABLE, the other rooms deliver; /health and the metrics name the shard.
   * Restarted on its port from its AOF: what was acked before is there (same seqs, same epoch), and everything flows.
   */
  async function shardDownAndBack(down: number, name: string): Promise<void> {
    const PER_ROOM = 2;
    const live = [nodes[0], nodes[1]];
    const keys = keyspace(conf.prefix);
    const mine = await roomsOf(live, name, 6, PER_ROOM);
    const rooms = [...new Set(mine.map((p) => p.room))];
    const isDown = (room: string) => shardIndex(room, shards.length) === down;
    const hit = mine.filter((p) => isDown(p.room));
    const spared = mine.filter((p) => !isDown(p.room));
    assert.ok(hit.length > 0 && spared.length > 0, `rooms on shard ${down} and on others (${rooms.map((r) => shardIndex(r, shards.length)).join(',')})`);
    const hitRoom = hit[0].room;
    const sparedRoom = spared[0].room;
    const owner = (room: string) => mine.find((p) => p.room === room)!.userId;

    let i = 0;
    for (; i < 9; i++) {
      sendRound(mine, i, PER_ROOM);
      await sleep(20);
    }
    assert.ok(await drainAcks(mine, 10_000), 'acked before the kill');
    // what the shard acknowledged, per room: msgId -> seq, and the room's epoch
    const acked = new Map<string, Map<string, number>>();
    const epochs = new Map<string, string>();
    for (const p of hit) {
      const room = acked.get(p.room) ?? new Map<string, number>();
      for (const s of p.sent) room.set(s.msgId, p.acks.get(s.msgId)!);
      acked.set(p.room, room);
      assert.ok(epochs.get(p.room) === undefined || epochs.get(p.room) === p.joined.epoch, 'one epoch per room');
      epochs.set(p.room, p.joined.epoch);
    }

    await shards[down].kill();
    for (const n of live) {
      const h = await waitHealth(n, (b) => b.status === 'degraded', 10_000);
      assert.equal(h.status, 'degraded');
      assert.equal(h.cluster.redis, 'partial');
      assert.equal(h.cluster.shards.length, shards.length);
      for (const s of h.cluster.shards) {
        assert.equal(s.up, s.shard !== down, `shard ${s.shard} up: ${s.up}`);
        assert.ok(String(s.url).includes(`127.0.0.1:${shards[s.shard].port}`), `shard ${s.shard} named by its URL: ${s.url}`);
      }
    }
    const metrics = await live[0].metrics();
    for (let s = 0; s < shards.length; s++) assert.match(metrics, new RegExp(`^hone_relay_cluster_shard_up\\{shard="${s}"\\} ${s === down ? 0 : 1}$`, 'm'));
    assert.match(metrics, /^hone_relay_cluster_redis_up 0$/m);

    // joins: refused in the shard's rooms, served in the others, on either node
    for (const [k, n] of live.entries()) {
      const refused = await joinOnce(n, clients, hitRoom, `late${k}`, owner(hitRoom));
      assert.equal(refused.answer.type, 'error', JSON.stringify(refused.answer));
      assert.equal(refused.answer.code, 'CLUSTER_UNAVAILABLE');
      assert.equal((await refused.client.waitClose()).code, 1013);
      const served = await joinOnce(n, clients, sparedRoom, `late${k}`, owner(sparedRoom));
      assert.equal(served.answer.type, 'joined', JSON.stringify(served.answer));
    }

    // traffic goes on: the shard's rooms are answered BUFFER_UNAVAILABLE, the other rooms deliver everything
    for (let k = 0; k < 6; k++, i++) {
      sendRound(mine, i, PER_ROOM);
      await sleep(20);
    }
    assert.ok(await until(() => hit.every((p) => p.errors.some((e) => e.code === 'BUFFER_UNAVAILABLE')), 5000), 'every sender in the shard\'s rooms is answered BUFFER_UNAVAILABLE');
    assert.ok(spared.every((p) => p.errors.length === 0), `no errors in the other rooms: ${JSON.stringify(spared.flatMap((p) => p.errors).slice(0, 3))}`);
    assert.ok(await drainAcks(spared, 10_000), `the other rooms ack while the shard is down: ${spared.map((p) => p.outbox.size).join(',')}`);
    assert.deepEqual((await settledDeliveries(spared, host)).slice(0, 20), []);
    assert.ok(hit.every((p) => p.open && p.outbox.size > 0), 'the shard\'s devices stay connected, their sends unacked');

    await shards[down].start();
    for (const n of live) {
      const h = await waitHealth(n, (b) => b.status === 'ok', 10_000);
      assert.equal(h.status, 'ok', 'the node reached the shard again');
      assert.equal(h.cluster.redis, 'connected');
      assert.ok(h.cluster.shards.every((s: any) => s.up === true));
    }
    assert.match(await live[0].metrics(), new RegExp(`^hone_relay_cluster_shard_up\\{shard="${down}"\\} 1$`, 'm'));
    assert.match(await live[0].metrics(), /^hone_relay_cluster_redis_up 1$/m);

    // everything acked before the kill is still there: in the shard's stream under its seq, and caught up by a new
    // device from lastSeq 0 (the broadcasts it is addressed) with the same seqs and the same epoch
    for (const [room, sent] of acked) {
      const ids = new Set(await onShard(shards[down], (r) => r.xrange(keys.log(room), '-', '+')).then((entries) => entries.map(([id]) => id)));
      for (const [msgId, seq] of sent) assert.ok(ids.has(`${seq}-0`), `${room}: ${msgId} (seq ${seq}) still buffered`);
      const { client, answer } = await joinOnce(live[1], clients, room, 'after', owner(room), { lastSeq: 0 });
      assert.equal(answer.type, 'joined', `joins work again: ${JSON.stringify(answer)}`);
      assert.equal(answer.epoch, epochs.get(room), 'the room kept its epoch');
      assert.ok(answer.seq >= Math.max(...sent.values()), `the room kept its seq (${answer.seq})`);
      const { envelopes, complete } = await caughtUp(client);
      assert.ok(complete, 'the catch-up from seq 0 is complete');
      const got = new Map(envelopes.map((e) => [e.msgId as string, e.seq as number]));
      const broadcasts = hit.filter((p) => p.room === room).flatMap((p) => p.sent).filter((s) => s.to === 'broadcast' && sent.has(s.msgId));
      assert.ok(broadcasts.length > 0);
      for (const s of broadcasts) assert.equal(got.get(s.msgId), sent.get(s.msgId), `${room}: ${s.msgId} caught up under its seq`);
    }

    // the refused sends, resent with their msgIds, are delivered once; the sequences go on where they were
    assert.ok(await drainAcks(mine, 15_000, 500), `unacked after the restart: ${mine.map((p) => p.outbox.size).join(',')}`);
    assert.deepEqual((await settledDeliveries(mine, host)).slice(0, 20), []);
    for (const [room, sent] of acked) {
      const before = Math.max(...sent.values());
      const later = hit.filter((p) => p.room === room).flatMap((p) => p.sent.filter((s) => !sent.has(s.msgId)).map((s) => p.acks.get(s.msgId)!));
      assert.ok(later.length > 0 && later.every((seq) => seq > before), `${room}: seqs after the restart follow ${before}: ${later.join(',')}`);
    }
  }

  test('one shard killed: its rooms refuse joins and envelopes, the others deliver, /health names it; restarted from its AOF: nothing acked is lost', async () => {
    await shardDownAndBack(1, 'SH');
  });

  test('shard 0 (which also holds the per-user counts, rate limits and revocation cursor) killed: the same', async () => {
    await shardDownAndBack(0, 'ZERO');
  });

  afterEach(async () => {
    // a failed test must not leave a shard down for the next one
    for (const s of shards) if (!s.running) await s.start();
  });
});

describe('sharded cluster: the shard list changes between starts', () => {
  const [A, B, C] = [new OwnRedis(), new OwnRedis(), new OwnRedis()];
  const TTL = 8;
  const dirs: string[] = [];
  const nodes: NodeProcess[] = [];
  const peers: Peer[] = [];

  before(() => Promise.all([A, B, C].map((s) => s.start())));
  after(async () => {
    await stopCluster({ nodes, peers, clients: [] });
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await Promise.all([A, B, C].map((s) => s.destroy()));
  });

  /** A config on `list` (joined with `sep`), the prefix `prefix` when given. */
  function config(list: OwnRedis[], prefix?: string, sep = ','): ReturnType<typeof clusterConfig> {
    const c = clusterConfig(list.map((s) => s.url).join(sep), { 'buffer.ttl.seconds': TTL, ...(prefix ? { 'cluster.prefix': prefix } : {}) });
    dirs.push(c.dir);
    return c;
  }

  async function start(c: ReturnType<typeof clusterConfig>): Promise<NodeProcess> {
    const n = await startNode(c.file, c.dir);
    nodes.push(n);
    return n;
  }

  /** SIGTERM: the node leaves (its heartbeat goes with it) and exits. */
  async function stop(n: NodeProcess): Promise<void> {
    n.child.kill('SIGTERM');
    const { code } = await n.exited;
    assert.equal(code, 0, n.output());
  }

  /** Starts a node that must refuse: answers its exit code and output. */
  async function refused(c: ReturnType<typeof clusterConfig>): Promise<{ code: number | null; output: string }> {
    const err = await start(c).then(() => null, (e) => e);
    assert.ok(err !== null, 'the node started instead of refusing');
    assert.ok(err.exit !== undefined, err.message);
    return { code: err.exit.code, output: err.output };
  }

  test('rooms with buffered messages that a new list would move: refused (exit 2, a configuration error, naming the shard); the same list starts; once the buffer expired, the new list starts', async () => {
    const first = config([A, B]);
    const cluster = await Promise.all([0, 1].map(() => start(first)));
    // rooms on B (index 1 of [A, B]) with buffered messages; rooms on A with devices but no messages
    const names = Array.from({ length: 16 }, (_, r) => `pair-LIST${r}`);
    const buffered = names.filter((room) => shardIndex(room, 2) === 1).slice(0, 4);
    const quiet = names.filter((room) => shardIndex(room, 2) === 0).slice(0, 2);
    assert.equal(buffered.length, 4);
    // [B, A] moves every room (index 1 is now A); [A, B, C] moves those whose index of 3 is not 1
    const movedByABC = buffered.filter((room) => shardIndex(room, 3) !== 1).length;
    assert.ok(movedByABC > 0 && movedByABC < buffered.length, `some buffered rooms move to C (${movedByABC})`);
    const epochs = new Map<string, string>();
    for (const [r, room] of buffered.entries()) {
      const a = new Peer(room, 'd0', 20 + r, 1);
      const b = new Peer(room, 'd1', 20 + r, 2);
      peers.push(a, b);
      assert.equal((await a.connect(cluster[0].ws)).type, 'joined');
      assert.equal((await b.connect(cluster[1].ws)).type, 'joined');
      epochs.set(room, a.joined.epoch);
      a.send('broadcast');
      b.send('broadcast');
    }
    for (const [r, room] of quiet.entries()) {
      const q = new Peer(room, 'd0', 30 + r, 1);
      peers.push(q);
      assert.equal((await q.connect(cluster[r % 2].ws)).type, 'joined');
    }
    assert.ok(await drainAcks(peers, 10_000), 'buffered');
    const lastAcked = Date.now();
    for (const p of peers) p.terminate();
    await Promise.all(cluster.map(stop));

    // one at a time: a refused node may beat on the shards it accepted until it has closed
    const swapped = await refused(config([B, A], first.prefix));
    const grown = await refused(config([A, B, C], first.prefix));
    for (const [r, moved] of [[swapped, buffered.length], [grown, movedByABC]] as const) {
      assert.equal(r.code, 2, r.output);
      assert.match(r.output, /cluster\.redis: the shard list changed/);
      assert.ok(r.output.includes(`127.0.0.1:${B.port}`), `names shard B: ${r.output}`);
      assert.match(r.output, new RegExp(`\\b${moved} room`), `says how many rooms would move (${moved}): ${r.output}`);
    }
    assert.ok(Date.now() - lastAcked < TTL * 1000, 'the refusals came while the messages were buffered (make buffer.ttl.seconds longer)');

    // the same list (spaces around the comma allowed) moves nothing: it starts, and the rooms kept their messages
    const same = await start(config([A, B], first.prefix, ' , '));
    assert.equal((await same.health()).status, 'ok');
    const check = new Peer(buffered[0], 'd9', 20, 9);
    peers.push(check);
    assert.equal((await check.connect(same.ws)).type, 'joined');
    assert.equal(check.joined.epoch, epochs.get(buffered[0]));

    // once buffer.ttl.seconds passed without messages, nothing buffered would move: [B, A] starts, but not while a
    // node started with [A, B] is alive (its heartbeat is on both shards)
    await sleep(Math.max(0, lastAcked + TTL * 1000 + 1000 - Date.now()));
    const alive = await refused(config([B, A], first.prefix));
    assert.equal(alive.code, 2, alive.output);
    assert.match(alive.output, /cluster\.redis: the shard list changed/);
    check.terminate();
    await stop(same);
    const moved = await start(config([B, A], first.prefix));
    assert.equal((await moved.health()).status, 'ok');
    // a moved room starts a new sequence (a new epoch), on its new shard
    const after = new Peer(buffered[0], 'd0', 20, 1);
    peers.push(after);
    assert.equal((await after.connect(moved.ws)).type, 'joined');
    assert.notEqual(after.joined.epoch, epochs.get(buffered[0]));
    after.send('broadcast');
    assert.ok(await drainAcks([after], 5000));
    assert.equal(after.acks.get(after.sent[0].msgId), 1, 'the moved room\'s sequence starts again');
    const seqKey = keyspace(first.prefix).seq(buffered[0]);
    assert.ok((await prefixKeys(A.url, first.prefix)).includes(seqKey), `${seqKey} is on A now`);
  });

  test('relays started together with the same list all start (the layout is read in one step: a heartbeat written meanwhile comes with its layout)', async () => {
    for (let round = 0; round < 3; round++) {
      const c = config([A, B, C]);
      const together = await Promise.allSettled([0, 1, 2, 3].map(() => start(c)));
      const failed = together.flatMap((r) => (r.status === 'rejected' ? [String(r.reason?.output ?? r.reason)] : []));
      assert.deepEqual(failed, [], `round ${round}`);
      for (const r of together) if (r.status === 'fulfilled') await stop(r.value);
    }
  });

  test('relays started at the same moment with different lists ([A, B] and [B, A]) do not both start; once stopped, nothing holds the other list back', async () => {
    const ab = config([A, B]);
    const lists = [ab, config([B, A], ab.prefix)];
    const both = await Promise.allSettled(lists.map((c) => start(c)));
    const up = both.flatMap((r, i) => (r.status === 'fulfilled' ? [{ node: r.value, i }] : []));
    assert.ok(up.length <= 1, 'at most one of the two lists serves');
    for (const r of both) if (r.status === 'rejected') assert.match(String(r.reason?.output ?? r.reason), /cluster\.redis: the shard list changed/);
    for (const { node } of up) await stop(node);
    // the claims are gone (after the first heartbeat, or with the refusal): the other list starts at once, nothing buffered moves
    const other = await start(lists[up.length === 1 ? 1 - up[0].i : 0]);
    await stop(other);
  });

  test('a list that differs from the running relays\' in one URL (C in place of B): refused', async () => {
    const first = config([A, B]);
    const running = await start(first);
    try {
      const r = await refused(config([A, C], first.prefix));
      assert.equal(r.code, 2, r.output);
      assert.match(r.output, /cluster\.redis: the shard list changed/);
    } finally {
      await stop(running);
    }
  });

  test('a layout record that is not one this relay writes (damaged, or another program\'s) beside a live heartbeat: refused in one line, not a hang', async () => {
    const c = config([A, B]);
    const keys = keyspace(c.prefix);
    await onShard(A, async (r) => {
      await r.set(keys.layout, 'x'.repeat(300));
      await r.zadd(keys.nodes, Date.now(), 'another-node');
    });
    const r = await refused(c);
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /cluster\.redis: the shard list changed: 1 relay\(s\) still running on .* were started with another list/);
    await onShard(A, (x) => x.zrem(keys.nodes, 'another-node'));
  });

  test('a shard dropped from the list while it holds buffered messages: refused', async () => {
    const first = config([A, B]);
    const node = await start(first);
    const room = Array.from({ length: 16 }, (_, r) => `pair-DROP${r}`).find((r) => shardIndex(r, 2) === 1)!;
    const p = new Peer(room, 'd0', 40, 1);
    peers.push(p);
    assert.equal((await p.connect(node.ws)).type, 'joined');
    p.send('broadcast');
    assert.ok(await drainAcks([p], 5000), 'buffered on B');
    p.terminate();
    await stop(node);
    const r = await refused(config([A], first.prefix));
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /cluster\.redis: the shard list changed/);
  });
});

describe('sharded cluster: Redis passwords', () => {
  const PASSWORD = 'shard-pw-0a1b2c3d4e';
  const shards = [new OwnRedis({ persist: false, password: PASSWORD }), new OwnRedis({ persist: false, password: `${PASSWORD}-2` })];
  let conf: ReturnType<typeof clusterConfig>;
  let node: NodeProcess | null = null;

  before(async () => {
    await Promise.all(shards.map((s) => s.start()));
    conf = clusterConfig(shards.map((s) => s.url).join(','));
  });
  after(async () => {
    if (node) await stopCluster({ nodes: [node], peers: [], clients: [] });
    rmSync(conf.dir, { recursive: true, force: true });
    for (const s of shards) s.discard();
  });

  test('each shard is reached with its own password; no password in the listening line, /health, the metrics or a shard-down log', async () => {
    node = await startNode(conf.file, conf.dir);
    const health = await node.health();
    assert.equal(health.status, 'ok');
    assert.deepEqual(health.cluster.shards.map((s: any) => [s.shard, s.up, s.url]), shards.map((s, i) => [i, true, `redis://:***@127.0.0.1:${s.port}/0`]));
    await shards[1].kill();
    const down = await waitHealth(node, (h) => h.cluster.redis === 'partial', 10_000);
    assert.deepEqual(down.cluster.shards.map((s: any) => s.up), [true, false]);
    // The log line reaches this process through a pipe, after /health already says so.
    assert.ok(await until(() => node!.output().includes('"event":"cluster.redis.down"'), 5000), 'cluster.redis.down logged');
    const seen = [node.output(), JSON.stringify(down), await node.metrics()].join('\n');
    assert.ok(!seen.includes(PASSWORD), 'no password anywhere the operator reads');
  });
});
