// Node stores for RelayClient's lastSeq and its epoch: a KEY=VALUE state file beside the settings (`lastSeq.<room>` and
// `epoch.<room>` lines), written atomically and at most every `delayMs`; and an in-memory one for tests and short-lived clients.
import { readFileSync } from 'node:fs';
import { parseKeyValue } from '../common/config.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { isEpoch } from './protocol.ts';
import type { SeqPosition, SeqStore } from './relay-client.ts';

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
  const epochKey = 'epoch' + key.slice('lastSeq'.length); // the epoch that room's lastSeq belongs to (SPEC §6.1)
  let pending: SeqPosition | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (pending === null) return;
    const state = readState(path); // re-read: other processes keep other rooms in the same file
    state.set(key, String(pending.seq));
    if (isEpoch(pending.epoch)) state.set(epochKey, pending.epoch);
    else state.delete(epochKey);
    pending = null;
    writeFileAtomic(path, [...state].map(([k, v]) => `${k}=${v}`).join('\n') + '\n', 0o600);
  };
  return {
    load() {
      const state = readState(path);
      const v = state.get(key);
      if (v === undefined || !/^\d{1,15}$/.test(v)) return null;
      const epoch = state.get(epochKey) ?? '';
      return { seq: Number(v), epoch: isEpoch(epoch) ? epoch : '' };
    },
    save(seq, epoch = '') {
      pending = { seq, epoch };
      if (delayMs <= 0) return flush();
      if (!timer) {
        timer = setTimeout(flush, delayMs);
        timer.unref?.();
      }
    },
    flush,
  };
}

export function memorySeqStore(initial: number | null = null, initialEpoch = ''): SeqStore & { value: number | null; epoch: string } {
  return {
    value: initial,
    epoch: initialEpoch,
    load() {
      return this.value === null ? null : { seq: this.value, epoch: this.epoch };
    },
    save(seq, epoch = '') {
      this.value = seq;
      this.epoch = epoch;
    },
  };
}
