// The Redis cluster engine (cluster.redis): wires buffer, rooms, fan-out and revocations to the Redis shards, runs the
// node's heartbeat and housekeeping on each every second, and reports the node's cluster state per shard.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../../../common/clock.ts';
import { ConfigError, urlList } from '../../../common/config.ts';
import type { RelayConfig } from '../../config.ts';
import { Gauge } from 'prom-client';
import type { RelayEngine } from '../contract.ts';
import { createClusterBuffer, parseReplay } from './buffer.ts';
import { createFanout } from './fanout.ts';
import type { Fanout } from './fanout.ts';
import { createClusterCounter } from './connections.ts';
import { createClusterRateLimiter } from './rate-limit.ts';
import { CLAIMED, checkLayout, layoutOf, releaseLayout } from './layout.ts';
import { createClusterRevocations } from './revocations.ts';
import { createClusterRooms } from './rooms.ts';
import type { Shard } from './shards.ts';
import { connectShards } from './shards.ts';
import { keyspace, redisIdentity } from './wire.ts';

/** A node whose heartbeat is older than this is taken for dead: its devices leave, its hosts' windows start. */
export const NODE_DEAD_AFTER_MS = 5000;
const HOUSEKEEP_EVERY_MS = 1000;

export interface ClusterLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const quietLog: ClusterLog = { info() {}, warn() {} };

/** What the engine keeps per shard. */
interface ShardState {
  wasUp: boolean;
  registered: boolean;
  housekeeping: boolean;
  /** When the shard last came (back) up: other nodes get NODE_DEAD_AFTER_MS to beat there again before any is swept. */
  upSince: number;
  occupied: number;
  /** When the shard's newest buffered envelope arrived (Redis ms), as its housekeeping last read it; 0: none. */
  newest: number;
}

