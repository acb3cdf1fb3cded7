// SPEC §6.1 figures for hostile peers (issue 15): a hone-relay process of the tree at argv[2] (default: this one)
// with a full room, then 8 joiners with lastSeq:0 that never read (relay RSS before and after); the catch-up page
// sizes a reading joiner gets; relay.db + WAL growth under 3 connections flooding one room for `FLOOD_S` seconds.
// Usage: node bench/relay-peers.ts [tree root] [room MiB] [flood s]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as pathJoin, resolve } from 'node:path';
import WebSocket from 'ws';
import { signToken } from '../src/common/token.ts';

const ROOT = resolve(process.argv[2] ?? '.');
const ROOM_MIB = Number(process.argv[3] ?? 64);
const FLOOD_S = Number(process.argv[4] ?? 10);
const SECRET = 'bench-secret-0123456789abcdef0123';
const tok = (u: number, d: number) => signToken({ userId: u, deviceId: d, issuedAt: Date.now() }, { secret: SECRET, algorithm: 'hmac-sha256' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startRelay(dir: string, extra: string): Promise<{ pid: number; ws: string; stop(): Promise<void> }> {
  const conf = pathJoin(dir, 'relay.conf');
  writeFileSync(conf, `host=127.0.0.1\nport=0\nws.port=0\nauth.secret=${SECRET}\nsqlite.path=${pathJoin(dir, 'relay.db')}\nlog.level=info\n` +
    `limits.connections.perIpPerMinute=100000\nlimits.messages.burst=100000\nlimits.messages.perSecond=100000\n${extra}`);
  const child = spawn(process.execPath, [pathJoin(ROOT, 'src/relay/app.ts'), '--config', conf], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const ws = await new Promise<string>((res, rej) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /"ws":"(ws:\/\/[^"]+)"/.exec(out);
      if (m) res(m[1]);
    });
    child.on('exit', () => rej(new Error(out)));
  });
  return {
    pid: child.pid as number, ws,
    stop: () => new Promise((res) => { child.once('exit', () => res()); child.kill('SIGTERM'); }),
  };
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

function open(url: string): Promise<WebSocket> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(url, { maxPayload: 1 << 30 });
    ws.once('open', () => res(ws));
    ws.once('error', rej);
  });
}

async function join(url: string, room: string, device: string, u: number, d: number, lastSeq?: number): Promise<WebSocket> {
  const ws = await open(url);
  ws.send(JSON.stringify({ type: 'join', room, device, token: tok(u, d), ...(lastSeq === undefined ? {} : { lastSeq }) }));
  return ws;
}

/** Sends `n` envelopes of `size` bytes, waiting for every ack (what made it into the buffer). */
async function fill(ws: WebSocket, room: string, n: number, size: number): Promise<void> {
  const body = 'x'.repeat(size);
  let acked = 0;
  const done = new Promise<void>((res) => ws.on('message', (m) => {
    if (String(m).startsWith('{"type":"ack"') && ++acked === n) res();
  }));
  for (let i = 0; i < n; i++) ws.send(JSON.stringify({ from: 'filler', to: 'broadcast', room, msgId: `f${i}`, payload: body }));
  await done;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(pathJoin(tmpdir(), 'hone-peers-'));
  try {
    // 1. A full room, then 8 joiners with lastSeq:0 that never read.
    const relay = await startRelay(dir, 'limits.bytes.perSecond=1073741824\nlimits.frame.bytes=4194304\nbuffer.ttl.seconds=600\n');
    const room = 'pair-BENCH1';
    const filler = await join(relay.ws, room, 'filler', 1, 1);
    await sleep(200);
    await fill(filler, room, ROOM_MIB * 16, 64 * 1024);
    await sleep(1500);
    const full = rssMb(relay.pid);
    const readers: WebSocket[] = [];
    for (let i = 0; i < 8; i++) {
      const ws = await join(relay.ws, room, `idle${i}`, 1, 10 + i, 0);
      (ws as unknown as { _socket: { pause(): void } })._socket.pause();
      readers.push(ws);
    }
    let peak = full;
    for (let i = 0; i < 20; i++) {
      await sleep(250);
      peak = Math.max(peak, rssMb(relay.pid));
    }
    // A joiner that reads: the catch-up's frames and their sizes.
    const sizes: number[] = [];
    const reader = await join(relay.ws, room, 'reader', 1, 99, 0);
    await new Promise<void>((res) => reader.on('message', (m) => {
      const text = String(m);
      if (!text.startsWith('{"type":"deltas"')) return;
      sizes.push(Buffer.byteLength(text));
      if (!text.includes('"more":true')) res();
    }));
    for (const ws of [...readers, reader, filler]) ws.terminate();
    await relay.stop();
    const mb = (n: number) => (n / 1048576).toFixed(2);
    console.log(`room ${ROOM_MIB} MiB: relay RSS ${full.toFixed(0)} MB with the full room, peak ${peak.toFixed(0)} MB with 8 non-reading joiners (lastSeq:0)`);
    console.log(`catch-up of a reading joiner: ${sizes.length} deltas frame(s), largest ${mb(Math.max(...sizes))} MiB, smallest ${mb(Math.min(...sizes))} MiB, total ${mb(sizes.reduce((a, b) => a + b, 0))} MiB`);

    // 2. relay.db + WAL growth: 3 connections flooding one room (default limits) for FLOOD_S seconds.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    const relay2 = await startRelay(dir, '');
    const size = () => ['relay.db', 'relay.db-wal'].reduce((n, f) => { try { return n + statSync(pathJoin(dir, f)).size; } catch { return n; } }, 0);
    const floodRoom = 'pair-BENCH2';
    const conns = await Promise.all([0, 1, 2].map((i) => join(relay2.ws, floodRoom, `f${i}`, 1, 20 + i)));
    await sleep(300);
    const before = size();
    const body = 'y'.repeat(60 * 1024);
    const until = Date.now() + FLOOD_S * 1000;
    let maxSize = before;
    while (Date.now() < until) {
      for (const [i, ws] of conns.entries()) if (ws.bufferedAmount < 1 << 20) ws.send(JSON.stringify({ from: `f${i}`, to: 'broadcast', room: floodRoom, payload: body }));
      maxSize = Math.max(maxSize, size());
      await sleep(5);
    }
    await sleep(1500);
    maxSize = Math.max(maxSize, size());
    for (const ws of conns) ws.terminate();
    await relay2.stop();
    console.log(`relay.db + WAL under 3 flooding connections for ${FLOOD_S} s: ${mb(before)} -> ${mb(maxSize)} MiB (peak)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
