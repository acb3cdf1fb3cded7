// One WebSocket's life on the relay: the join (token, ownership, limits, replacement, catch-up), then envelopes
// checked against the join and handed to the engine, pings, and the leave. Bad frames get an error frame, never a throw.
import type { RawData, WebSocket } from 'ws';
import type { Clock } from '../common/clock.ts';
import { roomOwnership } from '../common/room-id.ts';
import type { TokenKeys } from '../common/token.ts';
import { verifyToken } from '../common/token.ts';
import type { RelayConfig } from './config.ts';
import { userKey } from './connection-keys.ts';
import type { JoinClaims, RelayEngine, RoutedEnvelope } from './engine/contract.ts';
import { JoinRefused, LABEL_TAKEN_MESSAGE, REVOKED_MESSAGE, ROOM_REMOVED_MESSAGE } from './engine/refusals.ts';
import type { EnvelopeFrame, JoinFrame } from './frames.ts';
import { classify, out, renderEnvelope } from './frames.ts';
import type { Conn, Hub } from './hub.ts';
import type { RelayMetrics } from './metrics.ts';
import { TokenBucket } from './token-bucket.ts';
import type { Scheduler } from './scheduler.ts';
import type { Confirm } from './token-confirm.ts';
import { needsConfirming } from './token-confirm.ts';

export interface ConnectionDeps {
  config: RelayConfig;
  engine: RelayEngine;
  hub: Hub;
  metrics: RelayMetrics;
  clock: Clock;
  scheduler: Scheduler;
  keys: TokenKeys;
  /** Development without a secret: tokens are not checked. */
  insecure: boolean;
  /** token.algorithm=djb2: asks auth whether it issued a djb2 token (SPEC §6.1). */
  confirmToken?: Confirm;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

const POLICY = 1008;
const TRY_LATER = 1013;

export function openConnection(ws: WebSocket, ip: string, deps: ConnectionDeps): Conn {
  const { config, clock, hub, metrics } = deps;
  const now = clock();
  const conn: Conn = {
    ws, ip, connectedAt: now, state: 'new', room: '', device: '', userId: null, deviceId: null,
    held: null, heldBytes: 0, inbox: null, alive: true, ended: null, deliveredSeq: 0, notedSeq: 0, corked: false, counted: [],
    messages: new TokenBucket(config['limits.messages.perSecond'], config['limits.messages.burst'], clock),
    bytes: new TokenBucket(config['limits.bytes.perSecond'], config['limits.bytes.perSecond'], clock),
  };
  hub.all.add(conn);
  ws.on('message', (data: RawData, isBinary: boolean) => onFrame(conn, data, isBinary, deps));
  ws.on('pong', () => {
    conn.alive = true;
  });
  ws.on('close', () => {
    conn.state = 'closed';
    hub.all.delete(conn);
    hub.remove(conn);
    for (const key of conn.counted.splice(0)) deps.engine.connections.release(key);
  });
  // Socket errors (resets, protocol violations, over-size frames) end in 'close'; without a listener they would throw.
  ws.on('error', (err: Error & { code?: string }) => {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      metrics.drop('frame_too_large');
      metrics.closes.labels('FRAME_TOO_LARGE').inc();
    }
  });
  return conn;
}

function onFrame(conn: Conn, data: RawData, isBinary: boolean, deps: ConnectionDeps): void {
  const { hub, metrics } = deps;
  conn.alive = true;
  const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
  metrics.bytesIn.inc(size);
  if (conn.ended !== null || conn.state === 'closed') return;
  if (isBinary) {
    metrics.drop('bad_frame');
    if (conn.state === 'new') return hub.end(conn, 'BAD_FRAME', 'Frames must be JSON text, not binary.', POLICY);
    return hub.send(conn, out.error('BAD_FRAME', 'Frames must be JSON text, not binary.'));
  }
  const text = data.toString();
  if (conn.state === 'joining') {
    // Held until the join completes; a client that floods before it is answered loses the excess.
    if (conn.inbox !== null && conn.inbox.length < deps.config['limits.messages.burst']) conn.inbox.push(text);
    else metrics.drop('rate_limited');
    return;
  }
  if (conn.state === 'new') return void join(conn, text, deps);
  handle(conn, text, size, deps);
}

