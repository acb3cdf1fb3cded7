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
import { CLOSE_POLICY, CLOSE_REPLACED, envelopeFrame, FATAL_CODES, isEpoch, isRelaySeq, joinFrame, parseDelta, parseInbound, RETRYABLE_CODES } from './protocol.ts';

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

/** A position in a room: the highest `seq` seen and the `epoch` (the identity of the room's sequence) it belongs to. */
export interface SeqPosition {
  seq: number;
  /** '' when the relay did not say (a relay that predates SPEC §6.1). */
  epoch: string;
}

/**
 * Where the highest seen `seq` is kept so a restarted client resumes (a file, localStorage, memory), with its epoch.
 * `load` may answer a bare number (a store that predates epochs): it then counts as epoch ''.
 */
export interface SeqStore {
  load(): SeqPosition | number | null | undefined | Promise<SeqPosition | number | null | undefined>;
  save(seq: number, epoch?: string): void;
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
  joined: { room: string; device: string; host: boolean; hostDevice: string; seq: number; epoch: string; reconnect: boolean };
  message: RelayMessage;
  /**
   * Some messages were lost: do a full resync. 'buffer-expired': the catch-up said complete:false; 'relay-reset': an
   * older relay's seq went below ours; 'epoch-changed': the room's sequence started again (SPEC §6.1).
   */
  resync: { room: string; lastSeq: number | null; reason: 'buffer-expired' | 'relay-reset' | 'epoch-changed' };
  /** The last page of a catch-up (or its only page) was delivered. */
  caughtUp: { room: string; complete: boolean; pages: number; messages: number };
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

/**
 * How far past the highest seq the relay has shown us (joined `seq`, acks, lastSeq) an envelope's seq may be and
 * still move lastSeq. The relay numbers each envelope of the room once, so a larger jump means that many envelopes
 * for other devices in between; a seq beyond it (a hostile or broken sender: 9007199254740990) is delivered but
 * does not move lastSeq, so it cannot make every later message look like a duplicate.
 */
export const MAX_SEQ_JUMP = 1_000_000;

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
  /** The epoch `seq` belongs to ('' = unknown). */
  private epoch = '';
  /** Highest seq the relay itself stated on this client's behalf (joined `seq`, acks): the plausibility anchor. */
  private relaySeq = 0;
  /** The catch-up in progress on this connection: pages seen, whether any said complete:false, whether resync went out. */
  private catchup = { pages: 0, messages: 0, incomplete: false, resynced: false };
  private implausibleCount = 0;
  /** The last frame before a close, when it was an error frame: whether the close is a refusal. */
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
  /** Envelopes whose seq was too far past what the relay had shown (delivered, lastSeq left alone; see MAX_SEQ_JUMP). */
  get implausibleSeqs(): number {
    return this.implausibleCount;
  }
  /** The epoch of the room's sequence that lastSeq belongs to ('' before a relay said). */
  get seqEpoch(): string {
    return this.epoch;
  }

