// The relay engine contract (types only): the room table, the sequence counter and buffer, revocations, connection
// counting, health and readiness. Routing (hub.ts, connection.ts) talks only to these; local/ and redis/ implement them.
import type { Registry } from 'prom-client';
import type { AsyncRateLimiter, RateLimiter } from '../../common/rate-limit.ts';

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

/** Whose token joins (absent in insecure development), and whether the room is one auth did not issue that the
 * first account to join owns (`rooms.unregistered.shared=false`). */
export interface JoinClaims {
  userId: number;
  deviceId: number;
  claimRoom: boolean;
}

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

/** The engine's part of /health. */
export interface EngineHealth {
  /** 'degraded' while the engine refuses joins (cluster: Redis unreachable). */
  status: 'ok' | 'degraded';
  /** Fields it adds to the /health body (cluster: `cluster: {redis, nodeId, roomsLocal, roomsRemote}`). */
  fields: Record<string, unknown>;
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
  /** Resolves true once the engine can serve, or false after `timeoutMs` (the relay then starts degraded). */
  ready(timeoutMs: number): Promise<boolean>;
  health(): EngineHealth;
  /** Fixed-window counters for connections per address per minute (cluster: counted across the nodes). */
  rateLimiter(opts: { limit: number; windowMs: number }): RateLimiter | AsyncRateLimiter;
  /** Adds the engine's own gauges (cluster: hone_relay_cluster_redis_up). */
  registerMetrics(registry: Registry): void;
  close(): Promise<void>;
}
