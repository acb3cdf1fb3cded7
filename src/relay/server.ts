// Builds a relay from injected config, clock, engine and fetch: HTTP port, WebSocket port, revocation pulls.
// What tests call; app.ts adds only the command line and signals.
import type { AddressInfo } from 'node:net';
import type { Clock } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import type { TokenKeys } from '../common/token.ts';
import type { ClusterLog } from './engine/redis/engine.ts';
import { createEngine } from './engine/create.ts';
import type { RelayConfig } from './config.ts';
import { isInsecureDev } from './config.ts';
import type { ConnectionDeps } from './connection.ts';
import type { RelayEngine } from './engine/contract.ts';
import { revocationKey } from './engine/refusals.ts';
import { buildHttp } from './http.ts';
import { createHub } from './hub.ts';
import { createMetrics } from './metrics.ts';
import { startRevocationPuller } from './revocations.ts';
import type { Scheduler } from './scheduler.ts';
import { systemScheduler } from './scheduler.ts';
import { createTokenConfirmer } from './token-confirm.ts';
import { createWsPort } from './ws-server.ts';

export interface RelayDeps {
  config: RelayConfig;
  clock?: Clock;
  /** Timers (default: the real ones); tests pass theirs with the clock to drive time. */
  scheduler?: Scheduler;
  /** The engine (room table, seq, buffer, revocations); default: Redis when cluster.redis is set, else this process + SQLite at sqlite.path. */
  engine?: RelayEngine;
  fetch?: typeof fetch;
  logStream?: { write(line: string): unknown };
}

export interface RelayServer {
  httpUrl: string;
  wsUrl: string;
  /** Stops accepting, closes every socket with 1001, flushes the buffer, closes storage. */
  close(): Promise<void>;
  /** Pulls revocations now (tests; normally every second). */
  pullRevocations(): Promise<void>;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Cluster mode: Redis did not answer at start (the node serves degraded until it does). */
  redisDownAtStart: boolean;
}

const urlOf = (host: string, port: number, scheme: string) => `${scheme}://${host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;

export async function buildRelay(deps: RelayDeps): Promise<RelayServer> {
  const { config } = deps;
  const clock = deps.clock ?? systemClock;
  const scheduler = deps.scheduler ?? systemScheduler;
  const startedAt = clock();
  // The cluster engine logs through the HTTP server's logger once that exists.
  const clusterLog: { log: ClusterLog } = { log: { info() {}, warn() {} } };
  const engine = deps.engine ?? createEngine(config, clock, scheduler, clusterLog);
  // A cluster node starts serving once Redis answers, or degraded (joins refused) after 5 s.
  const redisDownAtStart = !(await engine.ready(5000));
  const keys: TokenKeys = { secret: config['auth.secret'], previousSecret: config['auth.previousSecret'], algorithm: config['token.algorithm'] };
  // Gauges are read at scrape time, when `hub` exists.
  const metrics = createMetrics({
    connections: () => hub.all.size, rooms: () => engine.rooms.count(),
    buffered: () => engine.buffer.size(), revocations: () => engine.revocations.count(),
  });
  engine.registerMetrics(metrics.registry);
  const hub = createHub({ engine, metrics, clock, scheduler, sendBufferBytes: config['limits.sendBuffer.bytes'] });

  let puller: ReturnType<typeof startRevocationPuller> | null = null;
  let ports = { http: 0, ws: 0 };
  const http = await buildHttp({
    config, metrics, logStream: deps.logStream, ports: () => ports,
    health: {
      startedAt, clock, devMode: isInsecureDev(config),
      rooms: () => engine.rooms.count(), connections: () => hub.all.size, buffered: () => engine.buffer.size(),
      revocations: () => ({ authUrl: config['auth.url'] || null, known: engine.revocations.count(), state: puller?.state ?? null }),
      engine: () => engine.health(),
    },
  });
  const log = http.log;
  clusterLog.log = log;
  if (redisDownAtStart) {
    log.warn({ event: 'cluster.redis.down', ...engine.health().fields },
      'cluster: Redis did not answer within 5 s of start; serving degraded (joins refused, envelopes answered BUFFER_UNAVAILABLE) until it does (with several shards: in the rooms of those that did not answer, named in cluster.shards)');
  }
  const confirmToken = config['token.algorithm'] === 'djb2' && config['auth.url'] && config['auth.secret']
    ? createTokenConfirmer({ authUrl: config['auth.url'], secret: config['auth.secret'], fetch: deps.fetch ?? fetch, clock })
    : undefined;
  const connDeps: ConnectionDeps = { config, engine, hub, metrics, clock, scheduler, keys, insecure: isInsecureDev(config), log, confirmToken };
  const perIp = { limit: config['limits.connections.perIpPerMinute'], windowMs: 60_000 };
  const ws = createWsPort({ ...connDeps, perIp: engine.rateLimiter(perIp) });

  try {
    await http.listen({ host: config.host, port: config.port });
    await new Promise<void>((resolve, reject) => {
      ws.server.once('error', reject);
      ws.server.listen(config['ws.port'], config.host, () => {
        ws.server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    ws.close();
    await http.close().catch(() => {});
    await engine.close().catch(() => {});
    throw err;
  }

  // Revoked devices' and removed projects' live connections are closed in one pass per batch: a page pulled from
  // auth here, or (cluster) what another node learnt.
  const closeRevoked = (keys: Set<string>, from: 'auth' | 'cluster') => {
    for (const c of hub.revoke((u, d, room) => keys.has(revocationKey({ userId: u, deviceId: d })) || keys.has(revocationKey({ userId: u, deviceId: 0, roomId: room })))) {
      log.info({ event: 'revocation.applied', userId: c.userId, deviceId: c.deviceId, from }, 'device revoked');
    }
  };
  engine.revocations.onLearned?.((learned) => closeRevoked(learned, 'cluster'));
  if (config['auth.url'] && config['auth.secret']) {
    puller = startRevocationPuller({
      authUrl: config['auth.url'], secret: config['auth.secret'], store: engine.revocations, fetch: deps.fetch ?? fetch,
      intervalMs: 1000, clock, scheduler, log,
      onRevoked: (page) => closeRevoked(new Set(page.map(revocationKey)), 'auth'),
      onResult: (ok) => metrics.revocationPulls.labels(ok ? 'ok' : 'failed').inc(),
    });
  }

  const httpPort = (http.server.address() as AddressInfo).port;
  const wsPort = (ws.server.address() as AddressInfo).port;
  ports = { http: httpPort, ws: wsPort };
  let closing: Promise<void> | null = null;
  return {
    httpUrl: urlOf(config.host, httpPort, 'http'),
    wsUrl: urlOf(config.host, wsPort, 'ws'),
    pullRevocations: async () => puller?.pullNow(),
    log,
    redisDownAtStart,
    close() {
      closing ??= (async () => {
        puller?.stop();
        const stopped = ws.stopAccepting();
        // Everything accepted so far reaches its peers before they are told to reconnect.
        await engine.buffer.flush();
        for (const conn of hub.all) hub.end(conn, 'SHUTTING_DOWN', 'The relay is restarting; reconnect.', 1001);
        await Promise.race([stopped, new Promise((r) => setTimeout(r, 2000).unref())]);
        ws.close();
        hub.syncDelivered();
        await http.close();
        await engine.close();
      })();
      return closing;
    },
  };
}