  /** Loads lastSeq from the store and connects; reconnects on its own until `close()` or a fatal refusal. */
  async start(): Promise<void> {
    if (this.current !== 'idle') return;
    const stored = this.store ? await this.store.load() : null;
    const pos = typeof stored === 'number' ? { seq: stored, epoch: '' } : stored;
    if (pos && Number.isSafeInteger(pos.seq) && pos.seq >= 0 && this.seq === null) {
      this.seq = pos.seq;
      this.epoch = isEpoch(pos.epoch) ? pos.epoch : '';
    }
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
    const frame = envelopeFrame({ from: this.device, to, room: this.room, ts: this.now(), msgId, ...this.outgoing(payload, opts.encrypted ?? false) });
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
      ws.send(joinFrame(this.room, this.device, this.token, this.seq, this.epoch));
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
    // Final only when the relay itself said so: its refusal (an error frame, the last frame before the close) with a
    // fatal code AND the policy close it ends with, or 4001. An error frame with another code, or one followed by more
    // frames or by a network close, is an ordinary disconnect: the client retries.
    if (code === CLOSE_REPLACED || (refusal && FATAL_CODES.has(refusal.code) && code === CLOSE_POLICY)) {
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
    // Strict classification (protocol.ts): anything a peer wrote is an envelope, whatever `type` it carries.
    const f = parseInbound(text);
    if (f.type !== 'error') this.pendingError = null;
    switch (f.type) {
      case 'joined': {
        if (this.connectTimer !== null) this.timers.clearTimeout(this.connectTimer);
        this.connectTimer = null;
        const reconnect = this.everJoined;
        this.everJoined = true;
        this.attempt = 0;
        this.host = f.host;
        this.hostLabel = f.hostDevice;
        this.relaySeq = f.seq;
        this.catchup = { pages: 0, messages: 0, incomplete: false, resynced: false };
        const gap = this.adoptSequence(f.seq, f.epoch);
        this.setState('joined');
        this.emit('joined', { room: f.room, device: f.device, host: f.host, hostDevice: f.hostDevice, seq: f.seq, epoch: f.epoch, reconnect });
        if (gap) {
          this.catchup.resynced = true;
          this.emit('resync', { room: this.room, lastSeq: gap.lastSeq, reason: gap.reason });
        }
        this.schedulePing(this.connNo);
        this.flush();
        return;
      }
      case 'deltas': {
        // One page of the catch-up (SPEC §6.1): all but the last say more:true; each carries the catch-up's complete.
        const c = this.catchup;
        c.pages++;
        for (const d of f.deltas) {
          const env = parseDelta(d);
          if (env && this.deliver(env, true)) c.messages++;
        }
        if (!f.complete) c.incomplete = true;
        if (f.more) return;
        if (c.incomplete && !c.resynced) {
          c.resynced = true;
          this.emit('resync', { room: this.room, lastSeq: this.seq, reason: 'buffer-expired' });
        }
        this.emit('caughtUp', { room: this.room, complete: !c.incomplete, pages: c.pages, messages: c.messages });
        this.catchup = { pages: 0, messages: 0, incomplete: false, resynced: c.resynced };
        return;
      }
      case 'envelope':
        this.deliver(f.envelope, false);
        return;
      case 'ack': {
        if (this.outbox.remove(f.msgId)) {
          if (isRelaySeq(f.seq) && f.seq <= this.ceiling()) this.relaySeq = Math.max(this.relaySeq, f.seq);
          this.emit('ack', { msgId: f.msgId, seq: f.seq });
        }
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

  /**
   * Takes the room's sequence as `joined` states it. Returns the gap to report, if any: the epoch changed (the
   * numbering started again: lastSeq is void, the catch-up starts from the beginning), or a relay without epochs
   * is behind our lastSeq (it lost its buffer).
   */
  private adoptSequence(seq: number, epoch: string): { lastSeq: number | null; reason: 'relay-reset' | 'epoch-changed' } | null {
    const lastSeq = this.seq;
    const known = this.epoch;
    if (epoch) this.epoch = epoch;
    if (lastSeq === null) return null;
    if (epoch && known && epoch !== known) {
      this.seq = 0;
      this.store?.save(0, epoch);
      return { lastSeq, reason: 'epoch-changed' };
    }
    if (seq < lastSeq) {
      this.seq = seq;
      this.store?.save(seq, this.epoch);
      return { lastSeq, reason: 'relay-reset' };
    }
    if (epoch && !known) this.store?.save(lastSeq, epoch);
    return null;
  }

  /** The highest seq that may move lastSeq now (see MAX_SEQ_JUMP). */
  private ceiling(): number {
    return Math.max(this.relaySeq, this.seq ?? 0) + MAX_SEQ_JUMP;
  }

  /** Emits a relay-sequenced envelope unless it is a duplicate; returns whether it was delivered. */
  private deliver(env: Envelope, replayed: boolean): boolean {
    const seq = env.seq;
    if (!isRelaySeq(seq)) return false;
    if (this.seq !== null && seq <= this.seq) {
      this.duplicateCount++;
      return false;
    }
    const plausible = seq <= this.ceiling();
    if (plausible) this.seq = seq;
    else this.implausibleCount++;
    const message = this.incoming(env, replayed);
    if (message) this.emit('message', message);
    if (plausible) this.store?.save(seq, this.epoch);
    return true;
  }

  /** The one place an outbound payload becomes what goes on the wire: sealed with the room's codec when there is one. */
  private outgoing(payload: unknown, encrypted: boolean): { payload: unknown; encrypted: boolean } {
    const codec = this.opts.codec;
    return codec ? { payload: codec.seal(payload, this.room, this.device), encrypted: true } : { payload, encrypted };
  }

  /**
   * The one place an inbound envelope becomes a message: opened with the room's codec (payload-codec.ts). A payload that
   * does not open is reported as `undecryptable` and gives no message (its seq still counts as seen).
   */
  private incoming(env: Envelope, replayed: boolean): RelayMessage | null {
    const opened = openPayload(this.opts.codec, env.payload, this.room, env.from);
    if (!opened.ok) {
      this.emit('undecryptable', { seq: env.seq, from: env.from, reason: opened.reason, ...(opened.detail ? { detail: opened.detail } : {}), replayed });
      return null;
    }
    return {
      seq: env.seq, from: env.from, to: env.to, room: env.room, ts: typeof env.ts === 'number' ? env.ts : 0,
      payload: opened.payload, encrypted: env.encrypted === true, replayed, envelope: env,
    };
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
