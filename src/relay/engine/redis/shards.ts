// The Redis servers of a cluster (cluster.redis, comma-separated): a room lives on the one shardIndex names; shard 0
// also holds what is not per room. A shard serves once its layout was checked (layout.ts); each is up or down alone.
import type { RedisPair } from './redis.ts';
import { connectRedis } from './redis.ts';
import { shardIndex } from './wire.ts';

/** The URL with any password masked, for logs and /health. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://…';
  }
}

export interface Shard {
  index: number;
  /** Redacted, for logs and /health. */
  url: string;
  pair: RedisPair;
  /** Connected, scripts loaded, and its layout accepted. */
  up(): boolean;
  /** Why this node will not use the shard (its layout check failed), or null. */
  refused(): string | null;
  /** Called on every change of `up()`. */
  onChange(listener: (up: boolean) => void): void;
  whenUp(timeoutMs: number): Promise<boolean>;
}

export interface Shards {
  all: Shard[];
  /** The shard of a room. */
  of(room: string): Shard;
  /** Shard 0: node-wide counters (connections per account and address, connection rate) and the revocation cursor. */
  control: Shard;
  close(): Promise<void>;
}

/**
 * Connects to every URL of the list (cluster.redis, in order). `verify` runs the first time a shard's connection is up and must resolve null
 * (the shard serves from then on) or a refusal (it never serves on this node).
 */
export function connectShards(urls: string[], verify: (shard: Shard) => Promise<string | null>): Shards {
  const all = urls.map((url, index): Shard => {
    const pair = connectRedis(url);
    const listeners: Array<(up: boolean) => void> = [];
    let state: 'unchecked' | 'checking' | 'ok' | 'refused' = 'unchecked';
    let refusal: string | null = null;
    let last = false;
    const check = () => {
      const now = state === 'ok' && pair.up();
      if (now === last) return;
      last = now;
      for (const l of [...listeners]) l(now);
    };
    const shard: Shard = {
      index,
      url: redactRedisUrl(url),
      pair,
      up: () => last,
      refused: () => refusal,
      onChange: (l) => void listeners.push(l),
      whenUp(timeoutMs) {
        if (last || state === 'refused') return Promise.resolve(last);
        return new Promise((resolve) => {
          const l = (up: boolean) => {
            if (!up && state !== 'refused') return;
            clearTimeout(t);
            listeners.splice(listeners.indexOf(l), 1);
            resolve(up);
          };
          const t = setTimeout(() => {
            listeners.splice(listeners.indexOf(l), 1);
            resolve(last);
          }, timeoutMs);
          t.unref();
          listeners.push(l);
        });
      },
    };
    const startCheck = () => {
      state = 'checking';
      verify(shard).then((why) => {
        state = why === null ? 'ok' : 'refused';
        refusal = why;
        if (why !== null) for (const l of [...listeners]) l(false);
        check();
      }, () => {
        // The check could not finish (connection lost, or Redis busy): again once up, or in a second.
        state = 'unchecked';
        setTimeout(() => {
          if (state === 'unchecked' && pair.up()) startCheck();
        }, 1000).unref();
      });
    };
    pair.onChange((up) => {
      if (up && state === 'unchecked') startCheck();
      else check();
    });
    return shard;
  });
  return {
    all,
    of: all.length === 1 ? () => all[0] : (room) => all[shardIndex(room, all.length)],
    control: all[0],
    async close() {
      await Promise.all(all.map((s) => s.pair.close()));
    },
  };
}
