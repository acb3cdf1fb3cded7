// `npm run bench:bin`: size of dist/hone-auth and dist/hone-relay and their start-up time (spawn → "listening" log
// line), each started from an empty directory on SQLite with PATH stripped of node; figures for docs/BENCHMARKS.md.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBinaries } from '../scripts/build-bin.ts';

const RUNS = Number(process.env.RUNS ?? 15);
const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';

/** Spawns `bin` in `dir`, resolves with the ms until its listening line and its resident memory then (MB). */
function startOnce(cmd: string[], dir: string): Promise<{ ms: number; rssMb: number }> {
  const env = { PATH: '/usr/bin:/bin', HONE_AUTH_SECRET: SECRET, HONE_HOST: '127.0.0.1', HONE_PORT: '0', HONE_WS_PORT: '0' };
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd[0], cmd.slice(1), { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!done && out.includes('"event":"listening"')) {
        done = true;
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0);
        child.kill('SIGTERM');
        child.once('close', () => resolve({ ms, rssMb: rssKb / 1024 }));
      }
    });
    child.stderr.resume();
    child.once('exit', (code) => { if (!done) reject(new Error(`${cmd.join(' ')} exited with ${code} before listening:\n${out}`)); });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const fresh = () => mkdtempSync(join(tmpdir(), 'hone-bench-bin-'));
const summary = (xs: number[]) => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;

/** Times `cmd` RUNS times from fresh directories and RUNS times restarting in one. */
async function measure(cmd: string[]): Promise<{ first: number[]; again: number[]; rss: number }> {
  const warm = fresh();
  await startOnce(cmd, warm); // the page cache holds the binary from here on
  // First start: an empty directory, so the program creates its SQLite database (and auth runs its migrations).
  const first: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const dir = fresh();
    first.push((await startOnce(cmd, dir)).ms);
    rmSync(dir, { recursive: true, force: true });
  }
  // Restart: the database exists.
  const again: number[] = [];
  let rss = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = await startOnce(cmd, warm);
    again.push(r.ms);
    rss = Math.max(rss, r.rssMb);
  }
  rmSync(warm, { recursive: true, force: true });
  return { first, again, rss };
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { paths } = await buildBinaries();
for (const [name, bin] of Object.entries(paths)) {
  const size = statSync(bin).size;
  const b = await measure([bin]);
  process.stdout.write(`${name}: ${(size / 1e6).toFixed(1)} MB (${(size / 2 ** 20).toFixed(1)} MiB); ${RUNS} runs each, spawn → listening: ` +
    `first start ${summary(b.first)}, restart ${summary(b.again)}; resident memory when listening ${b.rss.toFixed(0)} MB\n`);
  // For comparison: the npm entry point on the same runtime (TypeScript sources, node_modules).
  const n = await measure([process.execPath, join(ROOT, 'src', name.slice(5), 'app.ts')]);
  process.stdout.write(`  npm entry point (node src/${name.slice(5)}/app.ts): first start ${summary(n.first)}, restart ${summary(n.again)}; ` +
    `resident memory ${n.rss.toFixed(0)} MB\n`);
}
