// With token.algorithm=djb2, each djb2 token is confirmed with hone-auth once (POST /auth/relay/token, HMAC-signed
// like /auth/revocations) before the relay accepts it: djb2 is linear, so a matching hash proves nothing alone.
import { relayAuthorization, sha256Hex, tokenCheckMessage } from '../common/token.ts';

/** true: auth issued it to a device that still exists; false: it did not; null: auth could not be asked. */
export type Confirm = (token: string) => Promise<boolean | null>;

/** Answers kept per relay (oldest forgotten first); a removed device is refused through revocations meanwhile. */
const CACHE_SIZE = 10_000;
/** A refusal is kept shorter than a confirmation: the device may be signed in a moment later. */
const REFUSED_KEEP_MS = 60_000;

/** The djb2 tokens this relay must confirm: what auth did not sign with HMAC (a 64-hex signature). */
export const needsConfirming = (token: string): boolean => !/\.[0-9a-f]{64}$/.test(token);

export function createTokenConfirmer(deps: { authUrl: string; secret: string; fetch: typeof fetch; clock: () => number }): Confirm {
  const answers = new Map<string, { valid: boolean; at: number }>();
  const inflight = new Map<string, Promise<boolean | null>>();

  async function ask(token: string): Promise<boolean | null> {
    try {
      const res = await deps.fetch(`${deps.authUrl}/auth/relay/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: relayAuthorization(deps.secret, tokenCheckMessage(token)) },
        body: JSON.stringify({ token }),
        signal: AbortSignal.timeout(5000),
      });
      if (res.status !== 200) return null;
      const body = (await res.json()) as { valid?: unknown };
      return typeof body.valid === 'boolean' ? body.valid : null;
    } catch {
      return null;
    }
  }

  return async (token) => {
    const key = sha256Hex(token);
    const known = answers.get(key);
    if (known && (known.valid || deps.clock() - known.at < REFUSED_KEEP_MS)) return known.valid;
    let pending = inflight.get(key);
    if (pending === undefined) {
      pending = ask(token).then((valid) => {
        inflight.delete(key);
        if (valid !== null) {
          if (answers.size >= CACHE_SIZE) answers.delete(answers.keys().next().value as string);
          answers.set(key, { valid, at: deps.clock() });
        }
        return valid;
      });
      inflight.set(key, pending);
    }
    return pending;
  };
}
