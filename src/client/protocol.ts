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

export interface JoinedFrame { type: 'joined'; room: string; device: string; host: boolean; hostDevice: string; seq: number }
export interface DeltasFrame { type: 'deltas'; room: string; deltas: Array<{ seq: number; deviceId: string; payload: string; createdAt: number }>; complete: boolean }
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

export function joinFrame(room: string, device: string, token: string, lastSeq: number | null): string {
  const frame: Record<string, unknown> = { type: 'join', room, device };
  if (token) frame.token = token;
  if (lastSeq !== null) frame.lastSeq = lastSeq;
  return JSON.stringify(frame);
}

export function envelopeFrame(e: { from: string; to: string; room: string; ts: number; encrypted: boolean; msgId: string; payload: unknown }): string {
  return JSON.stringify({ from: e.from, to: e.to, room: e.room, ts: e.ts, encrypted: e.encrypted, msgId: e.msgId, payload: e.payload });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function asEnvelope(v: unknown): Envelope | null {
  return isObj(v) && typeof v.from === 'string' && typeof v.to === 'string' && typeof v.seq === 'number' ? (v as Envelope) : null;
}

/** Parses a deltas entry's `payload` (the forwarded envelope as JSON text); null when it is not one. */
export function parseDelta(d: { seq: number; payload: string }): Envelope | null {
  try {
    const env = asEnvelope(JSON.parse(d.payload));
    return env ? { ...env, seq: d.seq } : null;
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
  switch (v.type) {
    case 'joined':
      return { type: 'joined', room: String(v.room), device: String(v.device), host: v.host === true, hostDevice: String(v.hostDevice ?? ''), seq: typeof v.seq === 'number' ? v.seq : 0 };
    case 'deltas':
      return Array.isArray(v.deltas) ? { type: 'deltas', room: String(v.room), deltas: v.deltas.filter(isObj) as DeltasFrame['deltas'], complete: v.complete !== false } : { type: 'ignored' };
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
    case undefined: {
      const env = asEnvelope(v);
      return env ? { type: 'envelope', envelope: env } : { type: 'ignored' };
    }
    default:
      return { type: 'ignored' };
  }
}
