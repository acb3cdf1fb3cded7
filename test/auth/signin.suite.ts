// The sign-in against phishing (SPEC §5), over real HTTP from several loopback addresses, real SMTP and a driven
// clock, run unchanged on SQLite and MariaDB (signin-*.test.ts): attacker, mail scanner, victim, legitimate devices.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Migrator } from 'kysely/migration';
import { migrationProvider } from '../../src/auth/db/migrations.ts';
import { migrate, openDatabase } from '../../src/auth/db/database.ts';
import { MAX_ATTEMPTS } from '../../src/auth/store/links.ts';
import { CODE_TRIES_PER_DAY } from '../../src/auth/server.ts';
import type { DbKind } from '../helpers/db.ts';
import { freshDb } from '../helpers/db.ts';
import { requestFrom as from, startAuth } from '../helpers/auth.ts';
import type { Answer, TestAuth } from '../helpers/auth.ts';

// Loopback addresses stand for machines: each request's source address is bound (Linux routes all of 127/8 to lo).
const ATTACKER = '127.0.0.5';
const SCANNER = '127.0.0.2';
const VICTIM = '127.0.0.3';
const DESKTOP = '127.0.0.4';
const PHONE = '127.0.0.6';
const MIN = 60_000;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_CT = { 'content-type': 'application/json' };

function assertError(r: Answer, status: number, code: string): void {
  assert.equal(r.status, status, r.text.slice(0, 300));
  assert.equal(r.body.ok, false, r.text.slice(0, 300));
  assert.equal(r.body.error.code, code, r.text.slice(0, 300));
  assert.equal(typeof r.body.error.message, 'string');
}

interface Login { pollToken: string; matchCode: string; link: URL; token: string; code: string; mailText: string }

async function loginFrom(ip: string, a: TestAuth, email: string, extra: Record<string, string> = {}): Promise<Login> {
  const r = await from(ip, a, 'GET', `/auth/login?${new URLSearchParams({ email, ...extra })}`);
  assert.equal(r.status, 200, r.text);
  assert.match(r.body.matchCode, /^[2-9A-HJKMNP-Z]{6}$/, 'six characters without look-alikes');
  const mail = await a.smtp.nextMail(email.trim().toLowerCase().normalize('NFC'));
  const link = new URL(a.smtp.linkIn(mail));
  return { pollToken: r.body.pollToken, matchCode: r.body.matchCode, link, token: link.searchParams.get('token')!, code: a.smtp.codeIn(mail), mailText: mail.text };
}

const linkPath = (l: Login) => l.link.pathname + l.link.search;
const poll = (a: TestAuth, ip: string, l: Login) => from(ip, a, 'GET', `/auth/login/poll?pollToken=${l.pollToken}`);
const postForm = (a: TestAuth, ip: string, fields: Record<string, string>) => from(ip, a, 'POST', '/auth/verify', { headers: FORM, body: new URLSearchParams(fields).toString() });
const postCode = (a: TestAuth, ip: string, body: unknown) => from(ip, a, 'POST', '/auth/login/code', { headers: JSON_CT, body: typeof body === 'string' ? body : JSON.stringify(body) });

/** A wrong code of the same shape (never equal to the right one). */
const wrongDigits = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');
const wrongMatch = (code: string) => (code[0] === 'A' ? 'B' : 'A') + code.slice(1);

async function deviceCount(a: TestAuth, email: string): Promise<number> {
  const rows = await a.adb.db.selectFrom('devices').innerJoin('users', 'users.id', 'devices.userId').select('devices.id').where('users.email', '=', email).execute();
  return rows.length;
}

