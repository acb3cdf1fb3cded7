// Reconnect delays: exponential backoff with jitter, as a pure function so tests can pin the random source.
// Delay n (0-based) is uniform in [cap/2, cap] where cap = min(maxMs, baseMs * factor^n) ("equal jitter").

export interface BackoffOptions {
  /** First delay's upper bound (default 500 ms). */
  baseMs?: number;
  /** Largest delay (default 30 s). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { baseMs: 500, maxMs: 30_000, factor: 2 };

/** The delay before reconnect attempt `attempt` (0 = the first retry); `random` returns [0, 1). */
export function backoffDelay(attempt: number, random: () => number, opts: BackoffOptions = {}): number {
  const { baseMs, maxMs, factor } = { ...DEFAULT_BACKOFF, ...opts };
  const cap = Math.min(maxMs, baseMs * Math.pow(factor, Math.max(0, Math.min(attempt, 60))));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(cap / 2 + (cap / 2) * r);
}
