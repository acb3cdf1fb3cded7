// The deployment tests' toolkit: start hone-auth / hone-relay (single executables or npm entry points) as an operator
// would, an HTTP(S) client that can pin a CA and resolve names to loopback, and the end-to-end login → project → relay flow.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { delimiter, join } from 'node:path';
import WebSocket from 'ws';
import type { Run } from './process.ts';
import type { TestSmtp } from './smtp.ts';

/** PATH without any directory that holds a `node` executable (so a binary cannot lean on an installed Node). */
export function pathWithoutNode(path = process.env.PATH ?? ''): string {
  return path.split(delimiter).filter((d) => d && !existsSync(join(d, 'node'))).join(delimiter);
}

/** A minimal environment for a program: no HONE_*, no NODE_*, PATH stripped of node. */
export function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: pathWithoutNode(), HOME: process.env.HOME ?? '/', LANG: 'C.UTF-8', ...extra };
}

export interface Started {
  child: ChildProcess;
  /** The parsed `"event":"listening"` log line. */
  listening: Record<string, unknown>;
  /** Milliseconds from spawn to the listening line. */
  ms: number;
  out(): string;
  /** SIGTERM, then the exit. */
  stop(): Promise<Run>;
}

/** Spawns `cmd` in `cwd` and waits for its listening log line. */
export async function startProgram(cmd: string[], cwd: string, env: Record<string, string>, timeoutMs = 20_000): Promise<Started> {
  const t0 = performance.now();
  const child = spawn(cmd[0], cmd.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let seen: { line: Record<string, unknown>; ms: number } | null = null;
  let wake = () => {};
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (!seen) {
      const line = stdout.split('\n').find((l) => l.includes('"event":"listening"'));
      if (line) {
        seen = { line: JSON.parse(line), ms: performance.now() - t0 };
        wake();
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => {
    wake();
    resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
  }));
  const out = () => stdout + stderr;
  const started = await new Promise<{ line: Record<string, unknown>; ms: number } | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs);
    wake = () => { clearTimeout(timer); resolve(seen); };
    if (seen) wake();
    child.on('error', () => wake());
  });
  if (!started) {
    child.kill('SIGKILL');
    await done;
    throw new Error(`${cmd.join(' ')} did not log "listening" within ${timeoutMs} ms; output:\n${out()}`);
  }
  return {
    child, listening: started.line, ms: started.ms, out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      try { return await done; } finally { clearTimeout(timer); }
    },
  };
}

/** How a client reaches the services: a CA to trust and a resolver (for names such as auth.example.com). */
export interface Net {
  ca?: string;
  lookup?: LookupFunction;
}

