// Runs a program's real entry point as a child process, as an operator would: clean HONE_* environment, a
// working directory of the test's choosing, captured output, a kill after a timeout; plus a free-port finder and
// a runner for ES-module snippets that import the project's own modules.
import { spawn, spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';

export interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/** The parent environment without any HONE_* variable, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HONE_') && v !== undefined) env[k] = v;
  return { ...env, ...extra };
}

/** `start` spawns the program (cwd from `cwd()`, so no config of the checkout is picked up); `run` waits for its exit. */
export function programRunner(app: string, cwd: () => string) {
  function start(args: string[], env: Record<string, string>): { child: ChildProcess; done: Promise<Run>; out: () => string } {
    const t0 = Date.now();
    const child = spawn(process.execPath, [app, ...args], { cwd: cwd(), env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 })));
    return { child, done, out: () => stdout + stderr };
  }
  async function run(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Run> {
    const { child, done } = start(args, env);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await done;
    } finally {
      clearTimeout(timer);
    }
  }
  return { start, run };
}

/** A port nothing listens on (taken from the OS, then released). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** stderr is exactly one non-empty line without a stack trace; returns it. */
export function oneLine(r: Run): string {
  const text = r.stderr.trimEnd();
  assert.ok(text.length > 0, 'an error line on stderr');
  assert.ok(!text.includes('\n'), `one line, got:\n${r.stderr}`);
  assert.ok(!/\bat .*\.ts:\d+/.test(text), 'no stack trace');
  return text;
}

/** Absolute path of a module under src/ (for `import` in a snippet run by `runSnippet`). */
export function srcModule(path: string): string {
  return fileURLToPath(new URL(`../../src/${path}`, import.meta.url));
}

/** Runs `code` as an ES module in a child Node (this runtime, so .ts imports work); killed after `timeoutMs`. */
export function runSnippet(code: string, timeoutMs = 20_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: timeoutMs });
}
