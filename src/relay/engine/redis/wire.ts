// The cluster's Redis key layout (declared once, for TypeScript and the Lua scripts) and slot channels, and the parser
// of the notices the Lua scripts publish. Channels are sharded by djb2(room) % SLOTS, rooms over Redis servers by slot.
import { djb2 } from '../../../common/token.ts';

/** Pub/sub channels per cluster: a node subscribes only to the slots of rooms it has devices in. */
export const SLOTS = 1024;

/** Host, port and database of a Redis URL (no password): how a shard is named in the layout records. */
export function redisIdentity(url: string): string {
  const u = new URL(url);
  return `${u.hostname.toLowerCase()}:${u.port || '6379'}/${u.pathname.replace(/^\/+/, '') || '0'}`;
}

/** The Redis server (of `count`, cluster.redis in order) that holds a room: its slot modulo the count, so every node
 * agrees without talking, and a room's keys and channel are on one server. */
export function shardIndex(room: string, count: number): number {
  return (djb2(room) % SLOTS) % count;
}

/**
 * Every Redis key name of the cluster, declared once: a room's keys are `<prefix>:{<room>}:<name>` (the hash tag keeps
 * them together), the cluster's `<prefix>:<name>`, a node's `<prefix>:node:<id>:<name>`, a connection counter's
 * `<prefix>:conns:<key>`. `keyspace` spells them for TypeScript and LUA_KEYS for the scripts, from the same parts.
 */
export const KEY_NAMES = {
  room: { seq: 'seq', log: 'log', bytes: 'bytes', epoch: 'epoch', dlv: 'dlv', members: 'm', host: 'host', away: 'away', owner: 'owner', msg: 'msg', legacyBuf: 'buf' },
  cluster: { occupied: 'occupied', nodes: 'nodes', bufRooms: 'bufrooms', buffered: 'buffered', revoked: 'revoked', revocationCursor: 'revocations:cursor', hits: 'hits', slot: 'slot', layout: 'layout', layoutClaim: 'layout:claim', shardMessages: 'shardmsgs' },
  node: { rooms: 'rooms', conns: 'conns' },
} as const;

const SEP = ':';
const NODE = 'node';
const CONNS = 'conns';
const R = KEY_NAMES.room;
const C = KEY_NAMES.cluster;

const luaTable = (t: Record<string, string>) => `{${Object.entries(t).map(([k, v]) => `${k} = '${v}'`).join(', ')}}`;

/** The key layout in Lua: rk (a room's key), ck (the cluster's), nk (a node's), connsKey, and the names as R, C, N. */
export const LUA_KEYS = `
local function rk(P, room, name) return P .. '${SEP}{' .. room .. '}${SEP}' .. name end
local function ck(P, name) return P .. '${SEP}' .. name end
local function nk(P, id, name) return P .. '${SEP}${NODE}${SEP}' .. id .. '${SEP}' .. name end
local function connsKey(P, key) return P .. '${SEP}${CONNS}${SEP}' .. key end
local R = ${luaTable(KEY_NAMES.room)}
local C = ${luaTable(KEY_NAMES.cluster)}
local N = ${luaTable(KEY_NAMES.node)}
`;

