// `hone-sync key set <project>` (a passphrase → the project's key, kept on this device only), `key status [<project>]`
// and `key rm <project>`: end-to-end encryption of what mirror, send and watch put in the project's room (docs/e2e.md).
import { deriveKey, MAX_PASSPHRASE_CHARS, MIN_PASSPHRASE_CHARS } from '../../client/e2e/kdf.ts';
import { kdfText } from '../../client/e2e/format.ts';
import type { KeyRecord } from '../../client/e2e/key-store.ts';
import { removeKey, saveKey } from '../../client/e2e/key-store.ts';
import { keysPath } from '../../client/settings.ts';
import type { Ctx } from '../context.ts';
import { authClient, print, requireToken, table } from '../context.ts';
import { CliError, EXIT, usage } from '../exit-codes.ts';
import { projectKeys } from '../project-keys.ts';
import { projectKeyOf, resolveProject } from '../resolve-project.ts';

const USAGE = 'usage: hone-sync key set <project> | key status [<project>] | key rm <project>';

const view = (k: KeyRecord) => ({ project: k.project, room: k.room, keyId: k.keyId, kdf: { name: 'scrypt', ...k.kdf }, setAt: k.setAt });

/** The stored key a command names: its project key, its room ID, or a folder whose name is the key. */
function findKey(keys: KeyRecord[], arg: string): KeyRecord | undefined {
  const { key } = projectKeyOf(arg);
  return keys.find((k) => k.room === arg) ?? keys.find((k) => k.project === key);
}

async function set(ctx: Ctx, arg: string): Promise<void> {
  requireToken(ctx);
  const project = await resolveProject(authClient(ctx), arg);
  projectKeys(ctx); // a damaged key file stops here, before the passphrase is asked for
  const passphrase = await ctx.io.readPassphrase(project.projectKey);
  const chars = [...passphrase].length;
  if (chars < MIN_PASSPHRASE_CHARS) throw usage(`the passphrase must have at least ${MIN_PASSPHRASE_CHARS} characters (got ${chars}); nothing was changed`);
  if (chars > MAX_PASSPHRASE_CHARS) throw usage(`the passphrase may have at most ${MAX_PASSPHRASE_CHARS} characters; nothing was changed`);
  const key = await deriveKey(passphrase, project.roomId);
  const old = saveKey(keysPath(ctx.settingsFile), project.roomId, project.projectKey, key);
  const keyId = key.keyId.toString('hex');
  const same = old?.keyId === keyId;
  print(ctx, { ok: true, project: project.projectKey, room: project.roomId, keyId, kdf: { name: 'scrypt', ...key.kdf }, replaced: old ? old.keyId : null },
    `Project "${project.name}" is encrypted on this device (key id ${keyId}${old ? same ? ', the same as before' : `, was ${old.keyId}` : ''}; ${kdfText(key.kdf)}).\n`
    + 'Set the same passphrase on each of your devices (hone-sync key set ' + project.projectKey + '); a device with another one or none cannot read this project.\n'
    + 'A mirror already running reads the key when it starts: restart it.');
}

function status(ctx: Ctx, arg: string | undefined): void {
  const keys = projectKeys(ctx);
  if (arg !== undefined) {
    const k = findKey(keys, arg);
    if (!k) return print(ctx, { project: arg, encrypted: false }, `Project ${arg}: no key on this device; what it sends there is not encrypted (set one with hone-sync key set ${arg}).`);
    return print(ctx, { encrypted: true, ...view(k) }, `Project ${k.project}: encrypted (key id ${k.keyId}, ${kdfText(k.kdf)}, set ${k.setAt}; room ${k.room}).`);
  }
  if (keys.length === 0 && !ctx.args.json) return print(ctx, null, 'No project keys on this device: nothing it syncs is end-to-end encrypted. Set one with hone-sync key set <project>.');
  print(ctx, { keys: keys.map(view) }, () => table([['PROJECT', 'KEY ID', 'KDF', 'SET', 'ROOM'], ...keys.map((k) => [k.project, k.keyId, kdfText(k.kdf), k.setAt, k.room])]));
}

function rm(ctx: Ctx, arg: string): void {
  const k = findKey(projectKeys(ctx), arg);
  if (!k) throw new CliError(EXIT.REFUSED, 'KEY_NOT_FOUND', `no key for project ${arg} on this device; see hone-sync key status`);
  removeKey(keysPath(ctx.settingsFile), k.room);
  print(ctx, { ok: true, removed: view(k) },
    `Removed the key of project ${k.project} (key id ${k.keyId}) from this device. From now on it sends in clear in that project and cannot read what your encrypted devices send.`);
}

export async function key(ctx: Ctx): Promise<void> {
  const [sub, arg, extra] = ctx.args.rest;
  if (extra !== undefined) throw usage(USAGE);
  if (sub === 'set' && arg) return set(ctx, arg);
  if (sub === 'status' || (sub === undefined && arg === undefined)) return status(ctx, arg);
  if ((sub === 'rm' || sub === 'remove') && arg) return rm(ctx, arg);
  throw usage(USAGE);
}
