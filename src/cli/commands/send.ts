// `hone-sync send <project> <text> [--to host|broadcast|<device>]`: one message into the project's room, acknowledged
// by the relay (so it is stored for devices that are offline) before the command returns.
import type { RelayEvents } from '../../client/relay-client.ts';
import type { Ctx } from '../context.ts';
import { authClient, print, requireToken } from '../context.ts';
import { CliError, EXIT, usage } from '../exit-codes.ts';
import { openRelay, relayRefusal } from '../relay-session.ts';
import { resolveProject } from '../resolve-project.ts';

export async function send(ctx: Ctx): Promise<void> {
  const [arg, text, extra] = ctx.args.rest;
  if (!arg || text === undefined || extra !== undefined) throw usage('usage: hone-sync send <project> <text> [--to host|broadcast|<device>] (quote the text)');
  const me = requireToken(ctx);
  const project = await resolveProject(authClient(ctx), arg);
  const to = ctx.args.to ?? 'broadcast';
  if (to !== 'broadcast' && to !== 'host') await checkDeviceName(ctx, to);
  // Its own label, so a `watch` of this device in the same room is not replaced by the sender.
  const label = `${ctx.settings.syncDeviceName}/send`;
  const client = openRelay(ctx, project.roomId, label, me.token);
  const timeoutMs = (ctx.args.timeout ?? 10) * 1000;
  let lastProblem = '';
  let fatal: RelayEvents['fatal'] | null = null;
  client.on('disconnected', (d) => { lastProblem = d.reason || 'connection lost'; });
  client.on('fatal', (f) => { fatal = f; });
  let seq = 0;
  const msgId = client.send(to, text);
  client.on('ack', (a) => { if (a.msgId === msgId) seq = a.seq; });
  const onAbort = () => client.close();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await client.start();
    await client.ready(timeoutMs).catch(async () => {
      if (fatal) throw await relayRefusal(ctx, fatal, label);
      throw new CliError(EXIT.UNREACHABLE, 'RELAY_UNREACHABLE', `cannot reach the relay at ${ctx.settings.syncRelayUrl}${lastProblem ? ` (${lastProblem})` : ''}; check the network, or the address with hone-sync config get syncRelayUrl`);
    });
    await client.drain(timeoutMs).catch(async () => {
      if (fatal) throw await relayRefusal(ctx, fatal, label);
      const dropped = client.pending === 0;
      throw new CliError(dropped ? EXIT.REFUSED : EXIT.TIMEOUT, 'NOT_ACKNOWLEDGED', dropped ? 'the relay refused the message' : `the relay did not acknowledge the message within ${timeoutMs / 1000} s; it may not have been delivered`);
    });
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    client.close();
  }
  const encrypted = client.encrypted;
  print(ctx, { ok: true, project: project.projectKey, room: project.roomId, to, msgId, seq, encrypted }, `Sent to ${to} in "${project.name}" (seq ${seq}${encrypted ? ', end-to-end encrypted' : ''}).`);
}

/** `--to <device>` must name one of the account's devices (or a label of one, `name/…`): the relay acknowledges a
 * message to any name, so a typo would otherwise look delivered. */
async function checkDeviceName(ctx: Ctx, to: string): Promise<void> {
  const names = (await authClient(ctx).devices()).map((d) => d.deviceName);
  if (names.some((n) => to === n || to.startsWith(`${n}/`))) return;
  throw new CliError(EXIT.REFUSED, 'NO_SUCH_DEVICE', `no device named "${to}" in your account (your devices: ${names.join(', ')}); --to takes host, broadcast or one of these names`);
}
