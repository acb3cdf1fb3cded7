// `hone-sync login` (the real CLI as a child process) against a real hone-auth over SQLite and real SMTP: it shows
// the matchCode for a link opened on another device, and takes the e-mailed code typed into its terminal.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestFrom, startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';
import { start } from '../cli/run.ts';

let a: TestAuth;
let dir: string;
before(async () => {
  a = await startAuth('sqlite');
  a.clock.now = Date.now(); // links expire relative to the server's clock; the CLI compares with its own
  dir = mkdtempSync(join(tmpdir(), 'hone-cli-login-'));
});
after(async () => {
  await a.close();
  rmSync(dir, { recursive: true, force: true });
});

function device(name: string): Record<string, string> {
  const home = join(dir, name);
  mkdirSync(home, { recursive: true });
  const file = join(home, 'sync.conf');
  writeFileSync(file, `syncEnabled=true\nsyncAuthUrl=${a.url}\nsyncRelayUrl=ws://127.0.0.1:9\nsyncDeviceName=${name}\n`, { mode: 0o600 });
  return { HOME: home, HONE_SYNC_CONFIG: file };
}

/** The phone: a browser at another address posting the confirm form. */
function postFromPhone(fields: Record<string, string>): Promise<{ status: number; text: string }> {
  return requestFrom('127.0.0.7', a, 'POST', '/auth/verify', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
}

test('the terminal shows the matchCode; the phone types it on the page and the terminal is signed in', async () => {
  const env = device('desk');
  const login = start(['login', 'Ann@Example.com'], env, 'pipe');
  await login.waitFor(/enter [2-9A-HJKMNP-Z]{6} there/);
  const matchCode = /enter ([2-9A-HJKMNP-Z]{6}) there/.exec(login.stderr())![1];
  assert.match(login.stderr(), /type the 6-digit code from the e-mail here/);
  const link = new URL(a.smtp.linkIn(await a.smtp.nextMail('ann@example.com')));
  const done = await postFromPhone({ token: link.searchParams.get('token')!, matchCode });
  assert.equal(done.status, 200, done.text);
  const r = await login.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Signed in as ann@example\.com on "desk"/);
  assert.match(readFileSync(env.HONE_SYNC_CONFIG, 'utf8'), /^syncDeviceToken=\d+:\d+:\d+\.[0-9a-f]{64}$/m);
});

test('the e-mailed code typed into the terminal: a wrong one says so and the wait goes on; the right one signs in', async () => {
  const env = device('laptop');
  const login = start(['login', 'bea@example.com'], env, 'pipe');
  await login.waitFor(/waiting for the link to be opened or the code to be typed/);
  const code = a.smtp.codeIn(await a.smtp.nextMail('bea@example.com'));
  login.child.stdin!.write('12345\n');
  await login.waitFor(/the e-mail is 6 digits/);
  login.child.stdin!.write(`${String((Number(code) + 1) % 1_000_000).padStart(6, '0')}\n`);
  await login.waitFor(/does not match; 4 tries left/);
  login.child.stdin!.write(`${code.slice(0, 3)} ${code.slice(3)}\n`);
  const r = await login.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Signed in as bea@example\.com on "laptop"/);
  const notice = await a.smtp.nextNotice('bea@example.com');
  assert.match(notice.text, /Device: {3}laptop/);
});
