// The RelayClient's outbox: envelopes not yet acknowledged by the relay, in send order, bounded in count.
// Entries leave only when acked (or dropped); a full outbox drops its oldest entry and says which.

export interface OutboxEntry {
  msgId: string;
  /** The complete envelope frame as sent on the wire (JSON text). */
  frame: string;
  to: string;
  payload: unknown;
  queuedAt: number;
  /** Connection number this entry was last transmitted on; 0 = not on the current connection. */
  sentOn: number;
  /** Earliest time to transmit again after a retryable refusal (0 = any time). */
  retryAt: number;
}

export class Outbox {
  private readonly entries: OutboxEntry[] = [];
  readonly limit: number;

  constructor(limit: number) {
    if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError('outbox limit must be a whole number of at least 1');
    this.limit = limit;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Appends an entry; returns the entries dropped (oldest first) to stay within the limit. */
  push(entry: OutboxEntry): OutboxEntry[] {
    this.entries.push(entry);
    const over = this.entries.length - this.limit;
    return over > 0 ? this.entries.splice(0, over) : [];
  }

  /** Removes the entry with this msgId; returns it, or undefined when it was not (or no longer) here. */
  remove(msgId: string): OutboxEntry | undefined {
    const i = this.entries.findIndex((e) => e.msgId === msgId);
    return i < 0 ? undefined : this.entries.splice(i, 1)[0];
  }

  get(msgId: string): OutboxEntry | undefined {
    return this.entries.find((e) => e.msgId === msgId);
  }

  /** Entries in send order (a copy). */
  list(): OutboxEntry[] {
    return [...this.entries];
  }

  /** The oldest entry transmitted on connection `conn` that is still unacknowledged. */
  oldestInFlight(conn: number): OutboxEntry | undefined {
    return this.entries.find((e) => e.sentOn === conn);
  }

  clear(): OutboxEntry[] {
    return this.entries.splice(0);
  }
}
