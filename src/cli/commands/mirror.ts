// `hone-sync mirror <dir> --project <key>`: keeps a folder in step with the project's other devices through the relay
// until Ctrl-C; one line per change (sent →, applied ←, conflicts !), or JSON lines with --json.
import { existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Project } from '../../client/auth-client.ts';
import { deviceOf } from '../../client/payload-codec.ts';
import type { Ctx } from '../context.ts';
import { authClient, eventPrinter, requireToken } from '../context.ts';
import { CliError, EXIT, usage } from '../exit-codes.ts';
import { Mirror } from '../mirror/engine.ts';
import { printable } from '../printable.ts';
import { FolderLocked, lockFolder } from '../mirror/lock.ts';
import type { FolderLock } from '../mirror/lock.ts';
import { MirrorIndex } from '../mirror/state.ts';
import { reportUndecryptable } from '../project-keys.ts';
import { openRelay, relayRefusal } from '../relay-session.ts';
import { resolveProject } from '../resolve-project.ts';

/** Appended to the device name for the mirror's own relay label. */
const MIRROR_SUFFIX = '/mirror';
const USAGE = 'usage: hone-sync mirror <dir> --project <key> [--create]';

export function formatSize(n: number | null): string {
  if (n === null) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export async function mirror(ctx: Ctx): Promise<void> {
  const [dirArg, extra] = ctx.args.rest;
  if (!dirArg || extra !== undefined || !ctx.args.project) throw usage(USAGE);
  requireToken(ctx);
  const dir = resolve(dirArg);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw usage(`${dirArg} is not a folder`);
  const created = !existsSync(dir);
  if (created && !ctx.args.create) {
    throw new CliError(EXIT.USAGE, 'NO_SUCH_FOLDER', `${dirArg} does not exist (${dir}); check the path, or add --create to mirror into a new folder`);
  }
  const project = await resolveProject(authClient(ctx), ctx.args.project);
  mkdirSync(dir, { recursive: true });
  const root = realpathSync(dir);
  let lock: FolderLock;
  try {
    lock = lockFolder(root);
  } catch (err) {
    if (err instanceof FolderLocked) throw new CliError(EXIT.USAGE, 'MIRROR_RUNNING', err.message);
    throw err;
  }
  try {
    await run(ctx, root, created, project);
  } finally {
    lock.release();
  }
}

async function run(ctx: Ctx, root: string, created: boolean, project: Project): Promise<void> {
  const me = requireToken(ctx);
  const device = ctx.settings.syncDeviceName;
  // Its own label, so `hone-sync watch` on this device can run beside it in the same room.
  const label = `${device}${MIRROR_SUFFIX}`;
  const index = new MirrorIndex(root, project.roomId, device);
  const client = openRelay(ctx, project.roomId, label, me.token, index.seqStore(), { outboxLimit: 10_000, backoff: { baseMs: 250, maxMs: 5000 } });
  const engine = new Mirror({ root, device, client, index });
  const stamp = () => ({ ts: Date.now() });
  const out = eventPrinter(ctx, 'stdout', stamp);
  const status = eventPrinter(ctx, 'stderr', stamp);

  // Every name in these lines may come from a peer: printed through `printable` (ESC, CR, LF… escaped); --json lines through printableJson (JSON leaves U+009B, bidi overrides and U+2028 raw).
  const p = printable;
  /** A peer as the relay named it (its join label, which a peer cannot forge per message), without the "/mirror" suffix (deviceOf). */
  const peer = (label: string) => p(deviceOf(label));
  const size = (n: number | null) => (n !== null ? ` (${formatSize(n)})` : '');
  engine.on('sent', (c) => out('sent', c, `→ ${c.op === 'write' ? 'sent' : 'deleted'} ${p(c.path)}${size(c.size)}${c.source !== undefined ? `: same content as ${p(c.source)}, not sent again` : ''}`));
  engine.on('applied', (c) => out('applied', c,
    `← ${peer(c.from)}: ${c.op === 'delete' ? 'deleted' : c.created ? 'created' : 'updated'} ${p(c.path)}${size(c.size)}${c.source !== undefined ? ` from the local copy ${p(c.source)}` : ''}`));
  // Large transfers: a line at every tenth of the way (never more than ten a file).
  const shown = new Map<string, number>();
  engine.on('progress', (g) => {
    const key = `${g.direction}\0${g.peer}\0${g.path}`;
    const tenth = Math.floor((g.done / g.total) * 10);
    if ((shown.get(key) ?? -1) >= tenth) return;
    if (tenth >= 10) shown.delete(key);
    else shown.set(key, tenth);
    status('progress', g, `… ${g.direction === 'send' ? 'sending' : 'receiving'} ${p(g.path)} ${g.direction === 'send' ? 'to' : 'from'} ${g.peer === 'broadcast' ? 'the other devices' : peer(g.peer)}: ${formatSize(g.done)} of ${formatSize(g.total)} (${Math.floor((g.done / g.total) * 100)}%)`);
  });
  engine.on('conflict', (c) => out('conflict', c, c.keptAs
    ? `! conflict in ${p(c.path)}: ${p(c.winner)}'s later edit wins; this device's edit is kept as ${p(c.keptAs)}`
    : `! conflict in ${p(c.path)}: this device's later edit wins; ${p(c.loser)} keeps its edit as a .conflict-${p(c.loser)} copy`));
  engine.on('refused', (r) => status('refused', r, `hone-sync: refused ${p(r.path)} from ${peer(r.from)}: ${p(r.reason)}`));
  engine.on('warning', (w) => status('warning', w, `hone-sync: warning: ${p(w.message)}`));
  reportUndecryptable(client, project.projectKey, (u) => status('warning', { message: u.text, reason: u.reason, from: u.from }, `hone-sync: warning: ${p(u.text)}`));
  client.on('dropped', (d) => status('warning', { message: `a message was dropped (${d.reason}${d.code ? ` ${d.code}` : ''})` }, `hone-sync: warning: a message was dropped (${d.reason}${d.code ? ` ${d.code}` : ''}); the next manifest exchange repairs it`));

  await new Promise<void>((resolvePromise, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      ctx.signal.removeEventListener('abort', onAbort);
      engine.stop();
      client.close();
      if (err) reject(err);
      else resolvePromise();
    };
    const onAbort = () => {
      // Give what is queued a moment to reach the relay (it is durable there once acknowledged).
      if (client.state !== 'joined' || engine.pending === 0) return finish();
      const wait = setInterval(() => { if (engine.pending === 0) { clearInterval(wait); finish(); } }, 20);
      setTimeout(() => { clearInterval(wait); finish(); }, 2000).unref();
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    client.on('joined', (j) => status('joined', { room: j.room, device: j.device, host: j.host, reconnect: j.reconnect, dir: root },
      j.reconnect ? 'reconnected to the relay; comparing folders.'
        : `mirroring ${root}${created ? ' (created)' : ''} ↔ project "${project.name}" (room ${project.roomId}${client.encrypted ? ', end-to-end encrypted' : ''}) as "${device}". Ctrl-C to stop.`));
    client.on('disconnected', (d) => {
      if (d.willRetry) status('disconnected', d, `hone-sync: relay ${ctx.settings.syncRelayUrl} not connected (${d.reason || 'connection lost'}); retrying in ${(d.delayMs / 1000).toFixed(1)} s; changes are kept until then`);
    });
    client.on('resync', (r) => status('resync', r, '* some relay messages expired before they reached this device; comparing folders in full'));
    client.on('fatal', (f) => void relayRefusal(ctx, f, label).then(finish));
    try {
      engine.start();
    } catch (err) {
      return finish(new CliError(EXIT.FAILURE, 'MIRROR_START', `cannot read ${root}: ${(err as Error).message}`));
    }
    client.start().catch((err) => finish(err as Error));
  });
}
