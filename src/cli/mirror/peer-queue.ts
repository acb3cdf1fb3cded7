// What the mirror owes each peer, bounded: bytes queued for it (so one peer's requests cannot fill memory) and the
// paths it asked for that wait, as names only and de-duplicated, until its queue has room again.

export interface PeerQueueLimits {
  /** Bytes (base64) queued for one peer before its further wants wait. */
  queuedBytesPerPeer: number;
  /** Paths one peer may have waiting to be served. */
  wantBacklogPerPeer: number;
}

export class PeerQueues {
  private readonly bytes = new Map<string, number>();
  /** How many queued items each (peer, path) has: a path on its way is not queued again. */
  private readonly items = new Map<string, number>();
  private readonly wants = new Map<string, Set<string>>();
  private readonly limits: PeerQueueLimits;

  constructor(limits: PeerQueueLimits) {
    this.limits = limits;
  }

  /** Paths waiting, all peers together. */
  get waiting(): number {
    let n = 0;
    for (const b of this.wants.values()) n += b.size;
    return n;
  }

  /** An item for `peer` entered the send queue. */
  added(peer: string, bytes: number, path: string): void {
    this.bytes.set(peer, (this.bytes.get(peer) ?? 0) + bytes);
    if (path) this.items.set(`${peer}\0${path}`, (this.items.get(`${peer}\0${path}`) ?? 0) + 1);
  }

  /** An item for `peer` left the send queue; true when the peer has waiting paths and room again. */
  sent(peer: string, bytes: number, path: string): boolean {
    const left = (this.bytes.get(peer) ?? 0) - bytes;
    if (left > 0) this.bytes.set(peer, left);
    else this.bytes.delete(peer);
    const key = `${peer}\0${path}`;
    const n = (this.items.get(key) ?? 0) - 1;
    if (n > 0) this.items.set(key, n);
    else this.items.delete(key);
    return this.wants.has(peer) && left < this.limits.queuedBytesPerPeer;
  }

  /** Records paths a peer asked for: those already waiting or on their way count as repeated, beyond the backlog as over. */
  want(peer: string, paths: string[]): { repeated: number; over: number } {
    const backlog = this.wants.get(peer) ?? new Set<string>();
    let repeated = 0;
    let over = 0;
    for (const path of paths) {
      if (backlog.has(path) || this.items.has(`${peer}\0${path}`)) repeated++;
      else if (backlog.size >= this.limits.wantBacklogPerPeer) over++;
      else backlog.add(path);
    }
    if (backlog.size > 0) this.wants.set(peer, backlog);
    return { repeated, over };
  }

  /** The next waiting path to serve to `peer` while its queue has room, or undefined. */
  next(peer: string): string | undefined {
    const backlog = this.wants.get(peer);
    if (!backlog || (this.bytes.get(peer) ?? 0) >= this.limits.queuedBytesPerPeer) return undefined;
    const [path] = backlog;
    if (path === undefined) {
      this.wants.delete(peer);
      return undefined;
    }
    backlog.delete(path);
    if (backlog.size === 0) this.wants.delete(peer);
    return path;
  }
}