export function keyspace(prefix: string) {
  const room = (id: string, name: string) => `${prefix}${SEP}{${id}}${SEP}${name}`;
  const cluster = (name: string) => `${prefix}${SEP}${name}`;
  return {
    prefix,
    seq: (id: string) => room(id, R.seq),
    /** The room's buffered envelopes: a stream whose entry IDs are `seq-0`; `bytes` counts their text. */
    log: (id: string) => room(id, R.log),
    bytes: (id: string) => room(id, R.bytes),
    /** The identity of the room's sequence (SPEC §6.1): gone with `seq` when Redis loses its data. */
    epoch: (id: string) => room(id, R.epoch),
    /** msgId dedupe: the sender's label length keeps `a:b` + `c` apart from `a` + `b:c`. */
    msg: (id: string, from: string, msgId: string) => room(id, `${R.msg}${SEP}${from.length}${SEP}${from}${SEP}${msgId}`),
    dlv: (id: string) => room(id, R.dlv),
    bufRooms: cluster(C.bufRooms),
    buffered: cluster(C.buffered),
    revoked: cluster(C.revoked),
    revocationCursor: cluster(C.revocationCursor),
    /** `<index>/<count>`: this server's place in the shard list the relays last started with. */
    layout: cluster(C.layout),
    /** Shard identity → when its newest buffered envelope arrived (ms), as the relays last saw it: a shard dropped from
     * the list is refused while this is within the window. */
    shardMessages: cluster(C.shardMessages),
    nodes: cluster(C.nodes),
    hits: (key: string, window: number) => cluster(`${C.hits}${SEP}${window}${SEP}${key}`),
    channel: (id: string) => cluster(`${C.slot}${SEP}${djb2(id) % SLOTS}`),
    slotChannel: (slot: number) => cluster(`${C.slot}${SEP}${slot}`),
  };
}

export type Keyspace = ReturnType<typeof keyspace>;

/** A notice from a slot channel; `seq` is the room's sequence number when it was published. */
export type Notice =
  | { kind: 'envelope'; room: string; seq: number; createdAt: number; receivedAt: number; from: string; to: string; text: string }
  | { kind: 'presence'; room: string; seq: number; device: string; joined: boolean }
  | { kind: 'host'; room: string; seq: number; device: string }
  | { kind: 'replace'; room: string; seq: number; device: string; token: string };

/** Parses `K|n1|n2|…|` + strings whose byte lengths the numbers give (the last string runs to the end). */
export function parseNotice(buf: Buffer): Notice | null {
  const kind = String.fromCharCode(buf[0]);
  const counts: Record<string, number> = { E: 6, P: 3, H: 2, R: 3 };
  const n = counts[kind];
  if (n === undefined || buf[1] !== 0x7c) return null;
  const nums: number[] = [];
  let at = 2;
  for (let i = 0; i < n; i++) {
    const bar = buf.indexOf(0x7c, at);
    if (bar < 0) return null;
    nums.push(Number(buf.toString('latin1', at, bar)));
    at = bar + 1;
  }
  const take = (len: number) => {
    const s = buf.toString('utf8', at, at + len);
    at += len;
    return s;
  };
  const rest = () => buf.toString('utf8', at);
  switch (kind) {
    case 'E': {
      const [seq, createdAt, receivedAt, lr, lf, lt] = nums;
      const room = take(lr);
      const from = take(lf);
      const to = take(lt);
      return { kind: 'envelope', room, seq, createdAt, receivedAt, from, to, text: rest() };
    }
    case 'P': {
      const [seq, joined, lr] = nums;
      const room = take(lr);
      return { kind: 'presence', room, seq, joined: joined === 1, device: rest() };
    }
    case 'H': {
      const [seq, lr] = nums;
      const room = take(lr);
      return { kind: 'host', room, seq, device: rest() };
    }
    default: {
      const [seq, lr, ld] = nums;
      const room = take(lr);
      const device = take(ld);
      return { kind: 'replace', room, seq, device, token: rest() };
    }
  }
}

/** A room's state as the JOIN and STATE scripts answer it. */
export interface RoomState {
  host: string | null;
  seq: number;
  members: Map<string, { node: string; joinedAt: number }>;
}

export function parseRoomState(reply: unknown[]): RoomState {
  const members = new Map<string, { node: string; joinedAt: number }>();
  for (let i = 2; i + 2 < reply.length; i += 3) {
    members.set(String(reply[i]), { node: String(reply[i + 1]), joinedAt: Number(reply[i + 2]) });
  }
  const host = String(reply[0]);
  return { host: host === '' ? null : host, seq: Number(reply[1]), members };
}
