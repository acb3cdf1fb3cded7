// Opens a RelayClient for a CLI command (watch, send, mirror): the project's room, this device's label and token,
// Node's WebSocket, a lastSeq kept in the state file when the command consumes messages, and the room's key if set;
// and what a command says when the relay refuses it for good.
import { RelayClient } from '../client/relay-client.ts';
import type { RelayClientOptions, RelayEvents, SeqStore } from '../client/relay-client.ts';
import type { Ctx } from './context.ts';
import { authClient } from './context.ts';
import type { CliError } from './exit-codes.ts';
import { checkRelayRefusal, fromRelayFatal } from './explain.ts';
import { codecFor } from './project-keys.ts';

export function openRelay(ctx: Ctx, room: string, device: string, token: string, seqStore?: SeqStore, extra: Partial<RelayClientOptions> = {}): RelayClient {
  const codec = codecFor(ctx, room);
  return new RelayClient({ url: ctx.settings.syncRelayUrl, room, device, token, seqStore, backoff: { baseMs: 500, maxMs: 10_000 }, ...(codec ? { codec } : {}), ...extra });
}

/** A relay's fatal refusal of `label` as a CliError; an INVALID_TOKEN that hone-auth accepts is said as a secret mismatch. */
export function relayRefusal(ctx: Ctx, f: RelayEvents['fatal'], label: string): Promise<CliError> {
  return checkRelayRefusal(fromRelayFatal(f, label), () => authClient(ctx).me());
}
