// One server under load for bench/relay.ts, in its own process: argv[2] = `relay` (hone-relay, persistence on), `bare`
// (minimal `ws` join-and-forward) or `socketio` (Socket.IO rooms). Prints `READY <json>`; `mem` on stdin → `MEM <json>`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Server as IoServer } from 'socket.io';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { configWith } from '../src/common/config.ts';
import { relayConfigSchema } from '../src/relay/config.ts';
import type { RelayConfig } from '../src/relay/config.ts';
import { tuneGarbageCollector } from '../src/relay/gc-tuning.ts';
import { buildRelay } from '../src/relay/server.ts';

export type ServerKind = 'relay' | 'bare' | 'socketio';

export interface RelayServerInfo {
  kind: ServerKind;
  pid: number;
  /** ws:// URL for `relay` and `bare`, http:// URL for `socketio`. */
  url: string;
  /** The relay's HTTP URL (/metrics), `relay` only. */
  httpUrl?: string;
}

export interface MemInfo {
  /** Resident set size (VmRSS), bytes. */
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const kind = process.argv[2] as ServerKind;
/** auth.secret for `relay`: bench/relay.ts signs the device tokens with it. */
const BENCH_SECRET = process.argv[3] ?? '';
const cleanups: Array<() => Promise<void> | void> = [];

/** Bare baseline: a join frame records room and device and is answered; any other frame is parsed and its text forwarded to the room's other sockets. */
async function startBare(): Promise<RelayServerInfo> {
  const rooms = new Map<string, Set<WebSocket>>();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws) => {
    let room: Set<WebSocket> | null = null;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      let frame: { type?: string; join?: boolean; room?: string; device?: string };
      try {
        frame = JSON.parse(text);
      } catch {
        return;
      }
      if (room === null) {
        if ((frame.type !== 'join' && frame.join !== true) || typeof frame.room !== 'string') return void ws.close(1008);
        room = rooms.get(frame.room) ?? new Set();
        rooms.set(frame.room, room);
        room.add(ws);
        const roomId = frame.room;
        const members = room;
        ws.on('close', () => {
          members.delete(ws);
          if (members.size === 0) rooms.delete(roomId);
        });
        ws.send(JSON.stringify({ type: 'joined', room: frame.room, device: frame.device }));
        return;
      }
      for (const peer of room) if (peer !== ws) peer.send(text);
    });
  });
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => resolve());
  }));
  const { port } = wss.address() as AddressInfo;
  return { kind, pid: process.pid, url: `ws://127.0.0.1:${port}` };
}

/** Socket.IO rooms: `join` puts the socket in the room (acknowledged), `msg` goes to the room except the sender. */
async function startSocketIo(): Promise<RelayServerInfo> {
  const http = createServer();
  const io = new IoServer(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
  io.on('connection', (socket) => {
    let room: string | null = null;
    socket.on('join', (r: string, ack?: () => void) => {
      room = r;
      void socket.join(r);
      if (typeof ack === 'function') ack();
    });
    socket.on('msg', (env: unknown) => {
      if (room !== null) socket.to(room).emit('msg', env);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    io.disconnectSockets(true);
    void io.close(() => resolve());
  }));
  const { port } = http.address() as AddressInfo;
  return { kind, pid: process.pid, url: `http://127.0.0.1:${port}` };
}

/** hone-relay with its SQLite buffer in a fresh temporary folder; limits raised so that only capacity limits the load. */
async function startRelay(): Promise<RelayServerInfo> {
  // As src/relay/app.ts does for the relay process.
  tuneGarbageCollector();
  const dir = mkdtempSync(join(tmpdir(), 'hone-bench-relay-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = configWith(relayConfigSchema, {
    host: '127.0.0.1', port: 0, 'ws.port': 0, 'auth.secret': BENCH_SECRET, 'sqlite.path': join(dir, 'relay.db'), 'log.level': 'silent',
    'limits.connections.perIpPerMinute': 1_000_000, 'limits.connections': 1_000_000,
    // Every benchmark client comes from 127.0.0.1 (and few accounts): the per-address and per-account limits are lifted.
    'limits.ip.connections': 10_000_000, 'limits.user.connections': 1_000_000,
    'limits.messages.perSecond': 1_000_000, 'limits.messages.burst': 1_000_000, 'limits.bytes.perSecond': 1_073_741_824,
    'limits.rooms': 1_000_000, 'limits.sendBuffer.bytes': 1_073_741_824,
    // Diagnosis only (not used by `npm run bench:relay`): extra relay config keys as JSON.
    ...(process.env.RELAY_BENCH_RELAY_CONFIG ? JSON.parse(process.env.RELAY_BENCH_RELAY_CONFIG) as Partial<RelayConfig> : {}),
  });
  const relay = await buildRelay({ config });
  cleanups.unshift(() => relay.close());
  return { kind, pid: process.pid, url: relay.wsUrl, httpUrl: relay.httpUrl };
}

function memInfo(): MemInfo {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  const vm = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return { rss: vm ? Number(vm[1]) * 1024 : m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

let closing = false;
async function shutdown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  for (const c of cleanups) {
    try {
      await c();
    } catch (err) {
      process.stderr.write(`relay-server cleanup: ${String(err)}\n`);
    }
  }
  process.exit(code);
}

process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'mem') process.stdout.write(`MEM ${JSON.stringify(memInfo())}\n`);
});
lines.on('close', () => void shutdown(0));

try {
  const info = kind === 'bare' ? await startBare() : kind === 'socketio' ? await startSocketIo() : kind === 'relay' ? await startRelay() : null;
  if (!info) throw new Error(`unknown server kind ${String(kind)} (relay, bare or socketio)`);
  process.stdout.write(`READY ${JSON.stringify(info)}\n`);
} catch (err) {
  process.stderr.write(`relay-server ${kind}: ${err instanceof Error ? err.stack : String(err)}\n`);
  await shutdown(1);
}
