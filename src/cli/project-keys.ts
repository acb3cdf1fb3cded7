// The CLI's side of end-to-end encryption: this device's project keys (sync.keys beside the settings), the codec a
// room's relay client gets when its project has a key, and one line per sending device whose payloads were not applied.
import { e2eCodec } from '../client/e2e/codec.ts';
import type { KeyRecord } from '../client/e2e/key-store.ts';
import { KeyStoreError, loadKeys, sealKeyOf } from '../client/e2e/key-store.ts';
import type { PayloadCodec } from '../client/payload-codec.ts';
import { describeUndecryptable, deviceOf } from '../client/payload-codec.ts';
import type { RelayClient, RelayEvents } from '../client/relay-client.ts';
import { keysPath } from '../client/settings.ts';
import type { Ctx } from './context.ts';
import { CliError, EXIT } from './exit-codes.ts';

/** The device's stored keys; a key file that cannot be used stops the command (nothing goes out in clear). */
export function projectKeys(ctx: Ctx): KeyRecord[] {
  try {
    const { keys, warnings } = loadKeys(keysPath(ctx.settingsFile));
    for (const w of warnings) ctx.io.stderr(`hone-sync: warning: ${w}\n`);
    return keys;
  } catch (err) {
    if (err instanceof KeyStoreError) throw new CliError(EXIT.USAGE, 'KEYS', err.message);
    throw err;
  }
}

export const keyOfRoom = (ctx: Ctx, room: string): KeyRecord | undefined => projectKeys(ctx).find((k) => k.room === room);

/** The codec of `room` when this device has a key for it. */
export function codecFor(ctx: Ctx, room: string): PayloadCodec | undefined {
  const rec = keyOfRoom(ctx, room);
  return rec ? e2eCodec(sealKeyOf(rec)) : undefined;
}

export type Undecryptable = RelayEvents['undecryptable'] & { device: string; text: string };

/** Calls `say` the first time each sending device has payloads dropped for a given reason. */
export function reportUndecryptable(client: RelayClient, project: string, say: (u: Undecryptable) => void): () => void {
  const told = new Set<string>();
  return client.on('undecryptable', (u) => {
    const device = deviceOf(u.from);
    const key = `${u.reason}\u0000${device}`;
    if (told.has(key)) return;
    told.add(key);
    say({ ...u, device, text: describeUndecryptable(u.reason, u.from, project, u.detail) });
  });
}
