// The relay's wire frames as the client sees them (SPEC §6): typed shapes, the join and envelope we send,
// and one parser that classifies an inbound text frame without ever throwing. Browser-safe.

export type Target = 'host' | 'broadcast' | (string & {});

/** An envelope as forwarded by the relay: its fields first, `payload` last, unknown fields kept. */
export interface Envelope {
  from: string;
  to: Target;
  room: string;
  seq: number;
  ts: number;
  encrypted?: boolean;
  msgId?: string;
  payload?: unknown;
  [field: string]: unknown;
}

/** `epoch` (SPEC §6.1): the identity of the room's sequence; '' from a relay that predates it. */
export interface JoinedFrame { type: 'joined'; room: string; device: string; host: boolean; hostDevice: string; seq: number; epoch: string }
/** One page of a catch-up: `more` on every page but the last; each page carries the catch-up's `complete`. */
export interface DeltasFrame { type: 'deltas'; room: string; deltas: Array<{ seq: number; deviceId: string; payload: string; createdAt: number }>; complete: boolean; more: boolean }
export interface AckFrame { type: 'ack'; msgId: string; seq: number }
export interface ErrorFrame { type: 'error'; code: string; error: string; msgId?: string }
export interface HostFrame { type: 'host'; room: string; device: string }
export interface PresenceFrame { type: 'presence'; room: string; device: string; state: 'joined' | 'left' }

export type Inbound =
  | JoinedFrame | DeltasFrame | AckFrame | ErrorFrame | HostFrame | PresenceFrame
  | { type: 'pong' }
  | { type: 'envelope'; envelope: Envelope }
  | { type: 'ignored' };

/** Close reasons after which reconnecting cannot help: the client stops and says why. */
export const FATAL_CODES: ReadonlySet<string> = new Set(['TOKEN_REVOKED', 'INVALID_TOKEN', 'ROOM_FORBIDDEN', 'REPLACED', 'BAD_JOIN']);

/** Envelope refusals worth resending later, unchanged (docs/relay.md). */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set(['RATE_LIMITED', 'BUFFER_UNAVAILABLE']);

/** The WebSocket close code the relay uses when the same device label joins elsewhere. */
export const CLOSE_REPLACED = 4001;

/** The close code that ends the relay's refusals (a join refused, a device revoked). */
export const CLOSE_POLICY = 1008;

/**
 * An epoch as the client keeps and echoes it (SPEC §6.1; the relay issues hex): 1 to 128 printable ASCII characters.
 * Anything else, from the relay or a stored position, counts as absent ('') — so none can reach a KEY=VALUE state file.
 */
export const isEpoch = (v: unknown): v is string => typeof v === 'string' && /^[\x21-\x7e]{1,128}$/.test(v);

export function joinFrame(room: string, device: string, token: string, lastSeq: number | null, epoch = ''): string {
  const frame: Record<string, unknown> = { type: 'join', room, device };
  if (token) frame.token = token;
  if (lastSeq !== null) frame.lastSeq = lastSeq;
  if (lastSeq !== null && epoch) frame.epoch = epoch;
  return JSON.stringify(frame);
}

export function envelopeFrame(e: { from: string; to: string; room: string; ts: number; encrypted: boolean; msgId: string; payload: unknown }): string {
  return JSON.stringify({ from: e.from, to: e.to, room: e.room, ts: e.ts, encrypted: e.encrypted, msgId: e.msgId, payload: e.payload });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

/**
 * An envelope is anything carrying `from` or `payload` (fields a peer writes); relay frames carry neither (SPEC §6.1).
 * So a peer's envelope with a `type` of its own ("deltas", "error", "host"…) is still an envelope, never a relay frame.
 */
export function looksLikeEnvelope(v: Record<string, unknown>): boolean {
  return has(v, 'from') || has(v, 'payload');
}

/** The relay sequences every envelope it forwards: a positive safe integer (0 is "nothing yet"). */
export function isRelaySeq(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) > 0;
}

const hasRoute = (v: unknown): v is Record<string, unknown> => isObj(v) && typeof v.from === 'string' && typeof v.to === 'string';

function asEnvelope(v: unknown): Envelope | null {
  return hasRoute(v) && isRelaySeq(v.seq) ? (v as Envelope) : null;
}

/** Parses a deltas entry's `payload` (the forwarded envelope as JSON text); null when it is not one. */
export function parseDelta(d: { seq: number; payload: string }): Envelope | null {
  if (!isRelaySeq(d.seq) || typeof d.payload !== 'string') return null;
  try {
    const env: unknown = JSON.parse(d.payload);
    return hasRoute(env) ? ({ ...env, seq: d.seq } as Envelope) : null; // the entry's seq is the relay's, not the text's
  } catch {
    return null;
  }
}

export function parseInbound(text: string): Inbound {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { type: 'ignored' };
  }
  if (!isObj(v)) return { type: 'ignored' };
  if (looksLikeEnvelope(v)) {
    const env = asEnvelope(v);
    return env ? { type: 'envelope', envelope: env } : { type: 'ignored' };
  }
  switch (v.type) {
    case 'joined': {
      const epoch = isEpoch(v.epoch) ? v.epoch : '';
      const seq = Number.isSafeInteger(v.seq) && (v.seq as number) >= 0 ? (v.seq as number) : 0;
      return { type: 'joined', room: String(v.room), device: String(v.device), host: v.host === true, hostDevice: String(v.hostDevice ?? ''), seq, epoch };
    }
    case 'deltas':
      return Array.isArray(v.deltas)
        ? { type: 'deltas', room: String(v.room), deltas: v.deltas.filter(isObj) as DeltasFrame['deltas'], complete: v.complete !== false, more: v.more === true }
        : { type: 'ignored' };
    case 'ack':
      return typeof v.msgId === 'string' && typeof v.seq === 'number' ? { type: 'ack', msgId: v.msgId, seq: v.seq } : { type: 'ignored' };
    case 'error':
      return { type: 'error', code: String(v.code ?? 'UNKNOWN'), error: String(v.error ?? ''), ...(typeof v.msgId === 'string' ? { msgId: v.msgId } : {}) };
    case 'host':
      return { type: 'host', room: String(v.room), device: String(v.device) };
    case 'presence':
      return v.state === 'joined' || v.state === 'left' ? { type: 'presence', room: String(v.room), device: String(v.device), state: v.state } : { type: 'ignored' };
    case 'pong':
      return { type: 'pong' };
    default:
      return { type: 'ignored' };
  }
}
