// This relay's live connections by room and device label, and everything sent to them: routed envelopes,
// host and presence frames, closes with an error frame; slow consumers are cut off here.
import type { WebSocket } from 'ws';
import type { Clock } from '../common/clock.ts';
import type { RelayEngine, RoomEvent, RoutedEnvelope } from './engine/contract.ts';
import { REVOKED_MESSAGE, ROOM_REMOVED_MESSAGE } from './engine/refusals.ts';
import { out } from './frames.ts';
import type { RelayMetrics } from './metrics.ts';
import type { Scheduler } from './scheduler.ts';
import type { TokenBucket } from './token-bucket.ts';

export interface Conn {
  ws: WebSocket;
  ip: string;
  connectedAt: number;
  state: 'new' | 'joining' | 'joined' | 'closed';
  room: string;
  device: string;
  /** Whose token joined (null in development mode without a secret). */
  userId: number | null;
  deviceId: number | null;
  /** Live envelopes held back while the catch-up pages are sent (null when not catching up), and their bytes. */
  held: RoutedEnvelope[] | null;
  heldBytes: number;
  /** Frames that arrived while the join was being processed. */
  inbox: string[] | null;
  alive: boolean;
  messages: TokenBucket;
  bytes: TokenBucket;
  /** Set when the relay itself ended the connection, so its close does not count as the device leaving. */
  ended: string | null;
  /** Highest seq sent to this connection, and the part of it already told to the engine (once a second, at close). */
  deliveredSeq: number;
  notedSeq: number;
  /** True while the socket is corked for a fan-out batch (hub.ts). */
  corked: boolean;
  /** The connection-counter keys it holds (engine.connections), given back at close. */
  counted: string[];
}

const OPEN = 1;

export interface Hub {
  all: Set<Conn>;
  /** The connection holding a device label in a room on this relay. */
  get(room: string, device: string): Conn | undefined;
  add(conn: Conn): void;
  /** Removes a joined connection (if it still holds its label) and tells the room table. */
  remove(conn: Conn): void;
  send(conn: Conn, data: string | Buffer): void;
  /** Sends one catch-up page; resolves once it is written out (true) or the connection is gone (false). */
  sendPage(conn: Conn, data: string): Promise<boolean>;
  /** Takes back a connection's place that the engine refused, without a leave (the label stays its holder's). */
  forget(conn: Conn): void;
  /** Sends an error frame and closes with `code`; the close handler will not treat it as a leave if `replaced`. */
  end(conn: Conn, errCode: string, message: string, closeCode: number): void;
  /** Delivers envelopes held during catch-up that the deltas frame did not already contain. */
  release(conn: Conn, afterSeq: number): void;
  /** Closes the connections whose token's device (TOKEN_REVOKED) or room (ROOM_FORBIDDEN) `isRevoked`; answers them. */
  revoke(isRevoked: (userId: number, deviceId: number, room: string) => boolean): Conn[];
  /** Tells the engine what each connection was delivered (catch-up without lastSeq starts there). */
  syncDelivered(): void;
}

