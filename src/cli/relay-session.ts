// Opens a RelayClient for a CLI command (watch, send, mirror): the project's room, this device's label and token,
// Node's WebSocket, a lastSeq kept in the state file when the command consumes messages, and the room's key if set.
import { RelayClient } from '../client/relay-client.ts';
import type { RelayClientOptions, SeqStore } from '../client/relay-client.ts';
import type { Ctx } from './context.ts';
import { codecFor } from './project-keys.ts';

export function openRelay(ctx: Ctx, room: string, device: string, token: string, seqStore?: SeqStore, extra: Partial<RelayClientOptions> = {}): RelayClient {
  const codec = codecFor(ctx, room);
  return new RelayClient({ url: ctx.settings.syncRelayUrl, room, device, token, seqStore, backoff: { baseMs: 500, maxMs: 10_000 }, ...(codec ? { codec } : {}), ...extra });
}
