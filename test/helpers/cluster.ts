// Relay cluster test rig: real hone-relay child processes on one Redis (a key prefix per test), a Redis of the
// test's own for restarts, and a reconnecting test device that keeps everything it received and resends unacked sends.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { cleanEnv, freePort } from './process.ts';
import { RelayClient, TEST_SECRET, token } from './relay.ts';
import { sleep, until } from './wait.ts';

export { until };

const APP = fileURLToPath(new URL('../../src/relay/app.ts', import.meta.url));
export const SHARED_REDIS = process.env.HONE_TEST_REDIS ?? 'redis://127.0.0.1:6379/0';

export interface NodeProcess {
  child: ChildProcess;
  http: string;
  ws: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  health(): Promise<any>;
  metrics(): Promise<string>;
}

/** A folder with a relay.conf for the cluster; every node of a test uses the same file. */
export function clusterConfig(redisUrl: string, values: Record<string, string | number> = {}): { dir: string; file: string; prefix: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hone-cluster-'));
  const prefix = `hone-test-${randomBytes(4).toString('hex')}`;
  const all: Record<string, string | number> = {
    host: '127.0.0.1', port: 0, 'ws.port': 0, 'auth.secret': TEST_SECRET, 'sqlite.path': join(dir, 'unused.db'), 'log.level': 'info',
    'cluster.redis': redisUrl, 'cluster.prefix': prefix, 'limits.connections.perIpPerMinute': 100_000, ...values,
  };
  const file = join(dir, 'relay.conf');
  writeFileSync(file, ['# written by a cluster test', ...Object.entries(all).map(([k, v]) => `${k}=${v}`), ''].join('\n'));
  return { dir, file, prefix };
}

/** Spawns `hone-relay --config file` and waits for its `"event":"listening"` line; when the relay exits first, rejects
 * with an Error carrying `exit` ({ code, signal }) and `output` (stdout and stderr). */
