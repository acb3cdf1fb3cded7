// Device tokens (SPEC §3) and room IDs (SPEC §6): HMAC by default, djb2 only for compatibility, rotation,
// strict parsing. Expected values are computed independently here, never with the module under test.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { djb2, hmacHex, parseToken, relayAuthorization, safeEqual, sha256Hex, signToken, verifyMac, verifyRelayAuthorization, verifyToken } from '../../src/common/token.ts';
import type { TokenKeys } from '../../src/common/token.ts';
import { issueRoomId, roomOwnership } from '../../src/common/room-id.ts';

const SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
const OTHER = 'another-secret-fedcba9876543210fedcba98765432';
const HMAC: TokenKeys = { secret: SECRET, algorithm: 'hmac-sha256' };
const DJB2: TokenKeys = { secret: SECRET, algorithm: 'djb2' };
const CLAIMS = { userId: 42, deviceId: 7, issuedAt: 1764000000000 };

/** SPEC §3 djb2, written straight from the text with BigInt: h = 5381; h = (h*33 + c) | 0 per UTF-16 unit; h >>> 0. */
function refDjb2(s: string): number {
  let h = 5381n;
  for (let i = 0; i < s.length; i++) h = BigInt.asIntN(32, h * 33n + BigInt(s.charCodeAt(i)));
  return Number(BigInt.asUintN(32, h));
}

/** SPEC §3 double djb2: h1 = djb2(secret|p), hash = djb2(String(h1)|secret|p), decimal. */
function refDjb2Hash(secret: string, p: string): string {
  const h1 = refDjb2(`${secret}|${p}`);
  return String(refDjb2(`${h1}|${secret}|${p}`));
}

function refHmac(secret: string, p: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(Buffer.from(p, 'utf8')).digest('hex');
}

describe('HMAC-SHA256 tokens (default)', () => {
  test('format is userId:deviceId:timestamp.hash with hash = lowercase hex HMAC-SHA256 of the payload', () => {
    const token = signToken(CLAIMS, HMAC);
    const p = '42:7:1764000000000';
    assert.equal(token, `${p}.${refHmac(SECRET, p)}`);
    assert.match(token.split('.')[1], /^[0-9a-f]{64}$/);
  });

  test('sign → verify round trip returns the claims', () => {
    assert.deepEqual(verifyToken(signToken(CLAIMS, HMAC), HMAC), CLAIMS);
    const big = { userId: 999_999_999_999_999, deviceId: 1, issuedAt: 0 };
    assert.deepEqual(verifyToken(signToken(big, HMAC), HMAC), big);
  });

  test('secret is keyed by its UTF-8 bytes (non-ASCII secret)', () => {
    const keys: TokenKeys = { secret: 'sécret-😀-0123456789', algorithm: 'hmac-sha256' };
    const token = signToken(CLAIMS, keys);
    assert.equal(token.split('.')[1], refHmac('sécret-😀-0123456789', '42:7:1764000000000'));
    assert.deepEqual(verifyToken(token, keys), CLAIMS);
  });

  test('wrong secret, tampered payload or tampered hash → null', () => {
    const token = signToken(CLAIMS, HMAC);
    assert.equal(verifyToken(token, { ...HMAC, secret: OTHER }), null);
    assert.equal(verifyToken(token.replace(/^42:/, '43:'), HMAC), null);
    assert.equal(verifyToken(token.replace(/^42:7:/, '42:8:'), HMAC), null);
    assert.equal(verifyToken(token.replace(':1764000000000.', ':1764000000001.'), HMAC), null);
    const last = token.at(-1) === '0' ? '1' : '0';
    assert.equal(verifyToken(token.slice(0, -1) + last, HMAC), null);
  });

  test('an empty secret never verifies anything', () => {
    const keys: TokenKeys = { secret: '', algorithm: 'hmac-sha256' };
    assert.equal(verifyToken(signToken(CLAIMS, keys), keys), null);
  });

  test('hmacHex and sha256Hex match node:crypto', () => {
    assert.equal(hmacHex(SECRET, 'revocations|'), refHmac(SECRET, 'revocations|'));
    assert.equal(sha256Hex('x'), createHash('sha256').update('x').digest('hex'));
  });

  test('verifyMac accepts current and previous secret only', () => {
    const mac = refHmac(SECRET, 'revocations|12');
    assert.equal(verifyMac('revocations|12', mac, { secret: SECRET }), true);
    assert.equal(verifyMac('revocations|13', mac, { secret: SECRET }), false);
    assert.equal(verifyMac('revocations|12', mac, { secret: OTHER }), false);
    assert.equal(verifyMac('revocations|12', mac, { secret: OTHER, previousSecret: SECRET }), true);
    assert.equal(verifyMac('revocations|12', mac.toUpperCase(), { secret: SECRET }), false);
    assert.equal(verifyMac('revocations|12', '', { secret: '' }), false);
  });

  test('relayAuthorization (what a relay sends) passes verifyRelayAuthorization for that message and secret only', () => {
    const header = relayAuthorization(SECRET, 'token|abc');
    assert.equal(header, `Hone-Relay ${hmacHex(SECRET, 'token|abc')}`);
    assert.equal(verifyRelayAuthorization(header, 'token|abc', { secret: SECRET }), true);
    assert.equal(verifyRelayAuthorization(header, 'token|abc', { secret: OTHER, previousSecret: SECRET }), true);
    assert.equal(verifyRelayAuthorization(header, 'token|abd', { secret: SECRET }), false);
    assert.equal(verifyRelayAuthorization(header, 'token|abc', { secret: OTHER }), false);
    for (const bad of [undefined, '', 'Hone-Relay', header.toUpperCase(), `Bearer ${header.slice(11)}`, ` ${header}`, `${header} `, ['x']]) {
      assert.equal(verifyRelayAuthorization(bad, 'token|abc', { secret: SECRET }), false, String(bad));
    }
  });
});

