// Notices local changes in the mirrored folder: fs.watch (recursive) with a short per-path debounce, plus a periodic
// full rescan as a safety net for events the OS drops; it reports paths to check, never decides what changed.
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { isIgnored } from './path-policy.ts';

export interface FolderWatcherOptions {
  /** Quiet time after the last event on a path before it is checked (ms). */
  debounceMs: number;
  /** Full rescan interval (ms); 0 = none. */
  rescanMs: number;
  onPath: (rel: string) => void;
  onRescan: () => void;
  onError: (err: Error) => void;
}

export class FolderWatcher {
  private watcher: FSWatcher | null = null;
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private rescanTimer: ReturnType<typeof setInterval> | null = null;
  private readonly root: string;
  private readonly opts: FolderWatcherOptions;

  constructor(root: string, opts: FolderWatcherOptions) {
    this.root = root;
    this.opts = opts;
  }

  start(): void {
    this.watcher = watch(this.root, { recursive: true }, (_event, filename) => {
      if (filename === null) return this.opts.onRescan();
      const rel = String(filename).split(/[\\/]+/).filter(Boolean).join('/');
      if (!rel || isIgnored(rel)) return;
      this.schedule(rel);
    });
    this.watcher.on('error', (err) => this.opts.onError(err));
    if (this.opts.rescanMs > 0) {
      this.rescanTimer = setInterval(() => this.opts.onRescan(), this.opts.rescanMs);
      this.rescanTimer.unref?.();
    }
  }

  private schedule(rel: string): void {
    const old = this.timers.get(rel);
    if (old) clearTimeout(old);
    this.timers.set(rel, setTimeout(() => {
      this.timers.delete(rel);
      this.opts.onPath(rel);
    }, this.opts.debounceMs));
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    this.rescanTimer = null;
  }
}
