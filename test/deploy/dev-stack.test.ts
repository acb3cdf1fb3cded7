// `npm start` (scripts/dev.ts) as a newcomer meets it: a short banner with the URLs and the status page, a login link
// and its code in a box and no request log lines around it, Ctrl-C stops it; a port already taken is said first, naming the program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from '../helpers/wait.ts';
import { freePort, programRunner } from '../helpers/process.ts';

const DEV = fileURLToPath(new URL('../../scripts/dev.ts', import.meta.url));

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'hone-dev-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('npm start: banner with URLs and status page, the login link and code boxed (the code signs in), no request logs; Ctrl-C stops both', () => withDir(async (dir) => {
  const [auth, http, ws] = [await freePort(), await freePort(), await freePort()];
  const dev = programRunner(DEV, () => dir).start(['--auth-port', String(auth), '--http-port', String(http), '--ws-port', String(ws)], {});
  try {
    assert.ok(await until(() => /Ctrl-C stops both/.test(dev.out()) || dev.child.exitCode !== null, 60_000), dev.out());
    const banner = dev.out();
    for (const want of [`auth         http://127.0.0.1:${auth}`, `relay        ws://127.0.0.1:${ws}/ws`, `status page  http://127.0.0.1:${http}/`, 'login links  printed here']) {
      assert.ok(banner.includes(want), `banner has ${want}:\n${banner}`);
    }
    const status = await fetch(`http://127.0.0.1:${http}/`, { headers: { accept: 'text/html' } });
    assert.match(await status.text(), /Hone Sync relay/);

    const login = await fetch(`http://127.0.0.1:${auth}/auth/login?email=new@example.com&deviceName=laptop`);
    assert.equal(login.status, 200);
    assert.ok(await until(() => dev.out().includes('Login link for new@example.com'), 10_000), dev.out());
    const lines = dev.out().split('\n');
    const at = lines.findIndex((l) => l.includes('Login link for new@example.com'));
    assert.match(lines[at - 1], /^┌─+┐$/, 'the link is in a box');
    assert.match(lines[at + 1], new RegExp(`^│ http://127\\.0\\.0\\.1:${auth}/auth/verify\\?token=[0-9a-f]+&deviceName=laptop +│$`));
    const code = /^│ or type the code (\d{6}) where hone-sync login waits +│$/.exec(lines[at + 2]);
    assert.ok(code, `the box gives the e-mailed code:\n${lines.slice(at - 1, at + 4).join('\n')}`);
    assert.match(lines[at + 3], /^└─+┘$/);
    const { pollToken } = await login.json() as { pollToken: string };
    const typed = await fetch(`http://127.0.0.1:${auth}/auth/login/code`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pollToken, code: code[1] }) });
    assert.equal(typed.status, 200, 'the boxed code signs the asking device in');
    assert.doesNotMatch(dev.out(), /incoming request|request completed|"reqId"/, 'request logs are off by default');

    dev.child.kill('SIGINT');
    assert.ok(await until(() => dev.child.exitCode !== null, 20_000), 'dev stops on Ctrl-C');
    assert.equal(dev.child.exitCode, 0, dev.out());
    assert.equal(await fetch(`http://127.0.0.1:${auth}/health`).then(() => 'up', () => 'down'), 'down', 'auth stopped with it');
  } finally {
    dev.child.kill('SIGKILL');
  }
}));

test('npm start with a port already taken: says which port and program, starts nothing', () => withDir(async (dir) => {
  const [http, ws] = [await freePort(), await freePort()];
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const auth = (holder.address() as { port: number }).port;
  try {
    const r = await programRunner(DEV, () => dir).run(['--auth-port', String(auth), '--http-port', String(http), '--ws-port', String(ws)]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `dev: port ${auth} (hone-auth) is already in use — is another npm start running? Stop it, or pick other ports: npm start -- --auth-port … --http-port … --ws-port …`);
    assert.equal(await fetch(`http://127.0.0.1:${http}/health`).then(() => 'up', () => 'down'), 'down', 'the relay was not started');
  } finally {
    holder.close();
  }
}));

test('npm start with an unknown flag: names the flags it takes', () => withDir(async (dir) => {
  const r = await programRunner(DEV, () => dir).run(['--port', '1']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^dev: Unknown option '--port'; flags: --auth-port, --http-port, --ws-port\n$/);
}));