export function createHub(deps: { engine: RelayEngine; metrics: RelayMetrics; clock: Clock; scheduler: Scheduler; sendBufferBytes: number }): Hub {
  const { engine, metrics, clock } = deps;
  const rooms = new Map<string, Map<string, Conn>>();
  const all = new Set<Conn>();

  function send(conn: Conn, data: string | Buffer): void {
    const ws = conn.ws;
    if (ws.readyState !== OPEN) return;
    if (conn.corked && ws.bufferedAmount > deps.sendBufferBytes) {
      // Corked frames of this batch count as unsent: hand them to the kernel before judging the reader slow.
      const socket = socketOf(conn);
      socket?.uncork();
      socket?.cork();
    }
    if (ws.bufferedAmount > deps.sendBufferBytes) return slow(conn);
    write(ws, data);
  }

  /** Hands a text frame to the socket and counts its bytes; whether it may be sent is the caller's judgement. */
  function write(ws: WebSocket, data: string | Buffer, sent?: (err?: Error) => void): void {
    ws.send(data, { binary: false }, sent);
    metrics.bytesOut.inc(typeof data === 'string' ? Buffer.byteLength(data) : data.length);
  }

  /** A reader that does not keep up is cut off; it catches up from the buffer when it returns. */
  function slow(conn: Conn): void {
    metrics.drop('slow_consumer');
    // The error frame and the close (1008) queue behind what it has not read; end() cuts it off after 2 s.
    end(conn, 'SLOW_CONSUMER', 'You did not read what the relay sent fast enough; reconnect and catch up.', 1008, true);
  }

  /** The connection's TCP socket (ws keeps it as `_socket`). */
  const socketOf = (conn: Conn) => (conn.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;

  /** Sockets corked for the batch being fanned out: each gets its frames of the batch in one write. */
  const corked: Array<{ uncork(): void }> = [];

  function cork(conn: Conn): void {
    if (conn.corked) return;
    const socket = socketOf(conn);
    if (!socket) return;
    socket.cork();
    conn.corked = true;
    corked.push({ uncork: () => { conn.corked = false; socket.uncork(); } });
  }

  /**
   * Runs `deliveries` (which answers how many frames it sent) as one batch: every socket `deliver` corked during it
   * writes its frames at the end. Every `deliver` happens inside one, or its socket would stay corked.
   */
  function inBatch(deliveries: () => number): void {
    const sent = deliveries();
    for (const c of corked) c.uncork();
    corked.length = 0;
    if (sent > 0) metrics.routed.inc(sent);
  }

  /** Sends (or holds during catch-up) one envelope, inside `inBatch`; answers 1 when sent, for the routed counter. */
  function deliver(conn: Conn, e: RoutedEnvelope, bytes: Buffer): number {
    // Ended (a slow consumer cut off, replaced, revoked): nothing more is held or counted as delivered for it.
    if (conn.ended !== null) return 0;
    if (conn.held !== null) {
      conn.held.push(e);
      // Held while the catch-up pages drain: past the send-buffer cap this reader is slow too.
      conn.heldBytes += e.text.length;
      if (conn.heldBytes > deps.sendBufferBytes) slow(conn);
      return 0;
    }
    cork(conn);
    send(conn, bytes);
    conn.deliveredSeq = e.seq;
    return 1;
  }

  /** Takes the connection out of its room here; false when it does not hold its label (any more). */
  function detach(conn: Conn): boolean {
    const members = rooms.get(conn.room);
    if (members === undefined || members.get(conn.device) !== conn) return false;
    members.delete(conn.device);
    if (members.size === 0) rooms.delete(conn.room);
    return true;
  }

  function noteDelivered(conn: Conn): void {
    if (conn.deliveredSeq > conn.notedSeq && conn.device !== '') {
      engine.buffer.noteDelivered(conn.room, conn.device, conn.deliveredSeq);
      conn.notedSeq = conn.deliveredSeq;
    }
  }

  /** Sends the error frame and closes; `past` sends it past the send-buffer limit (the slow consumer's own error). */
  function end(conn: Conn, errCode: string, message: string, closeCode: number, past = false): void {
    if (conn.ended !== null) return;
    conn.ended = errCode;
    metrics.closes.labels(errCode).inc();
    if (past && conn.ws.readyState === OPEN) write(conn.ws, out.error(errCode, message));
    else send(conn, out.error(errCode, message));
    if (conn.ws.readyState === OPEN) conn.ws.close(closeCode, errCode);
    // A peer that never completes the closing handshake is cut off.
    deps.scheduler.after(2000, () => conn.ws.terminate());
  }

  engine.buffer.onDurable((batch) => inBatch(() => {
    const now = clock();
    let sent = 0;
    metrics.accepted.inc(batch.length);
    for (const e of batch) {
      const members = rooms.get(e.room);
      if (e.receivedAt > 0) metrics.latency.observe((now - e.receivedAt) / 1000);
      if (members === undefined) continue;
      const bytes = Buffer.from(e.text);
      if (e.to === 'broadcast') {
        for (const [device, conn] of members) if (device !== e.from) sent += deliver(conn, e, bytes);
      } else {
        const target = e.to === 'host' ? engine.rooms.host(e.room) : e.to;
        const conn = target === null || target === e.from ? undefined : members.get(target);
        if (conn) sent += deliver(conn, e, bytes);
      }
    }
    return sent;
  }));

  engine.rooms.onEvent((event: RoomEvent) => {
    const members = rooms.get(event.room);
    if (members === undefined) return;
    if (event.type === 'replaced') {
      const conn = members.get(event.device);
      if (conn) end(conn, 'REPLACED', 'The same device joined this room on a newer connection.', 4001);
      return;
    }
    const frame = event.type === 'host' ? out.host(event.room, event.device) : out.presence(event.room, event.device, event.state);
    for (const [device, conn] of members) if (event.type === 'host' || device !== event.device) send(conn, frame);
  });

  return {
    all,
    get: (room, device) => rooms.get(room)?.get(device),
    add(conn) {
      let members = rooms.get(conn.room);
      if (members === undefined) rooms.set(conn.room, (members = new Map()));
      members.set(conn.device, conn);
    },
    remove(conn) {
      noteDelivered(conn);
      if (detach(conn)) engine.rooms.leave(conn.room, conn.device);
    },
    send,
    sendPage(conn, data) {
      const ws = conn.ws;
      if (ws.readyState !== OPEN || conn.ended !== null) return Promise.resolve(false);
      if (ws.bufferedAmount > deps.sendBufferBytes) {
        slow(conn);
        return Promise.resolve(false);
      }
      return new Promise((resolve) => {
        const closed = () => resolve(false);
        ws.once('close', closed);
        write(ws, data, (err) => {
          ws.off('close', closed);
          resolve(!err && ws.readyState === OPEN && conn.ended === null);
        });
      });
    },
    forget(conn) {
      conn.held = null;
      conn.heldBytes = 0;
      detach(conn);
    },
    end,
    release(conn, afterSeq) {
      const held = conn.held ?? [];
      conn.held = null;
      conn.heldBytes = 0;
      inBatch(() => {
        let sent = 0;
        for (const e of held) if (e.seq > afterSeq) sent += deliver(conn, e, Buffer.from(e.text));
        return sent;
      });
    },
    syncDelivered() {
      for (const conn of all) noteDelivered(conn);
    },
    revoke(isRevoked) {
      const closed: Conn[] = [];
      for (const conn of all) {
        if (conn.userId !== null && conn.deviceId !== null && conn.ended === null && isRevoked(conn.userId, conn.deviceId, conn.room)) closed.push(conn);
      }
      for (const conn of closed) {
        // The same question for the device alone tells which of the two was revoked.
        if (conn.room !== '' && !isRevoked(conn.userId as number, conn.deviceId as number, '')) this.end(conn, 'ROOM_FORBIDDEN', ROOM_REMOVED_MESSAGE, 1008);
        else this.end(conn, 'TOKEN_REVOKED', REVOKED_MESSAGE, 1008);
      }
      return closed;
    },
  };
}
