// A rate limiter whose fixed windows are counted across the cluster: each hit is counted in Redis (shard 0) before it is
// answered (the hits of one event-loop turn in one script), so N nodes together allow the limit, not N times it.
import type { Clock } from '../../../common/clock.ts';
import type { AsyncRateLimiter, Verdict } from '../../../common/rate-limit.ts';
import type { Shard } from './shards.ts';
import type { Keyspace } from './wire.ts';

/** Longest a hit waits for Redis before it is answered from this node's own view. */
const ANSWER_WITHIN_MS = 1000;
/** Keys remembered per limiter; older windows are dropped first. */
const MAX_KEYS = 100_000;

/** This node's view of one key's current window: the cluster total as last read, and hits Redis has not counted. */
interface View { window: number; total: number; unsent: number }

interface Waiter { view: View; key: string; now: number; resolve(v: Verdict): void }

export function createClusterRateLimiter(deps: { shard: Shard; keys: Keyspace; clock: Clock; limit: number; windowMs: number; name: string }): AsyncRateLimiter & { close(): void } {
  const { limit, windowMs } = deps;
  const views = new Map<string, View>();
  let queue: Waiter[] = [];
  let scheduled: NodeJS.Immediate | null = null;
  let closed = false;

  function verdict(total: number, window: number, now: number): Verdict {
    if (total <= limit) return { allowed: true, retryAfter: 0 };
    return { allowed: false, retryAfter: Math.max(1, Math.ceil(((window + 1) * windowMs - now) / 1000)) };
  }

  function viewOf(key: string, window: number): View {
    let v = views.get(key);
    if (v === undefined || v.window !== window) {
      if (v === undefined && views.size >= MAX_KEYS) {
        for (const [k, old] of views) if (old.window !== window) views.delete(k);
        while (views.size >= MAX_KEYS) views.delete(views.keys().next().value as string);
      }
      v = { window, total: 0, unsent: 0 };
      views.set(key, v);
    }
    return v;
  }

  /** Answers a hit from this node's view alone (Redis unreachable or slow to answer). */
  function countLocally(w: Waiter): void {
    w.view.total++;
    w.resolve(verdict(w.view.total, w.view.window, w.now));
  }

  function flush(): void {
    scheduled = null;
    const batch = queue;
    queue = [];
    // One counter per key and window; each waiter's rank in it decides.
    const groups = new Map<View, { key: string; sent: number; waiters: Waiter[] }>();
    for (const w of batch) {
      const g = groups.get(w.view) ?? { key: w.key, sent: 0, waiters: [] };
      g.waiters.push(w);
      groups.set(w.view, g);
    }
    const argv: Array<string | number> = [windowMs * 2];
    for (const [view, g] of groups) {
      g.sent = view.unsent + g.waiters.length;
      view.unsent = 0;
      argv.push(deps.keys.hits(`${deps.name}:${g.key}`, view.window), g.sent);
    }
    let answered = false;
    const answerLocally = () => {
      if (answered) return;
      answered = true;
      for (const g of groups.values()) for (const w of g.waiters) countLocally(w);
    };
    const timer = setTimeout(answerLocally, ANSWER_WITHIN_MS);
    timer.unref();
    deps.shard.pair.scripts.honeHits(...argv).then((totals: unknown[]) => {
      clearTimeout(timer);
      let i = 0;
      for (const [view, g] of groups) {
        const total = Number(totals[i++]);
        if (answered) {
          view.total = Math.max(view.total, total);
          continue;
        }
        // Ranks total - n + 1 … total belong to this batch's hits of the key, the waiters' last.
        const first = total - g.waiters.length + 1;
        g.waiters.forEach((w, j) => w.resolve(verdict(first + j, view.window, w.now)));
        view.total = Math.max(view.total, total);
      }
      answered = true;
    }, () => {
      clearTimeout(timer);
      // Not counted in Redis: kept for the key's next batch, and answered from this node's view.
      for (const [view, g] of groups) view.unsent += g.sent;
      answerLocally();
    });
  }

  return {
    hit(key) {
      const now = deps.clock();
      const view = viewOf(key, Math.floor(now / windowMs));
      return new Promise<Verdict>((resolve) => {
        const w: Waiter = { view, key, now, resolve };
        if (closed || !deps.shard.up()) {
          view.unsent++;
          return countLocally(w);
        }
        queue.push(w);
        scheduled ??= setImmediate(flush);
      });
    },
    close() {
      closed = true;
      if (scheduled) clearImmediate(scheduled);
      scheduled = null;
      const left = queue;
      queue = [];
      for (const w of left) countLocally(w);
    },
  };
}
