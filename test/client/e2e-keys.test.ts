// The key file beside the settings (sync.keys: 0600, replaced atomically, damaged → refused) and the passphrase reader
// of `hone-sync key set` (environment, a terminal in raw mode typed twice with backspace and Ctrl-C, or piped stdin).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { keyIdOf } from '../../src/client/e2e/kdf.ts';
import { KeyStoreError, loadKeys, removeKey, saveKey, sealKeyOf } from '../../src/client/e2e/key-store.ts';
import { keysPath } from '../../src/client/settings.ts';
import { readPassphrase } from '../../src/cli/passphrase.ts';

const dir = mkdtempSync(join(tmpdir(), 'hone-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const keyOf = (fill: number) => {
  const key = Buffer.alloc(32, fill);
  return { key, keyId: keyIdOf(key), kdf: { log2N: 15, r: 8, p: 1 } };
};

test('keys live beside the settings file, one per room, mode 0600; replaced and removed by room', () => {
  assert.equal(keysPath('/h/.hone/sync.conf'), '/h/.hone/sync.keys');
  assert.equal(keysPath('/h/settings'), '/h/settings.keys');
  const path = join(dir, 'a', 'sync.keys');
  assert.deepEqual(loadKeys(path), { keys: [], warnings: [] });
  assert.equal(saveKey(path, 'room-1', 'notes', keyOf(1)), null);
  assert.equal(saveKey(path, 'room-2', 'other', keyOf(2)), null);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const old = saveKey(path, 'room-1', 'notes', keyOf(3));
  assert.equal(old?.keyId, keyOf(1).keyId.toString('hex'));
  const { keys, warnings } = loadKeys(path);
  assert.deepEqual(warnings, []);
  assert.deepEqual(keys.map((k) => [k.room, k.project, k.keyId]), [['room-2', 'other', keyOf(2).keyId.toString('hex')], ['room-1', 'notes', keyOf(3).keyId.toString('hex')]]);
  assert.ok(sealKeyOf(keys[1]).key.equals(keyOf(3).key));
  assert.equal(removeKey(path, 'room-2')?.project, 'other');
  assert.equal(removeKey(path, 'room-2'), null);
  assert.equal(loadKeys(path).keys.length, 1);
  chmodSync(path, 0o640);
  assert.match(loadKeys(path).warnings[0], /readable by other users \(mode 640\) and holds your project keys; run chmod 600/);
});

test('a damaged key file is refused as a whole (nothing may then go out in clear)', () => {
  const path = join(dir, 'bad.keys');
  const good = { room: 'r', project: 'p', kdf: { log2N: 15, r: 8, p: 1 }, keyId: keyOf(1).keyId.toString('hex'), key: keyOf(1).key.toString('base64'), setAt: '' };
  const cases: unknown[] = [
    '{', '[]', 'null', { version: 2, keys: [] }, { version: 1 }, { version: 1, keys: [1] },
    { version: 1, keys: [{ ...good, room: '' }] }, { version: 1, keys: [{ ...good, key: 'AAAA' }] },
    { version: 1, keys: [{ ...good, keyId: keyOf(2).keyId.toString('hex') }] }, { version: 1, keys: [{ ...good, kdf: { log2N: 0, r: 8, p: 1 } }] },
    { version: 1, keys: [{ ...good, kdf: { log2N: '15', r: 8, p: 1 } }] }, { version: 1, keys: [{ ...good, project: 7 }] },
  ];
  for (const c of cases) {
    writeFileSync(path, typeof c === 'string' ? c : JSON.stringify(c));
    assert.throws(() => loadKeys(path), (err: Error) => err instanceof KeyStoreError && /nothing is sent until it is fixed or removed/.test(err.message), JSON.stringify(c));
    assert.throws(() => saveKey(path, 'r', 'p', keyOf(1)), KeyStoreError, 'set does not overwrite a file it cannot read');
  }
  writeFileSync(path, JSON.stringify({ version: 1, keys: [good] }));
  assert.equal(loadKeys(path).keys.length, 1);
  assert.doesNotMatch(readFileSync(path, 'utf8'), /passphrase/);
});

function tty(): { stdin: PassThrough & { isTTY: boolean; setRawMode(on: boolean): void; raw: boolean[] }; prompts: string[] } {
  const stdin = Object.assign(new PassThrough(), { isTTY: true, raw: [] as boolean[], setRawMode(on: boolean) { stdin.raw.push(on); } });
  return { stdin, prompts: [] };
}
const typeIn = (s: PassThrough, ...chunks: string[]) => { for (const c of chunks) setImmediate(() => s.write(c)); };

test('passphrase: HONE_SYNC_PASSPHRASE first; a terminal in raw mode, typed twice, backspace works, nothing echoed', async () => {
  const t = tty();
  const streams = (env: Record<string, string> = {}) => ({ env, stdin: t.stdin as unknown as NodeJS.ReadStream, prompt: (x: string) => void t.prompts.push(x) });
  assert.equal(await readPassphrase(streams({ HONE_SYNC_PASSPHRASE: 'from the env' }), 'notes'), 'from the env');
  assert.deepEqual(t.prompts, []);
  const p = readPassphrase(streams(), 'notes');
  typeIn(t.stdin, 'correct horsX\u007fe', '\r');
  typeIn(t.stdin, 'correct horse\r');
  assert.equal(await p, 'correct horse');
  assert.deepEqual(t.prompts, ['Passphrase for project notes (not shown): ', '\n', 'The same passphrase again: ', '\n']);
  assert.deepEqual(t.stdin.raw, [true, false, true, false], 'raw mode is left again');
});

test('passphrase: two different entries and Ctrl-C are refusals, raw mode is left', async () => {
  const t = tty();
  const streams = { env: {}, stdin: t.stdin as unknown as NodeJS.ReadStream, prompt: (x: string) => void t.prompts.push(x) };
  const p = readPassphrase(streams, 'notes');
  typeIn(t.stdin, 'first one\r');
  typeIn(t.stdin, 'second one\r');
  await assert.rejects(p, /the two passphrases differ; nothing was changed/);
  const c = readPassphrase(streams, 'notes');
  typeIn(t.stdin, 'abc\u0003');
  await assert.rejects(c, (err: any) => err.exitCode === 130 && /cancelled; no key was set/.test(err.message));
  assert.equal(t.stdin.raw.at(-1), false);
});

test('passphrase: piped stdin gives its first line', async () => {
  const stdin = new PassThrough();
  const p = readPassphrase({ env: {}, stdin: stdin as unknown as NodeJS.ReadStream, prompt: () => {} }, 'notes');
  stdin.end('piped passphrase\r\nsecond line\n');
  assert.equal(await p, 'piped passphrase');
});
