// The cluster's HOUSEKEEP script against the real Redis: a node taken for dead (or one closing, sweepSelf) loses its
// room memberships, its connection counts and its place in the node set, in one run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { CONNS, HOUSEKEEP, JOIN } from '../../src/relay/engine/redis/scripts.ts';
import { keyspace } from '../../src/relay/engine/redis/wire.ts';
import { dropPrefix, SHARED_REDIS } from '../helpers/cluster.ts';

const TTL = 60_000;

describe('relay cluster: housekeeping sweeps a dead node', () => {
  let r: Redis;
  const P = `hone-test-housekeep-${process.pid}-${Date.now()}`;
  const keys = keyspace(P);
  before(async () => {
    r = new Redis(SHARED_REDIS, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await r.connect();
  });
  after(async () => {
    await dropPrefix(SHARED_REDIS, P);
    r.disconnect();
  });

  /** `node` joins `device` to `room` and counts one connection under `counted`, as a live node would. */
  async function occupy(node: string, room: string, device: string, counted: string): Promise<void> {
    await r.eval(JOIN, 0, P, room, device, node, 'tok', 10, TTL, keys.channel(room), 0, keys.revoked, '', '', 0, '');
    assert.equal(await r.eval(CONNS, 0, P, node, counted, 1, 5), 1);
  }

  test('a node whose heartbeat is old: its devices leave and its connection counts are dropped', async () => {
    await occupy('dead', 'room-a', 'laptop', 'ip:192.0.2.1');
    await r.zadd(`${P}:nodes`, 1, 'dead');
    const [, swept, occupied] = ((await r.eval(HOUSEKEEP, 0, P, 'alive', 5000, TTL, 0)) as unknown[]).map(Number);
    assert.equal(swept, 1);
    assert.equal(occupied, 0);
    assert.equal(await r.hlen(`${P}:{room-a}:m`), 0);
    assert.equal(await r.exists(`${P}:conns:ip:192.0.2.1`, `${P}:node:dead:conns`, `${P}:node:dead:rooms`), 0);
    assert.equal(await r.zscore(`${P}:nodes`, 'dead'), null);
    assert.notEqual(await r.zscore(`${P}:nodes`, 'alive'), null);
  });

  test('a node closing (sweepSelf) takes its own devices and counts with it', async () => {
    await occupy('closing', 'room-b', 'desk', 'user:7');
    const [, swept] = ((await r.eval(HOUSEKEEP, 0, P, 'closing', 5000, TTL, 1)) as unknown[]).map(Number);
    assert.equal(swept, 1);
    assert.equal(await r.hlen(`${P}:{room-b}:m`), 0);
    assert.equal(await r.exists(`${P}:conns:user:7`, `${P}:node:closing:conns`), 0);
  });
});