/** Resolves every name to 127.0.0.1, like an /etc/hosts entry for the test's duration. */
export const loopbackLookup: LookupFunction = (_host, options, callback) => {
  const cb = callback as (err: Error | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;
  if ((options as { all?: boolean }).all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
};

export interface Reply { status: number; headers: Record<string, string | string[] | undefined>; text: string; json: any }

/** One HTTP(S) request; `body` is sent as JSON. */
export function fetchVia(net: Net, url: string, opts: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Reply> {
  const u = new URL(url);
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(u, { method: opts.method ?? 'GET', headers, ca: net.ca, lookup: net.lookup, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => {
        let json: unknown = null;
        try { json = JSON.parse(text); } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A WebSocket client that queues what it receives, so a test can wait for a frame matching a predicate. */
export class Peer {
  readonly ws: WebSocket;
  readonly frames: any[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];

  constructor(url: string, net: Net) {
    this.ws = new WebSocket(url, { ca: net.ca, lookup: net.lookup, handshakeTimeout: 10_000 });
    this.ws.on('message', (d) => {
      const frame = JSON.parse(String(d));
      this.frames.push(frame);
      // An envelope may arrive live or inside a catch-up frame (a cluster relay may route it between `joined` and
      // `deltas`); a client treats both alike, so the envelopes of a deltas frame are queued as well.
      if (frame.type === 'deltas') for (const e of frame.deltas) this.frames.push(JSON.parse(e.payload));
      this.poke();
    });
    this.ws.on('close', (code, reason) => { this.closed = { code, reason: String(reason) }; this.poke(); });
    this.ws.on('error', () => this.poke());
  }

  private poke(): void { this.waiters.splice(0).forEach((w) => w()); }

  open(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => { this.ws.once('open', () => resolve()); this.ws.once('error', reject); });
  }

  send(frame: unknown): void { this.ws.send(JSON.stringify(frame)); }

  /** Takes (removes) the first received frame matching `pred`. */
  async next(pred: (f: any) => boolean, what: string, timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}; closed ${JSON.stringify(this.closed)}`);
      await new Promise<void>((resolve) => { this.waiters.push(resolve); setTimeout(resolve, 100); });
    }
  }

  async closedWithin(timeoutMs: number): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`not closed within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => { this.waiters.push(resolve); setTimeout(resolve, 100); });
    }
    return this.closed;
  }

  close(): void { this.ws.close(); }
}

export interface FlowTargets {
  /** Base URL of hone-auth as clients reach it (the public URL in its config). */
  authUrl: string;
  /** The WebSocket URL of the relay, e.g. wss://sync.example.com:PORT/ws. */
  wsUrl: string;
  /** Where the second device connects, when not `wsUrl` (another relay of a cluster). */
  wsUrlB?: string;
  net: Net;
  smtp: TestSmtp;
  /** Runs `hone-auth admin set-tier <email> pro` (however the test runs hone-auth). */
  setTierPro(email: string): Promise<void>;
}

/** Signs in one device through the e-mailed magic link; answers its token and ids. */
async function signIn(t: FlowTargets, email: string, deviceName: string): Promise<{ token: string; userId: number; deviceId: number }> {
  const login = await fetchVia(t.net, `${t.authUrl}/auth/login?email=${encodeURIComponent(email)}&deviceName=${deviceName}&platform=linux`);
  assert.equal(login.status, 200, login.text);
  assert.equal(login.json.ok, true);
  const link = t.smtp.linkIn(await t.smtp.nextMail(email, 10_000));
  assert.ok(link.startsWith(`${t.authUrl}/auth/verify?`), `the link starts with auth.publicUrl: ${link}`);
  const pending = await fetchVia(t.net, `${t.authUrl}/auth/login/poll?pollToken=${login.json.pollToken}`);
  assert.equal(pending.status, 202, pending.text);
  const verified = await fetchVia(t.net, link);
  assert.equal(verified.status, 200, verified.text);
  assert.match(verified.json.deviceToken, /^\d+:\d+:\d+\.[0-9a-f]{64}$/);
  return { token: verified.json.deviceToken, userId: verified.json.userId, deviceId: verified.json.deviceId };
}

/**
 * The whole user journey: two devices sign in by magic link, the free tier refuses a project, the operator sets the
 * user to pro, the project is registered, both devices join its room on the relay and a message passes; removing one
 * device closes its relay connection (the relay pulls revocations from auth).
 */
export async function loginProjectRelayFlow(t: FlowTargets, email = 'owner@example.com'): Promise<void> {
  const laptop = await signIn(t, email, 'laptop');
  const phone = await signIn(t, email, 'phone');
  assert.equal(laptop.userId, phone.userId);
  const bearer = (d: { token: string }) => ({ authorization: `Bearer ${d.token}` });

  const project = { projectKey: 'git:hone-demo', name: 'Demo' };
  const refused = await fetchVia(t.net, `${t.authUrl}/auth/project`, { method: 'POST', headers: bearer(laptop), body: project });
  assert.equal(refused.status, 403, refused.text);
  assert.equal(refused.json.error.code, 'TIER_LIMIT');
  await t.setTierPro(email);
  const sub = await fetchVia(t.net, `${t.authUrl}/auth/subscription`, { headers: bearer(laptop) });
  assert.equal(sub.json.tier, 'pro');
  const created = await fetchVia(t.net, `${t.authUrl}/auth/project`, { method: 'POST', headers: bearer(laptop), body: project });
  assert.equal(created.status, 200, created.text);
  const room = created.json.project.roomId as string;
  const listed = await fetchVia(t.net, `${t.authUrl}/auth/projects`, { headers: bearer(phone) });
  assert.deepEqual(listed.json.projects.map((p: { roomId: string }) => p.roomId), [room]);

  const a = new Peer(t.wsUrl, t.net);
  const b = new Peer(t.wsUrlB ?? t.wsUrl, t.net);
  try {
    await Promise.all([a.open(), b.open()]);
    a.send({ type: 'join', room, device: 'laptop', token: laptop.token });
    const joinedA = await a.next((f) => f.type === 'joined', 'joined (laptop)');
    assert.equal(joinedA.host, true);
    // The IDE's join shape.
    b.send({ join: true, room, device: 'phone', token: phone.token, lastSeq: 0 });
    await b.next((f) => f.type === 'joined', 'joined (phone)');
    a.send({ from: 'laptop', to: 'broadcast', room, seq: 0, ts: Date.now(), encrypted: false, msgId: 'm-1', payload: 'hello from the laptop' });
    const ack = await a.next((f) => f.type === 'ack', 'ack');
    const got = await b.next((f) => f.from === 'laptop', 'the envelope');
    assert.equal(got.payload, 'hello from the laptop');
    assert.equal(got.seq, ack.seq);
    b.send({ from: 'phone', to: 'host', room, seq: 0, ts: Date.now(), payload: { reply: true } });
    assert.deepEqual((await a.next((f) => f.from === 'phone', 'the reply')).payload, { reply: true });

    // Removing the phone revokes its token: auth refuses it, the relay closes its connection.
    const removed = await fetchVia(t.net, `${t.authUrl}/auth/device/${phone.deviceId}`, { method: 'DELETE', headers: bearer(laptop) });
    assert.equal(removed.status, 200, removed.text);
    assert.equal((await fetchVia(t.net, `${t.authUrl}/auth/device`, { headers: bearer(phone) })).status, 401);
    const err = await b.next((f) => f.type === 'error', 'TOKEN_REVOKED', 5000);
    assert.equal(err.code, 'TOKEN_REVOKED');
    assert.equal((await b.closedWithin(5000)).code, 1008);
  } finally {
    a.close();
    b.close();
  }
}

/** Bytes of a file, for the size checks. */
export const sizeOf = (path: string): number => statSync(path).size;
