// A token bucket (rate per second, capacity) for the per-connection message and byte limits of SPEC §6.
// Refilled lazily from the injected clock on each take, so an idle connection costs nothing.
import type { Clock } from '../common/clock.ts';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly capacity: number;
  private readonly clock: Clock;

  constructor(rate: number, capacity: number, clock: Clock) {
    this.rate = rate;
    this.capacity = capacity;
    this.clock = clock;
    this.tokens = capacity;
    this.last = clock();
  }

  /** Takes `n` tokens if the bucket holds them; otherwise takes nothing and answers false. */
  take(n: number): boolean {
    const now = this.clock();
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
    }
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}
