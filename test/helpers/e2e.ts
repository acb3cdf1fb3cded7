// The whole stack as processes for test/e2e and bench/e2e.ts: hone-auth (SQLite/MariaDB) and hone-relay from their entry points
// on fixed ports (a killed relay returns on the same address), SMTP in-process, hone-sync devices with their own settings files.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_SECRET } from './auth.ts';
import type { DbKind, TestDb } from './db.ts';
import { freshDb } from './db.ts';
import { cleanEnv, freePort } from './process.ts';
import { startSmtp } from './smtp.ts';
import type { TestSmtp } from './smtp.ts';

const AUTH_APP = fileURLToPath(new URL('../../src/auth/app.ts', import.meta.url));
const RELAY_APP = fileURLToPath(new URL('../../src/relay/app.ts', import.meta.url));
export const CLI_APP = fileURLToPath(new URL('../../src/cli/app.ts', import.meta.url));

export interface Proc {
  child: ChildProcess;
  /** stdout and stderr as they came, interleaved. */
  out(): string;
  stdout(): string;
  stderr(): string;
  /** Resolves when the output (stdout + stderr) from offset `since` on matches `re`; rejects on exit or after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs?: number, since?: number): Promise<RegExpExecArray>;
  /** The current output length (a `since` for waitFor: only what comes after). */
  mark(): number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (or `signal`), then the exit; SIGKILL after 5 s. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `node <app> ...args` with a clean environment (no HONE_* leaking from the parent) plus `env`. */
export function spawnNode(app: string, args: string[], env: Record<string, string>, cwd: string): Proc {
  const child = spawn(process.execPath, [app, ...args], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { text += d; stdout += d; wake(); });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { text += d; stderr += d; wake(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => { resolve({ code, signal }); wake(); }));
  return {
    child, exited,
    out: () => text,
    stdout: () => stdout,
    stderr: () => stderr,
    mark: () => text.length,
    waitFor(re, timeoutMs = 10_000, since = 0) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`no ${re} within ${timeoutMs} ms; output:\n${text}`)); }, timeoutMs);
        const check = () => {
          const m = re.exec(text.slice(since));
          if (m) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before ${re}; output:\n${text}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      try {
        return await exited;
      } finally {
        clearTimeout(t);
      }
    },
  };
}

export interface CliResult { code: number | null; stdout: string; stderr: string }

export interface Device {
  name: string;
  home: string;
  env: Record<string, string>;
  /** Runs `hone-sync ...args` to its end (SIGKILL after `timeoutMs`). */
  run(args: string[], timeoutMs?: number): Promise<CliResult>;
  /** Starts `hone-sync ...args` and leaves it running. */
  start(args: string[]): Proc;
}

