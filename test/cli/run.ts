// Runs the real hone-sync CLI (src/cli/app.ts) as a child process with its own HOME and settings file,
// collecting stdout/stderr and the exit code; `start` leaves it running for commands that wait (login, watch).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const APP = fileURLToPath(new URL('../../src/cli/app.ts', import.meta.url));

export interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout+stderr match `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  done: Promise<Done>;
}

/** `stdin: 'pipe'` lets a test type into the program (child.stdin). */
export function start(args: string[], env: Record<string, string>, stdin: 'ignore' | 'pipe' = 'ignore'): Running {
  const child = spawn(process.execPath, [APP, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: [stdin, 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (d) => { out += d; waiters.forEach((w) => w()); });
  child.stderr!.on('data', (d) => { err += d; waiters.forEach((w) => w()); });
  const done = new Promise<Done>((resolve) => child.on('close', (code) => { resolve({ code, stdout: out, stderr: err }); waiters.forEach((w) => w()); }));
  return {
    child, done,
    stdout: () => out,
    stderr: () => err,
    waitFor(re, timeoutMs = 8000) {
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => { waiters.delete(check); reject(new Error(`no ${re} within ${timeoutMs} ms; stdout: ${out}\nstderr: ${err}`)); }, timeoutMs);
        const check = () => {
          if (re.test(out + err)) {
            clearTimeout(t);
            waiters.delete(check);
            resolve();
          } else if (child.exitCode !== null) {
            clearTimeout(t);
            waiters.delete(check);
            reject(new Error(`exited ${child.exitCode} before ${re}; stdout: ${out}\nstderr: ${err}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

export async function run(args: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<Done> {
  const r = start(args, env);
  const t = setTimeout(() => r.child.kill('SIGKILL'), timeoutMs);
  try {
    return await r.done;
  } finally {
    clearTimeout(t);
  }
}
