// Unit tests of `hone-sync mirror`'s parts: version vectors and the conflict rule, payload parsing (hostile paths
// refused), chunking, the index journal surviving a process that never flushed, and the pacer's limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bumpVV, compareVV, conflictName, mergeVV, wins } from '../../src/cli/mirror/conflicts.ts';
import { CHUNK_BYTES, chunks, fileMsg, FOLDER, MAX_VV_DEVICES, parseMirrorMsg } from '../../src/cli/mirror/protocol.ts';
import { Pacer } from '../../src/cli/mirror/pacer.ts';
import { fold, isIgnored, isSafeRelPath, pathProblem } from '../../src/cli/mirror/path-policy.ts';
import { printable, printableJson } from '../../src/cli/printable.ts';
import { MirrorIndex } from '../../src/cli/mirror/state.ts';

const H = 'a'.repeat(64);

test('version vectors: order, merge, bump', () => {
  assert.equal(compareVV({ a: 1 }, { a: 1 }), 'equal');
  assert.equal(compareVV({ a: 2 }, { a: 1 }), 'after');
  assert.equal(compareVV({ a: 1 }, { a: 1, b: 1 }), 'before');
  assert.equal(compareVV({ a: 2 }, { a: 1, b: 1 }), 'concurrent');
  assert.deepEqual(mergeVV({ a: 2, b: 1 }, { a: 1, c: 3 }), { a: 2, b: 1, c: 3 });
  assert.deepEqual(bumpVV({ a: 2 }, 'b'), { a: 2, b: 1 });
});

test('conflict rule: an edit beats a delete, then the later time, then the device name; the same answer both ways', () => {
  const edit = { vv: {}, t: 1, d: 'phone', hash: H };
  const del = { vv: {}, t: 99, d: 'desktop', hash: null };
  assert.equal(wins(edit, del), true);
  assert.equal(wins(del, edit), false);
  const early = { vv: {}, t: 10, d: 'z', hash: H };
  const late = { vv: {}, t: 11, d: 'a', hash: H };
  assert.equal(wins(late, early), true);
  assert.equal(wins(early, late), false);
  const x = { vv: {}, t: 5, d: 'desktop', hash: H };
  const y = { vv: {}, t: 5, d: 'phone', hash: H };
  assert.notEqual(wins(x, y), wins(y, x));
  const taken = new Set(['a.txt.conflict-phone']);
  assert.equal(conflictName('a.txt', 'desktop', (p) => taken.has(p)), 'a.txt.conflict-desktop');
  assert.equal(conflictName('a.txt', 'phone', (p) => taken.has(p)), 'a.txt.conflict-phone-2');
  assert.equal(conflictName('d/a', 'my phone/mirror', () => false), 'd/a.conflict-my_phone_mirror');
});

test('paths from peers: only plain relative paths outside .git, node_modules and .hone-sync are accepted', () => {
  for (const ok of ['a.txt', 'src/main.ts', 'a b/c.d', '.env']) assert.equal(isSafeRelPath(ok), true, ok);
  for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', 'a//b', './a', 'a\\b', 'a\0b', '.git/config', 'x/node_modules/y', '.hone-sync/index.json', 42]) {
    assert.equal(isSafeRelPath(bad), false, String(bad));
  }
  assert.equal(isIgnored('pkg/node_modules/x.js'), true);
  const base = { dev: 'phone', vv: { phone: 1 }, t: 1, d: 'phone', hash: null };
  assert.equal(parseMirrorMsg(fileMsg({ ...base, path: '' })), null, 'the shape is parse\'s; the path policy is the engine\'s (so each refusal is reported)');
  assert.equal(parseMirrorMsg({ ...fileMsg({ ...base, path: 'a' }), vv: { phone: -1 } }), null);
  assert.equal(parseMirrorMsg('a plain text message from hone-sync send'), null);
  assert.ok(parseMirrorMsg(fileMsg({ ...base, path: 'a' })));
  const m = parseMirrorMsg({ hs: 'hone-sync-mirror', k: 'manifest', dev: 'p', reply: false, part: 0, parts: 1, entries: [['ok', null, {}, 1, 'p'], ['../bad', null, {}, 1, 'p']] });
  assert.equal(m?.k, 'manifest');
  assert.deepEqual(m?.k === 'manifest' ? m.entries.map((e) => e[0]) : [], ['ok', '../bad']);
});

test('path policy: reserved names case-folded at any depth, what git refuses for NTFS and HFS+, with a reason', () => {
  const refused: Array<[string, RegExp]> = [
    ['.GIT/config', /reserved/], ['.Git/hooks/post-checkout', /reserved/], ['.git./config', /reserved/], ['.git /config', /reserved/],
    ['GIT~1/config', /reserved/], ['NODE_MODULES/x.js', /reserved/], ['.HONE-SYNC/index.json', /reserved/], ['a/b/.gIt/config', /reserved/],
    ['.g\u200cit/config', /reserved/], ['.git\ufeff/x', /reserved/], ['.\u0130git/x', /./], ['node_m~1/x', /reserved/], ['HONE-S~2/x', /reserved/],
    ['CON', /device/], ['nul.txt', /device/], ['sub/COM1.log', /device/], ['lpt9', /device/], ['Aux .c', /device/],
    ['a:b', /absolute/], ['x/a:b', /forbids/], ['q?.txt', /forbids/], ['trailing.', /trailing/], ['trailing ', /trailing/], ['x\u001by', /control/], ['a\nb', /control/],
    ['zw\u200dj', /invisible/], ['PROGRA~1/x', /8\.3/], ['../x', /segment/], ['a//b', /segment/], ['/abs', /absolute/], ['C:/x', /absolute/],
    ['a\\b', /backslash/], ['x'.repeat(300), /bytes/],
  ];
  for (const [path, why] of refused) assert.match(pathProblem(path) ?? 'accepted', why, JSON.stringify(path));
  for (const ok of ['a.txt', 'src/main.ts', 'a b/c.d', '.env', '.github/workflows/ci.yml', 'gitx/config', 'console.log', 'icon.png', 'Ünïcödé/日本.md']) {
    assert.equal(pathProblem(ok), null, ok);
  }
  assert.equal(isIgnored('src/.GIT/objects'), true);
  assert.equal(isIgnored('Node_Modules'), true);
  assert.equal(fold('STRASSE'), fold('straße'));
});

