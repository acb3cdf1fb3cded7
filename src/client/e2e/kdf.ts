// A project's key from its passphrase: scrypt (node:crypto) salted with the room ID, and the key id that tells
// devices with another passphrase apart without revealing the key. Parameters travel in every sealed payload.
import { createHmac, scrypt } from 'node:crypto';
import type { KdfParams, SealKey } from './format.ts';

/** About 100 ms and 32 MiB on the 2-core development VM (2026-12); raise log2N when machines get faster. */
export const DEFAULT_KDF: KdfParams = { log2N: 15, r: 8, p: 1 };
/** Shortest passphrase `key set` accepts. */
export const MIN_PASSPHRASE_CHARS = 8;
/** Longest one (scrypt takes any length; this only bounds what is read). */
export const MAX_PASSPHRASE_CHARS = 1024;

export const saltFor = (room: string) => Buffer.from(`hone-sync e2e v1 room ${room}`, 'utf8');

/** The first 8 bytes of HMAC-SHA256(key, "hone-sync e2e key id v1"). */
export function keyIdOf(key: Buffer): Buffer {
  return createHmac('sha256', key).update('hone-sync e2e key id v1').digest().subarray(0, 8);
}

/** Derives the room's key from `passphrase` (NFC-normalised, so the same letters typed on another OS agree). */
export function deriveKey(passphrase: string, room: string, kdf: KdfParams = DEFAULT_KDF): Promise<SealKey> {
  const N = 2 ** kdf.log2N;
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), saltFor(room), 32, { N, r: kdf.r, p: kdf.p, maxmem: 256 * N * kdf.r * kdf.p + 1024 * 1024 }, (err, key) => {
      if (err) reject(err);
      else resolve({ key, keyId: keyIdOf(key), kdf: { ...kdf } });
    });
  });
}