describe('djb2 compatibility', () => {
  // Vectors computed independently (Python, UTF-16 code units, & 0xffffffff) and re-checked with refDjb2 below.
  const VECTORS: [string, number][] = [
    ['', 5381],
    ['a', 177670],
    ['hello', 261238937],
    ['Hone Sync', 658073548],
    ['é', 177806],
    ['日本語', 222690644],
    ['😀', 7743522], // surrogate pair: two code units 0xD83D 0xDE00
    ['\ud800', 232869], // lone high surrogate: one code unit
  ];

  test('djb2() matches known vectors and the reference definition', () => {
    for (const [s, h] of VECTORS) {
      assert.equal(refDjb2(s), h, `reference djb2(${JSON.stringify(s)})`);
      assert.equal(djb2(s), h, `djb2(${JSON.stringify(s)})`);
    }
  });

  test('djb2() matches the reference on long and random strings (overflow behaviour)', () => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
    for (let n = 0; n < 200; n++) {
      let s = '';
      const len = rnd() % 300;
      for (let i = 0; i < len; i++) s += String.fromCharCode(rnd() % 0x10000);
      assert.equal(djb2(s), refDjb2(s));
    }
    const long = 'x'.repeat(10_000) + '😀'.repeat(500);
    assert.equal(djb2(long), refDjb2(long));
  });

  test('djb2 tokens match known vectors of the double-djb2 hash', () => {
    const t1 = signToken({ userId: 1, deviceId: 2, issuedAt: 1700000000000 }, { secret: 's3cret', algorithm: 'djb2' });
    assert.equal(t1, '1:2:1700000000000.3741734341');
    assert.equal(refDjb2Hash('s3cret', '1:2:1700000000000'), '3741734341');
    const t2 = signToken(CLAIMS, { secret: 'sécret-😀', algorithm: 'djb2' });
    assert.equal(t2, '42:7:1764000000000.2291719549');
    assert.equal(refDjb2Hash('sécret-😀', '42:7:1764000000000'), '2291719549');
    assert.equal(signToken(CLAIMS, DJB2), `42:7:1764000000000.${refDjb2Hash(SECRET, '42:7:1764000000000')}`);
  });

  test('djb2 tokens are rejected with hmac-sha256 and accepted with djb2', () => {
    const token = signToken(CLAIMS, DJB2);
    assert.match(token, /\.\d{1,10}$/);
    assert.equal(verifyToken(token, HMAC), null);
    assert.deepEqual(verifyToken(token, DJB2), CLAIMS);
    assert.equal(verifyToken(token, { ...DJB2, secret: OTHER }), null);
  });

  test('with djb2 configured, HMAC tokens still verify', () => {
    assert.deepEqual(verifyToken(signToken(CLAIMS, HMAC), DJB2), CLAIMS);
  });

  test('a djb2 token hash with leading zeros is not accepted', () => {
    const token = signToken(CLAIMS, DJB2);
    const [p, h] = token.split('.');
    assert.equal(verifyToken(`${p}.0${h}`, DJB2), null);
  });

  // Two payloads of the same length whose djb2 collide give the same double-djb2 hash under ANY secret
  // (djb2 is a linear recurrence: equal suffix contributions mod 2^32 from any start state). So a djb2 token
  // of user 1 can be turned into one of user 2 without knowing the secret. Found by a birthday search.
  const COLLIDE_A = '1:5:1764015988461';
  const COLLIDE_B = '2:5:1765020898292';

  test('known djb2 collision pair (trivial and token-shaped)', () => {
    assert.equal(refDjb2('ab'), refDjb2('bA'));
    assert.equal(djb2('ab'), djb2('bA'));
    assert.equal(refDjb2(COLLIDE_A), refDjb2(COLLIDE_B));
    assert.equal(djb2(COLLIDE_A), 3276217099);
    assert.equal(djb2(COLLIDE_B), 3276217099);
    for (const secret of [SECRET, 's3cret', 'é😀']) assert.equal(refDjb2Hash(secret, COLLIDE_A), refDjb2Hash(secret, COLLIDE_B));
  });

  test('djb2 forgery across users works only when djb2 is enabled (why it is off by default)', () => {
    const own = signToken({ userId: 1, deviceId: 5, issuedAt: 1764015988461 }, DJB2);
    const forged = `${COLLIDE_B}.${own.split('.')[1]}`;
    assert.deepEqual(verifyToken(forged, DJB2), { userId: 2, deviceId: 5, issuedAt: 1765020898292 });
    assert.equal(verifyToken(forged, HMAC), null);
    const hmacOwn = signToken({ userId: 1, deviceId: 5, issuedAt: 1764015988461 }, HMAC);
    assert.equal(verifyToken(`${COLLIDE_B}.${hmacOwn.split('.')[1]}`, DJB2), null);
  });
});

