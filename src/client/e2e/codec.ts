// The PayloadCodec of a room that has a key: seals with a fresh random nonce per message (or an injected nonce
// source, for fixed test vectors) and opens with the same key. Give it to RelayClient as `codec`.
import { randomBytes } from 'node:crypto';
import type { PayloadCodec } from '../payload-codec.ts';
import type { SealKey } from './format.ts';
import { NONCE_BYTES, open, seal } from './format.ts';

export function e2eCodec(key: SealKey, nonces: () => Buffer = () => randomBytes(NONCE_BYTES)): PayloadCodec {
  return {
    seal: (payload, room, from) => seal(key, payload, room, from, nonces()),
    open: (wire, room, from) => open(key, wire, room, from),
  };
}