function handle(conn: Conn, text: string, size: number, deps: ConnectionDeps): void {
  const { hub, metrics } = deps;
  if (!conn.messages.take(1) || !conn.bytes.take(size)) {
    metrics.drop('rate_limited');
    const msgId = /"msgId"\s*:\s*"([^"\\]{1,64})"/.exec(text)?.[1];
    return hub.send(conn, out.error('RATE_LIMITED', 'Too many messages; slow down and resend this one.', msgId));
  }
  const frame = classify(text);
  switch (frame.kind) {
    case 'ping':
      return hub.send(conn, out.pong);
    case 'join':
      return hub.send(conn, out.error('ALREADY_JOINED', `This connection already joined room ${conn.room}; open another connection for another room.`));
    case 'invalid':
      metrics.drop(frame.code === 'BAD_ENVELOPE' ? 'bad_envelope' : 'bad_frame');
      return hub.send(conn, out.error(frame.code, frame.message, frame.msgId));
    case 'envelope':
      return envelope(conn, frame, deps);
  }
}

function envelope(conn: Conn, frame: EnvelopeFrame, deps: ConnectionDeps): void {
  const { hub, metrics, engine, clock } = deps;
  if (frame.from !== conn.device) {
    metrics.drop('from_mismatch');
    return hub.send(conn, out.error('FROM_MISMATCH', `"from" must be the device label this connection joined with (${conn.device}).`, frame.msgId));
  }
  if (frame.room !== conn.room) {
    metrics.drop('room_mismatch');
    return hub.send(conn, out.error('ROOM_MISMATCH', '"room" must be the room this connection joined.', frame.msgId));
  }
  const now = clock();
  let rendered: { head: string; tail: string };
  try {
    rendered = renderEnvelope(frame, conn.device, conn.room, now);
  } catch {
    metrics.drop('bad_frame');
    return hub.send(conn, out.error('BAD_FRAME', 'The envelope is nested too deeply to forward.', frame.msgId));
  }
  const msgId = frame.msgId;
  engine.buffer.accept({ room: conn.room, from: conn.device, to: frame.to, msgId, head: rendered.head, tail: rendered.tail, receivedAt: now }, (err, seq, duplicate) => {
    if (err) {
      metrics.drop('buffer_unavailable');
      deps.log.warn({ event: 'buffer.failed', err: err.message }, 'could not write the buffer; envelope refused');
      return hub.send(conn, out.error('BUFFER_UNAVAILABLE', 'The relay could not store this message; resend it.', msgId));
    }
    if (duplicate) metrics.duplicates.inc();
    if (msgId !== null) hub.send(conn, out.ack(msgId, seq));
  });
}

function refuse(conn: Conn, deps: ConnectionDeps, code: string, message: string, closeCode: number): void {
  deps.metrics.joins.labels(code).inc();
  deps.hub.end(conn, code, message, closeCode);
}

/** Checks the token (djb2 ones with auth, once); answers the claims, null in insecure development, or an error code. */
async function checkToken(join: JoinFrame, deps: ConnectionDeps): Promise<{ userId: number; deviceId: number } | null | string> {
  if (deps.insecure) return null;
  const claims = join.token !== null && join.token.length <= 1024 ? verifyToken(join.token, deps.keys) : null;
  if (claims === null || join.token === null) return 'INVALID_TOKEN';
  if (deps.engine.revocations.isRevoked(claims.userId, claims.deviceId)) return 'TOKEN_REVOKED';
  if (deps.keys.algorithm === 'djb2' && needsConfirming(join.token)) {
    const confirmed = deps.confirmToken ? await deps.confirmToken(join.token) : null;
    if (confirmed === null) return 'AUTH_UNAVAILABLE';
    if (!confirmed) return 'INVALID_TOKEN';
  }
  return claims;
}

