// The sealed payload format (docs/e2e.md) with fixed vectors another implementation can be checked against, the key
// derivation, binary-mode plaintext, and hostile input to the decoder: truncated, oversized, wrong version, bad base64,
// wrong types, flipped bytes, lying lengths inside authentic plaintext.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { e2eCodec } from '../../src/client/e2e/codec.ts';
import type { SealKey } from '../../src/client/e2e/format.ts';
import { associatedData, HEADER_BYTES, MAX_SEALED_CHARS, open, readHeader, seal, TAG_BYTES } from '../../src/client/e2e/format.ts';
import { deriveKey, keyIdOf } from '../../src/client/e2e/kdf.ts';
import { decodePlaintext, encodePlaintext } from '../../src/client/e2e/plaintext.ts';
import { describeUndecryptable, openPayload } from '../../src/client/payload-codec.ts';

// Vector key: bytes 0x00..0x1f; nonce 0x00..0x0b; parameters scrypt 2^15/8/1 in the header.
const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const K: SealKey = { key: KEY, keyId: keyIdOf(KEY), kdf: { log2N: 15, r: 8, p: 1 } };
const NONCE = Buffer.from('000102030405060708090a0b', 'hex');
const V1 = 'hse.AQEPCAH_frySwvng6AABAgMEBQYHCAkKCzwgvn6pia05t2Pg5MOFHE_-c4angBqid_9ce-uuFFBtzw';
const V2 = 'hse.AQEPCAH_frySwvng6P_______________xjphuu9vxnda4R2BLUqITe_f0gv';

const body = (wire: string) => Buffer.from(wire.slice(4), 'base64url');
const wireOf = (b: Buffer) => 'hse.' + b.toString('base64url');

test('fixed vectors: key id, sealing with a given nonce, opening', () => {
  assert.equal(K.keyId.toString('hex'), 'ff7ebc92c2f9e0e8');
  assert.equal(seal(K, { hello: 'world' }, 'room-1', 'laptop/mirror', NONCE), V1);
  assert.equal(seal(K, 'hi', 'room-1', 'phone/send', Buffer.alloc(12, 0xff)), V2);
  assert.deepEqual(open(K, V1, 'room-1', 'laptop/mirror'), { ok: true, payload: { hello: 'world' } });
  assert.deepEqual(open(K, V2, 'room-1', 'phone/send'), { ok: true, payload: 'hi' });
  // layout: version 1, scrypt, log2N 15, r 8, p 1, key id, nonce, ciphertext (17 bytes of JSON), tag
  const b = body(V1);
  assert.deepEqual([...b.subarray(0, 5)], [1, 1, 15, 8, 1]);
  assert.equal(b.subarray(5, 13).toString('hex'), 'ff7ebc92c2f9e0e8');
  assert.ok(b.subarray(13, 25).equals(NONCE));
  assert.equal(b.length, HEADER_BYTES + '{"hello":"world"}'.length + TAG_BYTES);
});

test('key derivation: scrypt of the NFC passphrase salted with the room (fixed vectors)', async () => {
  const k = await deriveKey('correct horse battery staple', 'room-1');
  assert.equal(k.key.toString('hex'), '7e33ef88f73e1886e8a2d0267cd29b5bb9db2394c734465ecd769a7882ffa6dd');
  assert.equal(k.keyId.toString('hex'), '8b97b84beef5f909');
  assert.deepEqual(k.kdf, { log2N: 15, r: 8, p: 1 });
  const cheap = await deriveKey('correct horse battery staple', 'room-1', { log2N: 10, r: 8, p: 1 });
  assert.equal(cheap.key.toString('hex'), '3707d6f38c6f2a09a43819f4b8d23a9533ef5f853e644435c79a0421e826724d');
  // another room, another key; the same letters composed differently, the same key
  assert.notEqual((await deriveKey('correct horse battery staple', 'room-2', { log2N: 10, r: 8, p: 1 })).key.toString('hex'), cheap.key.toString('hex'));
  const composed = await deriveKey('caf\u00e9 passphrase', 'room-1', { log2N: 10, r: 8, p: 1 });
  const decomposed = await deriveKey('cafe\u0301 passphrase', 'room-1', { log2N: 10, r: 8, p: 1 });
  assert.ok(composed.key.equals(decomposed.key));
});