describe('secret rotation', () => {
  test('old tokens verify while previousSecret is set, not after it is removed', () => {
    const old = signToken(CLAIMS, { secret: OTHER, algorithm: 'hmac-sha256' });
    const rotated: TokenKeys = { secret: SECRET, previousSecret: OTHER, algorithm: 'hmac-sha256' };
    assert.deepEqual(verifyToken(old, rotated), CLAIMS);
    assert.equal(verifyToken(old, { secret: SECRET, algorithm: 'hmac-sha256' }), null);
    assert.equal(verifyToken(old, { secret: SECRET, previousSecret: '', algorithm: 'hmac-sha256' }), null);
  });

  test('new tokens use the new secret', () => {
    const rotated: TokenKeys = { secret: SECRET, previousSecret: OTHER, algorithm: 'hmac-sha256' };
    const token = signToken(CLAIMS, rotated);
    assert.equal(token.split('.')[1], refHmac(SECRET, '42:7:1764000000000'));
    assert.deepEqual(verifyToken(token, { secret: SECRET, algorithm: 'hmac-sha256' }), CLAIMS);
    assert.equal(verifyToken(token, { secret: OTHER, algorithm: 'hmac-sha256' }), null);
  });

  test('rotation applies to djb2 tokens too when djb2 is on', () => {
    const old = signToken(CLAIMS, { secret: OTHER, algorithm: 'djb2' });
    assert.deepEqual(verifyToken(old, { secret: SECRET, previousSecret: OTHER, algorithm: 'djb2' }), CLAIMS);
    assert.equal(verifyToken(old, { secret: SECRET, previousSecret: OTHER, algorithm: 'hmac-sha256' }), null);
  });
});

