// The hook through which RelayClient seals every payload it sends and opens every payload it receives (end-to-end
// encryption, src/client/e2e), and what it says when one cannot be opened. Browser-safe: no Node imports.

/** Every sealed payload is a string starting with this (the format is in docs/e2e.md). */
export const SEALED_PREFIX = 'hse.';

/** Why a received payload was not delivered: each is dropped, never used as plaintext. */
export type UndecryptableReason =
  /** The room's traffic is encrypted and this device has no key for it. */
  | 'no-key'
  /** This device has a key, but the sender sent in clear (it has none). */
  | 'plaintext'
  /** Not a sealed payload this version can read: truncated, bad base64, wrong types. */
  | 'malformed'
  /** A format version or key derivation this version does not know (a newer sender). */
  | 'unsupported'
  /** Same format, other key-derivation parameters (scrypt N/r/p). */
  | 'other-kdf'
  /** Another key id: the sender typed another passphrase. */
  | 'other-key'
  /** Our key id, but the authentication tag does not match: altered on the way, or moved to another room or sender. */
  | 'tampered';

export type Opened = { ok: true; payload: unknown } | { ok: false; reason: UndecryptableReason; detail?: string };

export interface PayloadCodec {
  /** The wire form of `payload` sent by the device labelled `from` in `room`: a string the relay stores as it is. */
  seal(payload: unknown, room: string, from: string): string;
  /** The payload inside a sealed string, or why not. Never throws. */
  open(wire: string, room: string, from: string): Opened;
}

export const isSealed = (payload: unknown): payload is string => typeof payload === 'string' && payload.startsWith(SEALED_PREFIX);

/**
 * What a client delivers for a received payload. With a codec (the room has a key) only a sealed payload that opens is
 * delivered; without one, a sealed payload is reported as `no-key` instead of being handed on as text.
 */
export function openPayload(codec: PayloadCodec | undefined, payload: unknown, room: string, from: string): Opened {
  if (!codec) return isSealed(payload) ? { ok: false, reason: 'no-key' } : { ok: true, payload };
  if (!isSealed(payload)) return { ok: false, reason: 'plaintext' };
  return codec.open(payload, room, from);
}

/** The device name in a relay label (`laptop/mirror` → `laptop`): what a person calls the sender. */
export const deviceOf = (label: string): string => label.replace(/\/(mirror|send)$/, '');

/** One line for a person about payloads from `from` that were not applied (`project`: how the room is called). */
export function describeUndecryptable(reason: UndecryptableReason, from: string, project: string, detail?: string): string {
  const who = deviceOf(from);
  const extra = detail ? ` (${detail})` : '';
  switch (reason) {
    case 'no-key':
      return `${who} encrypts project ${project} and this device has no key for it; nothing from it was applied. Set the same passphrase here: hone-sync key set ${project}`;
    case 'plaintext':
      return `${who} sends unencrypted messages in project ${project} (it has no key: run hone-sync key set ${project} there); nothing from it was applied`;
    case 'other-key':
      return `${who} uses another passphrase for project ${project}; nothing from it was applied`;
    case 'other-kdf':
      return `${who} derived its key for project ${project} with other settings${extra}; run hone-sync key set ${project} again on the device with the older hone-sync after updating it; nothing from it was applied`;
    case 'unsupported':
      return `${who} uses an encryption format this hone-sync does not know${extra} for project ${project}; update hone-sync here; nothing from it was applied`;
    case 'tampered':
      return `a message from ${who} in project ${project} failed its integrity check (altered on the way or forged); it was rejected`;
    case 'malformed':
      return `${who} sent a message in project ${project} that is not a valid encrypted payload${extra}; it was dropped`;
  }
}