test('a fresh random nonce per message: the same payload seals differently each time', () => {
  const codec = e2eCodec(K);
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) seen.add(body(codec.seal({ same: true }, 'r', 'd')).subarray(13, 25).toString('hex'));
  assert.equal(seen.size, 50);
  const a = codec.seal({ same: true }, 'r', 'd');
  assert.deepEqual(codec.open(a, 'r', 'd'), { ok: true, payload: { same: true } });
  assert.deepEqual(codec.open(codec.seal(undefined, 'r', 'd'), 'r', 'd'), { ok: true, payload: null });
});

test('bound to room and sender: moved to another room or attributed to another device, it does not open', () => {
  assert.deepEqual(open(K, V1, 'room-2', 'laptop/mirror'), { ok: false, reason: 'tampered' });
  assert.deepEqual(open(K, V1, 'room-1', 'phone/mirror'), { ok: false, reason: 'tampered' });
  // the length prefixes keep ("ab","c") and ("a","bc") apart
  const w = seal(K, 1, 'ab', 'c', NONCE);
  assert.equal(open(K, w, 'a', 'bc').ok, false);
});

test('every single flipped byte is rejected (header, nonce, ciphertext, tag)', () => {
  const b = body(V1);
  for (let i = 0; i < b.length; i++) {
    const t = Buffer.from(b);
    t[i] ^= 0x01;
    const r = open(K, wireOf(t), 'room-1', 'laptop/mirror');
    assert.equal(r.ok, false, `byte ${i}`);
    const expected = i === 0 ? 'malformed' : i === 1 ? 'unsupported' : i < 5 ? 'other-kdf' : i < 13 ? 'other-key' : 'tampered';
    assert.equal(!r.ok && r.reason, expected, `byte ${i}`);
  }
});

test('another passphrase is told apart from tampering by its key id', async () => {
  const other = await deriveKey('another passphrase', 'room-1', { log2N: 15, r: 8, p: 1 });
  const w = seal(other, { x: 1 }, 'room-1', 'laptop-b/mirror', NONCE);
  assert.deepEqual(open(K, w, 'room-1', 'laptop-b/mirror'), { ok: false, reason: 'other-key' });
  assert.equal(describeUndecryptable('other-key', 'laptop-b/mirror', 'notes'), 'laptop-b uses another passphrase for project notes; nothing from it was applied');
  const raised = seal({ ...other, kdf: { log2N: 17, r: 8, p: 1 } }, 1, 'room-1', 'x', NONCE);
  const r = open(K, raised, 'room-1', 'x');
  assert.equal(!r.ok && r.reason, 'other-kdf');
  assert.match(!r.ok ? r.detail ?? '' : '', /N=2\^17 r=8 p=1; this device: scrypt N=2\^15/);
});

test('hostile input to the decoder: each is refused with a reason, none throws', () => {
  const cases: Array<[unknown, string]> = [
    [undefined, 'malformed'], [null, 'malformed'], [42, 'malformed'], [{ hs: 1 }, 'malformed'], [['hse.'], 'malformed'], [true, 'malformed'],
    ['', 'malformed'], ['hello', 'malformed'], ['hse.', 'malformed'], ['hse.!!!!', 'malformed'], ['hse.AQEPCAH/frySwvng6A==', 'malformed'],
    ['hse.A', 'malformed'], ['hse.AQ', 'malformed'], [V1.slice(0, 30), 'malformed'], [V1.slice(0, V1.length - 3), 'tampered'],
    [V1 + 'AAAA', 'tampered'], ['hse. ' + V1.slice(4), 'malformed'], ['hse.\u00e9\u00e9\u00e9\u00e9', 'malformed'],
    [wireOf(Buffer.from([2, ...body(V1).subarray(1)])), 'unsupported'], [wireOf(Buffer.from([0])), 'malformed'], [wireOf(Buffer.from([255, 1])), 'unsupported'],
    [wireOf(Buffer.from([1, 2, 15, 8, 1, ...Buffer.alloc(40)])), 'unsupported'],
    [wireOf(Buffer.alloc(HEADER_BYTES + TAG_BYTES - 1, 1)), 'malformed'],
    ['hse.' + 'A'.repeat(MAX_SEALED_CHARS), 'malformed'],
  ];
  for (const [input, reason] of cases) {
    const r = open(K, input, 'room-1', 'laptop/mirror');
    assert.equal(r.ok, false, String(input).slice(0, 40));
    assert.equal(!r.ok && r.reason, reason, String(input).slice(0, 40));
  }
  assert.equal(readHeader('hse.' + 'A'.repeat(MAX_SEALED_CHARS)).ok, false);
  // authentic but not JSON inside: a broken sender, refused
  const ad = body(V1).subarray(0, 13);
  const c = createCipheriv('aes-256-gcm', KEY, NONCE);
  c.setAAD(associatedData(ad, 'room-1', 'laptop/mirror'));
  const ct = Buffer.concat([c.update('not json'), c.final(), c.getAuthTag()]);
  const r = open(K, wireOf(Buffer.concat([ad, NONCE, ct])), 'room-1', 'laptop/mirror');
  assert.deepEqual(r, { ok: false, reason: 'malformed', detail: 'authentic, but not JSON inside' });
});

