// The cluster engine's two Redis connections (commands with auto-pipelining, and pub/sub) and its scripts.
// Commands fail fast while Redis is down (no offline queue, no resend), so callers answer their clients at once.
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { ACCEPT, DELIVERED, ELECT, HITS, HOUSEKEEP, JOIN, LEAVE, REPLAY, STATE } from './scripts.ts';

type Arg = string | number;
type Reply = Promise<unknown[]>;

export interface ScriptedRedis extends Redis {
  honeAccept(seqKey: string, bufKey: string, msgKey: string, bufRooms: string, buffered: string, ...argv: Arg[]): Reply;
  honeReplay(seqKey: string, bufKey: string, ...argv: Arg[]): Reply;
  honeJoin(...argv: Arg[]): Reply;
  honeLeave(...argv: Arg[]): Promise<number>;
  honeElect(...argv: Arg[]): Promise<number>;
  honeState(...argv: Arg[]): Reply;
  honeHousekeep(...argv: Arg[]): Reply;
  honeDelivered(...argv: Arg[]): Promise<number>;
  honeHits(...argv: Arg[]): Promise<number[]>;
}

export interface RedisPair {
  cmd: ScriptedRedis;
  sub: Redis;
  /** Both connections ready. */
  up(): boolean;
  /** Called on every change of `up()`. */
  onChange(listener: (up: boolean) => void): void;
  whenUp(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

const OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 5000,
  connectTimeout: 2000,
  // Reconnect quickly and keep trying for as long as the relay runs.
  retryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
  lazyConnect: false,
};

export function connectRedis(url: string): RedisPair {
  const cmd = new Redis(url, { ...OPTIONS, enableAutoPipelining: true, connectionName: 'hone-relay' }) as ScriptedRedis;
  const sub = new Redis(url, { ...OPTIONS, connectionName: 'hone-relay-sub' });
  cmd.defineCommand('honeAccept', { numberOfKeys: 5, lua: ACCEPT });
  cmd.defineCommand('honeReplay', { numberOfKeys: 2, lua: REPLAY });
  cmd.defineCommand('honeJoin', { numberOfKeys: 0, lua: JOIN });
  cmd.defineCommand('honeLeave', { numberOfKeys: 0, lua: LEAVE });
  cmd.defineCommand('honeElect', { numberOfKeys: 0, lua: ELECT });
  cmd.defineCommand('honeState', { numberOfKeys: 0, lua: STATE });
  cmd.defineCommand('honeHousekeep', { numberOfKeys: 0, lua: HOUSEKEEP });
  cmd.defineCommand('honeDelivered', { numberOfKeys: 0, lua: DELIVERED });
  cmd.defineCommand('honeHits', { numberOfKeys: 0, lua: HITS });
  // Errors surface through 'close' / failed commands; without listeners ioredis would log them.
  cmd.on('error', () => {});
  sub.on('error', () => {});

  const listeners: Array<(up: boolean) => void> = [];
  let last = false;
  const check = () => {
    const now = cmd.status === 'ready' && sub.status === 'ready';
    if (now === last) return;
    last = now;
    for (const l of listeners) l(now);
  };
  for (const c of [cmd, sub]) for (const ev of ['ready', 'close', 'end', 'reconnecting']) c.on(ev, check);

  return {
    cmd, sub,
    up: () => last,
    onChange(listener) {
      listeners.push(listener);
    },
    whenUp(timeoutMs) {
      if (last) return Promise.resolve(true);
      return new Promise((resolve) => {
        const t = setTimeout(() => resolve(last), timeoutMs);
        t.unref();
        listeners.push((up) => {
          if (up) {
            clearTimeout(t);
            resolve(true);
          }
        });
      });
    },
    async close() {
      await Promise.allSettled([cmd.quit(), sub.quit()]);
      cmd.disconnect();
      sub.disconnect();
    },
  };
}
