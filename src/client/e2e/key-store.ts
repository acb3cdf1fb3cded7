// This device's project keys: a JSON file beside the settings (keysPath: `sync.conf` → `sync.keys`), mode 0600, one record per
// room. Only derived keys are kept (never the passphrase); a damaged file is an error, never a reason to send in clear.
import { readFileSync } from 'node:fs';
import { looseModeWarning, writeFileAtomic } from '../atomic-file.ts';
import type { KdfParams, SealKey } from './format.ts';
import { KEY_ID_BYTES } from './format.ts';
import { keyIdOf } from './kdf.ts';

export interface KeyRecord {
  room: string;
  /** The project's key (name) when it was set, for `key status`. */
  project: string;
  kdf: KdfParams;
  /** hex */
  keyId: string;
  /** base64, 32 bytes */
  key: string;
  setAt: string;
}

export class KeyStoreError extends Error {
  readonly expected = true;
}

const FILE_VERSION = 1;

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isParam = (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 255;

function check(v: unknown, i: number): KeyRecord {
  const bad = (what: string) => new KeyStoreError(`key ${i + 1}: ${what}`);
  if (!isObj(v)) throw bad('not an object');
  if (typeof v.room !== 'string' || v.room.length === 0 || v.room.length > 200) throw bad('no room');
  if (typeof v.project !== 'string') throw bad('no project');
  if (!isObj(v.kdf) || !isParam(v.kdf.log2N) || !isParam(v.kdf.r) || !isParam(v.kdf.p)) throw bad('bad kdf parameters');
  if (typeof v.key !== 'string' || Buffer.from(v.key, 'base64').length !== 32) throw bad('the key is not 32 bytes of base64');
  if (typeof v.keyId !== 'string' || v.keyId !== keyIdOf(Buffer.from(v.key, 'base64')).toString('hex')) throw bad('the key id does not match the key');
  return { room: v.room, project: v.project, kdf: { log2N: v.kdf.log2N, r: v.kdf.r, p: v.kdf.p }, keyId: v.keyId, key: v.key, setAt: String(v.setAt ?? '') };
}

/** The stored keys (none when the file does not exist); throws KeyStoreError when it exists but cannot be used. */
export function loadKeys(path: string): { keys: KeyRecord[]; warnings: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { keys: [], warnings: [] };
    throw new KeyStoreError(`${path}: cannot read the key file (${code ?? String(err)})`);
  }
  const warnings: string[] = [];
  let keys: KeyRecord[];
  try {
    const v = JSON.parse(text);
    if (!isObj(v) || v.version !== FILE_VERSION || !Array.isArray(v.keys)) throw new KeyStoreError(`not a version ${FILE_VERSION} key file`);
    keys = v.keys.map(check);
  } catch (err) {
    throw new KeyStoreError(`${path}: ${(err as Error).message}; nothing is sent until it is fixed or removed (then set the keys again with hone-sync key set <project>)`);
  }
  const loose = looseModeWarning(path, 'your project keys');
  if (loose) warnings.push(loose);
  return { keys, warnings };
}

function write(path: string, keys: KeyRecord[]): void {
  writeFileAtomic(path, JSON.stringify({ version: FILE_VERSION, keys }, null, 2) + '\n', 0o600);
}

/** Stores `key` for `room` (replacing the room's previous key); returns the replaced record, if any. */
export function saveKey(path: string, room: string, project: string, key: SealKey, now = new Date()): KeyRecord | null {
  const { keys } = loadKeys(path);
  const old = keys.find((k) => k.room === room) ?? null;
  const rec: KeyRecord = { room, project, kdf: { ...key.kdf }, keyId: key.keyId.toString('hex'), key: key.key.toString('base64'), setAt: now.toISOString() };
  write(path, [...keys.filter((k) => k.room !== room), rec]);
  return old;
}

/** Removes the key of `room`; returns the removed record, or null when there was none. */
export function removeKey(path: string, room: string): KeyRecord | null {
  const { keys } = loadKeys(path);
  const old = keys.find((k) => k.room === room) ?? null;
  if (old) write(path, keys.filter((k) => k !== old));
  return old;
}

export function sealKeyOf(rec: KeyRecord): SealKey {
  const keyId = Buffer.from(rec.keyId, 'hex');
  if (keyId.length !== KEY_ID_BYTES) throw new KeyStoreError(`the key of room ${rec.room} has a bad key id`);
  return { key: Buffer.from(rec.key, 'base64'), keyId, kdf: { ...rec.kdf } };
}
