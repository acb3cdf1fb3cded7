// A RateLimiter whose fixed windows are counted across the cluster: hits are answered at once from this node's
// view (the cluster total last read + hits not yet sent) and sent to Redis in batches every 50 ms.
import type { Clock } from '../../common/clock.ts';
import type { RateLimiter } from '../../common/rate-limit.ts';
import type { RedisPair } from './redis.ts';
import type { Keyspace } from './wire.ts';

const SEND_EVERY_MS = 50;

export function createClusterRateLimiter(deps: { pair: RedisPair; keys: Keyspace; clock: Clock; limit: number; windowMs: number; name: string }): RateLimiter & { close(): void } {
  const { limit, windowMs } = deps;
  /** key → this window's cluster total as last known (including our sent hits) and hits not yet sent. */
  const counts = new Map<string, { window: number; total: number; unsent: number }>();
  let timer: NodeJS.Timeout | null = null;

  function send(): void {
    timer = null;
    const argv: Array<string | number> = [windowMs * 2];
    const batch: Array<{ key: string; entry: { window: number; total: number; unsent: number }; n: number }> = [];
    for (const [key, entry] of counts) {
      if (entry.unsent === 0) continue;
      argv.push(deps.keys.hits(`${deps.name}:${key}`, entry.window), entry.unsent);
      batch.push({ key, entry, n: entry.unsent });
      entry.unsent = 0;
    }
    if (batch.length === 0) return;
    deps.pair.scripts.honeHits(...argv).then((totals) => {
      batch.forEach(({ entry }, i) => {
        entry.total = Math.max(entry.total, Number(totals[i]) + entry.unsent);
      });
    }, () => {
      // Redis down: this node keeps counting on its own; the hits are sent with the next batch.
      for (const { entry, n } of batch) entry.unsent += n;
    });
  }

  return {
    hit(key) {
      const now = deps.clock();
      const window = Math.floor(now / windowMs);
      let entry = counts.get(key);
      if (entry === undefined || entry.window !== window) {
        if (counts.size > 100_000) for (const [k, e] of counts) if (e.window !== window) counts.delete(k);
        entry = { window, total: 0, unsent: 0 };
        counts.set(key, entry);
      }
      entry.total++;
      entry.unsent++;
      if (timer === null) {
        timer = setTimeout(send, SEND_EVERY_MS);
        timer.unref();
      }
      if (entry.total <= limit) return { allowed: true, retryAfter: 0 };
      return { allowed: false, retryAfter: Math.max(1, Math.ceil(((window + 1) * windowMs - now) / 1000)) };
    },
    close() {
      if (timer) clearTimeout(timer);
    },
  };
}