test('openPayload: with a key only sealed payloads that open are delivered; without one sealed payloads are not text', () => {
  const codec = e2eCodec(K);
  assert.deepEqual(openPayload(codec, V1, 'room-1', 'laptop/mirror'), { ok: true, payload: { hello: 'world' } });
  assert.deepEqual(openPayload(codec, { hs: 'hone-sync-mirror' }, 'room-1', 'x'), { ok: false, reason: 'plaintext' });
  assert.deepEqual(openPayload(codec, 'hello', 'room-1', 'x'), { ok: false, reason: 'plaintext' });
  assert.deepEqual(openPayload(undefined, V1, 'room-1', 'x'), { ok: false, reason: 'no-key' });
  assert.deepEqual(openPayload(undefined, 'hello', 'room-1', 'x'), { ok: true, payload: 'hello' });
  assert.match(describeUndecryptable('no-key', 'desk/mirror', 'notes'), /^desk encrypts project notes and this device has no key for it; nothing from it was applied/);
});

test('seal refuses bad keys and nonces instead of sealing with them', () => {
  assert.throws(() => seal(K, 1, 'r', 'd', Buffer.alloc(11)), /nonce must be 12 bytes/);
  assert.throws(() => seal({ ...K, key: Buffer.alloc(16) }, 1, 'r', 'd', NONCE), /32 bytes/);
  assert.throws(() => seal({ ...K, kdf: { log2N: 0, r: 8, p: 1 } }, 1, 'r', 'd', NONCE), /log2N/);
  assert.throws(() => seal(K, 1, 'r'.repeat(70_000), 'd', NONCE), /65535/);
});

// ---- plaintext: long top-level base64 strings travel as bytes (binary mode) ----

const PATTERN = Buffer.from(Array.from({ length: 3072 }, (_, i) => i & 0xff));
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

test('binary mode: a top-level base64 string of 4096+ characters is carried as bytes (fixed vector)', () => {
  const payload = { k: 'chunk', i: 1, data: PATTERN.toString('base64') };
  const plain = encodePlaintext(payload);
  const json = '{"k":"chunk","i":1,"data":"\\u0000b0"}';
  assert.equal(plain[0], 0);
  assert.equal(plain.readUInt32BE(1), json.length);
  assert.equal(plain.toString('utf8', 5, 5 + json.length), json);
  assert.equal(plain.readUInt32BE(5 + json.length), 3072);
  assert.ok(plain.subarray(9 + json.length).equals(PATTERN));
  assert.deepEqual(decodePlaintext(plain), payload);
  const w = seal(K, payload, 'room-1', 'laptop/mirror', NONCE);
  assert.equal(w.length, 4216);
  assert.equal(sha(w), '7a637e0a1820b888140ea5f86f67517f62008e14ca914f43c102f94f39a231bc');
  assert.deepEqual(open(K, w, 'room-1', 'laptop/mirror'), { ok: true, payload });
});

