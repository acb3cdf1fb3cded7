// `npm start`: the development stack — hone-auth on embedded SQLite with login links printed to the console, and
// hone-relay beside it, both checking tokens with the secret kept in data/dev.secret. Ctrl-C stops everything.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { newSecret } from '../src/auth/admin.ts';

// The same file hone-auth --dev keeps its secret in (beside its default sqlite.path), so both agree.
const SECRET_FILE = 'data/dev.secret';
if (!existsSync(SECRET_FILE)) {
  mkdirSync('data', { recursive: true });
  writeFileSync(SECRET_FILE, newSecret() + '\n', { mode: 0o600 });
}
const secret = readFileSync(SECRET_FILE, 'utf8').trim();

const programs = [
  { name: 'auth', args: ['src/auth/app.ts', '--dev'], env: {} },
  { name: 'relay', args: ['src/relay/app.ts', '--dev'], env: { HONE_AUTH_SECRET: secret, HONE_AUTH_URL: 'http://127.0.0.1:8445' } },
];
const children: ReturnType<typeof spawn>[] = [];
function start({ name, args, env }: (typeof programs)[number]): void {
  const child = spawn(process.execPath, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  child.on('exit', (code) => {
    process.stderr.write(`dev: ${name} exited with ${code}\n`);
    for (const c of children) if (c !== child) c.kill('SIGTERM');
    process.exitCode = code ?? 1;
  });
  children.push(child);
}

/** The relay starts once auth answers, so its first revocation pull does not log a failure. */
async function authReady(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await fetch('http://127.0.0.1:8445/health').then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

start(programs[0]);
await authReady();
if (process.exitCode === undefined) start(programs[1]);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => children.forEach((c) => c.kill('SIGTERM')));
