// Node stores for RelayClient's lastSeq: a KEY=VALUE state file beside the settings (one `lastSeq.<room>` line per
// room), written atomically and at most every `delayMs`; and an in-memory one for tests and short-lived clients.
import { readFileSync } from 'node:fs';
import { parseKeyValue } from '../common/config.ts';
import { writeFileAtomic } from './atomic-file.ts';
import type { SeqStore } from './relay-client.ts';

/** The state-file key of a room (room IDs with other characters than [A-Za-z0-9_.-] are base64url-encoded). */
export function seqKey(room: string, device: string): string {
  const safe = (s: string) => (/^[A-Za-z0-9_.-]+$/.test(s) ? s : 'b64_' + Buffer.from(s, 'utf8').toString('base64url'));
  return `lastSeq.${safe(room)}.${safe(device)}`;
}

function readState(path: string): Map<string, string> {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return new Map();
  }
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    try {
      for (const [k, v] of parseKeyValue(line, path)) out.set(k, v.value);
    } catch { /* a damaged line only loses that room's position: it catches up from the relay's default */ }
  }
  return out;
}

export interface FileSeqStore extends SeqStore {
  /** Writes a pending value now (call before exit). */
  flush(): void;
}

export function fileSeqStore(path: string, room: string, device: string, delayMs = 200): FileSeqStore {
  const key = seqKey(room, device);
  let pending: number | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (pending === null) return;
    const state = readState(path); // re-read: other processes keep other rooms in the same file
    state.set(key, String(pending));
    pending = null;
    writeFileAtomic(path, [...state].map(([k, v]) => `${k}=${v}`).join('\n') + '\n', 0o600);
  };
  return {
    load() {
      const v = readState(path).get(key);
      return v !== undefined && /^\d{1,15}$/.test(v) ? Number(v) : null;
    },
    save(seq) {
      pending = seq;
      if (delayMs <= 0) return flush();
      if (!timer) {
        timer = setTimeout(flush, delayMs);
        timer.unref?.();
      }
    },
    flush,
  };
}

export function memorySeqStore(initial: number | null = null): SeqStore & { value: number | null } {
  return {
    value: initial,
    load() {
      return this.value;
    },
    save(seq) {
      this.value = seq;
    },
  };
}
