// RelayClient: one device in one relay room — join with token and lastSeq, send with msgIds, catch up, reconnect.
// Browser-safe (no Node imports): the WebSocket constructor, timers, clock, random source and seq store are injected.
import type { BackoffOptions } from './backoff.ts';
import { backoffDelay } from './backoff.ts';
import { Emitter } from './emitter.ts';
import { Outbox } from './outbox.ts';
import type { OutboxEntry } from './outbox.ts';
import type { PayloadCodec, UndecryptableReason } from './payload-codec.ts';
import { openPayload } from './payload-codec.ts';
import type { Envelope, Target } from './protocol.ts';
import { CLOSE_REPLACED, envelopeFrame, FATAL_CODES, joinFrame, parseDelta, parseInbound, RETRYABLE_CODES } from './protocol.ts';

/** The part of the WHATWG WebSocket the client uses (browsers' and Node's global one fit). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Where the highest seen `seq` is kept so a restarted client resumes (a file, localStorage, memory). */
export interface SeqStore {
  load(): number | null | undefined | Promise<number | null | undefined>;
  save(seq: number): void;
}

export type RelayState = 'idle' | 'connecting' | 'joining' | 'joined' | 'waiting' | 'closed' | 'failed';

export interface RelayMessage {
  seq: number;
  from: string;
  to: string;
  room: string;
  ts: number;
  payload: unknown;
  encrypted: boolean;
  /** True when it came in the catch-up (`deltas`) after a (re)join. */
  replayed: boolean;
  envelope: Envelope;
}

export interface RelayEvents extends Record<string, unknown> {
  state: { state: RelayState; previous: RelayState };
  joined: { room: string; device: string; host: boolean; hostDevice: string; seq: number; reconnect: boolean };
  message: RelayMessage;
  /** Some messages were lost (buffer expired, or the relay restarted without its buffer): do a full resync. */
  resync: { room: string; lastSeq: number | null; reason: 'buffer-expired' | 'relay-reset' };
  host: { room: string; device: string; isMe: boolean };
  presence: { room: string; device: string; state: 'joined' | 'left' };
  /** An error frame from the relay. */
  error: { code: string; message: string; msgId?: string };
  ack: { msgId: string; seq: number };
  /** A message that will never be delivered: outbox full (oldest dropped), refused by the relay, or too large. */
  dropped: { msgId: string; to: string; payload: unknown; reason: 'outbox-full' | 'rejected'; code?: string };
  disconnected: { code: number; reason: string; willRetry: boolean; delayMs: number; attempt: number };
  /** The relay refused this device for good (revoked, invalid token, forbidden room, replaced): no more reconnects. */
  fatal: { code: string; message: string; closeCode: number };
  /** A payload that could not be opened (end-to-end encryption): dropped, its seq counted as seen. */
  undecryptable: { seq: number; from: string; reason: UndecryptableReason; detail?: string; replayed: boolean };
}

export interface RelayClientOptions {
  url: string;
  room: string;
  /** This client's device label in the room (not `host` / `broadcast`). */
  device: string;
  token: string;
  WebSocket?: WebSocketCtor;
  seqStore?: SeqStore;
  /** Messages kept while unacknowledged (default 1000); when full, the oldest is dropped. */
  outboxLimit?: number;
  /** Largest envelope frame `send` accepts, in UTF-8 bytes (default 1 MiB, the relay's default limit). */
  maxFrameBytes?: number;
  backoff?: BackoffOptions;
  random?: () => number;
  timers?: Timers;
  now?: () => number;
  newMsgId?: () => string;
  /** No `joined` within this time → drop and retry (default 10 s). */
  connectTimeoutMs?: number;
  /** Ping interval while joined (default 25 s; 0 = none); no frame for two intervals → reconnect. */
  pingIntervalMs?: number;
  /** Wait before resending a message refused as RATE_LIMITED / BUFFER_UNAVAILABLE (default 1 s). */
  retryDelayMs?: number;
  /**
   * End-to-end encryption of the room (src/client/e2e): every payload sent is sealed ("encrypted":true) and only
   * payloads that open are delivered. Without one, sealed payloads are reported as `undecryptable` (no-key).
   */
  codec?: PayloadCodec;
}

