// Tests that need a system tool (nginx, openssl, strip, systemd-analyze, Chromium): `requires(...)` gives the test
// options that skip it, naming the tool and its install command, when one is absent — or, under CI=true, fails the file.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian's Chromium, the one test/helpers/browser.ts drives (playwright-core downloads no browser of its own). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Each tool: where it is looked for (a bare name: on PATH, and in /usr/sbin where Debian puts nginx) and its package. */
const TOOLS = {
  nginx: { find: 'nginx', install: 'apt-get install nginx' },
  openssl: { find: 'openssl', install: 'apt-get install openssl' },
  strip: { find: 'strip', install: 'apt-get install binutils' },
  'systemd-analyze': { find: 'systemd-analyze', install: 'apt-get install systemd' },
  chromium: { find: CHROMIUM_PATH, install: 'apt-get install chromium' },
} as const;
export type Tool = keyof typeof TOOLS;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where `tool` is, or undefined when it is absent. */
export function findTool(tool: Tool, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const find = TOOLS[tool].find;
  if (find.startsWith('/')) return executable(find) ? find : undefined;
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin'];
  return dirs.map((d) => join(d, find)).find(executable);
}

/**
 * Test options for a test that needs `tools`: `{ skip: false }` when all are there, else `{ skip: 'needs nginx
 * (apt-get install nginx)' }`. With CI=true a missing tool throws instead, so the file fails: .ci/run installs them all.
 */
export function requires(tools: Tool[], env: NodeJS.ProcessEnv = process.env): { skip: string | false } {
  const missing = tools.filter((t) => !findTool(t, env));
  if (missing.length === 0) return { skip: false };
  const why = `needs ${missing.map((t) => `${t} (${TOOLS[t].install})`).join(', ')}`;
  if (env.CI === 'true' || env.CI === '1') throw new Error(`CI=true and this test ${why}: .ci/run installs it`);
  return { skip: why };
}
