// Keeps the mirror under the relay's per-connection limits (100 messages/s, 4 MiB/s by default): token buckets for
// messages and bytes, a queue in send order, released only while the relay connection is joined.

export interface PacerOptions {
  messagesPerSecond: number;
  messageBurst: number;
  bytesPerSecond: number;
  byteBurst: number;
  now?: () => number;
}

export interface Paced {
  to: string;
  payload: unknown;
  bytes: number;
  /** What the item is about (the mirror's per-peer accounting). */
  path?: string;
}

export class Pacer {
  private readonly queue: Paced[] = [];
  private msgTokens: number;
  private byteTokens: number;
  private last: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly opts: PacerOptions;
  private readonly now: () => number;
  private readonly send: (item: Paced) => void;
  private readonly open: () => boolean;

  /** `send` is called in order when the buckets allow and `open()` is true; `pump()` again once it turns true. */
  constructor(opts: PacerOptions, send: (item: Paced) => void, open: () => boolean) {
    this.opts = opts;
    this.now = opts.now ?? (() => performance.now());
    this.msgTokens = opts.messageBurst;
    this.byteTokens = opts.byteBurst;
    this.last = this.now();
    this.send = send;
    this.open = open;
  }

  get size(): number {
    return this.queue.length;
  }

  push(item: Paced): void {
    this.queue.push(item);
    this.pump();
  }

  pump(): void {
    if (this.timer) return;
    const t = this.now();
    const dt = (t - this.last) / 1000;
    this.last = t;
    this.msgTokens = Math.min(this.opts.messageBurst, this.msgTokens + dt * this.opts.messagesPerSecond);
    this.byteTokens = Math.min(this.opts.byteBurst, this.byteTokens + dt * this.opts.bytesPerSecond);
    while (this.queue.length > 0 && this.open()) {
      const item = this.queue[0];
      const cost = Math.min(item.bytes, this.opts.byteBurst);
      if (this.msgTokens < 1 || this.byteTokens < cost) {
        const wait = Math.max((1 - this.msgTokens) / this.opts.messagesPerSecond, (cost - this.byteTokens) / this.opts.bytesPerSecond);
        this.timer = setTimeout(() => {
          this.timer = null;
          this.pump();
        }, Math.max(1, Math.ceil(wait * 1000)));
        return;
      }
      this.msgTokens -= 1;
      this.byteTokens -= cost;
      this.queue.shift();
      this.send(item);
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }
}