/** Counts the connection for `key` (limits.user.connections); false when over the limit. */
async function count(conn: Conn, key: string, limit: number, deps: ConnectionDeps): Promise<boolean> {
  if (!(await deps.engine.connections.acquire(key, limit))) return false;
  if (conn.state === 'closed') deps.engine.connections.release(key);
  else conn.counted.push(key);
  return true;
}

async function join(conn: Conn, text: string, deps: ConnectionDeps): Promise<void> {
  const { config, engine, hub, metrics } = deps;
  const frame = classify(text);
  if (frame.kind !== 'join') {
    metrics.drop('not_joined');
    const code = frame.kind === 'invalid' && (frame.code === 'BAD_JOIN' || frame.code === 'BAD_FRAME') ? frame.code : 'NOT_JOINED';
    const message = frame.kind === 'invalid' && code !== 'NOT_JOINED' ? frame.message : 'The first frame must be a join: {"type":"join","room":…,"device":…,"token":…}.';
    return refuse(conn, deps, code, message, POLICY);
  }
  // Frames that arrive while the join is checked wait in the inbox.
  conn.state = 'joining';
  conn.inbox = [];
  const claims = await checkToken(frame, deps);
  if ((conn.state as Conn['state']) === 'closed') return;
  if (claims === 'INVALID_TOKEN') return refuse(conn, deps, 'INVALID_TOKEN', 'The device token is missing or not valid; sign in again.', POLICY);
  if (claims === 'TOKEN_REVOKED') return refuse(conn, deps, 'TOKEN_REVOKED', REVOKED_MESSAGE, POLICY);
  if (claims === 'AUTH_UNAVAILABLE') return refuse(conn, deps, 'AUTH_UNAVAILABLE', 'The relay could not confirm this token with its auth service; try again shortly.', TRY_LATER);
  let joinClaims: JoinClaims | undefined;
  if (claims !== null && typeof claims === 'object') {
    if (engine.revocations.isRoomRemoved(frame.room)) return refuse(conn, deps, 'ROOM_FORBIDDEN', ROOM_REMOVED_MESSAGE, POLICY);
    const owner = roomOwnership(frame.room, claims.userId, deps.keys);
    if (owner === 'not-owner' || (owner === 'unregistered' && !config['rooms.allowUnregistered'])) {
      return refuse(conn, deps, 'ROOM_FORBIDDEN', owner === 'not-owner' ? 'This room belongs to another account.' : 'This relay only serves rooms issued by its auth service.', POLICY);
    }
    joinClaims = { ...claims, claimRoom: owner === 'unregistered' && !config['rooms.unregistered.shared'] };
  }
  // A label held here by another account is refused before anything is counted, and again after the awaits below.
  const labelTaken = (holder: Conn | undefined) => holder !== undefined && joinClaims !== undefined && holder.userId !== joinClaims.userId;
  const previous = hub.get(frame.room, frame.device);
  if (labelTaken(previous)) return refuse(conn, deps, 'LABEL_TAKEN', LABEL_TAKEN_MESSAGE, POLICY);
  if (previous === undefined) {
    if (engine.rooms.devices(frame.room) === 0 && engine.rooms.count() >= config['limits.rooms']) {
      return refuse(conn, deps, 'RELAY_FULL', 'This relay serves as many rooms as it may; try again later.', TRY_LATER);
    }
    if (engine.rooms.devices(frame.room) >= config['limits.devicesPerRoom']) {
      return refuse(conn, deps, 'ROOM_FULL', `This room already has ${config['limits.devicesPerRoom']} devices connected.`, TRY_LATER);
    }
  }
  if (joinClaims !== undefined && !(await count(conn, userKey(joinClaims.userId), config['limits.user.connections'], deps))) {
    return refuse(conn, deps, 'TOO_MANY_CONNECTIONS', `Your account has ${config['limits.user.connections']} connections open; close some first.`, TRY_LATER);
  }
  if ((conn.state as Conn['state']) === 'closed') return;

  conn.room = frame.room;
  conn.device = frame.device;
  if (joinClaims !== undefined) {
    conn.userId = joinClaims.userId;
    conn.deviceId = joinClaims.deviceId;
  }
  const current = hub.get(frame.room, frame.device);
  if (labelTaken(current)) return refuse(conn, deps, 'LABEL_TAKEN', LABEL_TAKEN_MESSAGE, POLICY);
  if (current !== undefined) hub.end(current, 'REPLACED', 'The same device joined this room on a newer connection.', 4001);
  conn.held = [];
  hub.add(conn);
  try {
    const joined = await engine.rooms.join(frame.room, frame.device, joinClaims);
    // Closed while the engine answered: undo the membership the close could not yet remove.
    if ((conn.state as Conn['state']) === 'closed') return engine.rooms.leave(frame.room, frame.device);
    const { seq, epoch } = await engine.buffer.position(frame.room);
    hub.send(conn, out.joined(frame.room, frame.device, joined.isHost, joined.hostDevice, seq, epoch));
    metrics.joins.labels('ok').inc();
    // A join from another epoch (the room's sequence started again) catches up from the start, incomplete.
    const otherEpoch = frame.epoch !== null && frame.epoch !== epoch;
    const baseline = otherEpoch ? 0 : frame.lastSeq ?? (await engine.buffer.lastDelivered(frame.room, frame.device));
    // Held live envelopes up to what the deltas pages carried are not sent twice.
    let upTo = 0;
    if (baseline !== null) {
      const mine = (e: RoutedEnvelope) => e.from !== frame.device && (e.to === 'broadcast' || e.to === frame.device || (e.to === 'host' && joined.isHost));
      const last = await catchUp(conn, frame.room, baseline, mine, otherEpoch, deps);
      if (last === null) return;
      upTo = Math.max(baseline, last);
    }
    hub.release(conn, upTo);
  } catch (err) {
    if (err instanceof JoinRefused) {
      // The label stays its holder's: this connection's place in the hub is given back without a leave.
      hub.forget(conn);
      return refuse(conn, deps, err.code, err.message, err.closeCode);
    }
    deps.log.warn({ event: 'join.failed', err: (err as Error).message }, 'join failed');
    return refuse(conn, deps, 'BUFFER_UNAVAILABLE', 'The relay could not read its buffer; try again.', TRY_LATER);
  }
  if (conn.state !== 'joining') return;
  conn.state = 'joined';
  const inbox = conn.inbox ?? [];
  conn.inbox = null;
  for (const text of inbox) if (conn.state === 'joined' && conn.ended === null) handle(conn, text, Buffer.byteLength(text), deps);
}

