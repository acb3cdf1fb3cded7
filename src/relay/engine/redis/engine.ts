// The Redis cluster engine (cluster.redis): wires buffer, rooms, fan-out and revocations to one Redis, runs the
// node's heartbeat and housekeeping every second, and reports the node's cluster state.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../../../common/clock.ts';
import type { RelayConfig } from '../../config.ts';
import { Gauge } from 'prom-client';
import type { RelayEngine } from '../contract.ts';
import { createClusterBuffer, parseReplay } from './buffer.ts';
import { createFanout } from './fanout.ts';
import type { Fanout } from './fanout.ts';
import { createClusterCounter } from './connections.ts';
import { createClusterRateLimiter } from './rate-limit.ts';
import { connectRedis } from './redis.ts';
import { createClusterRevocations } from './revocations.ts';
import { createClusterRooms } from './rooms.ts';
import { keyspace } from './wire.ts';

/** A node whose heartbeat is older than this is taken for dead: its devices leave, its hosts' windows start. */
export const NODE_DEAD_AFTER_MS = 5000;
const HOUSEKEEP_EVERY_MS = 1000;

export interface ClusterLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const quietLog: ClusterLog = { info() {}, warn() {} };

/** The URL with any password masked, for logs and /health. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://…';
  }
}

export function createClusterEngine(config: RelayConfig, clock: Clock, logRef: { log: ClusterLog } = { log: quietLog }): RelayEngine {
  const ttlMs = config['buffer.ttl.seconds'] * 1000;
  const keys = keyspace(config['cluster.prefix']);
  const nodeId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const pair = connectRedis(config['cluster.redis']);
  const log: ClusterLog = { info: (o, m) => logRef.log.info(o, m), warn: (o, m) => logRef.log.warn(o, m) };

  const buffer = createClusterBuffer({ pair, keys, ttlMs, fanout: () => fanout, roomBytes: config['limits.room.bufferBytes'] });
  let rooms: ReturnType<typeof createClusterRooms>;
  const fanout: Fanout = createFanout({
    pair, keys,
    fetch: async (room, afterSeq) => parseReplay(room, await pair.scripts.honeReplay(keys.seq(room), keys.log(room), afterSeq, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)),
    onEnvelopes: (batch) => buffer.fan(batch),
    onNotice: (n) => rooms.notice(n),
  });
  rooms = createClusterRooms({ pair, keys, fanout, nodeId, ttlMs, devicesPerRoom: config['limits.devicesPerRoom'], log });
  const revocations = createClusterRevocations({ pair, keys, log });
  const connections = createClusterCounter({ pair, keys, nodeId });
  const limiters: Array<{ close(): void }> = [];

  let occupied = 0;
  let registered = false;
  let closed = false;
  let wasUp = false;
  let housekeeping = false;
  /** When Redis last came (back) up: other nodes get NODE_DEAD_AFTER_MS to beat again before any is swept. */
  let upSince = clock();

  async function housekeep(): Promise<void> {
    if (housekeeping || closed || !pair.up()) return;
    housekeeping = true;
    try {
      const deadAfter = clock() - upSince < NODE_DEAD_AFTER_MS ? Number.MAX_SAFE_INTEGER : NODE_DEAD_AFTER_MS;
      const [anew, swept, occ, buffered] = (await pair.scripts.honeHousekeep(keys.prefix, nodeId, deadAfter, ttlMs, 0)).map(Number);
      occupied = occ;
      buffer.setSize(buffered);
      if (swept > 0) log.info({ event: 'cluster.nodes.swept', count: swept }, 'cluster: removed the devices of silent relay nodes');
      if (anew === 1 && registered) {
        // Taken for dead (Redis restarted empty, or this node stalled): put its devices back.
        log.warn({ event: 'cluster.reregistered', nodeId }, 'cluster: this node had been dropped from Redis; restoring its devices');
        await rooms.resync(true);
        await connections.restore();
      }
      registered = true;
      await revocations.sync();
    } catch (err) {
      log.warn({ event: 'cluster.housekeeping.failed', err: (err as Error).message }, 'cluster: housekeeping failed');
    } finally {
      housekeeping = false;
    }
  }

  pair.onChange((up) => {
    if (closed) return;
    if (up) {
      upSince = clock();
      log.info({ event: 'cluster.redis.up', nodeId }, 'cluster: Redis reachable');
      if (wasUp) {
        fanout.refillAll();
        void rooms.resync(false).then(() => connections.restore()).then(housekeep);
      } else {
        void housekeep();
      }
      wasUp = true;
    } else if (wasUp) {
      log.warn({ event: 'cluster.redis.down', nodeId }, 'cluster: Redis unreachable; joins are refused and envelopes answered BUFFER_UNAVAILABLE until it is back');
    }
  });
  const timer = setInterval(() => void housekeep(), HOUSEKEEP_EVERY_MS);
  timer.unref();

  return {
    buffer,
    rooms,
    revocations,
    connections,
    ready: (timeoutMs) => pair.whenUp(timeoutMs),
    health: () => ({
      status: pair.up() ? 'ok' : 'degraded',
      fields: {
        cluster: { redis: pair.up() ? 'connected' : 'down', nodeId, roomsLocal: rooms.count(), roomsRemote: Math.max(0, occupied - rooms.count()) },
      },
    }),
    rateLimiter(opts) {
      const limiter = createClusterRateLimiter({ pair, keys, clock, name: `l${opts.limit}w${opts.windowMs}`, ...opts });
      limiters.push(limiter);
      return limiter;
    },
    registerMetrics(registry) {
      new Gauge({
        name: 'hone_relay_cluster_redis_up', help: 'Cluster mode: 1 while this node reaches Redis, else 0.', registers: [registry],
        collect() { this.set(pair.up() ? 1 : 0); },
      });
    },
    async close() {
      if (closed) return;
      await buffer.close();
      await rooms.settle();
      closed = true;
      clearInterval(timer);
      for (const l of limiters) l.close();
      rooms.close();
      // Leaving on purpose: this node's remaining devices leave now rather than after NODE_DEAD_AFTER_MS.
      if (pair.up()) await pair.scripts.honeHousekeep(keys.prefix, nodeId, NODE_DEAD_AFTER_MS, ttlMs, 1).catch(() => {});
      await pair.close();
    },
  };
}
