// The configuration schema of hone-relay (SPEC §2, §6 limits): every key, its default and its documentation.
// relay.conf.example and the docs are written from this one declaration.
import type { ConfigOf } from '../common/config.ts';
import { checkNotPlaceholder, ConfigError, urlList } from '../common/config.ts';
import { redisIdentity } from './engine/redis/wire.ts';

export const relayConfigSchema = {
  host: { type: 'string', default: '0.0.0.0', doc: 'Address to listen on (both ports).' },
  port: { type: 'int', default: 8443, min: 0, max: 65535, doc: 'HTTP port: /health, /metrics and the status page at /.' },
  'ws.port': { type: 'int', default: 8444, min: 0, max: 65535, doc: 'WebSocket port; any path is accepted (the IDE connects to /ws).' },
  dev: { type: 'bool', default: false, doc: 'Development mode (also --dev). Only with dev=true AND an empty auth.secret are tokens not checked.' },
  'auth.secret': { type: 'string', default: '', secret: true, doc: 'Secret shared with hone-auth; device tokens and room IDs are checked with it. Required unless dev.' },
  'auth.previousSecret': { type: 'string', default: '', secret: true, doc: 'The secret before a rotation: tokens signed with it are still accepted until you remove it.' },
  'auth.url': { type: 'url', default: '', doc: 'Base URL of hone-auth (e.g. http://127.0.0.1:8445); the relay pulls revocations from it every second. Empty = removed devices keep relay access.' },
  'token.algorithm': { type: 'enum', default: 'hmac-sha256', values: ['hmac-sha256', 'djb2'] as const, doc: 'hmac-sha256, or djb2 to accept tokens of older deployments (forgeable: compatibility only).' },
  'sqlite.path': { type: 'string', default: './data/relay.db', doc: 'SQLite file of the message buffer, sequence numbers and revocations; its folder is created.' },
  'buffer.ttl.seconds': { type: 'int', default: 60, min: 1, max: 86400, doc: 'Catch-up window: how long routed envelopes stay buffered, msgId duplicates are recognised and a dropped host keeps its role.' },
  'rooms.allowUnregistered': { type: 'bool', default: true, doc: 'Allow rooms that auth did not issue (the IDE pairing rooms such as pair-ABC123).' },
  'rooms.unregistered.shared': { type: 'bool', default: false, doc: 'Let several accounts share a room auth did not issue. false: such a room belongs to the first account that joins it while it has members or buffered messages; others get ROOM_FORBIDDEN.' },
  'cluster.redis': { type: 'urls', default: '', doc: 'Redis URL (redis://host:6379, or redis://:password@host:6379/0): cluster mode, every relay of the cluster uses the same one. Several URLs, comma-separated, shard the rooms over several Redis servers (the same list in the same order on every relay). Empty = this relay works alone.' },
  'cluster.prefix': { type: 'string', default: 'hone', doc: 'Prefix of the cluster\'s Redis keys and pub/sub channels; relays with the same cluster.redis and prefix form one cluster.' },
  'limits.frame.bytes': { type: 'int', default: 1048576, min: 1024, max: 67108864, doc: 'Largest frame accepted; bigger ones get an error frame and close 1009.' },
  'limits.messages.perSecond': { type: 'int', default: 100, min: 1, max: 1000000, doc: 'Messages per second per connection (token bucket refill).' },
  'limits.messages.burst': { type: 'int', default: 200, min: 1, max: 1000000, doc: 'Messages a connection may send at once (token bucket size).' },
  'limits.bytes.perSecond': { type: 'int', default: 4194304, min: 1024, max: 1073741824, doc: 'Bytes per second per connection (token bucket refill; the bucket holds the same amount).' },
  'limits.connections.perIpPerMinute': { type: 'int', default: 60, min: 1, max: 1000000, doc: 'New WebSocket connections per client IP per minute.' },
  'limits.connections': { type: 'int', default: 50000, min: 1, max: 10000000, doc: 'Open WebSocket connections per relay.' },
  'limits.devicesPerRoom': { type: 'int', default: 10, min: 1, max: 10000, doc: 'Device labels connected to one room at the same time.' },
  'limits.rooms': { type: 'int', default: 100000, min: 1, max: 10000000, doc: 'Rooms with connected devices per relay.' },
  'limits.room.bufferBytes': { type: 'int', default: 67108864, min: 65536, max: 17179869184, doc: 'Bytes of envelopes buffered per room; past it the oldest leave first (a catch-up that needed them says complete:false).' },
  'limits.user.connections': { type: 'int', default: 100, min: 1, max: 1000000, doc: 'Open connections per account (across the whole cluster in cluster mode); more get TOO_MANY_CONNECTIONS.' },
  'limits.ip.connections': { type: 'int', default: 200, min: 1, max: 10000000, doc: 'Open connections per client address at once, IPv6 counted per /64 (across the cluster in cluster mode).' },
  'catchup.pageBytes': { type: 'int', default: 1048576, min: 1024, max: 67108864, doc: 'Catch-up page size: a larger catch-up goes as several deltas frames ("more":true on all but the last), each sent once the socket drained.' },
  'limits.sendBuffer.bytes': { type: 'int', default: 8388608, min: 65536, max: 1073741824, doc: 'Unsent bytes queued for one slow client before it is disconnected (it catches up from the buffer when it returns).' },
  'ws.heartbeat.seconds': { type: 'int', default: 30, min: 1, max: 3600, doc: 'WebSocket ping interval; a peer that has not answered the previous ping is dropped.' },
  'join.timeout.seconds': { type: 'int', default: 10, min: 1, max: 3600, doc: 'A connection that has not joined a room within this time is closed.' },
  trustProxy: { type: 'bool', default: false, doc: 'Behind one reverse proxy (nginx): take the client address from the last X-Forwarded-For entry, the one the proxy added.' },
  'log.level': { type: 'enum', default: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, doc: 'Log level.' },
} as const;

