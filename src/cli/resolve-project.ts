// Finds the project a command names: its id, its key, its name, or a folder (whose name is the key).
import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { AuthClient, Project } from '../client/auth-client.ts';
import { CliError, EXIT } from './exit-codes.ts';

/** An argument written as a path (a slash, `.` or `..`) names a folder, never a key. */
export const isPathLike = (arg: string) => arg.includes('/') || arg === '.' || arg === '..';

/** The project key for `projects add`: a folder's name, or the argument itself. */
export function projectKeyOf(arg: string): { key: string; fromDir: boolean } {
  if (isPathLike(arg) && existsSync(arg) && statSync(arg).isDirectory()) {
    return { key: basename(realpathSync(arg)), fromDir: true };
  }
  return { key: arg, fromDir: false };
}

export function findProject(list: Project[], arg: string): Project | undefined {
  const { key } = projectKeyOf(arg);
  return list.find((p) => String(p.id) === arg) ?? list.find((p) => p.projectKey === key) ?? list.find((p) => p.name === arg);
}

/** The project `arg` names; else a refusal listing the account's projects (and, unless `removing`, how to add it). */
export async function resolveProject(auth: AuthClient, arg: string | undefined, removing = false): Promise<Project> {
  if (!arg) throw new CliError(EXIT.USAGE, 'USAGE', 'name the project (its key, id or folder); list them with hone-sync projects');
  const list = await auth.projects();
  const p = findProject(list, arg);
  if (p) return p;
  const have = list.length ? `your projects: ${list.map((x) => x.projectKey).join(', ')}` : 'you have none yet';
  throw new CliError(EXIT.REFUSED, 'PROJECT_NOT_FOUND', `no project "${arg}" in your account (${have})${removing ? '' : `; add it with hone-sync projects add ${arg}`}`);
}