/**
 * Sends the catch-up after `baseline` in pages of about catchup.pageBytes (SPEC §6.1), each once the previous one
 * drained, all with the catch-up's `complete` and all but the last with "more":true. Answers the highest seq read,
 * or null when the connection closed meanwhile.
 */
async function catchUp(conn: Conn, room: string, baseline: number, mine: (e: RoutedEnvelope) => boolean, incomplete: boolean, deps: ConnectionDeps): Promise<number | null> {
  const pageBytes = deps.config['catchup.pageBytes'];
  let after = baseline;
  let complete: boolean | null = null;
  let page: RoutedEnvelope[] = [];
  let bytes = 0;
  for (;;) {
    const r = await deps.engine.buffer.replay(room, after, Math.max(1, pageBytes - bytes));
    complete ??= r.complete && !incomplete;
    for (const e of r.entries) {
      after = e.seq;
      if (!mine(e)) continue;
      page.push(e);
      bytes += e.text.length;
    }
    const more = r.more && r.entries.length > 0;
    if (more && bytes < pageBytes) continue;
    const sent = await deps.hub.sendPage(conn, out.deltas(room, page, complete, more));
    deps.metrics.replayed.inc(page.length);
    if (page.length > 0) conn.deliveredSeq = page[page.length - 1].seq;
    if (!sent) return null;
    if (!more) return after;
    page = [];
    bytes = 0;
  }
}
