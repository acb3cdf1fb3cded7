// The relay engines a conformance suite runs against: the single relay (SQLite) and the cluster engine on the shared
// Redis (and, sharded, more Redis servers of this test process) with one or two nodes. A case starts relays with
// config values and can restart them.
import { randomBytes } from 'node:crypto';
import type { RelayConfig } from '../../src/relay/config.ts';
import { dropPrefix, OwnRedis, SHARED_REDIS } from '../helpers/cluster.ts';
import type { StartRelayOptions, TestRelay } from '../helpers/relay.ts';
import { startRelay } from '../helpers/relay.ts';

/** Starts a relay (or the nodes of a cluster behind one facade) with config values: the shape the single-relay
 * suites (protocol, security, hostile) are written against. */
export type StartRelay = (values?: Partial<RelayConfig>, opts?: StartRelayOptions) => Promise<TestRelay>;

export interface Relays {
  /** One relay, or the nodes of one cluster (clients spread over them with `node(i)`). */
  nodes: TestRelay[];
  node(i: number): TestRelay;
  /** Stops every node keeping its state (SQLite file / Redis keys) and starts them again on it. */
  restart(): Promise<Relays>;
  /** Stops every node and forgets its state. */
  close(): Promise<void>;
}

export interface EngineCase {
  name: string;
  start(values?: Partial<RelayConfig>, opts?: StartRelayOptions): Promise<Relays>;
}

function relays(nodes: TestRelay[], restart: () => Promise<Relays>, forget: () => Promise<void>): Relays {
  return {
    nodes,
    node: (i) => nodes[i % nodes.length],
    restart,
    async close() {
      await Promise.all(nodes.map((n) => n.close()));
      await forget();
    },
  };
}

export const localEngine: EngineCase = {
  name: 'single relay (SQLite)',
  async start(values = {}, opts = {}) {
    const first = await startRelay(values, opts);
    const make = (r: TestRelay): Relays => relays([r], async () => {
      await r.close({ keepFiles: true });
      return make(await startRelay(values, { ...opts, sqlitePath: r.sqlitePath }));
    }, async () => {});
    return make(first);
  },
};

/** The extra Redis servers of this test process (shards 2…), started on first use and killed when it exits. */
const extraShards: OwnRedis[] = [];
async function shardUrls(shards: number): Promise<string[]> {
  while (extraShards.length < shards - 1) {
    const r = new OwnRedis({ persist: false });
    extraShards.push(r);
    process.once('exit', () => r.discard());
    await r.start();
    r.unref();
  }
  return [SHARED_REDIS, ...extraShards.slice(0, shards - 1).map((r) => r.url)];
}

export function clusterEngine(count: number, shards = 1): EngineCase {
  return {
    name: `cluster engine, ${count} node${count === 1 ? '' : 's'}${shards > 1 ? ` on ${shards} Redis shards` : ''} (Redis)`,
    async start(values = {}, opts = {}) {
      const prefix = `hone-t-${randomBytes(4).toString('hex')}`;
      const urls = await shardUrls(shards);
      const config = { ...values, 'cluster.redis': urls.join(','), 'cluster.prefix': prefix };
      // A cluster runs its own engine, and its windows run on Redis's clock: a local engine's wrapper and manual
      // time do not apply (the suites' `advance` then lets time pass for real).
      const nodeOpts = { ...opts, wrapEngine: undefined, manualTime: false };
      const startAll = async (): Promise<Relays> => {
        const nodes: TestRelay[] = [];
        for (let i = 0; i < count; i++) nodes.push(await startRelay(config, nodeOpts));
        return relays(nodes, async () => {
          await Promise.all(nodes.map((n) => n.close()));
          return startAll();
        }, async () => { await Promise.all(urls.map((u) => dropPrefix(u, prefix))); });
      };
      return startAll();
    },
  };
}

/**
 * The nodes of `clusterEngine(count)` behind one TestRelay: each new client goes to the next node, /health and
 * /metrics are node 0's, `close` stops every node and drops the cluster's Redis prefix.
 */
export function clusterRelay(count: number, shards = 1): StartRelay {
  const engine = clusterEngine(count, shards);
  return async (values = {}, opts = {}) => {
    const { nodes, node, close } = await engine.start(values, opts);
    let next = 0;
    return {
      ...nodes[0],
      connect: (o) => node(next++).connect(o),
      device: (room, label, o) => node(next++).device(room, label, o),
      pullRevocations: async () => { await Promise.all(nodes.map((n) => n.pullRevocations())); },
      advance: (ms) => nodes[0].advance(ms),
      metricsOfEveryNode: async () => (await Promise.all(nodes.map((n) => n.metrics()))).map((m) => m.text),
      close: () => close(),
    };
  };
}
