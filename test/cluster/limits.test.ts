// Limits and revocations across three hone-relay processes on one Redis: connections per IP are counted for the
// cluster (in sequence and in a burst), and a device removed in a real hone-auth is closed and refused on every node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';
import { freePort } from '../helpers/process.ts';
import { RelayClient, token, uniqueRoom } from '../helpers/relay.ts';
import { clusterConfig, SHARED_REDIS, startNode, stopCluster } from '../helpers/cluster.ts';
import type { NodeProcess } from '../helpers/cluster.ts';

describe('relay cluster: connections per IP are counted across nodes', () => {
  const LIMIT = 6;
  let conf: ReturnType<typeof clusterConfig>;
  let nodes: NodeProcess[] = [];
  const clients: RelayClient[] = [];

  before(async () => {
    // trustProxy: the test plays several client addresses through X-Forwarded-For, as nginx would send them.
    conf = clusterConfig(SHARED_REDIS, { 'limits.connections.perIpPerMinute': LIMIT, trustProxy: 'true' });
    nodes = await Promise.all([0, 1, 2].map(() => startNode(conf.file, conf.dir)));
  });
  after(() => stopCluster({ nodes, peers: [], clients, dir: conf.dir, redis: { url: SHARED_REDIS, prefix: conf.prefix } }));

  /** Connects from `ip` to node `n` and joins a room of its own: 'joined', or the refusal's code. */
  async function attempt(n: number, ip: string): Promise<string> {
    const c = await RelayClient.connect(nodes[n].ws, { headers: { 'x-forwarded-for': ip } });
    clients.push(c);
    const answer = await c.join(uniqueRoom(), 'd', token(7, 1));
    if (answer.type === 'joined') return 'joined';
    assert.equal((await c.waitClose()).code, 1013);
    return answer.code;
  }

  test('one at a time, round the three nodes: the first LIMIT are let in, the rest refused', async () => {
    const answers: string[] = [];
    for (let i = 0; i < 3 * LIMIT; i++) answers.push(await attempt(i % 3, '203.0.113.1'));
    assert.deepEqual(answers, [...Array(LIMIT).fill('joined'), ...Array(2 * LIMIT).fill('TOO_MANY_CONNECTIONS')]);
  });

  test('in a burst over the three nodes at once: LIMIT let in, not three times LIMIT', async () => {
    const answers = await Promise.all(Array.from({ length: 5 * LIMIT }, (_, i) => attempt(i % 3, '203.0.113.2')));
    assert.equal(answers.filter((a) => a === 'joined').length, LIMIT, answers.join(','));
    assert.equal(answers.filter((a) => a === 'TOO_MANY_CONNECTIONS').length, 4 * LIMIT);
  });

  test('another address is not affected, on any node', async () => {
    for (let n = 0; n < 3; n++) assert.equal(await attempt(n, '198.51.100.7'), 'joined');
  });

  test('hostile X-Forwarded-For values are counted as given and never crash a node', async () => {
    const odd = ['', ' ', 'not-an-ip', 'x'.repeat(4000), '::1, 10.0.0.1', '\u00ff\u00fe'];
    for (const ip of odd) {
      const answer = await attempt(0, ip).catch((err: Error) => err.message);
      assert.ok(answer === 'joined' || answer === 'TOO_MANY_CONNECTIONS' || /HTTP 4\d\d/.test(answer), `${JSON.stringify(ip.slice(0, 20))}: ${answer}`);
    }
    for (const n of nodes) assert.equal((await n.health()).status, 'ok');
  });
});

describe('relay cluster: revocations from a real hone-auth reach every node', () => {
  let auth: TestAuth;
  let conf: ReturnType<typeof clusterConfig>;
  let blind: ReturnType<typeof clusterConfig>;
  let nodes: NodeProcess[] = [];
  const clients: RelayClient[] = [];

  before(async () => {
    auth = await startAuth('sqlite');
    conf = clusterConfig(SHARED_REDIS, { 'auth.url': auth.url });
    // The third node cannot reach auth: it learns revocations only through the cluster's Redis.
    blind = clusterConfig(SHARED_REDIS, { 'auth.url': `http://127.0.0.1:${await freePort()}`, 'cluster.prefix': conf.prefix });
    nodes = await Promise.all([startNode(conf.file, conf.dir), startNode(conf.file, conf.dir), startNode(blind.file, blind.dir)]);
  });
  after(async () => {
    await stopCluster({ nodes, peers: [], clients, dir: conf.dir, redis: { url: SHARED_REDIS, prefix: conf.prefix } });
    await stopCluster({ nodes: [], peers: [], clients: [], dir: blind.dir });
    await auth.close();
  });

  async function join(n: number, room: string, label: string, tok: string): Promise<{ c: RelayClient; answer: any }> {
    const c = await RelayClient.connect(nodes[n].ws);
    clients.push(c);
    return { c, answer: await c.join(room, label, tok) };
  }

  test('removing a device closes its connections on every node (TOKEN_REVOKED), also where auth is unreachable, and every node refuses it', async () => {
    const desktop = await auth.signIn('cluster-revoke@example.com', 'Desktop');
    const phone = await auth.signIn('cluster-revoke@example.com', 'Phone');
    const room = uniqueRoom();
    const d = await join(0, room, 'desktop', desktop.deviceToken);
    assert.equal(d.answer.type, 'joined', JSON.stringify(d.answer));
    const onNode1 = await join(1, room, 'phone', phone.deviceToken);
    const onBlindNode = await join(2, uniqueRoom(), 'phone', phone.deviceToken);
    assert.equal(onNode1.answer.type, 'joined', JSON.stringify(onNode1.answer));
    assert.equal(onBlindNode.answer.type, 'joined', JSON.stringify(onBlindNode.answer));

    const del = await auth.json(`/auth/device/${phone.deviceId}`, { method: 'DELETE', token: desktop.deviceToken });
    assert.equal(del.status, 200, JSON.stringify(del.body));
    const t0 = Date.now();
    await onNode1.c.expectRefused('TOKEN_REVOKED', 1008, 3000);
    // Node 1 pulls within 1 s and writes the shared set; the blind node reads it within its next second.
    await onBlindNode.c.expectRefused('TOKEN_REVOKED', 1008, 4000);
    const ms = Date.now() - t0;
    assert.ok(ms <= 4000, `closed on the blind node after ${ms} ms`);

    for (let n = 0; n < 3; n++) {
      const again = await join(n, uniqueRoom(), 'phone', phone.deviceToken);
      assert.equal(again.answer.code, 'TOKEN_REVOKED', `node ${n}: ${JSON.stringify(again.answer)}`);
      assert.equal((await again.c.waitClose()).code, 1008);
    }
    // The user's other device keeps its connection and is told the phone left.
    await d.c.next((f) => f?.type === 'presence' && f.device === 'phone' && f.state === 'left', 3000);
    assert.ok(d.c.isOpen);
    assert.ok(nodes[2].output().includes('"from":"cluster"'), 'the blind node logs where it learned the revocation');
  });
});