const DEFAULT_MAX_FRAME = 1024 * 1024;

function defaultMsgIdFactory(): () => string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  const prefix = c?.randomUUID ? c.randomUUID().replace(/-/g, '').slice(0, 16) : Math.random().toString(36).slice(2, 14);
  let n = 0;
  return () => `${prefix}-${(++n).toString(36)}`;
}

/** Whether `s` is over `max` UTF-8 bytes; encodes only when the answer is not clear from its length (bytes ≥ units ≥ bytes / 3). */
function tooLarge(s: string, max: number): boolean {
  if (s.length > max) return true;
  if (s.length * 3 <= max) return false;
  return new TextEncoder().encode(s).length > max;
}

export class RelayClient extends Emitter<RelayEvents> {
  readonly room: string;
  readonly device: string;
  private token: string;
  private readonly url: string;
  private readonly WS: WebSocketCtor;
  private readonly store: SeqStore | undefined;
  private readonly outbox: Outbox;
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly newMsgId: () => string;
  private readonly opts: RelayClientOptions;

  private ws: WebSocketLike | null = null;
  private connNo = 0;
  private attempt = 0;
  private everJoined = false;
  private current: RelayState = 'idle';
  private seq: number | null = null;
  private pendingError: { code: string; message: string } | null = null;
  private reconnectTimer: unknown = null;
  private connectTimer: unknown = null;
  private pingTimer: unknown = null;
  private retryTimer: unknown = null;
  private lastFrameAt = 0;
  private host = false;
  private hostLabel = '';
  private duplicateCount = 0;

