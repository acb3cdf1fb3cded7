// The payloads `hone-sync mirror` puts in relay envelopes: a file version (content inline or in chunks), chunks,
// manifests (every path's version, exchanged on (re)join) and requests for files; plus encoding and strict parsing of
// their shape (what a path may be is path-policy.ts's, checked by the engine so each refusal is reported).
import type { VersionVector } from './conflicts.ts';

/** Raw bytes per chunk: 192 KiB → 256 KiB of base64, well under the relay's 1 MiB frame limit. */
export const CHUNK_BYTES = 192 * 1024;
/** Manifest entries per message (a manifest of a large folder is split). */
export const MANIFEST_ENTRIES_PER_MESSAGE = 2000;

const TAG = 'hone-sync-mirror';

/** The `hash` of a folder that exists (a folder is synced as the path `dir/`, so empty folders and folder deletes travel). */
export const FOLDER = 'f'.repeat(64);
export const isFolderPath = (path: string): boolean => path.endsWith('/');

/**
 * A version of one file; a deletion has `hash: null`. Content: `data` (base64 chunk 0 of `n`) and `x` (transfer id),
 * or `ref: true` and no content when the peers already hold that content under another path (a rename or a copy):
 * the receiver takes it from there, or asks with a `want`. A folder is a path ending in '/' with hash FOLDER or null.
 */
export interface FileMsg {
  hs: typeof TAG; k: 'file'; dev: string; path: string; vv: VersionVector; t: number; d: string; hash: string | null;
  size?: number; x?: string; n?: number; data?: string; ref?: true;
}
export interface ChunkMsg { hs: typeof TAG; k: 'chunk'; dev: string; x: string; i: number; data: string }
/** [path, hash or null, vv, t, d] */
export type ManifestEntry = [string, string | null, VersionVector, number, string];
export interface ManifestMsg { hs: typeof TAG; k: 'manifest'; dev: string; reply: boolean; part: number; parts: number; entries: ManifestEntry[] }
export interface WantMsg { hs: typeof TAG; k: 'want'; dev: string; paths: string[] }

export type MirrorMsg = FileMsg | ChunkMsg | ManifestMsg | WantMsg;

export const fileMsg = (m: Omit<FileMsg, 'hs' | 'k'>): FileMsg => ({ hs: TAG, k: 'file', ...m });
export const chunkMsg = (m: Omit<ChunkMsg, 'hs' | 'k'>): ChunkMsg => ({ hs: TAG, k: 'chunk', ...m });
export const manifestMsg = (m: Omit<ManifestMsg, 'hs' | 'k'>): ManifestMsg => ({ hs: TAG, k: 'manifest', ...m });
export const wantMsg = (m: Omit<WantMsg, 'hs' | 'k'>): WantMsg => ({ hs: TAG, k: 'want', ...m });

/** Splits content into base64 chunks of CHUNK_BYTES (an empty file is one empty chunk). */
export function chunks(content: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i < content.length || i === 0; i += CHUNK_BYTES) out.push(content.subarray(i, i + CHUNK_BYTES).toString('base64'));
  return out;
}

const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isHash = (v: unknown): v is string | null => v === null || (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v));
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isPath = (v: unknown): v is string => isStr(v, 4096);

/** Devices one version vector may name (a file edited on more devices than this is not a mirror's use). */
export const MAX_VV_DEVICES = 256;

export function isVV(v: unknown): v is VersionVector {
  if (!isObj(v)) return false;
  const keys = Object.keys(v);
  return keys.length <= MAX_VV_DEVICES && keys.every((k) => k.length > 0 && k.length <= 128 && isCount(v[k]));
}

/** The mirror message in a relay payload, or null for anything else (other tools' messages, damaged or hostile ones). */
export function parseMirrorMsg(payload: unknown): MirrorMsg | null {
  if (!isObj(payload) || payload.hs !== TAG || !isStr(payload.dev, 128)) return null;
  const p = payload;
  switch (p.k) {
    case 'file': {
      if (!isPath(p.path) || !isVV(p.vv) || !isTime(p.t) || !isStr(p.d, 128) || !isHash(p.hash)) return null;
      if (p.hash === null || p.hash === FOLDER) return p as FileMsg;
      if (p.ref === true) return isCount(p.size) ? (p as FileMsg) : null;
      if (!isCount(p.size) || !isStr(p.x, 64) || !Number.isSafeInteger(p.n) || p.n < 1 || typeof p.data !== 'string') return null;
      return p as FileMsg;
    }
    case 'chunk':
      return isStr(p.x, 64) && Number.isSafeInteger(p.i) && p.i >= 1 && typeof p.data === 'string' ? (p as ChunkMsg) : null;
    case 'manifest': {
      if (typeof p.reply !== 'boolean' || !isCount(p.part) || !isCount(p.parts) || !Array.isArray(p.entries)) return null;
      const entries = p.entries.filter((e: unknown): e is ManifestEntry =>
        Array.isArray(e) && isPath(e[0]) && isHash(e[1]) && isVV(e[2]) && isTime(e[3]) && isStr(e[4], 128));
      return { ...(p as ManifestMsg), entries };
    }
    case 'want':
      return Array.isArray(p.paths) ? { ...(p as WantMsg), paths: p.paths.filter(isPath) } : null;
    default:
      return null;
  }
}
