// Device tokens `userId:deviceId:timestamp.hash` (SPEC §3), signed and verified here for auth and relay alike.
// HMAC-SHA256 by default; the source document's double-djb2 only when `token.algorithm=djb2`.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type TokenAlgorithm = 'hmac-sha256' | 'djb2';

export interface TokenKeys {
  secret: string;
  /** Still accepted during a secret rotation; empty when none. */
  previousSecret?: string;
  algorithm: TokenAlgorithm;
}

export interface TokenClaims {
  userId: number;
  deviceId: number;
  /** Milliseconds since the epoch at issue. */
  issuedAt: number;
}

/** The djb2 string hash of SPEC §3 over UTF-16 code units, as an unsigned 32-bit integer. */
export function djb2(s: string): number {
  let h = 5381;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 33) + s.charCodeAt(i)) | 0;
  return h >>> 0;
}

function djb2Signature(secret: string, payload: string): string {
  const h1 = djb2(`${secret}|${payload}`);
  return String(djb2(`${h1}|${secret}|${payload}`));
}

export function hmacHex(secret: string, message: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(message, 'utf8').digest('hex');
}

/** SHA-256 hex of a token: the form in which tokens are stored at rest. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Constant-time string comparison (length differences are not hidden, contents are). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

function signature(algorithm: TokenAlgorithm, secret: string, payload: string): string {
  return algorithm === 'djb2' ? djb2Signature(secret, payload) : hmacHex(secret, payload);
}

export function signToken(claims: TokenClaims, keys: TokenKeys): string {
  const payload = `${claims.userId}:${claims.deviceId}:${claims.issuedAt}`;
  return `${payload}.${signature(keys.algorithm, keys.secret, payload)}`;
}

const TOKEN_RE = /^([1-9]\d{0,14}):([1-9]\d{0,14}):(0|[1-9]\d{0,14})\.([0-9a-f]{64}|\d{1,10})$/;

/** Splits a token into claims and signature without checking the signature; null when malformed. */
export function parseToken(token: unknown): (TokenClaims & { payload: string; hash: string }) | null {
  if (typeof token !== 'string' || token.length > 128) return null;
  const m = TOKEN_RE.exec(token);
  if (!m) return null;
  const userId = Number(m[1]);
  const deviceId = Number(m[2]);
  if (!Number.isSafeInteger(userId) || !Number.isSafeInteger(deviceId)) return null;
  return { userId, deviceId, issuedAt: Number(m[3]), payload: `${m[1]}:${m[2]}:${m[3]}`, hash: m[4] };
}

/**
 * Verifies a token against the current and (if set) previous secret with the configured algorithm.
 * HMAC tokens are always accepted when valid; djb2 ones only when `algorithm` is `djb2`.
 */
export function verifyToken(token: unknown, keys: TokenKeys): TokenClaims | null {
  const parsed = parseToken(token);
  if (!parsed) return null;
  const secrets = keys.previousSecret ? [keys.secret, keys.previousSecret] : [keys.secret];
  const algorithms: TokenAlgorithm[] = keys.algorithm === 'djb2' ? ['hmac-sha256', 'djb2'] : ['hmac-sha256'];
  let ok = false;
  for (const secret of secrets) {
    if (!secret) continue;
    for (const algorithm of algorithms) {
      // Evaluate every candidate so timing does not reveal which secret matched.
      if (safeEqual(signature(algorithm, secret, parsed.payload), parsed.hash)) ok = true;
    }
  }
  return ok ? { userId: parsed.userId, deviceId: parsed.deviceId, issuedAt: parsed.issuedAt } : null;
}

/** True when `mac` is the HMAC of `message` under the current or previous secret. */
export function verifyMac(message: string, mac: string, keys: Pick<TokenKeys, 'secret' | 'previousSecret'>): boolean {
  let ok = false;
  for (const secret of [keys.secret, keys.previousSecret]) {
    if (secret && safeEqual(hmacHex(secret, message), mac)) ok = true;
  }
  return ok;
}

/** The message a relay signs for GET /auth/revocations?since=…: the cursor it pulls from (SPEC §5). */
export const revocationsMessage = (since: string): string => `revocations|${since}`;

/** The message a relay signs for POST /auth/relay/token: the token travels in the body, its digest in the MAC. */
export const tokenCheckMessage = (token: string): string => `token|${sha256Hex(token)}`;

/** `Authorization: Hone-Relay <HMAC-SHA256 hex of message>`: how a relay signs its calls to auth (SPEC §5, §6.1). */
export function relayAuthorization(secret: string, message: string): string {
  return `Hone-Relay ${hmacHex(secret, message)}`;
}

const RELAY_AUTH_RE = /^Hone-Relay ([0-9a-f]{64})$/;

/** True when `header` is relayAuthorization(secret, message) for the current or previous secret. */
export function verifyRelayAuthorization(header: unknown, message: string, keys: Pick<TokenKeys, 'secret' | 'previousSecret'>): boolean {
  const m = RELAY_AUTH_RE.exec(typeof header === 'string' ? header : '');
  return !!m && verifyMac(message, m[1], keys);
}