export function startNode(configFile: string, cwd: string): Promise<NodeProcess> {
  const child = spawn(process.execPath, [APP, '--config', configFile], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no "listening" line within 15 s:\n${out}`)); }, 15_000);
    const poll = setInterval(() => {
      for (const line of out.split('\n')) {
        if (!line.includes('"event":"listening"')) continue;
        const rec = JSON.parse(line);
        clearTimeout(timer);
        clearInterval(poll);
        const http = rec.http as string;
        resolve({
          child, http, ws: rec.ws, output: () => out, exited,
          health: async () => (await fetch(http + '/health')).json(),
          metrics: async () => (await fetch(http + '/metrics')).text(),
        });
        return;
      }
    }, 20);
    exited.then((e) => {
      clearTimeout(timer);
      clearInterval(poll);
      reject(Object.assign(new Error(`relay exited (${e.code ?? e.signal}) before listening:\n${out}`), { exit: e, output: out }));
    });
  });
}

/** Calls `each` with every batch of keys of `prefix` that SCAN finds. */
async function scanPrefix(r: Redis, prefix: string, each: (keys: string[]) => Promise<unknown>): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await each(keys);
  } while (cursor !== '0');
}

/** Every key of a test's prefix on one Redis (a shard of the cluster). */
export async function prefixKeys(redisUrl: string, prefix: string): Promise<string[]> {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const all: string[] = [];
  try {
    await r.connect();
    await scanPrefix(r, prefix, async (keys) => all.push(...keys));
    return all;
  } finally {
    r.disconnect();
  }
}

/** Deletes every key of a test's prefix. */
export async function dropPrefix(redisUrl: string, prefix: string): Promise<void> {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    await scanPrefix(r, prefix, (keys) => r.del(...keys));
  } catch {
    // the shared Redis is gone: nothing to clean
  } finally {
    r.disconnect();
  }
}

/** A redis-server of the test's own (AOF on unless `persist: false`; `password`: requirepass), in a temporary folder,
 * stopped and started on the same port. */
export class OwnRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'hone-redis-'));
  port = 0;
  private child: ChildProcess | null = null;
  private readonly persist: boolean;
  private readonly password: string;

  constructor(opts: { persist?: boolean; password?: string } = {}) {
    this.persist = opts.persist ?? true;
    this.password = opts.password ?? '';
  }

  get url(): string {
    return `redis://${this.password ? `:${this.password}@` : ''}127.0.0.1:${this.port}/0`;
  }

  /** Started and not stopped or killed since. */
  get running(): boolean {
    return this.child !== null;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const aof = this.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const auth = this.password ? ['--requirepass', this.password] : [];
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', ...aof, ...auth], { stdio: 'ignore' });
    this.child = child;
    const deadline = Date.now() + 10_000;
    const cliAuth = this.password ? ['--no-auth-warning', '-a', this.password] : [];
    while (spawnSync('redis-cli', ['-p', String(this.port), ...cliAuth, 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG') {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`own redis-server on ${this.port} did not start`);
      await sleep(50);
    }
  }

  /** SIGTERM (redis flushes its AOF) and wait for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  /** SIGKILL (a crash: nothing flushed beyond what `appendfsync always` already wrote) and wait for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** SIGSTOP / SIGCONT: a Redis that keeps its connections open but stops answering (a hung host). */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async destroy(): Promise<void> {
    this.discard();
  }

  /** Lets this process exit while the server runs (then killed by an 'exit' handler calling `discard`). */
  unref(): void {
    this.child?.unref();
  }

  /** SIGKILL and remove its folder, synchronously (also from a process 'exit' handler). */
  discard(): void {
    this.resume();
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
    this.child = null;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Sent {
  msgId: string;
  room: string;
  from: string;
  to: string;
  /** Position in the sender's sending order. */
  n: number;
}

/**
 * A device of the test: one label in one room, moved between nodes by `connect`; keeps every envelope it received
 * (live and from `deltas`), its acks, and its unacked sends for `resend`.
 */
export class Peer {
  readonly room: string;
  readonly label: string;
  readonly userId: number;
  readonly deviceId: number;
  client: RelayClient | null = null;
  url = '';
  /** Envelopes received, in arrival order over all connections. */
  readonly received: any[] = [];
  readonly acks = new Map<string, number>();
  readonly outbox = new Map<string, Sent>();
  readonly sent: Sent[] = [];
  readonly errors: any[] = [];
  readonly closes: number[] = [];
  incomplete = 0;
  lastSeq: number | null = null;
  joined: any = null;
  /** Joined on the current connection: sends wait for it (and for `resend` of older ones) to keep their order. */
  private ready = false;

  constructor(room: string, label: string, userId: number, deviceId: number) {
    this.room = room;
    this.label = label;
    this.userId = userId;
    this.deviceId = deviceId;
  }

  private take(env: any): void {
    this.received.push(env);
    if (this.lastSeq === null || env.seq > this.lastSeq) this.lastSeq = env.seq;
  }

  /** Connects to `url` and joins (with `lastSeq` once it has seen anything); returns the answer frame. */
  async connect(url: string): Promise<any> {
    this.ready = false;
    const c = await RelayClient.connect(url, { timeoutMs: 5000 });
    this.client = c;
    this.url = url;
    c.ws.on('message', (data) => {
      let f: any;
      try { f = JSON.parse(String(data)); } catch { return; }
      if (f === null || typeof f !== 'object') return;
      if (f.type === undefined && typeof f.from === 'string') return this.take(f);
      if (f.type === 'deltas') {
        if (f.complete !== true) this.incomplete++;
        for (const d of f.deltas) this.take(JSON.parse(d.payload));
        return;
      }
      if (f.type === 'ack') {
        this.acks.set(f.msgId, f.seq);
        this.outbox.delete(f.msgId);
        return;
      }
      if (f.type === 'error') this.errors.push(f);
    });
    c.ws.on('close', (code) => this.closes.push(code));
    const answer = await c.join(this.room, this.label, token(this.userId, this.deviceId), this.lastSeq === null ? {} : { lastSeq: this.lastSeq });
    if (answer.type === 'joined') {
      this.joined = answer;
      this.ready = true;
    }
    return answer;
  }

  get open(): boolean {
    return this.ready && this.client !== null && this.client.isOpen;
  }

  send(to: string): Sent {
    const s: Sent = { msgId: `${this.label}#${this.sent.length}`, room: this.room, from: this.label, to, n: this.sent.length };
    this.sent.push(s);
    this.outbox.set(s.msgId, s);
    if (this.open) this.client!.envelope(to, `p:${s.msgId}`, { msgId: s.msgId });
    return s;
  }

  /** Sends again everything not acknowledged (same msgId: the relay acks duplicates without routing them). */
  resend(): void {
    if (!this.open) return;
    for (const s of this.outbox.values()) this.client!.envelope(s.to, `p:${s.msgId}`, { msgId: s.msgId });
  }

  terminate(): void {
    this.client?.terminate();
  }
}

/**
 * What every peer must have received, checked against what it did: each expected msgId exactly once, nothing
 * else, seqs strictly increasing, each sender's envelopes in its sending order. Returns a list of problems.
 */
export function compareDeliveries(peers: Peer[], hostOf: (room: string) => string): string[] {
  const problems: string[] = [];
  const byRoom = new Map<string, Peer[]>();
  for (const p of peers) byRoom.set(p.room, [...(byRoom.get(p.room) ?? []), p]);
  for (const p of peers) {
    const expected = new Set<string>();
    for (const q of byRoom.get(p.room)!) {
      if (q === p) continue;
      for (const s of q.sent) {
        if (s.to === 'broadcast' || s.to === p.label || (s.to === 'host' && hostOf(p.room) === p.label)) expected.add(s.msgId);
      }
    }
    const seen = new Map<string, number>();
    let lastSeq = 0;
    const lastN = new Map<string, number>();
    for (const e of p.received) {
      const msgId = e.msgId as string;
      seen.set(msgId, (seen.get(msgId) ?? 0) + 1);
      if (e.seq <= lastSeq) problems.push(`${p.room}/${p.label}: seq ${e.seq} after ${lastSeq} (${msgId})`);
      lastSeq = Math.max(lastSeq, e.seq);
      const n = Number(msgId.split('#')[1]);
      if (n <= (lastN.get(e.from) ?? -1)) problems.push(`${p.room}/${p.label}: ${msgId} after ${e.from}#${lastN.get(e.from)}`);
      lastN.set(e.from, Math.max(n, lastN.get(e.from) ?? -1));
      if (e.payload !== `p:${msgId}`) problems.push(`${p.room}/${p.label}: ${msgId} carries ${JSON.stringify(e.payload)}`);
    }
    for (const [msgId, count] of seen) {
      if (!expected.has(msgId)) problems.push(`${p.room}/${p.label}: got ${msgId}, not addressed to it`);
      else if (count > 1) problems.push(`${p.room}/${p.label}: got ${msgId} ${count} times`);
    }
    for (const msgId of expected) if (!seen.has(msgId)) problems.push(`${p.room}/${p.label}: never got ${msgId}`);
    if (p.incomplete > 0) problems.push(`${p.room}/${p.label}: ${p.incomplete} deltas frames with complete:false`);
  }
  return problems;
}

/** Joins `perRoom` peers to each of `rooms` rooms `pair-<name><r>`, device d<j> of room r on node (r + j) mod N, so
 * every room spans nodes; pushes them to `peers`, checks each was joined, answers each room's host as first told. */
export async function spreadPeers(nodes: NodeProcess[], name: string, rooms: number, perRoom: number, peers: Peer[]): Promise<{ hosts: Map<string, string>; answers: any[] }> {
  const hosts = new Map<string, string>();
  const answers: any[] = [];
  for (let r = 0; r < rooms; r++) {
    const room = `pair-${name}${r}`;
    for (let j = 0; j < perRoom; j++) {
      const p = new Peer(room, `d${j}`, r + 1, j + 1);
      const answer = await p.connect(nodes[(r + j) % nodes.length].ws);
      assert.equal(answer.type, 'joined', JSON.stringify(answer));
      if (j === 0) hosts.set(room, answer.hostDevice);
      answers.push(answer);
      peers.push(p);
    }
  }
  return { hosts, answers };
}

/** One round of traffic: every peer sends once; round i goes to broadcast, the room's host or the next device
 * (d<j+1> of `perRoom`) in turn. */
export function sendRound(peers: Peer[], i: number, perRoom: number): void {
  for (const p of peers) {
    const j = Number(p.label.slice(1));
    p.send(i % 3 === 0 ? 'broadcast' : i % 3 === 1 ? 'host' : `d${(j + 1) % perRoom}`);
  }
}

/** Waits until every peer is joined with nothing unacked, resending its unacked sends every `resendMs`; answers whether it got there. */
export function drainAcks(peers: Peer[], ms: number, resendMs = 1000): Promise<boolean> {
  let last = Date.now();
  return until(() => {
    if (Date.now() - last >= resendMs) {
      last = Date.now();
      for (const p of peers) p.resend();
    }
    return peers.every((p) => p.open && p.outbox.size === 0);
  }, ms);
}

/** compareDeliveries once it comes out clean (live envelopes may still be on their way), else its problems after `ms`. */
export async function settledDeliveries(peers: Peer[], hostOf: (room: string) => string, ms = 10_000): Promise<string[]> {
  let problems: string[] = [];
  await until(() => (problems = compareDeliveries(peers, hostOf)).length === 0, ms, 200);
  return problems;
}

/**
 * While running, moves every peer whose connection closed to one of `targets` (chosen by its label) and resends its
 * unacked sends there; `check` may name a problem with the join answer. `failures` lists those and failed joins.
 */
export function healPeers(peers: Peer[], targets: NodeProcess[], check?: (p: Peer, answer: any) => string | null): { failures: string[]; stop(): void } {
  const moving = new Set<Peer>();
  const failures: string[] = [];
  const heal = () => {
    for (const p of peers) {
      if (p.open || moving.has(p) || p.client === null || p.client.closeInfo === null) continue;
      moving.add(p);
      const target = targets[(Number(p.label.slice(1)) + p.room.length) % targets.length];
      p.connect(target.ws).then((answer) => {
        const problem = answer.type !== 'joined' ? JSON.stringify(answer) : check?.(p, answer) ?? null;
        if (problem !== null) failures.push(`${p.room}/${p.label}: ${problem}`);
        p.resend();
      }, (err: Error) => failures.push(`${p.room}/${p.label}: ${err.message}`)).finally(() => moving.delete(p));
    }
  };
  const timer = setInterval(heal, 20);
  return { failures, stop: () => clearInterval(timer) };
}

/** Polls a node's /health until `pred` holds or `ms` passed; answers the last body. */
export async function waitHealth(node: NodeProcess, pred: (health: any) => boolean, ms: number): Promise<any> {
  const deadline = Date.now() + ms;
  for (;;) {
    const health = await node.health();
    if (pred(health) || Date.now() > deadline) return health;
    await sleep(50);
  }
}

/** Ends a test's peers, clients and nodes, then removes its Redis keys (when on a shared Redis) and its folder. */
export async function stopCluster(parts: { nodes: NodeProcess[]; peers: Peer[]; clients: Array<{ terminate(): void }>; dir?: string; redis?: { url: string; prefix: string } }): Promise<void> {
  for (const p of parts.peers) p.terminate();
  for (const c of parts.clients) c.terminate();
  for (const n of parts.nodes) n.child.kill('SIGKILL');
  await Promise.all(parts.nodes.map((n) => n.exited));
  if (parts.redis) await dropPrefix(parts.redis.url, parts.redis.prefix);
  if (parts.dir) rmSync(parts.dir, { recursive: true, force: true });
}
