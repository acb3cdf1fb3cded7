// Chunked file versions arriving from peers, bounded per peer: each checked against its declared size (chunk count and
// every chunk's length), at most so many unfinished at once per sender, forgotten when not finished in time.
import { CHUNK_BYTES } from './protocol.ts';
import type { ChunkMsg, FileMsg } from './protocol.ts';

export interface TransferLimits {
  /** Unfinished chunked transfers from one peer at once. */
  transfersPerPeer: number;
  /** Declared bytes of one peer's unfinished transfers together. */
  transferBytesPerPeer: number;
  /** Largest file accepted from a peer. */
  fileBytes: number;
  /** Unfinished transfers are forgotten after this long (the next manifest exchange fetches the file again). */
  transferTtlMs: number;
}

/** Bytes chunk `i` of a `size`-byte file must hold. */
const chunkBytes = (size: number, n: number, i: number) => (i < n - 1 ? CHUNK_BYTES : size - (n - 1) * CHUNK_BYTES);
/** How many chunks a `size`-byte file is sent in (an empty file is one empty chunk). */
const chunkCount = (size: number) => Math.max(1, Math.ceil(size / CHUNK_BYTES));

interface Transfer { meta: FileMsg; from: string; parts: Buffer[]; got: number; at: number; size: number }

/** What a part did: the file is complete, more is awaited (with bytes so far), or it is refused (and dropped). */
export type Step =
  | { kind: 'complete'; meta: FileMsg; content: Buffer }
  | { kind: 'partial'; meta: FileMsg; done: number; total: number }
  | { kind: 'refused'; path: string; reason: string }
  | { kind: 'ignored' };

export class IncomingTransfers {
  private readonly transfers = new Map<string, Transfer>();
  private readonly limits: TransferLimits;
  private readonly now: () => number;

  constructor(limits: TransferLimits, now: () => number) {
    this.limits = limits;
    this.now = now;
  }

  get size(): number {
    return this.transfers.size;
  }

  /** The first part of a file version (a message with content). */
  start(msg: FileMsg, from: string): Step {
    const size = msg.size!;
    const n = msg.n!;
    const refused = (reason: string): Step => ({ kind: 'refused', path: msg.path, reason });
    if (size > this.limits.fileBytes) return refused(`declares ${size} bytes, over the ${this.limits.fileBytes}-byte limit for a file from a peer`);
    if (n !== chunkCount(size)) return refused(`declares ${size} bytes in ${n} chunks; that size is sent in ${chunkCount(size)}`);
    const first = Buffer.from(msg.data!, 'base64');
    if (first.length !== chunkBytes(size, n, 0)) return refused(`its first chunk holds ${first.length} bytes, the declared size needs ${chunkBytes(size, n, 0)}`);
    if (n === 1) return { kind: 'complete', meta: msg, content: first };
    let count = 0;
    let bytes = 0;
    for (const t of this.transfers.values()) {
      if (t.from !== from) continue;
      count++;
      bytes += t.size;
    }
    if (count >= this.limits.transfersPerPeer || bytes + size > this.limits.transferBytesPerPeer) {
      return refused(`${from} has ${count} unfinished transfers (${bytes} bytes) already; limit ${this.limits.transfersPerPeer} unfinished transfers, ${this.limits.transferBytesPerPeer} bytes`);
    }
    const parts = new Array<Buffer>(n);
    parts[0] = first;
    // Transfer ids are the sender's: another peer cannot add to (or spoil) them.
    this.transfers.set(`${from}\0${msg.x}`, { meta: msg, from, parts, got: 1, at: this.now(), size });
    return { kind: 'partial', meta: msg, done: first.length, total: size };
  }

  /** A further chunk; unknown or repeated ones are ignored (a transfer forgotten or completed). */
  chunk(msg: ChunkMsg, from: string): Step {
    const key = `${from}\0${msg.x}`;
    const t = this.transfers.get(key);
    if (!t || msg.i >= t.parts.length || t.parts[msg.i] !== undefined) return { kind: 'ignored' };
    const data = Buffer.from(msg.data, 'base64');
    const want = chunkBytes(t.size, t.parts.length, msg.i);
    if (data.length !== want) {
      this.transfers.delete(key);
      return { kind: 'refused', path: t.meta.path, reason: `chunk ${msg.i} holds ${data.length} bytes, the declared size needs ${want}` };
    }
    t.parts[msg.i] = data;
    t.at = this.now();
    if (++t.got < t.parts.length) return { kind: 'partial', meta: t.meta, done: Math.min(t.size, t.got * CHUNK_BYTES), total: t.size };
    this.transfers.delete(key);
    return { kind: 'complete', meta: t.meta, content: Buffer.concat(t.parts) };
  }

  /** Forgets transfers not advanced within the limit; returns them (path and sender) for a report. */
  sweep(): Array<{ path: string; from: string }> {
    const old = this.now() - this.limits.transferTtlMs;
    const gone: Array<{ path: string; from: string }> = [];
    for (const [key, t] of this.transfers) {
      if (t.at >= old) continue;
      this.transfers.delete(key);
      gone.push({ path: t.meta.path, from: t.from });
    }
    return gone;
  }
}
