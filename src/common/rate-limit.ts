// Fixed-window counters per key (IP address, e-mail) kept in memory, bounded in size.
// Answers whether a hit is allowed and, if not, how many seconds until it will be.
import type { Clock } from './clock.ts';

export interface Verdict {
  allowed: boolean;
  /** Seconds until a hit will be allowed again (0 when allowed). */
  retryAfter: number;
}

export interface RateLimiter {
  hit(key: string): Verdict;
}

/** A limiter that counts somewhere shared (the relay cluster's Redis) before it answers. */
export interface AsyncRateLimiter {
  hit(key: string): Promise<Verdict>;
}

export function createRateLimiter(opts: { limit: number; windowMs: number; clock: Clock; maxKeys?: number }): RateLimiter {
  const windows = new Map<string, { start: number; count: number }>();
  const maxKeys = opts.maxKeys ?? 100_000;
  function sweep(now: number): void {
    for (const [k, w] of windows) if (now - w.start >= opts.windowMs) windows.delete(k);
    // Still full of live windows: drop the oldest rather than grow without bound.
    while (windows.size >= maxKeys) windows.delete(windows.keys().next().value as string);
  }
  return {
    hit(key) {
      const now = opts.clock();
      let w = windows.get(key);
      if (!w || now - w.start >= opts.windowMs) {
        if (!w && windows.size >= maxKeys) sweep(now);
        w = { start: now, count: 0 };
        windows.set(key, w);
      }
      w.count++;
      if (w.count <= opts.limit) return { allowed: true, retryAfter: 0 };
      return { allowed: false, retryAfter: Math.max(1, Math.ceil((w.start + opts.windowMs - now) / 1000)) };
    },
  };
}
