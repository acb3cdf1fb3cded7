// The cluster engine's two Redis connections (commands, and pub/sub) and its Lua scripts run by EVALSHA.
// Commands fail fast while Redis is down (no offline queue, no resend), so callers answer their clients at once.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { evalshaWithCallback } from './callback-command.ts';
import type { Arg, ReplyCallback } from './callback-command.ts';
import { ACCEPT, CONNS, DELIVERED, ELECT, HITS, HOUSEKEEP, JOIN, LAYOUT, LEAVE, POSITION, REPLAY, STATE } from './scripts.ts';

type Reply = Promise<unknown[]>;

/** The Lua scripts, each run with EVALSHA (loaded with SCRIPT LOAD whenever the command connection opens). */
export interface Scripts {
  /** Run once per envelope, so it answers through a callback: see callback-command.ts. Keys first, as in ACCEPT. */
  honeAccept(args: Arg[], done: ReplyCallback): void;
  honeReplay(seqKey: string, logKey: string, ...argv: Arg[]): Reply;
  honePosition(seqKey: string, epochKey: string, ...argv: Arg[]): Reply;
  honeConns(...argv: Arg[]): Promise<number>;
  honeJoin(...argv: Arg[]): Reply;
  honeLeave(...argv: Arg[]): Promise<number>;
  honeElect(...argv: Arg[]): Promise<number>;
  honeState(...argv: Arg[]): Reply;
  honeHousekeep(...argv: Arg[]): Reply;
  honeDelivered(...argv: Arg[]): Promise<number>;
  honeHits(...argv: Arg[]): Promise<number[]>;
  honeLayout(...argv: Arg[]): Reply;
}

export interface RedisPair {
  cmd: Redis;
  scripts: Scripts;
  sub: Redis;
  /** Both connections ready and the scripts loaded. */
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
  // One watchdog per connection (a Redis that stops answering is dropped and reconnected, failing what was pending)
  // rather than a timer per command: per-command timers and promise chains lengthen every young-generation GC pause.
  socketTimeout: 5000,
  connectTimeout: 2000,
  // Reconnect quickly and keep trying for as long as the relay runs.
  retryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
  lazyConnect: false,
};

export function connectRedis(url: string): RedisPair {
  const cmd = new Redis(url, { ...OPTIONS, connectionName: 'hone-relay' });
  const listeners: Array<(up: boolean) => void> = [];
  let last = false;
  const sub = new Redis(url, { ...OPTIONS, connectionName: 'hone-relay-sub' });
  const all: string[] = [];
  /** Set once every script is loaded on the current command connection; false again when it drops. */
  let loaded = false;
  let loading = 0;
  const check = () => {
    const now = loaded && cmd.status === 'ready' && sub.status === 'ready';
    if (now === last) return;
    last = now;
    for (const l of listeners) l(now);
  };
  /**
   * Loads the scripts before the connection counts as up, so no EVALSHA meets an empty script cache (a restarted
   * Redis): an EVAL fallback would let later envelopes of a device overtake earlier ones.
   */
  const loadScripts = () => {
    loaded = false;
    const attempt = ++loading;
    Promise.all(all.map((lua) => cmd.script('LOAD', lua))).then(() => {
      if (attempt !== loading || cmd.status !== 'ready') return;
      loaded = true;
      check();
    }, () => {
      // Refused without the connection dropping (which would load them again on 'ready'): try again shortly.
      setTimeout(() => {
        if (attempt === loading && cmd.status === 'ready') loadScripts();
      }, 1000).unref();
    });
    check();
  };
  /** The cache was flushed under us (SCRIPT FLUSH): the call is refused, and Redis counts as down until the scripts are back. */
  const onScriptError = (err: Error) => {
    if (err.message.startsWith('NOSCRIPT') && loaded) loadScripts();
  };
  /** Adds the script to those loaded on every (re)connection; answers its SHA1 for EVALSHA. */
  const register = (lua: string) => {
    all.push(lua);
    return createHash('sha1').update(lua).digest('hex');
  };
  const run = (lua: string, numberOfKeys: number) => {
    const sha = register(lua);
    return (...args: Arg[]): Promise<any> => cmd.evalsha(sha, numberOfKeys, ...args).catch((err: Error) => {
      onScriptError(err);
      throw err;
    });
  };
  const acceptSha = register(ACCEPT);
  const scripts: Scripts = {
    honeAccept: (args, done) => evalshaWithCallback(cmd, acceptSha, 6, args, done, onScriptError),
    honeReplay: run(REPLAY, 2),
    honePosition: run(POSITION, 2),
    honeConns: run(CONNS, 0),
    honeJoin: run(JOIN, 0),
    honeLeave: run(LEAVE, 0),
    honeElect: run(ELECT, 0),
    honeState: run(STATE, 0),
    honeHousekeep: run(HOUSEKEEP, 0),
    honeDelivered: run(DELIVERED, 0),
    honeHits: run(HITS, 0),
    honeLayout: run(LAYOUT, 0),
  };
  // Errors surface through 'close' / failed commands; without listeners ioredis would log them.
  cmd.on('error', () => {});
  sub.on('error', () => {});

  cmd.on('ready', loadScripts);
  for (const c of [cmd, sub]) for (const ev of ['ready', 'close', 'end', 'reconnecting']) c.on(ev, check);
  for (const ev of ['close', 'end', 'reconnecting']) cmd.on(ev, () => { loaded = false; loading++; check(); });

  return {
    cmd, sub, scripts,
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