export interface Stack {
  dir: string;
  kind: DbKind;
  authUrl: string;
  relayWs: string;
  relayHttp: string;
  smtp: TestSmtp;
  auth: Proc;
  relay: Proc;
  /** Kills the relay with `signal` (SIGKILL by default) and waits for its exit. */
  killRelay(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the relay again on the same ports and database. */
  startRelay(): Promise<void>;
  /** `hone-auth admin set-tier <email> <tier>` against the stack's database, as an operator runs it. */
  setTier(email: string, tier: string): Promise<CliResult>;
  /** A hone-sync device with its own HOME and settings file, sync enabled and pointed at this stack. */
  device(name: string): Promise<Device>;
  /** `hone-sync login <email>` on the device, completed by opening the e-mailed link. */
  login(dev: Device, email: string): Promise<CliResult>;
  close(): Promise<void>;
}

/** `hone-sync key set <project> --json` on the device, the passphrase on stdin (not a terminal) or in HONE_SYNC_PASSPHRASE. */
export function keySet(dev: Device, project: string, pass: { stdin?: string; env?: string }): Promise<CliResult> {
  const env = cleanEnv({ ...dev.env, ...(pass.env !== undefined ? { HONE_SYNC_PASSPHRASE: pass.env } : {}) });
  const child = spawn(process.execPath, [CLI_APP, 'key', 'set', project, '--json'], { cwd: dev.home, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  child.stdin.end(pass.stdin ?? '');
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

function runProc(p: Proc, timeoutMs: number): Promise<CliResult> {
  const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  return p.exited.then(({ code }) => {
    clearTimeout(t);
    return { code, stdout: p.stdout(), stderr: p.stderr() };
  });
}

export async function startStack(kind: DbKind, opts: { relay?: Record<string, string | number>; log?: boolean } = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), `hone-e2e-${kind}-`));
  const smtp = await startSmtp();
  let db: TestDb | null = null;
  const procs: Proc[] = [];
  try {
    db = await freshDb(kind);
    const [authPort, relayPort, wsPort] = [await freePort(), await freePort(), await freePort()];
    const authUrl = `http://127.0.0.1:${authPort}`;
    const authConf = join(dir, 'auth.conf');
    const dbLines = Object.entries(db.config).map(([k, v]) => `${k}=${v}`);
    writeFileSync(authConf, [
      '# hone-auth of the end-to-end stack', 'host=127.0.0.1', `port=${authPort}`, `auth.secret=${TEST_SECRET}`, `auth.publicUrl=${authUrl}`,
      ...dbLines,
      'smtp.host=127.0.0.1', `smtp.port=${smtp.port}`, 'login.perIp=10000', 'login.perEmail=1000', 'ratelimit.perIp=100000', 'log.level=info', '',
    ].join('\n'));
    const relayConf = join(dir, 'relay.conf');
    writeFileSync(relayConf, [
      '# hone-relay of the end-to-end stack', 'host=127.0.0.1', `port=${relayPort}`, `ws.port=${wsPort}`, `auth.secret=${TEST_SECRET}`,
      `auth.url=${authUrl}`, `sqlite.path=${join(dir, 'relay', 'relay.db')}`, 'log.level=info',
      ...Object.entries(opts.relay ?? {}).map(([k, v]) => `${k}=${v}`), '',
    ].join('\n'));

    const auth = spawnNode(AUTH_APP, ['--config', authConf], {}, dir);
    procs.push(auth);
    await auth.waitFor(/"event":"listening"/, 20_000);
    let relay = spawnNode(RELAY_APP, ['--config', relayConf], {}, dir);
    procs.push(relay);
    await relay.waitFor(/"event":"listening"/, 20_000);

    const stack: Stack = {
      dir, kind, authUrl, relayWs: `ws://127.0.0.1:${wsPort}/ws`, relayHttp: `http://127.0.0.1:${relayPort}`, smtp, auth,
      get relay() { return relay; },
      async killRelay(signal = 'SIGKILL') {
        await relay.stop(signal);
      },
      async startRelay() {
        relay = spawnNode(RELAY_APP, ['--config', relayConf], {}, dir);
        procs.push(relay);
        await relay.waitFor(/"event":"listening"/, 20_000);
      },
      async setTier(email, tier) {
        return runProc(spawnNode(AUTH_APP, ['admin', 'set-tier', email, tier, '--config', authConf], {}, dir), 20_000);
      },
      async device(name) {
        const home = join(dir, 'devices', name);
        mkdirSync(home, { recursive: true });
        const env = { HOME: home, HONE_SYNC_CONFIG: join(home, 'sync.conf') };
        const dev: Device = {
          name, home, env,
          run: (args, timeoutMs = 20_000) => runProc(spawnNode(CLI_APP, args, env, home), timeoutMs),
          start: (args) => spawnNode(CLI_APP, args, env, home),
        };
        for (const [k, v] of [['syncEnabled', 'true'], ['syncAuthUrl', authUrl], ['syncRelayUrl', stack.relayWs], ['syncDeviceName', name]]) {
          const r = await dev.run(['config', 'set', k, v]);
          if (r.code !== 0) throw new Error(`config set ${k} on ${name}: ${r.stderr}`);
        }
        return dev;
      },
      async login(dev, email) {
        const p = dev.start(['login', email]);
        await p.waitFor(/waiting for the link to be opened/, 15_000);
        const link = smtp.linkIn(await smtp.nextMail(email, 10_000));
        if (!link.includes(`deviceName=${encodeURIComponent(dev.name)}`)) throw new Error(`the link names another device: ${link}`);
        const opened = await fetch(link);
        await opened.arrayBuffer();
        if (opened.status !== 200) throw new Error(`opening the link: ${opened.status}`);
        return runProc(p, 20_000);
      },
      async close() {
        await Promise.all(procs.map((p) => p.stop()));
        await smtp.close();
        await db?.drop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return stack;
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop()));
    await smtp.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
