// End-to-end encryption through the real CLI and real servers (hone-auth on SQLite, hone-relay, SMTP): `key set` on two
// devices, their mirrors converge byte-exact while the relay's SQLite files and a raw ws connection of the same user see
// no content or file name; a device without a key and one with another passphrase write nothing and say why; a flipped
// byte and a plaintext message planted by the same user's token are rejected.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eCodec } from '../../src/client/e2e/codec.ts';
import { deriveKey } from '../../src/client/e2e/kdf.ts';
import { keySet, startStack } from '../helpers/e2e.ts';
import type { Device, Proc, Stack } from '../helpers/e2e.ts';
import { fileIs, tree } from './folders.ts';
import { deviceToken, scriptedPeer } from './scripted-peer.ts';
import type { ScriptedPeer } from './scripted-peer.ts';

const EMAIL = 'eve-proof@example.com';
const PASS = 'correct horse battery staple';
const OTHER = 'a different passphrase';

// What must never reach the relay: file names and contents, as they are and in base64 at every alignment.
const SECRET_NAME = 'merger-plans-zq7.txt';
const SECRET_DIR = 'confidential-dir-x9';
const SECRET_TEXT = 'the acquisition closes on friday; codename BLUEHERON-4471\n';
const BIG = Buffer.alloc(400_000);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 31 + (i >> 9)) & 0xff;
const BIG_MARK = BIG.subarray(50_000, 50_048);

function needles(s: string | Buffer): string[] {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
  const out = Buffer.isBuffer(s) ? [] : [s];
  for (let shift = 0; shift < 3; shift++) {
    for (const enc of ['base64', 'base64url'] as const) {
      // the part of the base64 that does not depend on the bytes around it
      const t = Buffer.concat([Buffer.alloc(shift), b]).toString(enc);
      out.push(t.slice(shift === 0 ? 0 : 4, -4));
    }
  }
  return out;
}
const ALL_NEEDLES = [...needles(SECRET_NAME), ...needles(SECRET_DIR), ...needles(SECRET_TEXT), ...needles(BIG_MARK), BIG_MARK.toString('latin1')];

function leaks(haystack: string): string[] {
  return ALL_NEEDLES.filter((n) => n.length >= 8 && haystack.includes(n));
}

