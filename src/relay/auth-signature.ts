// How the relay signs what it asks hone-auth (/auth/revocations, /auth/relay/token): "Hone-Relay <HMAC-SHA256 hex>"
// of a message naming the request, under auth.secret; auth checks the same messages (src/auth/routes).
import { hmacHex, sha256Hex } from '../common/token.ts';

/** GET /auth/revocations?since=…: the cursor it pulls from. */
export const revocationsMessage = (since: string): string => `revocations|${since}`;

/** POST /auth/relay/token: the token itself travels in the body, its digest in the MAC. */
export const tokenCheckMessage = (token: string): string => `token|${sha256Hex(token)}`;

/** The Authorization header value for a request whose message is `message`. */
export const relayAuthorization = (secret: string, message: string): string => `Hone-Relay ${hmacHex(secret, message)}`;
