// The relay's frames (SPEC §6): inbound text classified and validated once, outbound frames rendered here.
// Envelopes are forwarded with the relay's fields first and `payload` last, never looking inside `payload`.

export const LIMITS = { room: 255, device: 128, token: 1024, msgId: 64, to: 128, epoch: 64 } as const;

export interface JoinFrame {
  kind: 'join';
  room: string;
  device: string;
  token: string | null;
  lastSeq: number | null;
  /** The room epoch `lastSeq` belongs to (SPEC §6.1), when the client sent one. */
  epoch: string | null;
}

export interface EnvelopeFrame {
  kind: 'envelope';
  from: unknown;
  room: unknown;
  to: string;
  msgId: string | null;
  fields: Record<string, unknown>;
}

export type Inbound =
  | JoinFrame
  | EnvelopeFrame
  | { kind: 'ping' }
  | { kind: 'invalid'; code: string; message: string; msgId?: string };

const bad = (code: string, message: string, msgId?: string): Inbound => ({ kind: 'invalid', code, message, ...(msgId ? { msgId } : {}) });

function parseObject(text: string): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

const isLabel = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

/** Classifies one text frame; never throws. */
export function classify(text: string): Inbound {
  const obj = parseObject(text);
  if (obj === null) return bad('BAD_FRAME', 'Frames must be JSON objects.');
  if (obj.type === 'join' || obj.join === true) {
    if (!isLabel(obj.room, LIMITS.room)) return bad('BAD_JOIN', `A join needs "room": a string of 1 to ${LIMITS.room} characters.`);
    if (!isLabel(obj.device, LIMITS.device) || obj.device === 'host' || obj.device === 'broadcast') {
      return bad('BAD_JOIN', `A join needs "device": a string of 1 to ${LIMITS.device} characters other than "host" or "broadcast".`);
    }
    if (obj.token !== undefined && obj.token !== null && typeof obj.token !== 'string') return bad('BAD_JOIN', '"token" must be a string.');
    const lastSeq = obj.lastSeq;
    if (lastSeq !== undefined && lastSeq !== null && !(Number.isSafeInteger(lastSeq) && (lastSeq as number) >= 0)) {
      return bad('BAD_JOIN', '"lastSeq" must be a whole number of 0 or more.');
    }
    if (obj.epoch !== undefined && obj.epoch !== null && !isLabel(obj.epoch, LIMITS.epoch)) {
      return bad('BAD_JOIN', `"epoch" must be a string of 1 to ${LIMITS.epoch} characters.`);
    }
    return {
      kind: 'join', room: obj.room, device: obj.device,
      token: typeof obj.token === 'string' && obj.token !== '' ? obj.token : null,
      lastSeq: typeof lastSeq === 'number' ? lastSeq : null,
      epoch: typeof obj.epoch === 'string' ? obj.epoch : null,
    };
  }
  if (obj.to !== undefined) {
    const msgId = obj.msgId;
    const validMsgId = typeof msgId === 'string' && msgId.length > 0 && msgId.length <= LIMITS.msgId;
    if (msgId !== undefined && msgId !== null && !validMsgId) return bad('BAD_ENVELOPE', `"msgId" must be a string of 1 to ${LIMITS.msgId} characters.`);
    // Relay frames are typed, envelopes are not (SPEC §6.1): a typed envelope could pass for a relay frame.
    if (obj.type !== undefined) return bad('BAD_ENVELOPE', 'An envelope must not carry "type": relay frames are typed, envelopes are not.', validMsgId ? msgId : undefined);
    if (!isLabel(obj.to, LIMITS.to)) return bad('BAD_ENVELOPE', `"to" must be "host", "broadcast" or a device label of at most ${LIMITS.to} characters.`, validMsgId ? msgId : undefined);
    return { kind: 'envelope', from: obj.from, room: obj.room, to: obj.to, msgId: validMsgId ? msgId : null, fields: obj };
  }
  if (obj.type === 'ping') return { kind: 'ping' };
  return bad('UNKNOWN_FRAME', 'Expected a join, a ping or an envelope (a frame with "to").');
}

const OWN = new Set(['from', 'to', 'room', 'seq', 'ts', 'payload']);

/** Renders the forwarded envelope around its seq: `head + seq + tail`. Throws RangeError when nested too deeply. */
export function renderEnvelope(e: EnvelopeFrame, from: string, room: string, now: number): { head: string; tail: string } {
  const head = `{"from":${JSON.stringify(from)},"to":${JSON.stringify(e.to)},"room":${JSON.stringify(room)},"seq":`;
  const ts = typeof e.fields.ts === 'number' && Number.isFinite(e.fields.ts) ? e.fields.ts : now;
  let tail = `,"ts":${ts}`;
  for (const key of Object.keys(e.fields)) {
    if (OWN.has(key)) continue;
    const value = JSON.stringify(e.fields[key]);
    if (value !== undefined) tail += `,${JSON.stringify(key)}:${value}`;
  }
  if (e.fields.payload !== undefined) tail += `,"payload":${JSON.stringify(e.fields.payload)}`;
  return { head, tail: tail + '}' };
}

export const out = {
  pong: '{"type":"pong"}',
  joined: (room: string, device: string, host: boolean, hostDevice: string, seq: number, epoch: string) =>
    JSON.stringify({ type: 'joined', room, device, host, hostDevice, seq, epoch }),
  error: (code: string, error: string, msgId?: string | null) =>
    JSON.stringify(msgId ? { type: 'error', code, error, msgId } : { type: 'error', code, error }),
  ack: (msgId: string, seq: number) => JSON.stringify({ type: 'ack', msgId, seq }),
  host: (room: string, device: string) => JSON.stringify({ type: 'host', room, device }),
  presence: (room: string, device: string, state: 'joined' | 'left') => JSON.stringify({ type: 'presence', room, device, state }),
  /** One page of a catch-up (SPEC §6.1): every page carries the catch-up's `complete`, all but the last `more`. */
  deltas: (room: string, entries: Array<{ seq: number; from: string; text: string; createdAt: number }>, complete: boolean, more = false) =>
    JSON.stringify({
      type: 'deltas', room,
      deltas: entries.map((e) => ({ seq: e.seq, deviceId: e.from, payload: e.text, createdAt: e.createdAt })),
      complete,
      ...(more ? { more: true } : {}),
    }),
};