export function signinSuite(kind: DbKind): void {
  describe(`sign-in against phishing over ${kind}`, () => {
    let a: TestAuth;
    before(async () => {
      a = await startAuth(kind);
    });
    after(() => a.close());

    test('attacker-started login: scanner fetches, victim clicks without and with a wrong code, then declines; the poll never gets a token', async () => {
      const bait = 'your iPhone (Hone security re-check – tap Sign in)';
      const l = await loginFrom(ATTACKER, a, 'victim@example.com', { deviceName: bait, platform: 'ios' });
      assert.match(l.mailText, new RegExp(`address ${ATTACKER.replace(/\./g, '\\.')}`), 'the e-mail names the requesting address');
      const pending = async (what: string) => assert.equal((await poll(a, ATTACKER, l)).status, 202, what);

      // The scanner, from another address, with every Accept it might send.
      for (const accept of ['*/*', 'application/json', '', 'text/plain, */*;q=0.1']) {
        const r = await from(SCANNER, a, 'GET', linkPath(l), { headers: accept ? { accept } : {} });
        assertError(r, 403, 'CONFIRM_IN_BROWSER');
        await pending(`GET Accept ${accept || '(none)'}`);
      }
      for (const accept of ['*/*', 'text/html', 'application/json']) {
        const head = await from(SCANNER, a, 'HEAD', linkPath(l), { headers: { accept } });
        assert.equal(head.status, 200, `HEAD ${accept}`);
        assert.equal(head.text, '');
        await pending(`HEAD ${accept}`);
      }
      // HEAD from the requesting address changes nothing either.
      assert.equal((await from(ATTACKER, a, 'HEAD', linkPath(l), { headers: { accept: 'application/json' } })).status, 200);
      await pending('HEAD from the requesting address');
      const page = await from(SCANNER, a, 'GET', linkPath(l), { headers: { accept: 'text/html,application/xhtml+xml' } });
      assert.equal(page.status, 200);
      assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
      assert.match(page.text, /id="account">victim@example\.com</);
      assert.match(page.text, new RegExp(`id="server">${new URL(a.url).host}<`));
      assert.match(page.text, new RegExp(`id="requester">${ATTACKER.replace(/\./g, '\\.')}, less than a minute ago<`));
      assert.match(page.text, /as reported by the requesting device/);
      assert.match(page.text, /id="device">your iPhone \(Hone security re-check – tap Sign in\) · ios</);
      assert.match(page.text, /name="matchCode" required/, 'another address is asked for the code');
      assert.match(page.text, /id="decline" name="decline" value="1"/);
      await pending('confirm page');

      // The victim, from a third address, a minute later: no code, then a wrong one.
      a.clock.advance(2 * MIN);
      const noCode = await postForm(a, VICTIM, { token: l.token });
      assert.equal(noCode.status, 400);
      assert.match(noCode.text, /id="problem">Enter the code shown on the device that asked/);
      assert.match(noCode.text, /2 minutes ago/);
      assertError(await from(VICTIM, a, 'POST', '/auth/verify', { headers: JSON_CT, body: JSON.stringify({ token: l.token }) }), 400, 'MATCH_CODE_REQUIRED');
      await pending('no code');
      const wrong = await postForm(a, VICTIM, { token: l.token, matchCode: wrongMatch(l.matchCode) });
      assert.equal(wrong.status, 400);
      assert.match(wrong.text, new RegExp(`does not match; ${MAX_ATTEMPTS - 1} tries left`));
      await pending('wrong code');
      assertError(await from(VICTIM, a, 'GET', linkPath(l)), 403, 'CONFIRM_IN_BROWSER');

      const declined = await postForm(a, VICTIM, { token: l.token, matchCode: '', decline: '1' });
      assert.equal(declined.status, 200);
      assert.match(declined.text, /id="result">Sign-in cancelled</);
      for (let i = 0; i < 2; i++) assertError(await poll(a, ATTACKER, l), 410, 'LOGIN_DECLINED');
      // Nothing brings it back: the link (any path, any address), the code, the right matchCode.
      assertError(await from(ATTACKER, a, 'GET', linkPath(l)), 410, 'LOGIN_DECLINED');
      assertError(await postCode(a, ATTACKER, { pollToken: l.pollToken, code: l.code }), 410, 'LOGIN_DECLINED');
      const late = await postForm(a, VICTIM, { token: l.token, matchCode: l.matchCode });
      assert.equal(late.status, 410);
      assert.match(late.text, /Sign-in cancelled/);
      assertError(await postForm(a, VICTIM, { token: l.token, decline: '1' }).then((r) => from(VICTIM, a, 'POST', '/auth/verify', { headers: JSON_CT, body: JSON.stringify({ token: l.token, decline: '1' }) })), 410, 'LOGIN_DECLINED');
      assertError(await poll(a, ATTACKER, l), 410, 'LOGIN_DECLINED');
      assert.equal(await deviceCount(a, 'victim@example.com'), 0);
      await assert.rejects(a.smtp.nextNotice('victim@example.com', 300), 'no new-device notice');
    });

    test('cross-device: the desktop asks, the phone opens the link and types the matchCode; the notice names the address', async () => {
      const l = await loginFrom(DESKTOP, a, 'cross@example.com', { deviceName: 'Desk', platform: 'linux' });
      const page = await from(PHONE, a, 'GET', linkPath(l), { headers: { accept: 'text/html' } });
      assert.match(page.text, /name="matchCode"/);
      // Typed as a person would: lower case, with a space.
      const typed = `${l.matchCode.slice(0, 3).toLowerCase()} ${l.matchCode.slice(3)}`;
      const done = await postForm(a, PHONE, { token: l.token, deviceName: 'Desk', platform: 'linux', matchCode: typed });
      assert.equal(done.status, 200, done.text);
      assert.match(done.text, /id="result">Signed in</);
      const polled = await poll(a, DESKTOP, l);
      assert.equal(polled.status, 200);
      assert.match(polled.body.deviceToken, /^\d+:\d+:\d+\.[0-9a-f]{64}$/);
      assertError(await poll(a, DESKTOP, l), 410, 'POLL_DELIVERED');
      assert.equal((await a.json('/auth/device', { token: polled.body.deviceToken })).body.device.deviceName, 'Desk');

      const notice = await a.smtp.nextNotice('cross@example.com');
      assert.match(notice.raw, /^Subject: New device signed in to Hone Sync/m);
      assert.match(notice.text, /Device: {3}Desk \(linux\)/);
      assert.match(notice.text, new RegExp(`Address: {2}${DESKTOP.replace(/\./g, '\\.')}`));
      assert.match(notice.text, new RegExp(`Confirmed from: ${PHONE.replace(/\./g, '\\.')}`));
      assert.match(notice.text, new RegExp(`hone-sync devices rm ${polled.body.deviceId}`));
      assert.match(notice.text, new RegExp(new Date(a.clock.now).toISOString().slice(0, 16)));
    });

    test('same address: the JSON link and the page complete in one step, as before; each device added is announced', async () => {
      const l = await loginFrom(DESKTOP, a, 'same@example.com');
      const v = await from(DESKTOP, a, 'GET', linkPath(l), { headers: { accept: '*/*' } });
      assert.equal(v.status, 200, v.text);
      assert.deepEqual((await poll(a, DESKTOP, l)).body, v.body);
      const m = await loginFrom(PHONE, a, 'same@example.com');
      const page = await from(PHONE, a, 'GET', linkPath(m), { headers: { accept: 'text/html' } });
      assert.doesNotMatch(page.text, /name="matchCode"/, 'no code asked from the requesting address');
      assert.equal((await postForm(a, PHONE, { token: m.token })).status, 200);
      assert.equal((await poll(a, PHONE, m)).status, 200);
      for (const ip of [DESKTOP, PHONE]) assert.match((await a.smtp.nextNotice('same@example.com')).text, new RegExp(`Address: {2}${ip.replace(/\./g, '\\.')}`));
    });

    test('the e-mailed code typed on the requesting device: wrong says tries left, right delivers once', async () => {
      const l = await loginFrom(DESKTOP, a, 'code@example.com', { deviceName: 'Terminal', platform: 'linux' });
      const wrong = await postCode(a, DESKTOP, { pollToken: l.pollToken, code: wrongDigits(l.code) });
      assertError(wrong, 400, 'CODE_MISMATCH');
      assert.match(wrong.body.error.message, /4 tries left/);
      assertError(await postCode(a, DESKTOP, { pollToken: l.pollToken, code: 'abcdef' }), 400, 'BAD_REQUEST');
      const ok = await postCode(a, DESKTOP, { pollToken: l.pollToken, code: `${l.code.slice(0, 3)} ${l.code.slice(3)}` });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(Object.keys(ok.body).sort(), ['deviceId', 'deviceToken', 'ok', 'userId']);
      assert.equal((await a.json('/auth/device', { token: ok.body.deviceToken })).body.device.deviceName, 'Terminal');
      // Replayed: the code, the poll, the link.
      assertError(await postCode(a, DESKTOP, { pollToken: l.pollToken, code: l.code }), 410, 'LINK_USED');
      assertError(await poll(a, DESKTOP, l), 410, 'POLL_DELIVERED');
      assertError(await from(DESKTOP, a, 'GET', linkPath(l)), 410, 'LINK_USED');
      assert.match((await a.smtp.nextNotice('code@example.com')).text, new RegExp(`Address: {2}${DESKTOP.replace(/\./g, '\\.')}`));
    });

    test(`lock-out: ${MAX_ATTEMPTS} wrong codes, page and endpoint together, end the login and kill the link`, async () => {
      const l = await loginFrom(DESKTOP, a, 'lock@example.com');
      const page1 = await postForm(a, PHONE, { token: l.token, matchCode: wrongMatch(l.matchCode) });
      assert.match(page1.text, /4 tries left/);
      assertError(await postCode(a, DESKTOP, { pollToken: l.pollToken, code: wrongDigits(l.code) }), 400, 'CODE_MISMATCH');
      assert.match((await postForm(a, PHONE, { token: l.token, matchCode: wrongMatch(l.matchCode) })).text, /2 tries left/);
      const last = await postCode(a, DESKTOP, { pollToken: l.pollToken, code: wrongDigits(l.code) });
      assert.match(last.body.error.message, /1 try left/);
      assertError(await postCode(a, DESKTOP, { pollToken: l.pollToken, code: wrongDigits(l.code) }), 410, 'LOGIN_LOCKED');
      assertError(await postCode(a, DESKTOP, { pollToken: l.pollToken, code: l.code }), 410, 'LOGIN_LOCKED');
      assertError(await poll(a, DESKTOP, l), 410, 'LOGIN_LOCKED');
      assertError(await from(DESKTOP, a, 'GET', linkPath(l)), 410, 'LOGIN_LOCKED');
      const page = await postForm(a, PHONE, { token: l.token, matchCode: l.matchCode });
      assert.equal(page.status, 410);
      assert.match(page.text, /Sign-in locked/);
      assert.equal(await deviceCount(a, 'lock@example.com'), 0);
    });

    test('concurrency: two right codes at once deliver one token; ten wrong ones at once count as five', async () => {
      const l = await loginFrom(DESKTOP, a, 'race@example.com');
      const both = await Promise.all([0, 1].map(() => postCode(a, DESKTOP, { pollToken: l.pollToken, code: l.code })));
      assert.deepEqual(both.map((r) => r.status).sort(), [200, 410], both.map((r) => r.text).join(' | '));
      assert.equal(both.find((r) => r.status === 410)!.body.error.code, 'LINK_USED');
      assert.equal(await deviceCount(a, 'race@example.com'), 1);

      const m = await loginFrom(DESKTOP, a, 'race2@example.com');
      const guesses = await Promise.all(Array.from({ length: 10 }, () => postCode(a, DESKTOP, { pollToken: m.pollToken, code: wrongDigits(m.code) })));
      const codes = guesses.map((r) => r.body.error.code);
      assert.equal(codes.filter((c) => c === 'CODE_MISMATCH').length, MAX_ATTEMPTS - 1, codes.join(','));
      assert.equal(codes.filter((c) => c === 'LOGIN_LOCKED').length, 10 - (MAX_ATTEMPTS - 1), codes.join(','));
      assertError(await postCode(a, DESKTOP, { pollToken: m.pollToken, code: m.code }), 410, 'LOGIN_LOCKED');

      // A decline racing a confirmation: one of them wins, never both.
      const n = await loginFrom(DESKTOP, a, 'race3@example.com');
      const [confirm, decline] = await Promise.all([postCode(a, DESKTOP, { pollToken: n.pollToken, code: n.code }), postForm(a, PHONE, { token: n.token, decline: '1' })]);
      assert.ok((confirm.status === 200) !== (decline.status === 200), `${confirm.status} ${decline.status}`);
    });

    test(`each account gets ${CODE_TRIES_PER_DAY} typed codes a day across logins; the link still works past that`, async () => {
      let tries = 0;
      let l: Login | undefined;
      while (tries < CODE_TRIES_PER_DAY) {
        l = await loginFrom(DESKTOP, a, 'budget@example.com');
        for (let i = 0; i < MAX_ATTEMPTS - 1 && tries < CODE_TRIES_PER_DAY; i++, tries++) {
          assertError(await postCode(a, DESKTOP, { pollToken: l.pollToken, code: wrongDigits(l.code) }), 400, 'CODE_MISMATCH');
        }
      }
      const refused = await postCode(a, DESKTOP, { pollToken: l!.pollToken, code: l!.code });
      assertError(refused, 429, 'RATE_LIMITED');
      assert.ok(Number(refused.headers['retry-after']) > 0);
      assert.match(refused.body.error.message, /open the link/);
      assert.equal((await from(DESKTOP, a, 'GET', linkPath(l!))).status, 200, 'the link is not part of the budget');
      a.clock.advance(24 * 60 * MIN);
      const next = await loginFrom(DESKTOP, a, 'budget@example.com');
      assert.equal((await postCode(a, DESKTOP, { pollToken: next.pollToken, code: next.code })).status, 200);
    });

    test('malformed, oversized, wrong-type, unknown and expired inputs are clear 4xx', async () => {
      const l = await loginFrom(DESKTOP, a, 'bad@example.com');
      const cases: Array<[unknown, number, string]> = [
        [{}, 400, 'BAD_REQUEST'],
        [{ pollToken: l.pollToken }, 400, 'BAD_REQUEST'],
        [{ code: l.code }, 400, 'BAD_REQUEST'],
        [{ pollToken: l.pollToken, code: Number(l.code) }, 400, 'BAD_REQUEST'],
        [{ pollToken: [l.pollToken], code: l.code }, 400, 'BAD_REQUEST'],
        [{ pollToken: l.pollToken, code: null }, 400, 'BAD_REQUEST'],
        [{ pollToken: l.pollToken, code: '1'.repeat(21) }, 400, 'BAD_REQUEST'],
        [{ pollToken: l.pollToken, code: '1234567' }, 400, 'BAD_REQUEST'],
        [{ pollToken: l.pollToken, code: '12345\u0000' }, 400, 'BAD_REQUEST'],
        [{ pollToken: l.pollToken, code: l.code, extra: 1 }, 400, 'BAD_REQUEST'],
        [{ pollToken: 'p'.repeat(201), code: l.code }, 400, 'BAD_REQUEST'],
        [{ pollToken: 'nope', code: l.code }, 404, 'POLL_NOT_FOUND'],
        ['[]', 400, 'BAD_REQUEST'],
        ['{"pollToken":', 400, 'INVALID_JSON'],
        [JSON.stringify({ pollToken: l.pollToken, code: 'x'.repeat(1024 * 1024) }), 413, 'PAYLOAD_TOO_LARGE'],
      ];
      for (const [body, status, code] of cases) {
        const r = await postCode(a, DESKTOP, body);
        assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 60)}: ${r.text.slice(0, 200)}`);
        assert.equal(r.body.ok, false);
        if (status !== 413) assert.equal(r.body.error.code, code, JSON.stringify(body).slice(0, 60));
      }
      assertError(await from(DESKTOP, a, 'POST', '/auth/login/code', { headers: FORM, body: `pollToken=${l.pollToken}&code=${l.code}` }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      assertError(await from(DESKTOP, a, 'GET', '/auth/login/code'), 404, 'NOT_FOUND');
      // The confirm POST's new fields.
      for (const body of [{ token: l.token, matchCode: 123456 }, { token: l.token, matchCode: 'A'.repeat(21) }, { token: l.token, decline: '2' }, { token: l.token, decline: true }]) {
        assertError(await from(PHONE, a, 'POST', '/auth/verify', { headers: JSON_CT, body: JSON.stringify(body) }), 400, 'BAD_REQUEST');
      }
      // None of that counted as a try: the first wrong code still has 4 left, and the right one works.
      assert.match((await postCode(a, DESKTOP, { pollToken: l.pollToken, code: wrongDigits(l.code) })).body.error.message, /4 tries left/);
      // Expired: the code, the page and the poll all say so.
      const e = await loginFrom(DESKTOP, a, 'bad@example.com');
      a.clock.advance(15 * MIN + 1000);
      assertError(await postCode(a, DESKTOP, { pollToken: e.pollToken, code: e.code }), 410, 'LINK_EXPIRED');
      assert.equal((await postForm(a, PHONE, { token: e.token, matchCode: e.matchCode })).status, 410);
      assertError(await from(PHONE, a, 'POST', '/auth/verify', { headers: JSON_CT, body: JSON.stringify({ token: e.token, decline: '1' }) }), 410, 'LINK_EXPIRED');
      assertError(await poll(a, DESKTOP, e), 410, 'LINK_EXPIRED');
    });

    test('HEAD never sends mail or takes a token', async () => {
      const before = a.smtp.mails.length;
      const h = await from(DESKTOP, a, 'HEAD', '/auth/login?email=head@example.com');
      assert.equal(h.status, 404);
      const l = await loginFrom(DESKTOP, a, 'head2@example.com');
      assert.equal(a.smtp.mails.length, before + 1, 'only the GET sent mail');
      assert.equal((await from(DESKTOP, a, 'GET', linkPath(l))).status, 200);
      assert.equal((await from(DESKTOP, a, 'HEAD', `/auth/login/poll?pollToken=${l.pollToken}`)).status, 404);
      assert.equal((await poll(a, DESKTOP, l)).status, 200, 'the token still waits for the GET');
      assert.equal((await from(DESKTOP, a, 'HEAD', `/auth/verify?token=${'0'.repeat(64)}`)).status, 404);
      assert.equal((await from(DESKTOP, a, 'HEAD', linkPath(l))).status, 410);
    });

    test('addresses are trimmed, lower-cased and NFC-normalised; distinct ones never block each other', async () => {
      const nfd = '  A\u0308da@Example.COM ';
      const first = await loginFrom(DESKTOP, a, nfd);
      const one = (await from(DESKTOP, a, 'GET', linkPath(first))).body;
      const second = await loginFrom(DESKTOP, a, '\u00e4da@example.com');
      const two = (await from(DESKTOP, a, 'GET', linkPath(second))).body;
      assert.equal(one.userId, two.userId);
      const rows = await a.adb.db.selectFrom('users').select('email').where('id', '=', one.userId).execute();
      assert.deepEqual(rows.map((r) => r.email), ['\u00e4da@example.com']);
      // "ada" is another account, and its limit is its own.
      for (let i = 0; i < 3; i++) assert.equal((await from(DESKTOP, a, 'GET', `/auth/login?email=${encodeURIComponent('\u00e4da@example.com')}`)).status, 200);
      assertError(await from(DESKTOP, a, 'GET', `/auth/login?email=${encodeURIComponent('A\u0308DA@example.com')}`), 429, 'RATE_LIMITED');
      const plain = await loginFrom(DESKTOP, a, 'ada@example.com');
      const three = (await from(DESKTOP, a, 'GET', linkPath(plain))).body;
      assert.notEqual(three.userId, one.userId);
    });
  });

  describe(`sign-in against phishing over ${kind}: behind a proxy and across the migration`, () => {
    test('trustProxy: the requesting address is the one the proxy appended', async () => {
      const a = await startAuth(kind, { trustProxy: true });
      const b = await startAuth(kind, { trustProxy: false });
      try {
        const xff = (ip: string) => ({ 'x-forwarded-for': `6.6.6.6, ${ip}` });
        const r = await from('127.0.0.1', a, 'GET', '/auth/login?email=proxy@example.com', { headers: xff('203.0.113.9') });
        const link = new URL(a.smtp.linkIn(await a.smtp.nextMail('proxy@example.com')));
        const path = link.pathname + link.search;
        assert.match((await from('127.0.0.1', a, 'GET', path, { headers: { accept: 'text/html', ...xff('198.51.100.7') } })).text, /id="requester">203\.0\.113\.9,/);
        assertError(await from('127.0.0.1', a, 'GET', path, { headers: xff('198.51.100.7') }), 403, 'CONFIRM_IN_BROWSER');
        assertError(await from('127.0.0.1', a, 'GET', path, { headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.7' } }), 403, 'CONFIRM_IN_BROWSER');
        const v = await from('127.0.0.1', a, 'GET', path, { headers: xff('203.0.113.9') });
        assert.equal(v.status, 200, v.text);
        assert.equal((await from('127.0.0.1', a, 'GET', `/auth/login/poll?pollToken=${r.body.pollToken}`)).status, 200);

        // Without trustProxy the header is the client's own words: the socket address counts.
        await from(DESKTOP, b, 'GET', '/auth/login?email=noproxy@example.com', { headers: xff(PHONE) });
        const l2 = new URL(b.smtp.linkIn(await b.smtp.nextMail('noproxy@example.com')));
        assertError(await from(PHONE, b, 'GET', l2.pathname + l2.search, { headers: xff(DESKTOP) }), 403, 'CONFIRM_IN_BROWSER');
        assert.equal((await from(DESKTOP, b, 'GET', l2.pathname + l2.search)).status, 200);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('migration 003 normalises the addresses already stored; the database compares them exactly', async () => {
      const db = await freshDb(kind);
      const adb = openDatabase({ ...db.config, 'db.poolSize': 2 });
      try {
        const migrator = new Migrator({ db: adb.db, provider: migrationProvider(adb.dialect) });
        assert.equal((await migrator.migrateTo('002_poll_and_revocations')).error, undefined);
        const at = '2026-11-24 12:00:00';
        await adb.db.insertInto('users').values([{ email: 'bo\u0308b@example.com', createdAt: at }, { email: 'carl@example.com', createdAt: at }]).execute();
        await adb.db.insertInto('magic_links').values({ email: 'bo\u0308b@example.com', token: 'x'.repeat(64), expiresAt: at, used: 0, createdAt: at } as never).execute();
        await migrate(adb);
        assert.deepEqual((await adb.db.selectFrom('users').select('email').orderBy('id').execute()).map((r) => r.email), ['b\u00f6b@example.com', 'carl@example.com']);
        assert.equal((await adb.db.selectFrom('magic_links').select('email').executeTakeFirstOrThrow()).email, 'b\u00f6b@example.com');
        // Exact comparison: "cärl" is not "carl" (MariaDB's default collation would say it is).
        await adb.db.insertInto('users').values({ email: 'c\u00e4rl@example.com', createdAt: at }).execute();
        assert.equal((await adb.db.selectFrom('users').select('id').where('email', '=', 'carl@example.com').execute()).length, 1);
        assert.equal((await adb.db.selectFrom('users').select('id').where('email', '=', 'CARL@example.com').execute()).length, 0);
      } finally {
        await adb.close();
        await db.drop();
      }
    });
  });
}
