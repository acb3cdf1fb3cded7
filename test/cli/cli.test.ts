// hone-sync as a person uses it: the real CLI as child processes against a real hone-auth (SQLite, real SMTP)
// and a real hone-relay — sync-off refusal, config set, login through the e-mailed link on two devices,
// projects add and the tier limit, send/watch with catch-up, devices rm → signed out, status, logout, unreachable.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminSetTier } from '../../src/auth/admin.ts';
import { startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';
import { startRelay } from '../helpers/relay.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { run, start } from './run.ts';

describe('hone-sync CLI against real auth + relay', () => {
  let auth: TestAuth;
  let relay: TestRelay;
  let dir: string;
  let tripwire: Server;
  let tripwireHits = 0;
  let tripwirePort = 0;
  const envOf = (name: string) => ({ HOME: join(dir, name), HONE_SYNC_CONFIG: join(dir, name, 'sync.conf') });
  const desk = () => envOf('desk');
  const phone = () => envOf('phone');
  const hs = (env: Record<string, string>, ...args: string[]) => run(args, env);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hone-sync-cli-'));
    auth = await startAuth('sqlite');
    auth.clock.now = Date.now(); // links expire relative to the server's clock; waitForLink compares with ours
    relay = await startRelay({ 'auth.url': auth.url });
    // A port that counts connections: "sync is off" must never reach it.
    tripwire = createServer((s) => { tripwireHits++; s.destroy(); });
    await new Promise<void>((r) => tripwire.listen(0, '127.0.0.1', r));
    tripwirePort = (tripwire.address() as { port: number }).port;
  });
  after(async () => {
    tripwire.close();
    await relay.close();
    await auth.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('sync is off by default: server commands refuse with exit 3, say how to enable, and contact nothing', async () => {
    const env = envOf('off');
    mkdirSync(env.HOME, { recursive: true });
    let r = await hs(env, 'config', 'set', 'syncAuthUrl', `http://127.0.0.1:${tripwirePort}`);
    assert.equal(r.code, 0, r.stderr);
    r = await hs(env, 'config', 'set', 'syncRelayUrl', `ws://127.0.0.1:${tripwirePort}`);
    assert.equal(r.code, 0, r.stderr);
    for (const args of [['login', 'x@example.com'], ['projects'], ['devices'], ['watch', 'p'], ['send', 'p', 'hi'], ['projects', 'add', 'k'], ['mirror', join(dir, 'off', 'folder'), '--project', 'p']]) {
      const res = await hs(env, ...args);
      assert.equal(res.code, 3, `${args.join(' ')}: ${res.stderr}`);
      assert.equal(res.stderr.trim(), 'hone-sync: sync is off on this device; turn it on with: hone-sync config set syncEnabled true');
    }
    const st = await hs(env, 'status');
    assert.equal(st.code, 0);
    assert.match(st.stdout, /sync\s+off — turn it on with: hone-sync config set syncEnabled true/);
    const js = await hs(env, 'projects', '--json');
    assert.deepEqual(JSON.parse(js.stdout), { ok: false, error: { code: 'SYNC_OFF', message: js.stderr.trim().replace('hone-sync: ', ''), exitCode: 3 } });
    assert.equal(tripwireHits, 0, 'no connection was made');
  });

  test('config set / get: validated, written 0600; login on desk and phone through the e-mailed links', async () => {
    for (const [env, name] of [[desk(), 'desk'], [phone(), 'phone']] as const) {
      for (const [k, v] of [['syncEnabled', 'true'], ['syncAuthUrl', auth.url], ['syncRelayUrl', relay.wsUrl], ['syncDeviceName', name]]) {
        const r = await hs(env, 'config', 'set', k, v);
        assert.equal(r.code, 0, r.stderr);
      }
      assert.equal(statSync(env.HONE_SYNC_CONFIG).mode & 0o777, 0o600);
    }
    const bad = await hs(desk(), 'config', 'set', 'syncRelayUrl', 'http://nope');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /syncRelayUrl: expected a wss or ws URL/);
    const get = await hs(desk(), 'config', 'get', 'syncDeviceName');
    assert.equal(get.stdout, 'desk\n');

    for (const [env, name] of [[desk(), 'desk'], [phone(), 'phone']] as const) {
      const login = start(['login', 'ann@example.com'], env);
      await login.waitFor(/waiting for the link to be opened/);
      assert.match(login.stderr(), /sent to ann@example\.com/);
      const link = auth.smtp.linkIn(await auth.smtp.nextMail('ann@example.com'));
      assert.match(link, new RegExp(`deviceName=${name}`));
      const opened = await fetch(link); // "opened on another device"
      assert.equal(opened.status, 200);
      const r = await login.done;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Signed in as ann@example.com on "${name}"`));
      assert.match(readFileSync(env.HONE_SYNC_CONFIG, 'utf8'), /^syncDeviceToken=\d+:\d+:\d+\.[0-9a-f]{64}$/m);
    }
    const all = JSON.parse((await hs(desk(), 'config', 'get', '--json')).stdout);
    assert.match(all.settings.syncDeviceToken, /^\d+:\d+:\d+\.…$/, 'the token is masked in listings');
  });

  test('projects add: the free tier says which tier allows more; then a folder becomes a project', async () => {
    const refused = await hs(desk(), 'projects', 'add', 'notes');
    assert.equal(refused.code, 6, refused.stderr);
    assert.match(refused.stderr, /^hone-sync: The free tier allows 0 synced projects; the personal tier allows more\. The server's operator raises it with `hone-auth admin set-tier ann@example\.com pro`\. See your tier with hone-sync status\.\n$/);
    await adminSetTier(auth.adb, ['ann@example.com', 'pro'], undefined, auth.clock.now);
    const folder = join(dir, 'work', 'notes');
    mkdirSync(folder, { recursive: true });
    const added = await hs(desk(), 'projects', 'add', folder, '--json');
    assert.equal(added.code, 0, added.stderr);
    const p = JSON.parse(added.stdout).project;
    assert.equal(p.projectKey, 'notes');
    const list = JSON.parse((await hs(phone(), 'projects', '--json')).stdout).projects;
    assert.deepEqual(list.map((x: any) => x.projectKey), ['notes']);
    const st = await hs(desk(), 'status', '--json');
    assert.equal(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout);
    assert.equal(s.subscription.tier, 'pro');
    assert.equal(s.relay.reachable, true);
    assert.equal(s.device.deviceName, 'desk');
  });

  test('send / watch: the phone watches, the desk sends; later the phone catches up on what it missed', async () => {
    const watch = start(['watch', 'notes', '--count', '2', '--json', '--timeout', '15'], phone());
    await watch.waitFor(/"event":"joined"/);
    let r = await hs(desk(), 'send', 'notes', 'hello phone');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Sent to broadcast in "notes" \(seq \d+\)\.\n$/);
    r = await hs(desk(), 'send', 'notes', 'just you', '--to', 'phone', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).to, 'phone');
    const w = await watch.done;
    assert.equal(w.code, 0, w.stderr);
    const msgs = w.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event === 'message');
    assert.deepEqual(msgs.map((m) => [m.from, m.to, m.payload]), [['desk/send', 'broadcast', 'hello phone'], ['desk/send', 'phone', 'just you']]);

    // The phone is not watching; the desk sends; the next watch resumes after the last message it printed.
    for (const text of ['while you were away', 'and this too']) {
      r = await hs(desk(), 'send', 'notes', text);
      assert.equal(r.code, 0, r.stderr);
    }
    // --count 1 takes one message; the next watch continues with the one after it (both arrive in one deltas frame).
    let again = await run(['watch', 'notes', '--count', '1', '--timeout', '10'], phone());
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^\[\d+\] desk\/send → broadcast \(caught up\): while you were away\n$/);
    again = await run(['watch', 'notes', '--count', '1', '--timeout', '10'], phone());
    assert.match(again.stdout, /^\[\d+\] desk\/send → broadcast \(caught up\): and this too\n$/);
  });

  test('devices rm: the phone is signed out and told to log in again; logout on the desk', async () => {
    const list = JSON.parse((await hs(desk(), 'devices', '--json')).stdout).devices;
    assert.deepEqual(list.map((d: any) => [d.deviceName, d.current]).sort(), [['desk', true], ['phone', false]]);
    const phoneId = list.find((d: any) => d.deviceName === 'phone').id;
    const watching = start(['watch', 'notes', '--timeout', '15'], phone());
    await watching.waitFor(/watching "notes"/);
    const rm = await hs(desk(), 'devices', 'rm', String(phoneId));
    assert.equal(rm.code, 0, rm.stderr);
    // The relay learns of the removal within seconds and closes the phone's connection: watch ends, exit 4.
    const w = await watching.done;
    assert.equal(w.code, 4, w.stderr);
    assert.match(w.stderr, /hone-sync: signed out on this device, run hone-sync login <email> \(the relay says: /);
    const denied = await hs(phone(), 'projects');
    assert.equal(denied.code, 4);
    assert.match(denied.stderr, /^hone-sync: signed out on this device, run hone-sync login <email> \(/);
    const st = await hs(phone(), 'status');
    assert.equal(st.code, 4);

    const out = await hs(desk(), 'logout');
    assert.equal(out.code, 0, out.stderr);
    assert.doesNotMatch(readFileSync(desk().HONE_SYNC_CONFIG, 'utf8'), /syncDeviceToken/);
    const after = await hs(desk(), 'devices');
    assert.equal(after.code, 4);
    assert.match(after.stderr, /not signed in on this device; run hone-sync login <email>/);
  });

  test('Ctrl-C while waiting for the link: exit 130, nothing stored', async () => {
    const env = envOf('cancel');
    for (const [k, v] of [['syncEnabled', 'true'], ['syncAuthUrl', auth.url]]) assert.equal((await hs(env, 'config', 'set', k, v)).code, 0);
    const login = start(['login', 'bea@example.com'], env);
    await login.waitFor(/waiting for the link/);
    login.child.kill('SIGINT');
    const r = await login.done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /hone-sync: cancelled\n$/);
    assert.doesNotMatch(readFileSync(env.HONE_SYNC_CONFIG, 'utf8'), /syncDeviceToken/);
  });

  test('unreachable servers: one line naming the address and what to check, exit 5', async () => {
    // A port held for the whole test (so no other test's server can take it) that drops every connection.
    const closed = createServer((s) => s.destroy());
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    try {

    const env = envOf('lost');
    const { deviceToken } = await auth.signIn('ann@example.com', 'lost');
    for (const [k, v] of [['syncEnabled', 'true'], ['syncAuthUrl', `http://127.0.0.1:${port}`], ['syncRelayUrl', `ws://127.0.0.1:${port}`], ['syncDeviceToken', deviceToken]]) {
      assert.equal((await hs(env, 'config', 'set', k, v)).code, 0);
    }
    let r = await hs(env, 'projects');
    assert.equal(r.code, 5);
    assert.match(r.stderr, new RegExp(`^hone-sync: cannot reach the auth service at http://127\\.0\\.0\\.1:${port} \\(.+\\); check the network, or the address with hone-sync config get syncAuthUrl\\n$`));
    // Auth answers, the relay does not.
    await hs(env, 'config', 'set', 'syncAuthUrl', auth.url);
    r = await hs(env, 'send', 'notes', 'anyone?', '--timeout', '1');
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, new RegExp(`^hone-sync: cannot reach the relay at ws://127\\.0\\.0\\.1:${port} \\(.*\\); check the network, or the address with hone-sync config get syncRelayUrl\\n$`));
    } finally {
      closed.close();
    }
  });
});