export function createClusterEngine(config: RelayConfig, clock: Clock, logRef: { log: ClusterLog } = { log: quietLog }): RelayEngine {
  const ttlMs = config['buffer.ttl.seconds'] * 1000;
  const keys = keyspace(config['cluster.prefix']);
  const nodeId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const log: ClusterLog = { info: (o, m) => logRef.log.info(o, m), warn: (o, m) => logRef.log.warn(o, m) };
  const urls = urlList(config['cluster.redis']);
  const identities = urls.map(redisIdentity);
  // The layout is written by housekeeping, which starts once every shard reachable at start passed: a relay that
  // refuses to start leaves no trace that would refuse the running ones' list.
  const shards = connectShards(urls, async (shard) => {
    const refusal = await checkLayout({ shard, identities, keys, ttlMs, deadAfterMs: NODE_DEAD_AFTER_MS });
    if (refusal !== null) {
      log.warn({ event: 'cluster.shard.refused', shard: shard.index, url: shard.url, err: refusal }, refusal);
      if (!started) await release();
    }
    return refusal;
  });
  const where = (shard: Shard) => ({ shard: shard.index, url: shard.url });
  /** A relay that refuses to start drops the layout claims its checks made, so the right list can start at once (a
   * relay that starts drops them after its first heartbeat on the shard). */
  const release = () => Promise.all(shards.all.filter((s) => s.pair.up()).map((s) =>
    releaseLayout({ shard: s, identities, keys, deadAfterMs: NODE_DEAD_AFTER_MS }).catch(() => {})));

  const buffer = createClusterBuffer({ shards, keys, ttlMs, fanout: () => fanout, roomBytes: config['limits.room.bufferBytes'] });
  let rooms: ReturnType<typeof createClusterRooms>;
  const fanout: Fanout = createFanout({
    shards, keys,
    fetch: async (room, afterSeq) => parseReplay(room, await shards.of(room).pair.scripts.honeReplay(keys.seq(room), keys.log(room), afterSeq, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)),
    onEnvelopes: (batch) => buffer.fan(batch),
    onNotice: (n) => rooms.notice(n),
  });
  rooms = createClusterRooms({ shards, keys, fanout, nodeId, ttlMs, devicesPerRoom: config['limits.devicesPerRoom'], log });
  const revocations = createClusterRevocations({ shards, keys, log });
  const connections = createClusterCounter({ shard: shards.control, keys, nodeId });
  const limiters: Array<{ close(): void }> = [];
  const state = new Map<Shard, ShardState>(shards.all.map((s) => [s, { wasUp: false, registered: false, housekeeping: false, upSince: clock(), occupied: 0, newest: 0 }]));
  let closed = false;
  let started = false;

  /** Writes again what this node holds on the shard: memberships, and on shard 0 its connection counts. */
  async function restore(shard: Shard, memberships: boolean): Promise<void> {
    await rooms.resync(shard, memberships);
    if (shard === shards.control) await connections.restore();
    revocations.restore(shard);
  }

  async function housekeep(shard: Shard): Promise<void> {
    const st = state.get(shard)!;
    if (st.housekeeping || closed || !started || !shard.up()) return;
    st.housekeeping = true;
    try {
      const deadAfter = clock() - st.upSince < NODE_DEAD_AFTER_MS ? Number.MAX_SAFE_INTEGER : NODE_DEAD_AFTER_MS;
      const seen = shards.all.flatMap((s) => state.get(s)!.newest > 0 ? [identities[s.index], state.get(s)!.newest] : []);
      const [anew, swept, occ, buffered, newest] = (await shard.pair.scripts.honeHousekeep(keys.prefix, nodeId, deadAfter, ttlMs, 0, layoutOf(shard.index, identities), ...seen)).map(Number);
      st.occupied = occ;
      st.newest = newest;
      buffer.setSize(shard.index, buffered);
      if (swept > 0) log.info({ event: 'cluster.nodes.swept', count: swept, ...where(shard) }, 'cluster: removed the devices of silent relay nodes');
      if (anew === 1 && st.registered) {
        // Taken for dead (the shard restarted empty, or this node stalled): put its devices back.
        log.warn({ event: 'cluster.reregistered', nodeId, ...where(shard) }, 'cluster: this node had been dropped from a Redis shard; restoring its devices there');
        await restore(shard, true);
      }
      if (!st.registered) {
        // The heartbeat wrote this node's layout, which now guards the list: the start-up claim can go.
        await releaseLayout({ shard, identities, keys, deadAfterMs: NODE_DEAD_AFTER_MS });
      }
      st.registered = true;
    } catch (err) {
      log.warn({ event: 'cluster.housekeeping.failed', err: (err as Error).message, ...where(shard) }, 'cluster: housekeeping failed');
    } finally {
      st.housekeeping = false;
    }
  }

  async function tick(): Promise<void> {
    await Promise.all(shards.all.map(housekeep));
    if (closed) return;
    await revocations.sync().catch((err: Error) => {
      log.warn({ event: 'cluster.housekeeping.failed', err: err.message }, 'cluster: could not read the shared revocations');
    });
  }

  for (const shard of shards.all) {
    shard.onChange((up) => {
      if (closed) return;
      const st = state.get(shard)!;
      if (up) {
        st.upSince = clock();
        log.info({ event: 'cluster.redis.up', nodeId, ...where(shard) }, `cluster: Redis ${shard.url} reachable`);
        if (st.wasUp) {
          fanout.refill(shard);
          void restore(shard, false).then(() => housekeep(shard));
        } else {
          void housekeep(shard);
        }
        st.wasUp = true;
      } else if (st.wasUp) {
        log.warn({ event: 'cluster.redis.down', nodeId, ...where(shard) },
          `cluster: Redis ${shard.url} unreachable; joins to its rooms are refused and envelopes there answered BUFFER_UNAVAILABLE until it is back`);
      }
    });
  }
  const timer = setInterval(() => void tick(), HOUSEKEEP_EVERY_MS);
  timer.unref();

  const upCount = () => shards.all.filter((s) => s.up()).length;

  return {
    buffer,
    rooms,
    revocations,
    connections,
    async ready(timeoutMs) {
      const up = await Promise.all(shards.all.map((s) => s.whenUp(timeoutMs)));
      const refusals = shards.all.flatMap((s) => s.refused() ?? []);
      const refusal = refusals.find((r) => !r.startsWith(CLAIMED)) ?? refusals[0];
      if (refusal) {
        // Again: a check still running at the first release may have claimed since.
        await release();
        await this.close();
        throw new ConfigError(refusal);
      }
      started = true;
      void tick();
      return up.every(Boolean);
    },
    health() {
      const n = upCount();
      const occupied = shards.all.reduce((sum, s) => sum + state.get(s)!.occupied, 0);
      return {
        status: n === shards.all.length ? 'ok' : 'degraded',
        fields: {
          cluster: {
            redis: n === shards.all.length ? 'connected' : n === 0 ? 'down' : 'partial',
            shards: shards.all.map((s) => ({ shard: s.index, url: s.url, up: s.up(), ...(s.refused() ? { refused: s.refused() } : {}) })),
            nodeId, roomsLocal: rooms.count(), roomsRemote: Math.max(0, occupied - rooms.count()),
          },
        },
      };
    },
    rateLimiter(opts) {
      const limiter = createClusterRateLimiter({ shard: shards.control, keys, clock, name: `l${opts.limit}w${opts.windowMs}`, ...opts });
      limiters.push(limiter);
      return limiter;
    },
    registerMetrics(registry) {
      new Gauge({
        name: 'hone_relay_cluster_redis_up', help: 'Cluster mode: 1 while this node reaches every Redis shard, else 0.', registers: [registry],
        collect() { this.set(upCount() === shards.all.length ? 1 : 0); },
      });
      new Gauge({
        name: 'hone_relay_cluster_shard_up', help: 'Cluster mode: 1 while this node reaches the Redis shard (index in cluster.redis, from 0), else 0.',
        labelNames: ['shard'], registers: [registry],
        collect() { for (const s of shards.all) this.set({ shard: String(s.index) }, s.up() ? 1 : 0); },
      });
    },
    async close() {
      if (closed) return;
      await buffer.close();
      await rooms.settle();
      // Two rounds: the first reads each shard's newest buffered time, the second records them on every shard, so
      // a list that drops a shard with messages is refused however soon after this the relays restart.
      if (started) for (let i = 0; i < 2; i++) await tick();
      closed = true;
      clearInterval(timer);
      for (const l of limiters) l.close();
      rooms.close();
      // Leaving on purpose: this node's remaining devices leave now rather than after NODE_DEAD_AFTER_MS.
      await Promise.all(shards.all.filter((s) => s.up()).map((s) => s.pair.scripts.honeHousekeep(keys.prefix, nodeId, NODE_DEAD_AFTER_MS, ttlMs, 1, '').catch(() => {})));
      await shards.close();
    },
  };
}