test('printable: what a peer names cannot move the cursor, erase a line or start a new one', () => {
  assert.equal(printable('x\r\u001b[2K\u2714 ok\n'), 'x\\r\\u001b[2K\u2714 ok\\n');
  assert.equal(printable('a\u202eb\\c'), 'a\\u202eb\\\\c');
  assert.equal(printable('plain/ünïcode.txt'), 'plain/ünïcode.txt');
  // JSON: what JSON.stringify leaves raw (C1, bidi, U+2028) escaped too, and the line still parses to the same value.
  const v = { t: 'a\u009b2J\u202e\u2028\u001b\\', n: [1] };
  assert.equal(printableJson(v), '{"t":"a\\u009b2J\\u202e\\u2028\\u001b\\\\","n":[1]}');
  assert.deepEqual(JSON.parse(printableJson(v)), v);
});

test('chunks: 256 KiB of base64 each, an empty file is one empty chunk, content round-trips', () => {
  assert.deepEqual(chunks(Buffer.alloc(0)), ['']);
  const big = Buffer.alloc(CHUNK_BYTES * 2 + 5, 1);
  const parts = chunks(big);
  assert.equal(parts.length, 3);
  assert.equal(parts[0].length, 256 * 1024);
  assert.ok(Buffer.concat(parts.map((p) => Buffer.from(p, 'base64'))).equals(big));
});

test('index: changes survive a process that never flushed (journal), another room starts empty', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-mirror-index-'));
  try {
    const a = new MirrorIndex(dir, 'room-1', 'desk', 60_000);
    a.set('x.txt', { vv: { desk: 1 }, t: 5, d: 'desk', hash: H, size: 3, mtimeMs: 1.5 });
    a.seqStore().save(42);
    // no flush, no close: as if killed with SIGKILL
    const b = new MirrorIndex(dir, 'room-1', 'desk');
    assert.deepEqual(b.get('x.txt'), { vv: { desk: 1 }, t: 5, d: 'desk', hash: H, size: 3, mtimeMs: 1.5 });
    assert.equal(b.lastSeq, 42);
    b.close();
    const c = new MirrorIndex(dir, 'room-2', 'desk');
    assert.equal(c.files.size, 0);
    assert.equal(c.lastSeq, null);
    // hasUnder: the folders some path lies below (kept across a reload), so a new path is compared without a full scan
    const e = { vv: { desk: 1 }, t: 5, d: 'desk', hash: H, size: 3, mtimeMs: 1.5 };
    c.set('a/b/c.txt', e);
    c.set('d/', { ...e, hash: FOLDER, size: null, mtimeMs: null });
    c.set('ab.txt', e);
    const c2 = new MirrorIndex(dir, 'room-2', 'desk');
    for (const ix of [c, c2]) {
      assert.deepEqual(['a', 'a/b', 'a/b/c.txt', 'd', 'ab.txt', 'x'].map((p) => ix.hasUnder(p)), [true, true, false, false, false, false]);
    }
    // withHash: the files holding a content now (a folder's key never; a changed or deleted file no longer)
    const H2 = 'b'.repeat(64);
    c.set('e.txt', e);
    c.set('a/b/c.txt', { ...e, hash: H2 });
    c.set('ab.txt', { ...e, hash: null, size: null, mtimeMs: null });
    const c3 = new MirrorIndex(dir, 'room-2', 'desk');
    for (const ix of [c, c3]) {
      assert.deepEqual([[...ix.withHash(H)], [...ix.withHash(H2)], [...ix.withHash(FOLDER)]], [['e.txt'], ['a/b/c.txt'], []]);
    }
    c3.close();
    c.close();
    c2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pacer: keeps order, holds while closed, stays within the message rate', async () => {
  let open = false;
  const sent: number[] = [];
  const t0 = performance.now();
  const times: number[] = [];
  const p = new Pacer({ messagesPerSecond: 100, messageBurst: 5, bytesPerSecond: 1e9, byteBurst: 1e9 }, (i) => { sent.push(i.payload as number); times.push(performance.now() - t0); }, () => open);
  for (let i = 0; i < 15; i++) p.push({ to: 'broadcast', payload: i, bytes: 10 });
  assert.equal(sent.length, 0, 'nothing while not joined');
  open = true;
  p.pump();
  assert.equal(sent.length, 5, 'the burst goes at once');
  await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(sent, [...Array(15).keys()]);
  assert.ok(times[14] >= 90, `10 more at 100/s take ~100 ms, took ${times[14].toFixed(0)}`);
  p.close();
});

test('a version vector naming more devices than MAX_VV_DEVICES is not a mirror message', () => {
  const vv = Object.fromEntries(Array.from({ length: MAX_VV_DEVICES + 1 }, (_, i) => [`d${i}`, 1]));
  assert.equal(parseMirrorMsg({ hs: 'hone-sync-mirror', k: 'file', dev: 'x', path: 'a', vv, t: 1, d: 'x', hash: null }), null);
  assert.ok(parseMirrorMsg({ hs: 'hone-sync-mirror', k: 'file', dev: 'x', path: 'a', vv: { x: 1 }, t: 1, d: 'x', hash: null }));
});
