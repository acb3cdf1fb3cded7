// The bytes a payload is sealed as (docs/e2e.md): its JSON, or — when an object carries long base64 strings at its top
// level (mirror's file chunks) — JSON plus those strings as raw bytes, so they are not base64-encoded twice on the wire.

/** Top-level strings this long that are canonical base64 travel as bytes. */
export const MIN_BINARY_CHARS = 4096;
export const MAX_BINARY_PARTS = 16;
const BINARY_MODE = 0x00;
const SENTINEL = /^\u0000b(\d{1,2})$/;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The bytes of `s` when it is base64 that re-encodes to exactly `s` (so the receiver restores it byte for byte). The
 * re-encoding check also refuses any character outside the alphabet (the decoder skips those), faster than a regex.
 */
function base64Bytes(s: string): Buffer | null {
  if (s.length < MIN_BINARY_CHARS || s.length % 4 !== 0) return null;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : null;
}

/**
 * JSON text (UTF-8) of `payload` (undefined → null); or binary mode:
 * 0x00 ‖ u32be(length of J) ‖ J ‖ (u32be(length of part) ‖ part)*, where J is the JSON of the object with each
 * extracted string replaced by "\u0000b<index>" and any other top-level string starting with U+0000 given one more.
 */
export function encodePlaintext(payload: unknown): Buffer {
  const value = payload === undefined ? null : payload;
  if (isPlainObject(value)) {
    const parts: Buffer[] = [];
    const extracted = new Map<string, number>();
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string' || parts.length >= MAX_BINARY_PARTS) continue;
      const b = base64Bytes(v);
      if (b) extracted.set(k, parts.push(b) - 1);
    }
    if (parts.length > 0) {
      const copy: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const i = extracted.get(k);
        const out = i !== undefined ? `\u0000b${i}` : typeof v === 'string' && v.startsWith('\u0000') ? `\u0000${v}` : v;
        Object.defineProperty(copy, k, { value: out, enumerable: true, writable: true, configurable: true });
      }
      const json = Buffer.from(JSON.stringify(copy), 'utf8');
      const head = Buffer.alloc(5);
      head[0] = BINARY_MODE;
      head.writeUInt32BE(json.length, 1);
      const chunks: Buffer[] = [head, json];
      for (const p of parts) {
        const len = Buffer.alloc(4);
        len.writeUInt32BE(p.length, 0);
        chunks.push(len, p);
      }
      return Buffer.concat(chunks);
    }
  }
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** The payload inside authenticated plaintext bytes; throws (a message for `detail`) when they are not well-formed. */
export function decodePlaintext(plain: Buffer): unknown {
  if (plain.length === 0 || plain[0] !== BINARY_MODE) return JSON.parse(plain.toString('utf8'));
  if (plain.length < 5) throw new Error('binary plaintext truncated');
  const jsonEnd = 5 + plain.readUInt32BE(1);
  if (jsonEnd > plain.length) throw new Error('binary plaintext: JSON length past the end');
  const value: unknown = JSON.parse(plain.toString('utf8', 5, jsonEnd));
  if (!isPlainObject(value)) throw new Error('binary plaintext: not an object');
  const parts: Buffer[] = [];
  for (let at = jsonEnd; at < plain.length;) {
    if (parts.length >= MAX_BINARY_PARTS) throw new Error('binary plaintext: too many parts');
    if (at + 4 > plain.length) throw new Error('binary plaintext: part length truncated');
    const end = at + 4 + plain.readUInt32BE(at);
    if (end > plain.length) throw new Error('binary plaintext: part past the end');
    parts.push(plain.subarray(at + 4, end));
    at = end;
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' || !v.startsWith('\u0000')) continue;
    let out: string;
    if (v.startsWith('\u0000\u0000')) out = v.slice(1);
    else {
      const m = SENTINEL.exec(v);
      const i = m ? Number(m[1]) : -1;
      if (i < 0 || i >= parts.length) throw new Error('binary plaintext: a reference to a part that is not there');
      out = parts[i].toString('base64');
    }
    Object.defineProperty(value, k, { value: out, enumerable: true, writable: true, configurable: true });
  }
  return value;
}