describe('malformed tokens → null', () => {
  const good = signToken(CLAIMS, HMAC);
  const hash = good.split('.')[1];
  /** A token over an arbitrary payload with a valid HMAC, so only the format can reject it. */
  const signed = (payload: string) => `${payload}.${refHmac(SECRET, payload)}`;

  const cases: [string, unknown][] = [
    ['empty', ''],
    ['too long', `${'9'.repeat(15)}:${'9'.repeat(15)}:${'9'.repeat(15)}.${hash}` + 'a'.repeat(100)],
    ['only payload', '42:7:1764000000000'],
    ['missing hash', '42:7:1764000000000.'],
    ['missing timestamp', signed('42:7')],
    ['missing deviceId', `42::1764000000000.${hash}`],
    ['missing userId', `:7:1764000000000.${hash}`],
    ['leading zero userId', signed('042:7:1764000000000')],
    ['leading zero deviceId', signed('42:07:1764000000000')],
    ['leading zero timestamp', signed('42:7:01764000000000')],
    ['zero userId', signed('0:7:1764000000000')],
    ['negative id', signed('-42:7:1764000000000')],
    ['non-hex hash', `42:7:1764000000000.${'g'.repeat(64)}`],
    ['uppercase hex', `42:7:1764000000000.${hash.toUpperCase()}`],
    ['short hex', `42:7:1764000000000.${hash.slice(0, 63)}`],
    ['long hex', `42:7:1764000000000.${hash}0`],
    ['extra colon', signed('42:7:1764000000000:1')],
    ['extra colon in front', signed(':42:7:1764000000000')],
    ['two dots', `${good}.${hash}`],
    ['whitespace', ` ${good}`],
    ['trailing newline', `${good}\n`],
    ['unsafe integer id', signed('9007199254740993:7:1764000000000')],
    ['number', 42],
    ['null', null],
    ['undefined', undefined],
    ['object', { toString: () => good }],
    ['array', [good]],
    ['buffer', Buffer.from(good)],
  ];
  for (const [name, value] of cases) {
    test(name, () => {
      assert.equal(parseToken(value), null);
      assert.equal(verifyToken(value, HMAC), null);
      assert.equal(verifyToken(value, DJB2), null);
    });
  }

  test('the well-formed control case verifies', () => {
    assert.deepEqual(verifyToken(good, HMAC), CLAIMS);
    assert.deepEqual(verifyToken(signed('1:1:0'), HMAC), { userId: 1, deviceId: 1, issuedAt: 0 });
  });
});

describe('safeEqual', () => {
  test('equal, different, different lengths, unicode', () => {
    assert.equal(safeEqual('abc', 'abc'), true);
    assert.equal(safeEqual('', ''), true);
    assert.equal(safeEqual('abc', 'abd'), false);
    assert.equal(safeEqual('abc', 'ab'), false);
    assert.equal(safeEqual('', 'a'), false);
    assert.equal(safeEqual('é', 'é'), true);
    assert.equal(safeEqual('é', 'e\u0301'), false);
    assert.equal(safeEqual('a'.repeat(64), 'A'.repeat(64)), false);
  });
});

describe('room IDs', () => {
  const keys = { secret: SECRET };

  test('format: 24 hex random, dot, 32 hex MAC; fresh each time', () => {
    const a = issueRoomId(42, SECRET);
    assert.match(a, /^[0-9a-f]{24}\.[0-9a-f]{32}$/);
    assert.notEqual(issueRoomId(42, SECRET), a);
  });

  test('owner for the issuing user', () => {
    assert.equal(roomOwnership(issueRoomId(42, SECRET), 42, keys), 'owner');
  });

  test('not-owner for another user, a wrong secret or a tampered ID', () => {
    const room = issueRoomId(42, SECRET);
    assert.equal(roomOwnership(room, 43, keys), 'not-owner');
    assert.equal(roomOwnership(room, 4, keys), 'not-owner');
    assert.equal(roomOwnership(room, 42, { secret: OTHER }), 'not-owner');
    const flipped = room.slice(0, 5) + (room[5] === 'a' ? 'b' : 'a') + room.slice(6);
    assert.equal(roomOwnership(flipped, 42, keys), 'not-owner');
  });

  test('previousSecret keeps rooms issued before a rotation owned', () => {
    const room = issueRoomId(42, OTHER);
    assert.equal(roomOwnership(room, 42, { secret: SECRET, previousSecret: OTHER }), 'owner');
    assert.equal(roomOwnership(room, 43, { secret: SECRET, previousSecret: OTHER }), 'not-owner');
    assert.equal(roomOwnership(room, 42, { secret: SECRET }), 'not-owner');
  });

  test('rooms auth did not issue are unregistered', () => {
    for (const room of ['pair-ABC123', '', 'x', issueRoomId(42, SECRET).toUpperCase(), issueRoomId(42, SECRET) + 'a']) {
      assert.equal(roomOwnership(room, 42, keys), 'unregistered', room);
    }
  });
});