describe('end-to-end encrypted mirror (real CLI, auth, relay)', { timeout: 120_000 }, () => {
  let stack: Stack;
  let desk: Device;
  let laptop: Device;
  let other: Device;
  let room = '';
  let A = '';
  let B = '';
  let C = '';
  const procs: Proc[] = [];
  let spy: ScriptedPeer | null = null;
  /** Every frame the spy received, as JSON text (what the relay sent, re-serialized the same way). */
  const spyText = () => (spy?.frames ?? []).map((f) => JSON.stringify(f));

  before(async () => {
    stack = await startStack('sqlite');
    A = join(stack.dir, 'A');
    B = join(stack.dir, 'B');
    C = join(stack.dir, 'C');
  });
  after(async () => {
    if (process.env.HONE_E2E_DEBUG) for (const m of procs) console.log(`---- ${m.child.pid}\n${m.out()}`);
    spy?.close();
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    if (stack) await stack.close();
  });

  test('three devices sign in; key set asks for a passphrase (stdin or HONE_SYNC_PASSPHRASE), refuses short ones, stores the key 0600', { timeout: 40_000 }, async () => {
    desk = await stack.device('desktop');
    laptop = await stack.device('laptop');
    other = await stack.device('laptop-b');
    for (const d of [desk, laptop, other]) assert.equal((await stack.login(d, EMAIL)).code, 0);
    assert.equal((await stack.setTier(EMAIL, 'pro')).code, 0);
    const added = await desk.run(['projects', 'add', 'notes', '--json']);
    assert.equal(added.code, 0, added.stderr);
    room = JSON.parse(added.stdout).project.roomId;

    const short = await keySet(desk, 'notes', { env: 'short' });
    assert.equal(short.code, 2, short.stderr);
    assert.match(short.stderr, /at least 8 characters/);
    const empty = await keySet(desk, 'notes', { stdin: '' });
    assert.equal(empty.code, 2, empty.stderr);
    const unknown = await keySet(desk, 'nope', { env: PASS });
    assert.equal(unknown.code, 6, unknown.stderr);
    assert.match(unknown.stderr, /no project "nope"/);

    const a = await keySet(desk, 'notes', { stdin: `${PASS}\nignored second line\n` });
    assert.equal(a.code, 0, a.stderr);
    const b = await keySet(laptop, 'notes', { env: PASS });
    assert.equal(b.code, 0, b.stderr);
    const ja = JSON.parse(a.stdout);
    assert.equal(ja.keyId, JSON.parse(b.stdout).keyId, 'the same passphrase gives the same key id on both devices');
    assert.deepEqual(ja.kdf, { name: 'scrypt', log2N: 15, r: 8, p: 1 });
    assert.equal(ja.room, room);
    assert.doesNotMatch(a.stdout + a.stderr, new RegExp(PASS), 'the passphrase is never printed');

    const keyFile = join(desk.home, 'sync.keys');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const stored = readFileSync(keyFile, 'utf8');
    assert.doesNotMatch(stored, /correct horse/, 'only the derived key is stored');
    assert.equal(JSON.parse(stored).keys[0].room, room);

    const st = await desk.run(['key', 'status', 'notes']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`Project notes: encrypted \\(key id ${ja.keyId}, scrypt N=2\\^15 r=8 p=1`));
    const status = await desk.run(['status', '--json']);
    assert.deepEqual(JSON.parse(status.stdout).projects.map((p: any) => [p.projectKey, p.encrypted, p.keyId]), [['notes', true, ja.keyId]]);
    const otherStatus = await other.run(['status']);
    assert.match(otherStatus.stdout, /project\s+notes: not encrypted — hone-sync key set notes/);
  });

  test('a raw ws connection of the same user listens in the room', async () => {
    spy = await scriptedPeer(stack.relayWs, room, 'spy', deviceToken(desk));
  });

  test('two devices with the same passphrase mirror a folder byte-exact, both ways', { timeout: 40_000 }, async () => {
    mkdirSync(join(A, SECRET_DIR), { recursive: true });
    writeFileSync(join(A, SECRET_DIR, SECRET_NAME), SECRET_TEXT);
    writeFileSync(join(A, 'big.bin'), BIG);
    const ma = desk.start(['mirror', A, '--project', 'notes']);
    procs.push(ma);
    await ma.waitFor(/mirroring .*end-to-end encrypted\) as "desktop"/, 15_000);
    const mb = laptop.start(['mirror', B, '--project', 'notes', '--create']);
    procs.push(mb);
    await mb.waitFor(/mirroring .*end-to-end encrypted\) as "laptop"/, 15_000);
    await fileIs(join(B, SECRET_DIR, SECRET_NAME), Buffer.from(SECRET_TEXT));
    await fileIs(join(B, 'big.bin'), BIG);
    writeFileSync(join(B, 'from-laptop.txt'), `${SECRET_TEXT}from the laptop\n`);
    await fileIs(join(A, 'from-laptop.txt'), Buffer.from(`${SECRET_TEXT}from the laptop\n`));
    assert.deepEqual(tree(B), tree(A));
    assert.doesNotMatch(ma.out() + mb.out(), /warning/);
  });

  test('send and watch use the key: the text arrives readable on the other device, sealed on the way', { timeout: 30_000 }, async () => {
    const w = laptop.start(['watch', 'notes', '--count', '1', '--json']);
    procs.push(w);
    await w.waitFor(/"event":"joined"/, 15_000);
    const sent = await desk.run(['send', 'notes', `${SECRET_TEXT.trim()} (sent)`, '--to', 'laptop', '--json']);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(JSON.parse(sent.stdout).encrypted, true);
    const done = await w.exited;
    assert.equal(done.code, 0, w.out());
    const msg = w.stdout().trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'message');
    assert.deepEqual([msg.from, msg.encrypted, msg.payload], ['desktop/send', true, `${SECRET_TEXT.trim()} (sent)`]);
  });

  test('a device without a key says the room is encrypted and writes nothing; with another passphrase it says so', { timeout: 40_000 }, async () => {
    const mc = other.start(['mirror', C, '--project', 'notes', '--create']);
    procs.push(mc);
    // the encrypted devices refuse what it sends in clear (its manifest), so they do not answer it
    await procs[0].waitFor(/laptop-b sends unencrypted messages in project notes \(it has no key: run hone-sync key set notes there\); nothing from it was applied/, 15_000);
    // the next change on the desktop reaches it sealed
    writeFileSync(join(A, 'while-b-has-no-key.txt'), SECRET_TEXT);
    await mc.waitFor(/desktop encrypts project notes and this device has no key for it; nothing from it was applied\. Set the same passphrase here: hone-sync key set notes/, 15_000);
    await fileIs(join(B, 'while-b-has-no-key.txt'), Buffer.from(SECRET_TEXT));
    await mc.stop();
    assert.deepEqual(tree(C), {}, 'nothing written without the key');

    const k = await keySet(other, 'notes', { env: OTHER });
    assert.equal(k.code, 0, k.stderr);
    const [m0, m1] = [procs[0].mark(), procs[1].mark()];
    const mc2 = other.start(['mirror', C, '--project', 'notes']);
    procs.push(mc2);
    await mc2.waitFor(/end-to-end encrypted\) as "laptop-b"/, 15_000);
    await procs[0].waitFor(/laptop-b uses another passphrase for project notes; nothing from it was applied/, 15_000, m0);
    await procs[1].waitFor(/laptop-b uses another passphrase for project notes; nothing from it was applied/, 15_000, m1);
    // edits go from desktop to laptop; laptop-b writes nothing and reports the desktop once
    writeFileSync(join(A, 'later.txt'), 'later edit\n');
    await fileIs(join(B, 'later.txt'), Buffer.from('later edit\n'));
    await mc2.waitFor(/desktop uses another passphrase for project notes; nothing from it was applied/, 15_000);
    writeFileSync(join(A, 'later-2.txt'), 'later edit 2\n');
    await fileIs(join(B, 'later-2.txt'), Buffer.from('later edit 2\n'));
    assert.deepEqual(tree(C), {});
    assert.equal(mc2.out().match(/desktop uses another passphrase/g)?.length, 1, 'reported once per device');
  });

  test('the relay\'s SQLite files (with WAL) and the raw connection hold no content or file name; every envelope is encrypted', () => {
    const envelopes = spy!.frames.filter((f) => f.type === undefined);
    assert.ok(envelopes.length >= 6, `only ${envelopes.length} envelopes seen`);
    for (const e of envelopes) {
      if (e.from === 'laptop-b/mirror' && !e.encrypted) {
        // laptop-b without a key sent in clear: only what its empty folder has (an empty manifest)
        assert.deepEqual(e.payload.entries ?? e.payload.paths, [], JSON.stringify(e).slice(0, 300));
        continue;
      }
      assert.equal(e.encrypted, true, JSON.stringify(e).slice(0, 200));
      assert.match(e.payload, /^hse\.[A-Za-z0-9_-]+$/);
    }
    assert.ok(envelopes.some((e) => e.from === 'desktop/mirror') && envelopes.some((e) => e.from === 'laptop/mirror'));
    assert.deepEqual(leaks(spyText().join('\n')), []);
    const relayDir = join(stack.dir, 'relay');
    const files = readdirSync(relayDir).filter((f) => f.startsWith('relay.db'));
    assert.ok(files.includes('relay.db-wal'), `relay files: ${files}`);
    let all = '';
    for (const f of files) all += readFileSync(join(relayDir, f)).toString('latin1');
    assert.ok(all.includes('hse.'), 'the relay stored the sealed payloads');
    assert.deepEqual(leaks(all), []);
  });

  test('a flipped byte is rejected; the same message unflipped is applied; plaintext planted with the user\'s token is not', { timeout: 30_000 }, async () => {
    const key = await deriveKey(PASS, room);
    const codec = e2eCodec(key);
    const fileMsg = (path: string, text: string) => {
      const data = Buffer.from(text);
      return { hs: 'hone-sync-mirror', k: 'file', dev: 'intruder', path, vv: { intruder: 1 }, t: Date.now(), d: 'intruder', hash: createHash('sha256').update(data).digest('hex'), size: data.length, x: `x${path.length}`, n: 1, data: data.toString('base64') };
    };
    const env = (payload: unknown, encrypted: boolean, msgId: string) => JSON.stringify({ from: 'spy', to: 'broadcast', room, ts: Date.now(), encrypted, msgId, payload });
    const sealed = codec.seal(fileMsg('planted.txt', 'flipped\n'), room, 'spy');
    const raw = Buffer.from(sealed.slice(4), 'base64url');
    raw[raw.length - 20] ^= 0x01; // one byte of ciphertext
    const m0 = procs[0].mark();
    spy!.raw(env('hse.' + raw.toString('base64url'), true, 'flip-1'));
    spy!.raw(env(fileMsg('planted-clear.txt', 'in clear\n'), false, 'clear-1'));
    spy!.raw(env(codec.seal(fileMsg('planted-ok.txt', 'sealed with the passphrase\n'), room, 'spy'), true, 'ok-1'));
    await fileIs(join(A, 'planted-ok.txt'), Buffer.from('sealed with the passphrase\n'));
    await procs[0].waitFor(/a message from spy in project notes failed its integrity check \(altered on the way or forged\); it was rejected/, 10_000, m0);
    await procs[0].waitFor(/spy sends unencrypted messages in project notes/, 10_000, m0);
    assert.equal(existsSync(join(A, 'planted.txt')), false);
    assert.equal(existsSync(join(A, 'planted-clear.txt')), false);
    assert.equal(existsSync(join(B, 'planted.txt')), false);
  });

  test('key rm forgets the key; key status then says the project is not encrypted', async () => {
    const rm = await other.run(['key', 'rm', 'notes']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /Removed the key of project notes/);
    const again = await other.run(['key', 'rm', 'notes']);
    assert.equal(again.code, 6);
    assert.match(again.stderr, /no key for project notes on this device/);
    const st = await other.run(['key', 'status', 'notes', '--json']);
    assert.deepEqual(JSON.parse(st.stdout), { project: 'notes', encrypted: false });
    const bad = await other.run(['key', 'frobnicate', 'notes']);
    assert.equal(bad.code, 2);
  });

  test('a damaged key file stops send and mirror before anything is sent (never a fallback to clear text)', { timeout: 30_000 }, async () => {
    const keyFile = join(desk.home, 'sync.keys');
    const good = readFileSync(keyFile);
    const m0 = procs[1].mark();
    for (const damage of ['{"version":1,"keys":[{"room":"', '{"version":1,"keys":[{"room":"r","project":"p","kdf":{"log2N":15,"r":8,"p":1},"keyId":"00","key":"AAAA"}]}', '[]']) {
      writeFileSync(keyFile, damage, { mode: 0o600 });
      const r = await desk.run(['send', 'notes', 'must not leave in clear']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /sync\.keys: .*nothing is sent until it is fixed or removed/);
      const m = await desk.run(['mirror', join(stack.dir, 'D'), '--project', 'notes', '--create']);
      assert.equal(m.code, 2, m.stderr);
      assert.match(m.stderr, /sync\.keys: .*nothing is sent until it is fixed or removed/);
    }
    writeFileSync(keyFile, good);
    chmodSync(keyFile, 0o644);
    const st = await desk.run(['key', 'status']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stderr, /sync\.keys: readable by other users \(mode 644\) and holds your project keys; run chmod 600/);
    assert.doesNotMatch(procs[1].out().slice(m0), /must not leave/);
    assert.ok(!spyText().some((f) => f.includes('must not leave')));
  });
});
