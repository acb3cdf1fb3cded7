// Starts a real hone-relay in-process on port 0 over a temporary SQLite file, and a small `ws` test client
// (connect, join in either shape, await frames by predicate, wait for the close code) for the relay suites.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { configWith } from '../../src/common/config.ts';
import { signToken } from '../../src/common/token.ts';
import type { TokenAlgorithm } from '../../src/common/token.ts';
import { relayConfigSchema } from '../../src/relay/config.ts';
import type { RelayConfig } from '../../src/relay/config.ts';
import { buildRelay } from '../../src/relay/server.ts';
import { createLocalEngine } from '../../src/relay/engine/local/engine.ts';
import type { RelayEngine } from '../../src/relay/engine/contract.ts';
import { systemClock } from '../../src/common/clock.ts';
import type { Scheduler } from '../../src/relay/scheduler.ts';
import { TEST_SECRET } from './auth.ts';
import { sleep } from './wait.ts';

export { TEST_SECRET };

/** Frame as received: the raw text (exactly what was on the wire), whether it was binary, and the parsed JSON. */
export interface Frame {
  raw: string;
  binary: boolean;
  data: any;
  at: number;
}

export type Predicate = string | ((f: any) => boolean);

function matcher(p: Predicate): (f: any) => boolean {
  return typeof p === 'string' ? (f) => f !== null && typeof f === 'object' && f.type === p : p;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface JoinOptions {
  /** 'type' = {"type":"join",…}; 'flag' = {"join":true,…} (what Hone IDE clients send). */
  shape?: 'type' | 'flag';
  lastSeq?: number;
  token?: string | null;
  extra?: Record<string, unknown>;
}

/** A token signed with the test secret (HMAC unless told otherwise). */
export function token(userId = 1, deviceId = 1, opts: { secret?: string; algorithm?: TokenAlgorithm; issuedAt?: number } = {}): string {
  return signToken({ userId, deviceId, issuedAt: opts.issuedAt ?? Date.now() }, { secret: opts.secret ?? TEST_SECRET, algorithm: opts.algorithm ?? 'hmac-sha256' });
}

/** A room name no other test uses (an unregistered `pair-…` room, like the IDE's). */
export function uniqueRoom(prefix = 'pair-'): string {
  return prefix + randomBytes(5).toString('hex').toUpperCase();
}

export { sleep };

export class RelayClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  private readonly taken = new Set<Frame>();
  private readonly waiters = new Set<() => void>();
  closeInfo: CloseInfo | null = null;
  readonly closed: Promise<CloseInfo>;
  room = '';
  device = '';

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise<CloseInfo>((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        resolve(this.closeInfo);
        this.wake();
      });
    });
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      const raw = buf.toString('utf8');
      let parsed: any;
      try {
        parsed = isBinary ? undefined : JSON.parse(raw);
      } catch {
        parsed = undefined;
      }
      this.frames.push({ raw, binary: isBinary, data: parsed, at: Date.now() });
      this.wake();
    });
    ws.on('error', () => { /* surfaced through close */ });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Opens a WebSocket; rejects when the upgrade is refused or the connection fails. */
  static connect(url: string, opts: { timeoutMs?: number; headers?: Record<string, string>; maxPayload?: number } = {}): Promise<RelayClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: opts.headers, maxPayload: opts.maxPayload ?? 256 * 1024 * 1024 });
      const client = new RelayClient(ws);
      const timer = setTimeout(() => { ws.terminate(); reject(new Error(`connect to ${url}: timed out`)); }, opts.timeoutMs ?? 3000);
      ws.once('open', () => { clearTimeout(timer); resolve(client); });
      ws.once('unexpected-response', (_req, res) => { clearTimeout(timer); ws.terminate(); reject(new Error(`connect to ${url}: HTTP ${res.statusCode}`)); });
      ws.once('error', (err) => { clearTimeout(timer); reject(err); });
    });
  }

  /** Sends an object as JSON, or a string / Buffer exactly as given (a Buffer goes as a binary frame). */
  send(frame: unknown): void {
    if (typeof frame === 'string') this.ws.send(frame);
    else if (Buffer.isBuffer(frame)) this.ws.send(frame, { binary: true });
    else this.ws.send(JSON.stringify(frame));
  }

  /** Sends a join and returns the answer: the `joined` frame, or the `error` frame when refused. */
  async join(room: string, device: string, tok: string | null | undefined, opts: JoinOptions = {}): Promise<any> {
    this.room = room;
    this.device = device;
    const head = opts.shape === 'flag' ? { join: true } : { type: 'join' };
    const frame: Record<string, unknown> = { ...head, room, device };
    if (tok !== null && tok !== undefined) frame.token = tok;
    if (opts.lastSeq !== undefined) frame.lastSeq = opts.lastSeq;
    Object.assign(frame, opts.extra ?? {});
    this.send(frame);
    return this.next((f) => f?.type === 'joined' || f?.type === 'error', 3000);
  }

  /** Sends an envelope from this client's join (fields given win). */
  envelope(to: string, payload: unknown, extra: Record<string, unknown> = {}): void {
    this.send({ from: this.device, to, room: this.room, seq: 0, ts: Date.now(), encrypted: false, payload, ...extra });
  }

  /** The first not yet consumed frame matching `pred` (a `type` or a function), waiting up to `timeoutMs`. */
  async nextFrame(pred: Predicate = () => true, timeoutMs = 2000): Promise<Frame> {
    const m = matcher(pred);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.frames.find((f) => !this.taken.has(f) && m(f.data));
      if (hit) {
        this.taken.add(hit);
        return hit;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.closeInfo) {
        const seen = this.frames.map((f) => f.raw.slice(0, 200)).join('\n  ');
        throw new Error(`${this.device || 'client'}: no matching frame within ${timeoutMs} ms${this.closeInfo ? ` (closed ${this.closeInfo.code} ${this.closeInfo.reason})` : ''}; received:\n  ${seen}`);
      }
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(t); this.waiters.delete(done); resolve(); };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  async next(pred: Predicate = () => true, timeoutMs = 2000): Promise<any> {
    return (await this.nextFrame(pred, timeoutMs)).data;
  }

  /** The first matching frame among those received so far (consumed or not), without waiting. */
  seen(pred: Predicate): Frame | undefined {
    const m = matcher(pred);
    return this.frames.find((f) => m(f.data));
  }

  /** The first not yet consumed matching frame, without consuming it or waiting. */
  peek(pred: Predicate): Frame | undefined {
    const m = matcher(pred);
    return this.frames.find((f) => !this.taken.has(f) && m(f.data));
  }

  /** Asserts that no not-yet-consumed frame matching `pred` arrives within `ms`. */
  async expectNone(pred: Predicate, ms = 300, what = 'unexpected frame'): Promise<void> {
    const m = matcher(pred);
    await sleep(ms);
    const hit = this.frames.find((f) => !this.taken.has(f) && m(f.data));
    if (hit) throw new Error(`${this.device || 'client'}: ${what}: ${hit.raw.slice(0, 300)}`);
  }

  /** Envelopes received (frames without a `type` that carry a `from`). */
  envelopes(): any[] {
    return this.frames.filter((f) => f.data && typeof f.data === 'object' && f.data.type === undefined && 'from' in f.data).map((f) => f.data);
  }

  /** Resolves with the close code and reason, or throws after `timeoutMs`. */
  async waitClose(timeoutMs = 3000): Promise<CloseInfo> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${this.device || 'client'}: not closed within ${timeoutMs} ms; received: ${this.frames.map((f) => f.raw.slice(0, 120)).join(' | ')}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(t);
    }
  }

  /** Expects an `error` frame with `code` followed by a close with `closeCode`; returns the error frame. */
  async expectRefused(code: string, closeCode: number, timeoutMs = 3000): Promise<any> {
    const err = await this.next('error', timeoutMs);
    if (err.code !== code) throw new Error(`expected error ${code}, got ${JSON.stringify(err)}`);
    if (typeof err.error !== 'string' || err.error.length === 0) throw new Error(`error frame without a human sentence: ${JSON.stringify(err)}`);
    const c = await this.waitClose(timeoutMs);
    if (c.code !== closeCode) throw new Error(`expected close ${closeCode} after ${code}, got ${c.code} ${c.reason}`);
    return err;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close(code = 1000): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code);
  }

  /** Closes and waits for the close handshake (or terminates after a second). */
  async closeAndWait(): Promise<void> {
    if (this.closeInfo) return;
    this.close();
    try {
      await this.waitClose(1000);
    } catch {
      this.ws.terminate();
      await this.closed;
    }
  }

  terminate(): void {
    this.ws.terminate();
  }
}

