// The sealed payload, version 1 (docs/e2e.md): AES-256-GCM over the payload's bytes (plaintext.ts), a fresh 96-bit nonce
// per message, the room and sender label as associated data, a header with key id and KDF parameters; base64url after "hse.".
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Opened } from '../payload-codec.ts';
import { SEALED_PREFIX } from '../payload-codec.ts';
import { decodePlaintext, encodePlaintext } from './plaintext.ts';

export const FORMAT_VERSION = 1;
/** Key derivation ids in the header. */
export const KDF_SCRYPT = 1;
export const KEY_ID_BYTES = 8;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** version, kdf, log2 N, r, p, key id */
export const AD_HEADER_BYTES = 5 + KEY_ID_BYTES;
export const HEADER_BYTES = AD_HEADER_BYTES + NONCE_BYTES;
/** Longest sealed string `open` looks at (the relay's largest frame is 1 MiB; its config allows up to 64 MiB). */
export const MAX_SEALED_CHARS = 96 * 1024 * 1024;

export interface KdfParams {
  /** log2 of scrypt's cost N */
  log2N: number;
  r: number;
  p: number;
}

export interface SealKey {
  key: Buffer;
  keyId: Buffer;
  kdf: KdfParams;
}

/** Bytes in [0, 256) each; the header stores them as one byte. */
const byte = (n: number, what: string) => {
  if (!Number.isInteger(n) || n < 1 || n > 255) throw new RangeError(`${what} must be 1 to 255`);
  return n;
};

function header(k: SealKey): Buffer {
  if (k.key.length !== 32) throw new RangeError('the key must be 32 bytes');
  if (k.keyId.length !== KEY_ID_BYTES) throw new RangeError(`the key id must be ${KEY_ID_BYTES} bytes`);
  const h = Buffer.alloc(AD_HEADER_BYTES);
  h[0] = FORMAT_VERSION;
  h[1] = KDF_SCRYPT;
  h[2] = byte(k.kdf.log2N, 'log2N');
  h[3] = byte(k.kdf.r, 'r');
  h[4] = byte(k.kdf.p, 'p');
  k.keyId.copy(h, 5);
  return h;
}

/** Associated data: the header up to the nonce, then the room and the sender label, each as u16 length + UTF-8. */
export function associatedData(adHeader: Buffer, room: string, from: string): Buffer {
  const r = Buffer.from(room, 'utf8');
  const f = Buffer.from(from, 'utf8');
  if (r.length > 0xffff || f.length > 0xffff) throw new RangeError('room or sender label longer than 65535 bytes');
  const out = Buffer.alloc(adHeader.length + 4 + r.length + f.length);
  adHeader.copy(out, 0);
  out.writeUInt16BE(r.length, adHeader.length);
  r.copy(out, adHeader.length + 2);
  out.writeUInt16BE(f.length, adHeader.length + 2 + r.length);
  f.copy(out, adHeader.length + 4 + r.length);
  return out;
}

/** Seals `payload` (any JSON value; undefined becomes null) for `room` and sender `from` with a 12-byte `nonce`. */
export function seal(k: SealKey, payload: unknown, room: string, from: string, nonce: Buffer): string {
  if (nonce.length !== NONCE_BYTES) throw new RangeError(`the nonce must be ${NONCE_BYTES} bytes`);
  const ad = header(k);
  const cipher = createCipheriv('aes-256-gcm', k.key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(ad, room, from));
  const plain = encodePlaintext(payload);
  const body = Buffer.concat([ad, nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return SEALED_PREFIX + body.toString('base64url');
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** What a sealed string's header says, or why it is not one (no key needed). */
export function readHeader(wire: unknown): { ok: true; body: Buffer; kdf: KdfParams; keyId: Buffer } | { ok: false; reason: 'malformed' | 'unsupported'; detail: string } {
  if (typeof wire !== 'string') return { ok: false, reason: 'malformed', detail: `a ${wire === null ? 'null' : typeof wire}, not a string` };
  if (!wire.startsWith(SEALED_PREFIX)) return { ok: false, reason: 'malformed', detail: `does not start with "${SEALED_PREFIX}"` };
  if (wire.length > MAX_SEALED_CHARS) return { ok: false, reason: 'malformed', detail: `over ${MAX_SEALED_CHARS} characters` };
  const text = wire.slice(SEALED_PREFIX.length);
  if (!BASE64URL.test(text) || text.length % 4 === 1) return { ok: false, reason: 'malformed', detail: 'not base64url' };
  const body = Buffer.from(text, 'base64url');
  if (body.length < 1) return { ok: false, reason: 'malformed', detail: 'empty' };
  if (body[0] > FORMAT_VERSION) return { ok: false, reason: 'unsupported', detail: `format version ${body[0]}` };
  if (body[0] !== FORMAT_VERSION) return { ok: false, reason: 'malformed', detail: `format version ${body[0]}` };
  if (body.length < HEADER_BYTES + TAG_BYTES) return { ok: false, reason: 'malformed', detail: `truncated: ${body.length} bytes` };
  if (body[1] !== KDF_SCRYPT) return { ok: false, reason: 'unsupported', detail: `key derivation ${body[1]}` };
  return { ok: true, body, kdf: { log2N: body[2], r: body[3], p: body[4] }, keyId: body.subarray(5, 5 + KEY_ID_BYTES) };
}

export const sameKdf = (a: KdfParams, b: KdfParams) => a.log2N === b.log2N && a.r === b.r && a.p === b.p;
export const kdfText = (k: KdfParams) => `scrypt N=2^${k.log2N} r=${k.r} p=${k.p}`;

/** Opens a sealed string for `room` and sender `from`; never throws, never returns unauthenticated bytes. */
export function open(k: SealKey, wire: unknown, room: string, from: string): Opened {
  const h = readHeader(wire);
  if (!h.ok) return h;
  if (!sameKdf(h.kdf, k.kdf)) return { ok: false, reason: 'other-kdf', detail: `${kdfText(h.kdf)}; this device: ${kdfText(k.kdf)}` };
  if (!h.keyId.equals(k.keyId)) return { ok: false, reason: 'other-key' };
  const body = h.body;
  const nonce = body.subarray(AD_HEADER_BYTES, HEADER_BYTES);
  const tag = body.subarray(body.length - TAG_BYTES);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', k.key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(body.subarray(0, AD_HEADER_BYTES), room, from));
    decipher.setAuthTag(tag);
    plain = Buffer.concat([decipher.update(body.subarray(HEADER_BYTES, body.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return { ok: false, reason: 'tampered' };
  }
  try {
    return { ok: true, payload: decodePlaintext(plain) };
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: `authentic, but ${err instanceof SyntaxError ? 'not JSON inside' : (err as Error).message}` };
  }
}