  constructor(opts: RelayClientOptions) {
    super();
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (!WS) throw new Error('no WebSocket implementation: pass options.WebSocket');
    if (!opts.device || opts.device === 'host' || opts.device === 'broadcast') throw new Error('device label must be non-empty and not "host" or "broadcast"');
    this.opts = opts;
    this.url = opts.url;
    this.room = opts.room;
    this.device = opts.device;
    this.token = opts.token;
    this.WS = WS;
    this.store = opts.seqStore;
    this.outbox = new Outbox(opts.outboxLimit ?? 1000);
    this.timers = opts.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) };
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.newMsgId = opts.newMsgId ?? defaultMsgIdFactory();
  }

  get state(): RelayState {
    return this.current;
  }
  /** Highest `seq` delivered to this client (what the next join sends as `lastSeq`); null before any. */
  get lastSeq(): number | null {
    return this.seq;
  }
  get isHost(): boolean {
    return this.host;
  }
  get hostDevice(): string {
    return this.hostLabel;
  }
  /** Messages not yet acknowledged by the relay. */
  get pending(): number {
    return this.outbox.size;
  }
  /** Whether payloads are sealed (a `codec` was given): every envelope sent says "encrypted":true. */
  get encrypted(): boolean {
    return this.opts.codec !== undefined;
  }
  /** Envelopes ignored because their seq was not above lastSeq. */
  get duplicates(): number {
    return this.duplicateCount;
  }

  /** Loads lastSeq from the store and connects; reconnects on its own until `close()` or a fatal refusal. */
  async start(): Promise<void> {
    if (this.current !== 'idle') return;
    const stored = this.store ? await this.store.load() : null;
    if (typeof stored === 'number' && Number.isSafeInteger(stored) && stored >= 0 && this.seq === null) this.seq = stored;
    if (this.current !== 'idle') return;
    this.connect();
  }

  /** Resolves at the next `joined` (at once when joined); rejects on a fatal refusal, close, or after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void> {
    if (this.current === 'joined') return Promise.resolve();
    return this.waitFor(() => this.current === 'joined', timeoutMs, 'joined');
  }

  /** Resolves once every queued message is acknowledged; rejects on a fatal refusal, close, or after `timeoutMs`. */
  drain(timeoutMs?: number): Promise<void> {
    if (this.outbox.size === 0) return Promise.resolve();
    return this.waitFor(() => this.outbox.size === 0, timeoutMs, 'all messages acknowledged');
  }

  /**
   * Queues an envelope to `host`, `broadcast` or a device label and sends it when joined; returns its msgId.
   * It stays in the outbox until the relay acknowledges it and is resent after a reconnect (the relay drops duplicates).
   */
  send(to: Target, payload: unknown, opts: { msgId?: string; encrypted?: boolean } = {}): string {
    if (this.current === 'closed' || this.current === 'failed') throw new Error(`cannot send: the relay client is ${this.current}`);
    if (typeof to !== 'string' || to.length === 0) throw new TypeError('"to" must be "host", "broadcast" or a device label');
    const msgId = opts.msgId ?? this.newMsgId();
    if (msgId.length === 0 || msgId.length > 64) throw new RangeError('msgId must be 1 to 64 characters');
    const codec = this.opts.codec;
    const wire = codec ? codec.seal(payload, this.room, this.device) : payload;
    const frame = envelopeFrame({ from: this.device, to, room: this.room, ts: this.now(), encrypted: codec ? true : opts.encrypted ?? false, msgId, payload: wire });
    const max = this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME;
    if (tooLarge(frame, max)) throw new RangeError(`message too large: over ${max} bytes (the relay's frame limit); split it`);
    const entry: OutboxEntry = { msgId, frame, to, payload, queuedAt: this.now(), sentOn: 0, retryAt: 0 };
    for (const old of this.outbox.push(entry)) this.emit('dropped', { msgId: old.msgId, to: old.to, payload: old.payload, reason: 'outbox-full' });
    if (this.current === 'joined' && this.outbox.get(msgId)) this.flush();
    return msgId;
  }

  /** Replaces the token used by the next join (after a new login). */
  setToken(token: string): void {
    this.token = token;
  }

  /** Stops for good: closes the socket with 1000, cancels reconnects. Unacked messages stay in `pendingMessages()`. */
  close(): void {
    if (this.current === 'closed') return;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    this.setState('closed');
    if (ws) {
      try {
        ws.close(1000, 'client closed');
      } catch { /* already closing */ }
    }
  }

  /** Unacknowledged messages, oldest first. */
  pendingMessages(): Array<{ msgId: string; to: string; payload: unknown }> {
    return this.outbox.list().map((e) => ({ msgId: e.msgId, to: e.to, payload: e.payload }));
  }

  // ---- connection life ----

  private connect(): void {
    this.reconnectTimer = null;
    const no = ++this.connNo;
    this.pendingError = null;
    this.setState('connecting');
    let ws: WebSocketLike;
    try {
      ws = new this.WS(this.url);
    } catch (err) {
      return this.fail('BAD_URL', `cannot open ${this.url}: ${(err as Error).message}`, 0);
    }
    this.ws = ws;
    this.connectTimer = this.timers.setTimeout(() => this.drop(no, 0, 'no answer from the relay'), this.opts.connectTimeoutMs ?? 10_000);
    ws.onopen = () => {
      if (this.connNo !== no || this.ws !== ws) return;
      this.setState('joining');
      ws.send(joinFrame(this.room, this.device, this.token, this.seq));
    };
    ws.onmessage = (ev) => {
      if (this.connNo !== no || this.ws !== ws) return;
      if (typeof ev.data === 'string') this.onFrame(ev.data);
    };
    ws.onerror = () => { /* a close follows */ };
    ws.onclose = (ev) => {
      if (this.connNo !== no || this.ws !== ws) return;
      this.onClose(ev.code, ev.reason);
    };
  }

  /** Abandons connection `no` without waiting for a close handshake (dead peer, timeout). */
  private drop(no: number, code: number, reason: string): void {
    if (this.connNo !== no || !this.ws) return;
    const ws = this.ws;
    try {
      ws.close(4000, reason);
    } catch { /* ignore */ }
    this.onClose(code, reason);
  }

  private onClose(code: number, reason: string): void {
    this.ws = null;
    this.clearTimers();
    for (const e of this.outbox.list()) e.sentOn = 0;
    if (this.current === 'closed' || this.current === 'failed') return;
    const refusal = this.pendingError;
    this.pendingError = null;
    if (code === CLOSE_REPLACED || (refusal && FATAL_CODES.has(refusal.code))) {
      const fatalCode = refusal?.code ?? 'REPLACED';
      return this.fail(fatalCode, refusal?.message ?? 'The same device label joined this room on another connection.', code);
    }
    const delayMs = backoffDelay(this.attempt, this.random, this.opts.backoff);
    const attempt = ++this.attempt;
    this.setState('waiting');
    this.emit('disconnected', { code, reason: refusal ? `${refusal.code}: ${refusal.message}` : reason, willRetry: true, delayMs, attempt });
    this.reconnectTimer = this.timers.setTimeout(() => this.connect(), delayMs);
  }

  private fail(code: string, message: string, closeCode: number): void {
    this.clearTimers();
    this.ws = null;
    this.setState('failed');
    this.emit('disconnected', { code: closeCode, reason: `${code}: ${message}`, willRetry: false, delayMs: 0, attempt: this.attempt });
    this.emit('fatal', { code, message, closeCode });
  }

  private clearTimers(): void {
    for (const t of [this.reconnectTimer, this.connectTimer, this.pingTimer, this.retryTimer]) if (t !== null) this.timers.clearTimeout(t);
    this.reconnectTimer = this.connectTimer = this.pingTimer = this.retryTimer = null;
  }

  private setState(state: RelayState): void {
    const previous = this.current;
    if (previous === state) return;
    this.current = state;
    this.emit('state', { state, previous });
  }

  private schedulePing(no: number): void {
    const interval = this.opts.pingIntervalMs ?? 25_000;
    if (interval <= 0) return;
    this.pingTimer = this.timers.setTimeout(() => {
      if (this.connNo !== no || !this.ws) return;
      if (this.now() - this.lastFrameAt >= 2 * interval) return this.drop(no, 0, 'the relay stopped answering');
      try {
        this.ws.send('{"type":"ping"}');
      } catch { /* close follows */ }
      this.schedulePing(no);
    }, interval);
  }

  // ---- frames ----

  private onFrame(text: string): void {
    this.lastFrameAt = this.now();
    const f = parseInbound(text);
    switch (f.type) {
      case 'joined': {
        if (this.connectTimer !== null) this.timers.clearTimeout(this.connectTimer);
        this.connectTimer = null;
        const reconnect = this.everJoined;
        this.everJoined = true;
        this.attempt = 0;
        this.host = f.host;
        this.hostLabel = f.hostDevice;
        this.setState('joined');
        this.emit('joined', { room: f.room, device: f.device, host: f.host, hostDevice: f.hostDevice, seq: f.seq, reconnect });
        if (this.seq !== null && f.seq < this.seq) {
          // The relay's sequence is behind what we saw: it lost its buffer. Start over from its numbering.
          const lastSeq = this.seq;
          this.seq = f.seq;
          this.store?.save(f.seq);
          this.emit('resync', { room: this.room, lastSeq, reason: 'relay-reset' });
        }
        this.schedulePing(this.connNo);
        this.flush();
        return;
      }
      case 'deltas': {
        for (const d of f.deltas) {
          const env = typeof d.payload === 'string' && typeof d.seq === 'number' ? parseDelta(d) : null;
          if (env) this.deliver(env, true);
        }
        if (!f.complete) this.emit('resync', { room: this.room, lastSeq: this.seq, reason: 'buffer-expired' });
        return;
      }
      case 'envelope':
        return this.deliver(f.envelope, false);
      case 'ack': {
        if (this.outbox.remove(f.msgId)) this.emit('ack', { msgId: f.msgId, seq: f.seq });
        this.check();
        return;
      }
      case 'error':
        return this.onError(f.code, f.error, f.msgId);
      case 'host':
        this.host = f.device === this.device;
        this.hostLabel = f.device;
        return this.emit('host', { room: f.room, device: f.device, isMe: this.host });
      case 'presence':
        return this.emit('presence', { room: f.room, device: f.device, state: f.state });
      default:
        return;
    }
  }

  private onError(code: string, message: string, msgId: string | undefined): void {
    if (!msgId) this.pendingError = { code, message }; // join refusals and closes carry no msgId
    this.emit('error', { code, message, ...(msgId ? { msgId } : {}) });
    let entry = msgId ? this.outbox.get(msgId) : undefined;
    if (!entry && code === 'FRAME_TOO_LARGE') entry = this.outbox.oldestInFlight(this.connNo);
    if (!entry) return;
    if (RETRYABLE_CODES.has(code)) {
      // Resend this one and everything after it, in order, once the relay has had a moment.
      const at = this.now() + (this.opts.retryDelayMs ?? 1000);
      const list = this.outbox.list();
      for (const e of list.slice(list.indexOf(entry))) {
        e.sentOn = 0;
        e.retryAt = Math.max(e.retryAt, at);
      }
      this.scheduleRetry();
      return;
    }
    this.outbox.remove(entry.msgId);
    this.emit('dropped', { msgId: entry.msgId, to: entry.to, payload: entry.payload, reason: 'rejected', code });
    this.check();
  }

  private deliver(env: Envelope, replayed: boolean): void {
    const seq = env.seq;
    if (!Number.isSafeInteger(seq)) return;
    if (this.seq !== null && seq <= this.seq) {
      this.duplicateCount++;
      return;
    }
    this.seq = seq;
    const opened = openPayload(this.opts.codec, env.payload, this.room, env.from);
    if (!opened.ok) this.emit('undecryptable', { seq, from: env.from, reason: opened.reason, ...(opened.detail ? { detail: opened.detail } : {}), replayed });
    else {
      this.emit('message', {
        seq, from: env.from, to: env.to, room: env.room, ts: typeof env.ts === 'number' ? env.ts : 0,
        payload: opened.payload, encrypted: env.encrypted === true, replayed, envelope: env,
      });
    }
    this.store?.save(seq);
  }

  // ---- outbox ----

  /** Transmits, in order, every queued message not yet sent on this connection; stops at one waiting to retry. */
  private flush(): void {
    if (this.current !== 'joined' || !this.ws) return;
    const now = this.now();
    for (const e of this.outbox.list()) {
      if (e.sentOn === this.connNo) continue;
      if (e.retryAt > now) return this.scheduleRetry();
      try {
        this.ws.send(e.frame);
      } catch {
        return; // the socket is closing; onClose resets and the next join resends
      }
      e.sentOn = this.connNo;
      e.retryAt = 0;
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== null) return;
    const next = Math.min(...this.outbox.list().filter((e) => e.retryAt > 0).map((e) => e.retryAt));
    if (!Number.isFinite(next)) return;
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, Math.max(0, next - this.now()));
  }

  // ---- waiting ----

  private waiters = new Set<() => void>();

  private check(): void {
    for (const w of [...this.waiters]) w();
  }

  private waitFor(done: () => boolean, timeoutMs: number | undefined, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: unknown = null;
      const offs: Array<() => void> = [];
      const finish = (err?: Error) => {
        this.waiters.delete(check);
        for (const off of offs) off();
        if (timer !== null) this.timers.clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (done()) return finish();
        if (this.current === 'closed') return finish(Object.assign(new Error(`relay client closed before ${what}`), { code: 'CLOSED' }));
      };
      this.waiters.add(check);
      offs.push(this.on('state', check));
      offs.push(this.on('fatal', (f) => finish(Object.assign(new Error(f.message), { code: f.code }))));
      if (timeoutMs !== undefined) {
        timer = this.timers.setTimeout(() => finish(Object.assign(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`), { code: 'TIMEOUT' })), timeoutMs);
      }
    });
  }
}