test('binary mode keeps every payload exactly: short, nested, non-canonical base64, strings starting with U+0000', () => {
  const b64 = PATTERN.toString('base64');
  const ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const canonical = Buffer.alloc(3071, 7).toString('base64'); // 2 trailing bytes: the last character has 2 unused bits
  const nonCanonical = canonical.slice(0, -2) + ALPHA[ALPHA.indexOf(canonical.at(-2)!) | 1] + '=';
  assert.notEqual(nonCanonical, canonical);
  assert.ok(Buffer.from(nonCanonical, 'base64').equals(Buffer.from(canonical, 'base64')), 'same bytes, other text');
  const cases: unknown[] = [
    null, 'text', [b64], { short: PATTERN.subarray(0, 30).toString('base64') }, { nested: { data: b64 } }, { odd: nonCanonical },
    { data: b64, nul: '\u0000b0', nul2: '\u0000\u0000x', plain: 'ok', n: 1 }, { data: b64, again: b64 },
    Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`d${i}`, b64])), { data: `${b64.slice(0, -4)}!!!!` },
    { url: PATTERN.toString('base64url') }, { spaced: `${b64.slice(0, 100)}\n${b64.slice(101)}` },
  ];
  for (const c of cases) {
    assert.deepEqual(decodePlaintext(encodePlaintext(c)), c);
    assert.deepEqual(open(K, seal(K, c, 'r', 'd', NONCE), 'r', 'd'), { ok: true, payload: c });
  }
  for (const c of [{ odd: nonCanonical }, { url: PATTERN.toString('base64url') }, { spaced: `${b64.slice(0, 100)}\n${b64.slice(101)}` }]) {
    assert.notEqual(encodePlaintext(c)[0], 0, 'only canonical base64 is carried as bytes');
  }
  assert.equal(encodePlaintext({ data: b64 }).length < b64.length, true);
});

test('a sealed mirror chunk is about as large on the wire as the plain one (the bytes are not base64-encoded twice)', () => {
  const data = Buffer.alloc(192 * 1024, 0x5a).toString('base64');
  const chunk = { hs: 'hone-sync-mirror', k: 'chunk', dev: 'desk', x: 'abc', i: 1, data };
  const plain = JSON.stringify(chunk).length;
  const sealed = seal(K, chunk, 'room-1', 'desk/mirror', NONCE).length;
  assert.ok(sealed < plain * 1.01, `${sealed} vs ${plain}`);
});

test('hostile binary plaintext (authentic, from a key holder): refused as malformed, never half-applied', () => {
  const sealBytes = (plain: Buffer) => {
    const ad = body(V1).subarray(0, 13);
    const c = createCipheriv('aes-256-gcm', KEY, NONCE);
    c.setAAD(associatedData(ad, 'room-1', 'laptop/mirror'));
    return wireOf(Buffer.concat([ad, NONCE, c.update(plain), c.final(), c.getAuthTag()]));
  };
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  const bin = (json: string, ...parts: Buffer[]) => Buffer.concat([Buffer.from([0]), u32(Buffer.byteLength(json)), Buffer.from(json), ...parts]);
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.from([0]), /truncated/], [Buffer.from([0, 0, 0]), /truncated/],
    [Buffer.concat([Buffer.from([0]), u32(100), Buffer.from('{}')]), /JSON length past the end/],
    [bin('[1]'), /not an object/], [bin('{"a":'), /not JSON/],
    [bin('{"d":"\\u0000b0"}'), /a reference to a part that is not there/],
    [bin('{"d":"\\u0000b1"}', u32(1), Buffer.from([1])), /a reference to a part that is not there/],
    [bin('{"d":"\\u0000x"}', u32(1), Buffer.from([1])), /a reference to a part/],
    [bin('{"d":"\\u0000b0"}', u32(5), Buffer.from([1])), /part past the end/],
    [bin('{"d":"\\u0000b0"}', u32(1), Buffer.from([1]), Buffer.from([0, 0])), /part length truncated/],
    [bin('{}', ...Array.from({ length: 17 }, () => u32(0))), /too many parts/],
  ];
  for (const [plain, why] of cases) {
    const r = open(K, sealBytes(plain), 'room-1', 'laptop/mirror');
    assert.equal(r.ok, false, plain.toString('hex').slice(0, 40));
    assert.equal(!r.ok && r.reason, 'malformed');
    assert.match(!r.ok ? r.detail ?? '' : '', why, plain.toString('hex').slice(0, 40));
  }
  // "__proto__" as a key: an own property, the prototype untouched
  const r = open(K, sealBytes(bin('{"__proto__":"\\u0000b0"}', u32(3), Buffer.from('abc'))), 'room-1', 'laptop/mirror');
  assert.ok(r.ok);
  const v = r.ok ? (r.payload as Record<string, unknown>) : {};
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, 'YWJj');
});
