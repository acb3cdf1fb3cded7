// The WebSocket port: accepts upgrades at any path, applies the per-IP and total connection limits, and runs the
// heartbeat and join-timeout sweep. Plain HTTP requests to this port get a JSON 426.
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { errorBody } from '../common/http-errors.ts';
import type { AsyncRateLimiter, RateLimiter, Verdict } from '../common/rate-limit.ts';
import type { RelayConfig } from './config.ts';
import { addressKey } from './connection-keys.ts';
import type { ConnectionDeps } from './connection.ts';
import { openConnection } from './connection.ts';
import { out } from './frames.ts';

const FRAME_TOO_LARGE = out.error('FRAME_TOO_LARGE', 'The frame is larger than this relay accepts.');

/** ws closes over-size frames itself (1009) before any handler runs; this sends the error frame first. */
class RelaySocket extends WebSocket {
  close(code?: number, reason?: string | Buffer): void {
    if (code === 1009 && this.readyState === WebSocket.OPEN) {
      try {
        this.send(FRAME_TOO_LARGE);
      } catch {}
      super.close(1009, 'FRAME_TOO_LARGE');
      return;
    }
    super.close(code, reason);
  }
}

function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    // nginx appends the peer it saw; the last entry is the one a client cannot forge.
    const xff = String(req.headers['x-forwarded-for'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (xff.length > 0) return xff[xff.length - 1];
  }
  return req.socket.remoteAddress ?? 'unknown';
}

export interface WsPort {
  server: Server;
  wss: WebSocketServer;
  /** Stops accepting new connections. */
  stopAccepting(): Promise<void>;
  close(): void;
}

export function createWsPort(deps: ConnectionDeps & { perIp: RateLimiter | AsyncRateLimiter }): WsPort {
  const config: RelayConfig = deps.config;
  const { hub, metrics } = deps;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config['limits.frame.bytes'],
    perMessageDeflate: false,
    WebSocket: RelaySocket,
  });
  // Requests that never complete their headers are cut off within ~headersTimeout (Node checks every interval).
  const server = createServer({ connectionsCheckingInterval: 1000 }, (_req, res) => {
    const body = JSON.stringify(errorBody('UPGRADE_REQUIRED', 'This port speaks WebSocket only (connect to ws://…/ws); health and status are on the HTTP port.'));
    res.writeHead(426, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), upgrade: 'websocket', connection: 'close' });
    res.end(body);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.on('clientError', (_err, socket: Duplex) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  let accepting = true;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (!accepting) return stopping(socket);
    const ip = clientIp(req, config.trustProxy);
    const key = addressKey(ip);
    // A cluster counts the connection in Redis first; the socket's bytes wait unread meanwhile.
    void Promise.all([deps.perIp.hit(key), deps.engine.connections.acquire(key, config['limits.ip.connections'])])
      .then(([verdict, counted]) => upgrade(req, socket, head, ip, verdict, counted ? key : null));
  });

  function stopping(socket: Duplex): void {
    socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  }

  /** `counted`: the address's key when limits.ip.connections let it in (given back when the socket closes). */
  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ip: string, verdict: Verdict, counted: string | null): void {
    if (!accepting || socket.destroyed) {
      if (counted !== null) deps.engine.connections.release(counted);
      return stopping(socket);
    }
    let handed = false;
    if (counted !== null) socket.once('close', () => { if (!handed) deps.engine.connections.release(counted); });
    wss.handleUpgrade(req, socket, head, (ws) => {
      handed = true;
      const conn = openConnection(ws, ip, deps);
      if (counted !== null) conn.counted.push(counted);
      if (!verdict.allowed) {
        return hub.end(conn, 'TOO_MANY_CONNECTIONS', `More than ${config['limits.connections.perIpPerMinute']} connections a minute from your address; wait a minute.`, 1013);
      }
      if (counted === null) {
        return hub.end(conn, 'TOO_MANY_CONNECTIONS', `${config['limits.ip.connections']} connections are open from your address; close some first.`, 1013);
      }
      if (hub.all.size > config['limits.connections']) {
        return hub.end(conn, 'RELAY_FULL', 'This relay has as many connections as it may take; try again later.', 1013);
      }
    });
  }

  const heartbeatMs = config['ws.heartbeat.seconds'] * 1000;
  const joinTimeoutMs = config['join.timeout.seconds'] * 1000;
  let lastBeat = deps.clock();
  const sweep = deps.scheduler.every(Math.min(1000, heartbeatMs), () => {
    const now = deps.clock();
    const beat = now - lastBeat >= heartbeatMs;
    if (beat) lastBeat = now;
    hub.syncDelivered();
    for (const conn of hub.all) {
      if (conn.state === 'new' && conn.ended === null && now - conn.connectedAt >= joinTimeoutMs) {
        hub.end(conn, 'JOIN_TIMEOUT', `No join within ${config['join.timeout.seconds']} s.`, 1008);
        continue;
      }
      if (!beat) continue;
      if (!conn.alive) {
        metrics.closes.labels('HEARTBEAT').inc();
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      try {
        conn.ws.ping();
      } catch {}
    }
  });

  return {
    server,
    wss,
    stopAccepting() {
      accepting = false;
      return new Promise((resolve) => server.close(() => resolve()));
    },
    close() {
      sweep.cancel();
      for (const conn of hub.all) conn.ws.terminate();
      wss.close();
      server.closeAllConnections();
    },
  };
}
