// How the benchmarks run their servers: the load generator (this process, every thread) pinned to CPU 1 and each
// server started on CPU 0 with `taskset` (when there is taskset and two CPUs), and stopped through its stdin.
import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';

export const cpus = os.availableParallelism();

/** Pins this process to CPU 1; answers whether servers are to be pinned to CPU 0 (false: nothing is pinned). */
export function pinLoadGenerator(): boolean {
  const hasTaskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!hasTaskset || cpus < 2) return false;
  // Every thread of this process (main, libuv pool, V8 helpers) to CPU 1; the servers get CPU 0.
  const r = spawnSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
  if (r.status !== 0) process.stderr.write('warning: could not pin the load generator to CPU 1\n');
  return true;
}

/** The command and arguments that run `node <args>` as a server: on CPU 0 when `pin`. */
export function serverCommand(pin: boolean, args: readonly string[]): [string, string[]] {
  return pin ? ['taskset', ['-c', '0', process.execPath, ...args]] : [process.execPath, [...args]];
}

/** Ends a server started with stdin piped: it closes and cleans up on stdin's end; SIGKILL after 15 s. */
export function stopServer(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.stdin!.end();
  });
}
