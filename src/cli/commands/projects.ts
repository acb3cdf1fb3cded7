// `hone-sync projects`, `projects add <dir|key> [--name N]`, `projects rm <id|key>`: the account's synced projects.
import type { Ctx } from '../context.ts';
import { authClient, print, requireToken, table } from '../context.ts';
import { usage } from '../exit-codes.ts';
import { isPathLike, projectKeyOf, resolveProject } from '../resolve-project.ts';

export async function projects(ctx: Ctx): Promise<void> {
  const [sub, arg, extra] = ctx.args.rest;
  requireToken(ctx);
  const auth = authClient(ctx);
  if (sub === undefined || sub === 'list') {
    const list = await auth.projects();
    if (list.length === 0 && !ctx.args.json) return print(ctx, null, 'No synced projects yet; add one with hone-sync projects add <dir|key>.');
    return print(ctx, { projects: list }, () => table([['ID', 'KEY', 'NAME', 'ROOM'], ...list.map((p) => [String(p.id), p.projectKey, p.name, p.roomId])]));
  }
  if (sub === 'add') {
    if (!arg || extra !== undefined) throw usage('usage: hone-sync projects add <dir|key> [--name N]');
    const { key, fromDir } = projectKeyOf(arg);
    if (!fromDir && isPathLike(arg)) throw usage(`"${arg}" is not a folder; create it first, or give the project's key (a name without slashes)`);
    const p = await auth.addProject(key, ctx.args.name ?? key);
    return print(ctx, { ok: true, project: p }, `Project ${p.id} "${p.name}" (key ${p.projectKey}${fromDir ? `, from ${arg}` : ''}) syncs in room ${p.roomId}.`);
  }
  if (sub === 'rm' || sub === 'remove') {
    if (!arg || extra !== undefined) throw usage('usage: hone-sync projects rm <id|key>');
    const p = await resolveProject(auth, arg, true);
    await auth.removeProject(p.id);
    return print(ctx, { ok: true, removed: p.id }, `Project ${p.id} "${p.name}" no longer syncs.`);
  }
  throw usage(`unknown projects command "${sub}" (list, add or rm)`);
}
