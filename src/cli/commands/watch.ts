// `hone-sync watch <project>`: joins the project's room as this device and prints what arrives, resuming after the
// last message it printed (lastSeq in the state file); --count / --timeout end it, Ctrl-C too. What a peer chose (payload,
// labels) is printed through printable.ts: ESC, CR, LF… escaped; --json lines through printableJson (still JSON).
import { fileSeqStore } from '../../client/seq-store.ts';
import type { RelayEvents, RelayMessage } from '../../client/relay-client.ts';
import type { Ctx } from '../context.ts';
import { authClient, eventPrinter, requireToken } from '../context.ts';
import { usage } from '../exit-codes.ts';
import { reportUndecryptable } from '../project-keys.ts';
import { printable, printableJson } from '../printable.ts';
import { openRelay, relayRefusal } from '../relay-session.ts';
import { resolveProject } from '../resolve-project.ts';

export function formatMessage(m: RelayMessage): string {
  const body = typeof m.payload === 'string' ? printable(m.payload) : printableJson(m.payload);
  return `[${m.seq}] ${printable(m.from)} → ${printable(m.to)}${m.replayed ? ' (caught up)' : ''}: ${body}`;
}

const RESYNC_REASON: Record<RelayEvents['resync']['reason'], string> = {
  'buffer-expired': 'older than the relay keeps',
  'relay-reset': 'the relay lost its buffer',
  'epoch-changed': "the room's sequence started again on the relay",
};

export async function watch(ctx: Ctx): Promise<void> {
  const [arg, extra] = ctx.args.rest;
  if (!arg || extra !== undefined) throw usage('usage: hone-sync watch <project> [--count N] [--timeout S]');
  const me = requireToken(ctx);
  const project = await resolveProject(authClient(ctx), arg);
  const device = ctx.settings.syncDeviceName;
  const store = fileSeqStore(ctx.stateFile, project.roomId, device);
  const client = openRelay(ctx, project.roomId, device, me.token, store);
  const json = ctx.args.json;
  const event = eventPrinter(ctx, 'stderr');

  await new Promise<void>((resolve, reject) => {
    let count = 0;
    let stopped = false;
    let printedSeq: number | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const finish = (err?: Error) => {
      if (timer) clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      client.close();
      // With --count, messages of the same frame after the last one printed must not count as seen.
      if (stopped && printedSeq !== null) store.save(printedSeq);
      store.flush();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => finish();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (ctx.args.timeout) timer = setTimeout(() => finish(), ctx.args.timeout * 1000);

    client.on('joined', (j) => event('joined', { room: j.room, device: j.device, host: j.host, hostDevice: j.hostDevice, seq: j.seq, reconnect: j.reconnect },
      j.reconnect ? 'reconnected to the relay.' : `watching "${project.name}" (room ${project.roomId}${client.encrypted ? ', end-to-end encrypted' : ''}) as "${device}"${j.host ? ', the host' : `; host is "${printable(j.hostDevice)}"`}. Ctrl-C to stop.`));
    reportUndecryptable(client, project.projectKey, (u) => event('undecryptable', { seq: u.seq, from: u.from, device: u.device, reason: u.reason, message: u.text }, `hone-sync: ${printable(u.text)}`));
    client.on('message', (m) => {
      if (stopped) return;
      if (json) ctx.io.stdout(printableJson({ event: 'message', seq: m.seq, from: m.from, to: m.to, ts: m.ts, encrypted: m.encrypted, replayed: m.replayed, payload: m.payload }) + '\n');
      else ctx.io.stdout(formatMessage(m) + '\n');
      printedSeq = m.seq;
      if (ctx.args.count !== undefined && ++count >= ctx.args.count) {
        stopped = true;
        queueMicrotask(() => finish()); // after the client has recorded this seq
      }
    });
    client.on('presence', (p) => event('presence', p, `* ${printable(p.device)} ${p.state}`));
    client.on('host', (h) => event('host', h, `* ${printable(h.device)} is now the host${h.isMe ? ' (this device)' : ''}`));
    client.on('resync', (r) => event('resync', r, `* some messages were missed (${RESYNC_REASON[r.reason]}); a full resync is needed`));
    client.on('error', (e) => { if (!json) ctx.io.stderr(`hone-sync: relay: ${printable(e.message)} (${printable(e.code)})\n`); });
    client.on('disconnected', (d) => {
      if (d.willRetry) event('disconnected', d, `hone-sync: relay ${ctx.settings.syncRelayUrl} not connected (${printable(d.reason || 'connection lost')}); retrying in ${(d.delayMs / 1000).toFixed(1)} s`);
    });
    client.on('fatal', (f) => void relayRefusal(ctx, f, device).then(finish));
    client.start().catch(finish);
  });
}