export interface TestRelay {
  httpUrl: string;
  wsUrl: string;
  config: RelayConfig;
  dir: string;
  sqlitePath: string;
  /** A WebSocket client (closed by `close()`). */
  connect(opts?: { timeoutMs?: number; headers?: Record<string, string> }): Promise<RelayClient>;
  /** Connects and joins; throws unless the answer is `joined`. Returns the client with `joinedFrame`. */
  device(room: string, label: string, opts?: JoinOptions & { userId?: number; deviceId?: number }): Promise<RelayClient & { joinedFrame: any }>;
  health(): Promise<{ status: number; body: any }>;
  /** Moves time on: the relay's own clock and timers with `manualTime`, else (and a cluster's Redis) real time. */
  advance(ms: number): Promise<void>;
  /** Pulls revocations from auth now (normally every second). */
  pullRevocations(): Promise<void>;
  metrics(): Promise<{ status: number; contentType: string; text: string }>;
  /** Every node's /metrics text (a single relay: its own). */
  metricsOfEveryNode(): Promise<string[]>;
  /** Closes every client it made, then the relay; keeps the SQLite file when `keepFiles`. */
  close(opts?: { keepFiles?: boolean }): Promise<void>;
}

/** A clock and timers a test moves: `advance(ms)` runs whatever falls due on the way, in order. */
export interface ManualTime {
  clock: () => number;
  scheduler: Scheduler;
  advance(ms: number): Promise<void>;
}

