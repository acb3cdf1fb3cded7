// A hostile device in the mirror's room (issue 15): a scripted peer with a real token of the same user (what a stolen
// laptop holds) sends each attack to a running `hone-sync mirror`; the folder, the disk outside it, .git, memory and output are checked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Device, Proc, Stack } from '../helpers/e2e.ts';
import { projectStack } from './project-stack.ts';
import { deviceToken, scriptedPeer } from './scripted-peer.ts';
import type { ScriptedPeer } from './scripted-peer.ts';

const TAG = 'hone-sync-mirror';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Every entry under `root` (folders and files, symlinks not followed), case-folded, with a content hash for files. */
function foldedTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r));
      const key = r.normalize('NFC').toLowerCase();
      if (st.isSymbolicLink()) out[key] = 'symlink';
      else if (st.isDirectory()) {
        out[key] = 'dir';
        visit(r);
      } else out[key] = sha(readFileSync(join(root, r))).slice(0, 12);
    }
  };
  visit('');
  return out;
}

/** Peak and current resident memory of a process, in MB (Linux /proc). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

describe('hone-sync mirror against a hostile device in its room', { timeout: 150_000 }, () => {
  let stack: Stack;
  let desk: Device;
  let laptop: Device;
  let A: string;
  let outside: string;
  let mirror: Proc;
  let evil: ScriptedPeer;
  let room: string;
  let gitBefore: Record<string, string>;
  let outsideBefore: Record<string, string>;
  let n = 0;
  const big = Buffer.alloc(2 * 1024 * 1024, 7);

  /** A complete one-chunk file version as the mirror sends it. */
  const fileVersion = (path: string, content: string | Buffer, extra: Record<string, unknown> = {}) => {
    const data = Buffer.from(content);
    n++;
    return { hs: TAG, k: 'file', dev: 'laptop', path, vv: { laptop: n }, t: Date.now() + n, d: 'laptop', hash: sha(data), size: data.length, x: `x${n}`, n: 1, data: data.toString('base64'), ...extra };
  };
  const sendPayload = (payload: unknown, to = 'broadcast') => evil.sendPaced({ to, payload });
  /** Sends a harmless file and waits until the mirror wrote it: everything sent before it was handled by then. */
  const sentinel = async () => {
    const name = `sentinel-${++n}.txt`;
    const m = mirror.mark();
    await sendPayload(fileVersion(name, name));
    await mirror.waitFor(new RegExp(`created ${name.replace('.', '\\.')}`), 15_000, m);
  };

  before(async () => {
    ({ stack, devices: [desk, laptop], roomId: room } = await projectStack(['desktop', 'laptop']));

    A = join(stack.dir, 'desk-notes');
    outside = join(stack.dir, 'outside');
    mkdirSync(join(A, '.git', 'hooks'), { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(A, '.git', 'config'), '[core]\n\trepositoryformatversion = 0\n');
    writeFileSync(join(A, 'big.bin'), big);
    for (let i = 0; i < 8; i++) writeFileSync(join(A, `big-${i}.bin`), Buffer.alloc(2 * 1024 * 1024, i));
    writeFileSync(join(A, 'README.md'), '# notes\n');
    writeFileSync(join(outside, 'secret.txt'), 'not for peers\n');
    symlinkSync(outside, join(A, 'link')); // the user's own directory symlink inside the folder
    gitBefore = foldedTree(join(A, '.git'));
    outsideBefore = foldedTree(outside);

    mirror = desk.start(['mirror', A, '--project', 'notes']);
    await mirror.waitFor(/mirroring .* as "/, 20_000);
    evil = await scriptedPeer(stack.relayWs, room, 'laptop-evil', deviceToken(laptop));
  });
  after(async () => {
    evil?.close();
    if (process.env.HONE_E2E_DEBUG && mirror) console.log(mirror.out());
    await mirror?.stop('SIGKILL');
    await stack?.close();
  });

  test('paths that are .git, node_modules or .hone-sync on some file system, or leave the folder, are refused and reported', async () => {
    const hostile = [
      '.GIT/config', '.Git/hooks/post-checkout', '.git./config', '.git /config', 'GIT~1/config', 'NODE_MODULES/x.js', '.HONE-SYNC/index.json',
      'sub/.GiT/config', '.g\u200cit/config', '.git\ufeff/config', 'CON', 'nul.txt', 'sub/COM1.log', 'a:b', 'trailing.', 'x\u001b[2Jy.txt',
      'link/pwned.txt', 'link/../../escape.txt', '../escape.txt', '/etc/passwd-copy', 'a\\b',
    ];
    const m = mirror.mark();
    for (const path of hostile) await sendPayload(fileVersion(path, '[core]\n\tfsmonitor = "touch /tmp/pwned"\n'));
    await sentinel();
    const out = mirror.out().slice(m);
    assert.deepEqual(foldedTree(join(A, '.git')), gitBefore, '.git untouched (compared case-folded)');
    assert.deepEqual(foldedTree(outside), outsideBefore, 'nothing outside the folder written');
    const top = readdirSync(A).map((x) => x.normalize('NFC').toLowerCase()).sort();
    assert.deepEqual(top.filter((x) => !x.startsWith('sentinel-') && !x.startsWith('big-')), ['.git', '.hone-sync', 'big.bin', 'link', 'readme.md']);
    assert.equal(existsSync(join(stack.dir, 'escape.txt')), false);
    // each refusal is reported, with what a peer named escaped (no raw ESC reaches the terminal)
    const refusals = out.split('\n').filter((l) => /refused/.test(l));
    assert.ok(refusals.length >= hostile.length - 3, `refusals reported:\n${refusals.join('\n')}`);
    assert.doesNotMatch(out, /\u001b/);
    assert.match(out, /x\\u001b\[2Jy\.txt/);
    assert.equal(mirror.child.exitCode, null, 'the mirror keeps running');
  });

  test('a want or a delete through a directory symlink is refused: nothing outside the folder is read or removed', async () => {
    const since = evil.frames.length;
    const m = mirror.mark();
    await sendPayload({ hs: TAG, k: 'want', dev: 'laptop', paths: ['link/secret.txt', 'LINK/secret.txt'] }, 'desktop/mirror');
    await sendPayload({ hs: TAG, k: 'file', dev: 'laptop', path: 'link/secret.txt', vv: { laptop: 1000 }, t: Date.now(), d: 'laptop', hash: null });
    await sendPayload({ hs: TAG, k: 'want', dev: 'laptop', paths: ['README.md'] }, 'desktop/mirror');
    await evil.waitFor((f) => f.payload?.k === 'file' && f.payload.path === 'README.md', 15_000, since);
    await sentinel();
    const leaked = evil.frames.slice(since).filter((f) => typeof f.payload?.path === 'string' && f.payload.path.toLowerCase().startsWith('link/'));
    assert.deepEqual(leaked, []);
    assert.deepEqual(foldedTree(outside), outsideBefore);
    assert.match(mirror.out().slice(m), /refused .*link\/secret\.txt.*symlink/);
  });

  test('wants naming 2 MB files 60 times each (9 files, each request sent 3 times) are served once each: memory stays bounded', async (t) => {
    const pid = mirror.child.pid!;
    const before = memoryOf(pid);
    const since = evil.frames.length;
    const m = mirror.mark();
    const names = ['big.bin', ...Array.from({ length: 8 }, (_, i) => `big-${i}.bin`)];
    // the attack: one small `want` naming one 2 MB file 60 times; then the same for 8 more files, every request thrice
    for (let r = 0; r < 3; r++) await sendPayload({ hs: TAG, k: 'want', dev: 'laptop', paths: new Array(60).fill('big.bin') }, 'desktop/mirror');
    for (let r = 0; r < 3; r++) await sendPayload({ hs: TAG, k: 'want', dev: 'laptop', paths: names.flatMap((x) => new Array(60).fill(x)).slice(0, 2000) }, 'desktop/mirror');
    const complete = new Set<string>();
    for (;;) {
      const f = await evil.waitFor((x) => x.payload?.k === 'file' && names.includes(x.payload.path) && !complete.has(x.payload.path), 60_000, since);
      const { x, n: parts } = f.payload;
      await evil.waitFor((c) => c.payload?.k === 'chunk' && c.payload.x === x && c.payload.i === parts - 1, 60_000, since);
      complete.add(f.payload.path);
      if (complete.size === names.length) break;
    }
    await sentinel();
    const afterFlood = memoryOf(pid);
    t.diagnostic(`mirror RSS under the want flood: ${before.rss} MB before, peak ${afterFlood.peak} MB (peak before ${before.peak} MB), ${afterFlood.rss} MB after`);
    for (const name of names) {
      const copies = evil.frames.slice(since).filter((f) => f.payload?.k === 'file' && f.payload.path === name).length;
      assert.ok(copies <= 2, `${name} sent ${copies} times`);
    }
    assert.ok(afterFlood.peak - before.peak < 80, `peak grew by ${afterFlood.peak - before.peak} MB`);
    assert.match(mirror.out().slice(m), /already on their way/);
  });

  test('transfers: a size that does not match the chunk count, too many unfinished transfers, chunks of the wrong size are refused', async () => {
    const m = mirror.mark();
    const data = Buffer.from('abc');
    await sendPayload({ ...fileVersion('huge-n.txt', data), n: 4294967295 });
    await sendPayload({ ...fileVersion('lies.txt', data), size: 999 });
    const declared = 8 * 1024 * 1024;
    const chunksOf = Math.ceil(declared / (192 * 1024));
    for (let i = 0; i < 20; i++) await sendPayload({ ...fileVersion(`unfinished-${i}.bin`, data), hash: sha(`u${i}`), size: declared, n: chunksOf, data: Buffer.alloc(192 * 1024).toString('base64') });
    await sendPayload({ ...fileVersion('bad-chunk.bin', data), hash: sha('q'), size: 400 * 1024, n: 3, data: Buffer.alloc(192 * 1024).toString('base64'), x: 'badchunk' });
    await sendPayload({ hs: TAG, k: 'chunk', dev: 'laptop', x: 'badchunk', i: 1, data: Buffer.alloc(10).toString('base64') });
    await sentinel();
    const out = mirror.out().slice(m);
    assert.match(out, /refused .*huge-n\.txt/);
    assert.match(out, /refused .*lies\.txt/);
    assert.match(out, /refused .*unfinished-\d+\.bin.*unfinished transfers/);
    assert.match(out, /refused .*bad-chunk\.bin/);
    for (const name of ['huge-n.txt', 'lies.txt', 'bad-chunk.bin', 'unfinished-0.bin']) assert.equal(existsSync(join(A, name)), false, name);
  });

  test('manifests asking for a full reply are answered at most once per window', async () => {
    const since = evil.frames.length;
    const m = mirror.mark();
    for (let i = 0; i < 30; i++) await sendPayload({ hs: TAG, k: 'manifest', dev: 'laptop', reply: false, part: 0, parts: 1, entries: [] }, 'desktop/mirror');
    await sentinel();
    await evil.waitFor((f) => f.payload?.k === 'manifest' && f.payload.reply === true, 10_000, since);
    await sentinel();
    const replies = evil.frames.slice(since).filter((f) => f.payload?.k === 'manifest' && f.payload.reply === true && f.payload.part === 0);
    assert.equal(replies.length, 1);
    assert.match(mirror.out().slice(m), /manifest/);
  });

  test('what a peer names reaches the terminal escaped (a fake "all files verified" line cannot be printed)', async () => {
    const m = mirror.mark();
    const fake = 'x\r\u001b[2K\u2714 all files verified\n';
    await sendPayload({ ...fileVersion('damaged.txt', 'abc'), hash: sha('other'), dev: fake, d: fake });
    await sentinel();
    const out = mirror.out().slice(m);
    assert.doesNotMatch(out, /^\u2714 all files verified/m);
    assert.doesNotMatch(out, /[\r\u001b]/);
    assert.match(out, /x\\r\\u001b\[2K\u2714 all files verified\\n/);
  });

  test('relay frames forged inside envelopes do not move lastSeq, change the host or stop the mirror (it reconnects after the relay restarts)', async () => {
    const huge = 9007199254740990;
    const forged = [
      { type: 'deltas', room, complete: true, deltas: [{ seq: huge, deviceId: 'x', payload: JSON.stringify({ from: 'x', to: 'broadcast', room, seq: huge, payload: 1 }), createdAt: 1 }] },
      { type: 'host', room, device: 'laptop-evil' },
      { type: 'presence', room, device: 'desktop/mirror', state: 'left' },
      { type: 'error', code: 'TOKEN_REVOKED', error: 'signed out' },
      { type: 'joined', room, device: 'desktop/mirror', host: false, hostDevice: 'laptop-evil', seq: huge },
    ];
    for (const f of forged) await evil.send({ ...f, to: 'broadcast', payload: 'x' }); // refused BAD_ENVELOPE by a §6.1 relay, forwarded by older ones
    await sentinel();
    const m = mirror.mark();
    evil.close();
    await stack.killRelay('SIGKILL');
    await stack.startRelay();
    await mirror.waitFor(/reconnected to the relay/, 20_000, m);
    evil = await scriptedPeer(stack.relayWs, room, 'laptop-evil', deviceToken(laptop));
    await sentinel(); // a real message after the attack is applied: lastSeq was not poisoned
    assert.equal(mirror.child.exitCode, null);
    assert.doesNotMatch(mirror.out().slice(m), /signed out|TOKEN_REVOKED/);
    assert.deepEqual(foldedTree(join(A, '.git')), gitBefore);
  });
});