export type RelayConfig = ConfigOf<typeof relayConfigSchema>;

/** Redis servers a cluster can shard its rooms over (the pub/sub slots: wire.ts SLOTS). */
export const MAX_SHARDS = 64;

/** Cross-key rules that a single key's type cannot express. */
export function checkRelayConfig(config: RelayConfig): RelayConfig {
  if (!config['auth.secret'] && !config.dev) {
    throw new ConfigError('auth.secret: required (the same value as in auth.conf; `hone-auth secret` makes one), or start with --dev for development');
  }
  if (config['auth.secret'] && config['auth.secret'].length < 16) {
    throw new ConfigError('auth.secret: too short, use at least 16 characters (`hone-auth secret` prints 64)');
  }
  checkNotPlaceholder('auth.secret', config['auth.secret']);
  checkNotPlaceholder('auth.previousSecret', config['auth.previousSecret']);
  const shards = urlList(config['cluster.redis']);
  if (shards.some((u) => !/^rediss?:$/.test(new URL(u).protocol))) {
    throw new ConfigError('cluster.redis: must be redis:// or rediss:// URLs');
  }
  if (new Set(shards.map(redisIdentity)).size !== shards.length) {
    throw new ConfigError('cluster.redis: the same Redis (host, port and database) is listed twice');
  }
  if (shards.length > MAX_SHARDS) throw new ConfigError(`cluster.redis: at most ${MAX_SHARDS} Redis servers`);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(config['cluster.prefix'])) {
    throw new ConfigError('cluster.prefix: 1 to 64 letters, digits, dots, dashes or underscores');
  }
  if (config['token.algorithm'] === 'djb2' && !config['auth.url'] && !config.dev) {
    throw new ConfigError('token.algorithm: djb2 needs auth.url, so that each djb2 token is confirmed with hone-auth (djb2 hashes can be forged)');
  }
  if (config.port !== 0 && config.port === config['ws.port']) {
    throw new ConfigError('ws.port: must differ from port (HTTP and WebSocket listen separately)');
  }
  return config;
}

/** Development mode proper: no secret and explicitly started as development; tokens are not checked. */
export function isInsecureDev(config: RelayConfig): boolean {
  return config.dev && !config['auth.secret'];
}
