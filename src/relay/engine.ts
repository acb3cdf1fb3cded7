// The engine interface: the room table, the sequence counter, the durable buffer and the revocation list.
// Routing code (hub.ts, connection.ts) only talks to these; one relay uses SQLite + memory, a cluster Redis.
import type { AsyncRateLimiter } from '../common/rate-limit.ts';

/** An envelope the engine has made durable: what peers receive (`text`) and what catch-up needs to filter it. */
export interface RoutedEnvelope {
  room: string;
  seq: number;
  from: string;
  to: string;
  text: string;
  createdAt: number;
  /** When the relay received it (for the routing-latency histogram); 0 when replayed from storage. */
  receivedAt: number;
}

/** An envelope to route: the forwarded text is `head + seq + tail`, rendered by the router before the seq is known. */
export interface IncomingEnvelope {
  room: string;
  from: string;
  to: string;
  msgId: string | null;
  head: string;
  tail: string;
  receivedAt: number;
}

/** Called once the envelope is durable (or failed to be): its seq, and whether it was a msgId duplicate. */
export type AcceptCallback = (err: Error | null, seq: number, duplicate: boolean) => void;

export interface MessageBuffer {
  /** Assigns the room's next seq, makes the envelope durable, then hands it to every `onDurable` listener in seq
   * order and calls `done`. A msgId seen from the same device in the same room within the window is not routed
   * again: `done` gets the first one's seq with `duplicate` true. */
  accept(envelope: IncomingEnvelope, done: AcceptCallback): void;
  /** Registers the fan-out: called with each durable batch, in seq order per room. */
  onDurable(listener: (batch: RoutedEnvelope[]) => void): void;
  /** The room's current (highest assigned) sequence number (0 for a new room) and its epoch (SPEC §6.1): the identity
   * of that sequence, new whenever it starts again (buffer lost, database replaced, Redis flushed). */
  position(room: string): Promise<{ seq: number; epoch: string }>;
  /** Buffered envelopes of the room with seq > afterSeq, oldest first, about `maxBytes` of them (at least one):
   * `complete` false when some after `afterSeq` have left the buffer (window, limits.room.bufferBytes), `more` true
   * when the page stopped before the end. */
  replay(room: string, afterSeq: number, maxBytes: number): Promise<{ entries: RoutedEnvelope[]; complete: boolean; more: boolean }>;
  /** The highest seq delivered to a device label in a room, if the relay remembers one. */
  lastDelivered(room: string, device: string): Promise<number | null>;
  noteDelivered(room: string, device: string, seq: number): void;
  /** Envelopes currently buffered. */
  size(): number;
  /** Writes everything pending; resolves when durable. */
  flush(): Promise<void>;
}

export interface JoinResult {
  isHost: boolean;
  hostDevice: string;
}

export type RoomEvent =
  | { type: 'host'; room: string; device: string }
  | { type: 'presence'; room: string; device: string; state: 'joined' | 'left' }
  /** The label joined again on another relay node: this node's connection for it is closed (4001). */
  | { type: 'replaced'; room: string; device: string };

/** What a device whose token was revoked is told, whichever node or path refuses it. */
export const REVOKED_MESSAGE = 'This device was removed from the account; sign in again.';

/** Thrown by `RoomTable.join` to refuse a join with an error code of its own, then closed with `closeCode`. */
export class JoinRefused extends Error {
  readonly code: string;
  /** The close code after the error frame: 1013 (try again later) unless the refusal is final (1008). */
  readonly closeCode: number;
  constructor(code: string, message: string, closeCode = 1013) {
    super(message);
    this.code = code;
    this.closeCode = closeCode;
  }
}

/** Whose token joins (absent in insecure development), and whether the room is one auth did not issue that the
 * first account to join owns (`rooms.unregistered.shared=false`). */
export interface JoinClaims {
  userId: number;
  deviceId: number;
  claimRoom: boolean;
}

export const LABEL_TAKEN_MESSAGE = 'This device label is held in this room by another account.';
export const ROOM_TAKEN_MESSAGE = 'This room is in use by another account.';
export const ROOM_REMOVED_MESSAGE = 'This project was removed from the account.';

export interface RoomTable {
  /**
   * Adds a device label to a room (a label already there is a replacement: no presence event). Refuses (JoinRefused)
   * a label held by another account (LABEL_TAKEN), a claimed room owned by another account while it has members or
   * buffered messages (ROOM_FORBIDDEN), a revoked device or removed room (a cluster: revoked on any node).
   */
  join(room: string, device: string, claims?: JoinClaims): Promise<JoinResult>;
  leave(room: string, device: string): void;
  /** The room's host label (possibly away, within the hand-over window), or null. */
  host(room: string): string | null;
  /** Device labels connected to the room. */
  devices(room: string): number;
  /** Rooms with at least one connected device. */
  count(): number;
  onEvent(listener: (event: RoomEvent) => void): void;
}

/** A removed device, or (with `roomId`, deviceId 0) a removed project's room. */
export interface Revocation {
  userId: number;
  deviceId: number;
  revokedAt: string;
  roomId?: string;
}

/** How a revocation is named in a store and in a batch of learnt ones: `userId:deviceId`, or `room:<roomId>`. */
export const revocationKey = (r: { userId: number; deviceId: number; roomId?: string }): string =>
  r.roomId ? `room:${r.roomId}` : `${r.userId}:${r.deviceId}`;

export interface RevocationStore {
  isRevoked(userId: number, deviceId: number): boolean;
  /** The room of a project that auth removed. */
  isRoomRemoved(room: string): boolean;
  cursor(): string;
  /** Persists a page pulled from auth and the cursor after it. */
  add(revoked: Revocation[], cursor: string): void;
  count(): number;
  /** Cluster: calls `listener` with the keys (revocationKey) of revocations learnt from other nodes, a batch at a time. */
  onLearned?(listener: (learned: Set<string>) => void): void;
}

/** What a cluster engine adds: its state for /health and /metrics, and cluster-wide connection counting. */
export interface ClusterInfo {
  nodeId: string;
  redisUp(): boolean;
  health(): { redis: 'connected' | 'down'; nodeId: string; roomsLocal: number; roomsRemote: number };
  /** Resolves when Redis is reachable (true) or after `timeoutMs` (false). */
  whenReady(timeoutMs: number): Promise<boolean>;
  /** Fixed-window counters shared by all nodes (connections per IP per minute). */
  rateLimiter(opts: { limit: number; windowMs: number }): AsyncRateLimiter;
}

/** Open connections counted per key (`ip:<address or /64>`, `user:<id>`): across the cluster in cluster mode. */
export interface ConnectionCounter {
  /** Counts one more open connection for `key` unless that makes more than `limit`; answers whether it counted it. */
  acquire(key: string, limit: number): Promise<boolean>;
  /** Uncounts one connection `acquire` counted. */
  release(key: string): void;
}

export interface RelayEngine {
  buffer: MessageBuffer;
  rooms: RoomTable;
  revocations: RevocationStore;
  connections: ConnectionCounter;
  /** Present in cluster mode. */
  cluster?: ClusterInfo;
  close(): Promise<void>;
}
