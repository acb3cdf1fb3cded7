// `npm start`: the development stack — hone-auth on embedded SQLite with login links printed here (in a box), and
// hone-relay beside it, both checking tokens with the secret kept in data/dev.secret. Ctrl-C stops everything.
// Quiet by default: warnings and errors only (HONE_LOG_LEVEL=info npm start logs every request). Ports: --auth-port,
// --http-port, --ws-port (defaults 8445, 8443, 8444); a port already taken is said before anything starts.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { newSecret } from '../src/auth/admin.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const out = (line: string) => void process.stdout.write(line + '\n');
const err = (line: string) => void process.stderr.write(line + '\n');

let flags;
try {
  flags = parseArgs({
    options: { 'auth-port': { type: 'string', default: '8445' }, 'http-port': { type: 'string', default: '8443' }, 'ws-port': { type: 'string', default: '8444' } },
  }).values;
} catch (e) {
  err(`dev: ${(e as Error).message.split('. ')[0]}; flags: --auth-port, --http-port, --ws-port`);
  process.exit(2);
}
const ports = { auth: Number(flags['auth-port']), http: Number(flags['http-port']), ws: Number(flags['ws-port']) };
const AUTH = `http://127.0.0.1:${ports.auth}`;
const RELAY_HTTP = `http://127.0.0.1:${ports.http}`;
const RELAY_WS = `ws://127.0.0.1:${ports.ws}/ws`;

// The same file hone-auth --dev keeps its secret in (beside its default sqlite.path), so both agree.
const SECRET_FILE = 'data/dev.secret';
if (!existsSync(SECRET_FILE)) {
  mkdirSync('data', { recursive: true });
  writeFileSync(SECRET_FILE, newSecret() + '\n', { mode: 0o600 });
}
const secret = readFileSync(SECRET_FILE, 'utf8').trim();

/** Resolves with an error line when `port` is taken (another npm start, say), else undefined. */
function portTaken(port: number, who: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) =>
      resolve(`dev: port ${port} (${who}) is already in use${e.code === 'EADDRINUSE' ? '' : ` (${e.code})`} — is another npm start running? Stop it, or pick other ports: npm start -- --auth-port … --http-port … --ws-port …`));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(undefined)));
  });
}

/** A box around `lines`, so a login link stands out from the logs. */
function box(lines: string[]): string {
  const width = Math.max(...lines.map((l) => l.length));
  const bar = '─'.repeat(width + 2);
  return [`┌${bar}┐`, ...lines.map((l) => `│ ${l.padEnd(width)} │`), `└${bar}┘`].join('\n');
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** One line a program printed: the console mailer's link boxed, a pino JSON line as "[name] level: message {fields}". */
function show(name: string, line: string): void {
  const link = /^\[hone-auth\] login link for (\S+): (\S+)(?: code (\d{6}))?$/.exec(line);
  if (link) {
    const code = link[3] ? [`or type the code ${link[3]} where hone-sync login waits`] : [];
    return out('\n' + box([`Login link for ${link[1]} — open it in a browser and click "Sign in":`, link[2], ...code]) + '\n');
  }
  if (line.startsWith('{')) {
    try {
      const { level, msg, time: _t, pid: _p, hostname: _h, v: _v, ...rest } = JSON.parse(line);
      const fields = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
      return out(`[${name}] ${LEVELS[level] ?? level}: ${msg}${fields}`);
    } catch {}
  }
  out(`[${name}] ${line}`);
}

const children: ChildProcess[] = [];
let stopping = false;
function stopAll(): void {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
}

/** Starts a program with its output read line by line; resolves with its exit code once its output is drained. */
function start(name: string, args: string[], env: Record<string, string>): { exited: Promise<number> } {
  const child = spawn(process.execPath, args, {
    cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HONE_LOG_LEVEL: process.env.HONE_LOG_LEVEL ?? 'warn', ...env },
  });
  children.push(child);
  for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', (l) => show(name, l));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  exited.then((code) => {
    if (!stopping) err(`dev: ${name} exited with ${code}${code === 0 ? '' : ' (its error is above)'}; stopping the stack`);
    stopAll();
    if (code !== 0 && !process.exitCode) process.exitCode = code;
  });
  return { exited };
}

/** Resolves true once `url` answers, false if the program exits first. */
async function ready(url: string, exited: Promise<number>): Promise<boolean> {
  let gone = false;
  exited.then(() => (gone = true));
  while (!gone) {
    if (await fetch(url).then(() => true, () => false)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const taken = (await Promise.all([portTaken(ports.auth, 'hone-auth'), portTaken(ports.http, 'hone-relay HTTP'), portTaken(ports.ws, 'hone-relay WebSocket')])).filter(Boolean);
if (taken.length) {
  for (const line of taken) err(line!);
  process.exit(1);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, stopAll);

const auth = start('auth', [`${ROOT}src/auth/app.ts`, '--dev'], { HONE_PORT: String(ports.auth), HONE_AUTH_PUBLICURL: AUTH });
// The relay starts once auth answers, so its first revocation pull does not log a failure.
if (await ready(`${AUTH}/health`, auth.exited)) {
  const relay = start('relay', [`${ROOT}src/relay/app.ts`, '--dev'],
    { HONE_PORT: String(ports.http), HONE_WS_PORT: String(ports.ws), HONE_AUTH_SECRET: secret, HONE_AUTH_URL: AUTH });
  if (await ready(`${RELAY_HTTP}/health`, relay.exited)) {
    out(box([
      'Hone Sync development stack (SQLite in ./data; not for production)',
      `  auth         ${AUTH}`,
      `  relay        ${RELAY_WS}`,
      `  status page  ${RELAY_HTTP}/   (health: /health, metrics: /metrics)`,
      '  login links  printed here, in a box, with the code (no e-mail is sent)',
      '  logs         warnings and errors (HONE_LOG_LEVEL=info npm start shows every request)',
      'A client: hone-sync config set syncAuthUrl ' + AUTH,
      '          hone-sync config set syncRelayUrl ' + RELAY_WS,
      'Ctrl-C stops both.',
    ]));
  }
}