export function manualTime(start = Date.now()): ManualTime {
  let now = start;
  let ids = 0;
  const timers = new Map<number, { at: number; every: number; fn: () => void }>();
  const add = (ms: number, fn: () => void, every: number) => {
    const id = ++ids;
    timers.set(id, { at: now + Math.max(0, ms), every, fn });
    return { cancel: () => void timers.delete(id) };
  };
  // A turn of the event loop after each timer, so the I/O it started (socket writes, closes) happens in between.
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    clock: () => now,
    scheduler: { after: (ms, fn) => add(ms, fn, 0), every: (ms, fn) => add(ms, fn, Math.max(1, ms)) },
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        let due: [number, { at: number; every: number; fn: () => void }] | null = null;
        for (const entry of timers) if (entry[1].at <= end && (due === null || entry[1].at < due[1].at)) due = entry;
        if (due === null) break;
        const [id, t] = due;
        now = t.at;
        if (t.every > 0) t.at += t.every;
        else timers.delete(id);
        t.fn();
        await turn();
      }
      now = end;
      await turn();
    },
  };
}

export interface StartRelayOptions {
  /** The relay runs on a clock and timers the test moves with `TestRelay.advance` (a cluster's Redis keeps real time). */
  manualTime?: boolean;
  clock?: () => number;
  fetch?: typeof fetch;
  /** Reuse a SQLite file (a restart); default a fresh temporary folder. */
  sqlitePath?: string;
  /** Wraps the relay's real local engine (to slow a part down, for races). */
  wrapEngine?: (engine: RelayEngine) => RelayEngine;
}

/**
 * A relay built in-process. Tests get a high connections-per-IP limit unless they set one, since every client
 * comes from 127.0.0.1.
 */
export async function startRelay(values: Partial<RelayConfig> = {}, opts: StartRelayOptions = {}): Promise<TestRelay> {
  const dir = mkdtempSync(join(tmpdir(), 'hone-relay-'));
  const sqlitePath = opts.sqlitePath ?? join(dir, 'relay.db');
  const config = configWith(relayConfigSchema, {
    host: '127.0.0.1', port: 0, 'ws.port': 0, 'auth.secret': TEST_SECRET, 'sqlite.path': sqlitePath, 'log.level': 'silent',
    'limits.connections.perIpPerMinute': 100_000,
    ...values,
  });
  const time = opts.manualTime ? manualTime() : null;
  const clock = time?.clock ?? opts.clock;
  const engine = opts.wrapEngine?.(createLocalEngine(config, clock ?? systemClock, time?.scheduler));
  const relay = await buildRelay({ config, clock, scheduler: time?.scheduler, fetch: opts.fetch, engine });
  const clients = new Set<RelayClient>();
  const connect = async (o: { timeoutMs?: number; headers?: Record<string, string> } = {}) => {
    const c = await RelayClient.connect(relay.wsUrl, o);
    clients.add(c);
    return c;
  };
  return {
    httpUrl: relay.httpUrl, wsUrl: relay.wsUrl, config, dir, sqlitePath, connect,
    pullRevocations: () => relay.pullRevocations(),
    advance: (ms) => (time ? time.advance(ms) : sleep(ms)),
    async device(room, label, o = {}) {
      const c = (await connect()) as RelayClient & { joinedFrame: any };
      const tok = o.token === undefined ? token(o.userId ?? 1, o.deviceId ?? 1) : o.token;
      const answer = await c.join(room, label, tok, o);
      if (answer.type !== 'joined') throw new Error(`join ${room}/${label} refused: ${JSON.stringify(answer)}`);
      c.joinedFrame = answer;
      return c;
    },
    async health() {
      const res = await fetch(relay.httpUrl + '/health');
      const text = await res.text();
      let body: any = text;
      try { body = JSON.parse(text); } catch { /* keep text */ }
      return { status: res.status, body };
    },
    async metrics() {
      const res = await fetch(relay.httpUrl + '/metrics');
      return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
    },
    async metricsOfEveryNode() {
      return [(await (await fetch(relay.httpUrl + '/metrics')).text())];
    },
    async close(o = {}) {
      for (const c of clients) c.terminate();
      await relay.close();
      if (!o.keepFiles) rmSync(dir, { recursive: true, force: true });
    },
  };
}
