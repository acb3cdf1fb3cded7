// Hostile input against every hone-auth endpoint, over SQLite and the real MariaDB: missing and oversized input,
// non-UTF-8 bytes, SQL-ish strings, wrong types and content types, odd ids, broken and forged tokens.
// Every answer must be a 4xx with the standard JSON error body of SPEC §5; afterwards nothing may be lost.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { hmacHex, signToken } from '../../src/common/token.ts';
import { startAuth, TEST_SECRET } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';

const JSON_CT = { 'content-type': 'application/json' };
const MB = 1024 * 1024;
const SQLISH = [`' OR 1=1 --`, `"; DROP TABLE users; --`, `1; DELETE FROM devices`, `') UNION SELECT * FROM users --`];
const BAD_IDS = ['0', '-1', 'abc', '99999999999', '1e3', '1.5', '%20', '%FF%FE', encodeURIComponent(`' OR 1=1 --`), encodeURIComponent('1; DROP TABLE devices'), '0x10', '１', 'a'.repeat(150)];

interface Answer { status: number; headers: Record<string, string>; body: any; text: string }

/** The standard error body, a 4xx status and a JSON content type; `statuses` narrows the status when given. */
function assertError(r: Answer, statuses?: number[], what = ''): void {
  const ctx = `${what} → ${r.status} ${r.text.slice(0, 300)}`;
  assert.ok(r.status >= 400 && r.status < 500, `expected 4xx: ${ctx}`);
  if (statuses) assert.ok(statuses.includes(r.status), `expected ${statuses.join('/')}: ${ctx}`);
  assert.match(r.headers['content-type'] ?? '', /^application\/json\b/, `content type: ${ctx}`);
  assert.equal(typeof r.body, 'object', ctx);
  assert.deepEqual(Object.keys(r.body).sort(), ['error', 'ok'], ctx);
  assert.equal(r.body.ok, false, ctx);
  assert.deepEqual(Object.keys(r.body.error).sort(), ['code', 'message'], ctx);
  assert.match(r.body.error.code, /^[A-Z][A-Z_]*$/, ctx);
  assert.equal(typeof r.body.error.message, 'string', ctx);
  assert.ok(r.body.error.message.length > 0, ctx);
}

/** Either a success with `ok:true` or the standard error; never 5xx. */
function assertHandled(r: Answer, what = ''): void {
  assert.ok(r.status < 500, `5xx: ${what} → ${r.status} ${r.text.slice(0, 300)}`);
  if (r.status >= 400) assertError(r, undefined, what);
  else {
    assert.match(r.headers['content-type'] ?? '', /^application\/json\b/, what);
    assert.equal(r.body.ok, true, what);
  }
}

function parseBody(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function call(a: TestAuth, method: string, path: string, init: { token?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  const headers = new Headers(init.headers);
  if (init.token !== undefined) headers.set('authorization', `Bearer ${init.token}`);
  const res = await fetch(a.url + path, { method, headers, body: init.body as BodyInit | undefined });
  const text = await res.text();
  return { status: res.status, headers: Object.fromEntries(res.headers), body: parseBody(text), text };
}

function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', i);
    if (eol < 0) break;
    const size = parseInt(body.subarray(i, eol).toString('latin1'), 16);
    if (!size) break;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** Writes raw bytes to the server (in chunks, stopping once it answers) and parses the first response. */
function raw(a: TestAuth, bytes: Buffer): Promise<Answer> {
  const { hostname, port } = new URL(a.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let answered = false;
    let offset = 0;
    const pump = () => {
      while (!answered && offset < bytes.length && !socket.destroyed) {
        const next = bytes.subarray(offset, offset + 64 * 1024);
        offset += next.length;
        if (!socket.write(next)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    socket.on('connect', pump);
    socket.on('data', (c: Buffer) => {
      answered = true;
      chunks.push(c);
    });
    socket.on('error', () => {}); // EPIPE/ECONNRESET once the server has answered and hung up
    socket.setTimeout(15_000, () => socket.destroy());
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) {
        reject(new Error(`no HTTP response (got ${all.length} bytes: ${JSON.stringify(all.toString('latin1').slice(0, 200))})`));
        return;
      }
      const [statusLine, ...lines] = all.subarray(0, split).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      let body: Buffer = all.subarray(split + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
      else if (headers['content-length']) body = body.subarray(0, Number(headers['content-length']));
      const text = body.toString('utf8');
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: parseBody(text), text });
    });
  });
}

function rawRequest(a: TestAuth, method: string, target: string | Buffer, headers: string[] = [], body?: Buffer): Buffer {
  const head = [`${method} `, target, ` HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`, ...headers.map((h) => `${h}\r\n`),
    body ? `Content-Length: ${body.length}\r\n` : '', '\r\n'];
  return Buffer.concat([...head.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1'))), body ?? Buffer.alloc(0)]);
}

type Auth = 'none' | 'bearer' | 'relay';
interface Endpoint { method: 'GET' | 'POST' | 'DELETE'; path: string; auth: Auth; params: string[] }

/** Every route, with a stand-in id for the parametrised ones and the query parameters each takes. */
const ENDPOINTS: Endpoint[] = [
  { method: 'GET', path: '/auth/login', auth: 'none', params: ['email', 'deviceName', 'platform'] },
  { method: 'GET', path: '/auth/verify', auth: 'none', params: ['token', 'deviceName', 'platform'] },
  { method: 'POST', path: '/auth/verify', auth: 'none', params: [] },
  { method: 'GET', path: '/auth/login/poll', auth: 'none', params: ['pollToken'] },
  { method: 'POST', path: '/auth/login/code', auth: 'none', params: [] },
  { method: 'GET', path: '/auth/device', auth: 'bearer', params: [] },
  { method: 'GET', path: '/auth/devices', auth: 'bearer', params: [] },
  { method: 'DELETE', path: '/auth/device/1', auth: 'bearer', params: [] },
  { method: 'POST', path: '/auth/project', auth: 'bearer', params: [] },
  { method: 'GET', path: '/auth/projects', auth: 'bearer', params: [] },
  { method: 'DELETE', path: '/auth/project/1', auth: 'bearer', params: [] },
  { method: 'GET', path: '/auth/subscription', auth: 'bearer', params: [] },
  { method: 'GET', path: '/auth/revocations', auth: 'relay', params: ['since'] },
  { method: 'GET', path: '/health', auth: 'none', params: [] },
  { method: 'GET', path: '/no/such/route', auth: 'none', params: [] },
];
const BEARER = ENDPOINTS.filter((e) => e.auth === 'bearer');
const relayAuth = (since: string, secret = TEST_SECRET) => `Hone-Relay ${hmacHex(secret, `revocations|${since}`)}`;

for (const kind of ['sqlite', 'mysql'] as const) {
  describe(`hostile input over ${kind}`, () => {
    let a: TestAuth;
    let me: { deviceToken: string; userId: number; deviceId: number };
    let other: { deviceToken: string; userId: number; deviceId: number };
    let gone: { deviceToken: string; userId: number; deviceId: number };
    let projectId: number;
    let otherProjectId: number;

    before(async () => {
      a = await startAuth(kind, { 'tiers.default': 'pro', 'login.perEmail': 100_000 });
      me = await a.signIn('hostile@example.com', 'Main', 'linux');
      other = await a.signIn('someone-else@example.com', 'Theirs', 'darwin');
      gone = await a.signIn('hostile@example.com', 'Doomed', 'win32');
      const del = await call(a, 'DELETE', `/auth/device/${gone.deviceId}`, { token: me.deviceToken });
      assert.equal(del.status, 200, del.text);
      const p = await call(a, 'POST', '/auth/project', { token: me.deviceToken, headers: JSON_CT, body: JSON.stringify({ projectKey: 'keep-me', name: 'Keep me' }) });
      assert.equal(p.status, 200, p.text);
      projectId = p.body.project.id;
      const q = await call(a, 'POST', '/auth/project', { token: other.deviceToken, headers: JSON_CT, body: JSON.stringify({ projectKey: 'theirs' }) });
      assert.equal(q.status, 200, q.text);
      otherProjectId = q.body.project.id;
    });
    after(() => a?.close());

    /** A fitting request to `e` with a valid credential, so that only the thing under test is wrong. */
    const creds = (e: Endpoint, since = ''): Record<string, string> =>
      e.auth === 'bearer' ? { authorization: `Bearer ${me.deviceToken}` } : e.auth === 'relay' ? { authorization: relayAuth(since) } : {};

    test('missing parameters, headers and bodies', async () => {
      for (const path of ['/auth/login', '/auth/login?', '/auth/login?email=', '/auth/login?deviceName=x&platform=y', '/auth/login?email=@', '/auth/login?email=a@b']) {
        assertError(await call(a, 'GET', path), [400], path);
      }
      for (const path of ['/auth/verify', '/auth/verify?deviceName=x', '/auth/verify?token=']) assertError(await call(a, 'GET', path), [400, 404], path);
      assertError(await call(a, 'POST', '/auth/verify'), [400, 415], 'POST /auth/verify without body');
      assertError(await call(a, 'POST', '/auth/verify', { headers: JSON_CT, body: '' }), [400], 'POST /auth/verify empty JSON');
      assertError(await call(a, 'POST', '/auth/verify', { headers: JSON_CT, body: '{}' }), [400], 'POST /auth/verify {}');
      for (const path of ['/auth/login/poll', '/auth/login/poll?pollToken=', '/auth/login/poll?pollToken=nope']) assertError(await call(a, 'GET', path), [400, 404, 410], path);
      for (const e of BEARER) {
        const init = e.path === '/auth/project' ? { headers: JSON_CT, body: '{"projectKey":"no-token"}' } : {};
        assertError(await call(a, e.method, e.path, init), [401], `${e.method} ${e.path} without token`);
      }
      assertError(await call(a, 'POST', '/auth/project', { token: me.deviceToken }), [400, 415], 'POST /auth/project without body');
      assertError(await call(a, 'POST', '/auth/project', { token: me.deviceToken, headers: JSON_CT, body: '{}' }), [400], 'POST /auth/project {}');
      assertError(await call(a, 'DELETE', '/auth/device/', { token: me.deviceToken }), [400, 404], 'DELETE /auth/device/');
      assertError(await call(a, 'DELETE', '/auth/project/', { token: me.deviceToken }), [400, 404], 'DELETE /auth/project/');
      assertError(await call(a, 'GET', '/auth/revocations'), [401], 'revocations without header');
      assertError(await call(a, 'GET', '/auth/revocations?since='), [401], 'revocations with empty since, no header');
    });

    test('unknown routes and wrong methods', async () => {
      for (const [method, path] of [['GET', '/'], ['GET', '/nope'], ['GET', '/auth'], ['GET', '/auth/'], ['GET', '/auth/login/'], ['POST', '/auth/login'],
        ['PUT', '/auth/project'], ['PATCH', '/auth/device'], ['DELETE', '/auth/devices'], ['GET', '/auth/device/1'], ['POST', '/health'],
        ['GET', '/auth/device/1/2'], ['GET', `/${'x'.repeat(5000)}`], ['GET', '/..%2f..%2fetc%2fpasswd'], ['GET', '/%00'], ['OPTIONS', '/auth/login']]) {
        const r = await call(a, method, path);
        assertError(r, [400, 404, 405], `${method} ${path.slice(0, 60)}`);
      }
      assert.equal((await call(a, 'GET', '/nope')).body.error.code, 'NOT_FOUND');
    });

    test('a 1 MB query string is refused by the parser with the standard body', async () => {
      for (const e of ENDPOINTS) {
        const target = `${e.path}?${e.params[0] ?? 'q'}=${'a'.repeat(MB)}`;
        assertError(await raw(a, rawRequest(a, e.method, target, Object.entries(creds(e)).map(([k, v]) => `${k}: ${v}`))), [414, 431], `${e.method} ${e.path} 1 MB query`);
      }
      // Many small parameters adding up to more than the header limit, and one huge header.
      assertError(await raw(a, rawRequest(a, 'GET', `/auth/login?${'x=1&'.repeat(MB / 4)}`)), [414, 431], 'many parameters');
      assertError(await raw(a, rawRequest(a, 'GET', '/auth/device', [`Authorization: Bearer ${'a'.repeat(MB)}`])), [431], '1 MB header');
      assertError(await raw(a, rawRequest(a, 'GET', '/health', Array.from({ length: 5000 }, (_, i) => `X-H${i}: ${i}`))), [431], '5000 headers');
    });

    test('a 1 MB body is refused with 413', async () => {
      const big = JSON.stringify({ projectKey: 'k', name: 'n', token: 'a'.repeat(MB) });
      for (const e of ENDPOINTS.filter((x) => x.method !== 'GET')) {
        assertError(await call(a, e.method, e.path, { headers: { ...JSON_CT, ...creds(e) }, body: big }), [413], `${e.method} ${e.path} 1 MB JSON`);
        assertError(await call(a, e.method, e.path, { headers: { 'content-type': 'application/x-www-form-urlencoded', ...creds(e) }, body: `token=${'a'.repeat(MB)}` }), [413, 415], `${e.method} ${e.path} 1 MB form`);
      }
      // Without Content-Length (chunked) the limit holds too.
      const chunked = rawRequest(a, 'POST', '/auth/project', [`Authorization: Bearer ${me.deviceToken}`, 'Content-Type: application/json', 'Transfer-Encoding: chunked']);
      const payload = Buffer.alloc(MB, 'a');
      const body = Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]);
      assertError(await raw(a, Buffer.concat([chunked, body])), [413], 'chunked 1 MB');
      // GET endpoints given a body: ignored or refused, but never a 5xx.
      for (const e of ENDPOINTS.filter((x) => x.method === 'GET')) {
        const r = await raw(a, rawRequest(a, 'GET', e.path, ['Content-Type: application/json', ...Object.entries(creds(e)).map(([k, v]) => `${k}: ${v}`)], Buffer.from(big)));
        assertHandled(r, `GET ${e.path} with a 1 MB body`);
      }
      // A Content-Length that lies.
      assertError(await raw(a, Buffer.from(`POST /auth/verify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}`)), [400], 'bad Content-Length');
      assertError(await raw(a, Buffer.from(`POST /auth/verify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}`)), [400], 'CL and TE');
    });

    test('non-UTF-8: %FF%FE in every parameter and path, raw 0xFF bytes', async () => {
      for (const e of ENDPOINTS) {
        for (const p of e.params) {
          for (const v of ['%FF%FE', '%FF%FE@example.com', 'a%C0%AFb@example.com', '%ED%A0%80', '%', '%zz', '%00']) {
            const path = `${e.path}?${p}=${v}`;
            const r = await call(a, e.method, path, { headers: creds(e, p === 'since' ? v : '') });
            // Invalid escapes are kept literally ("%ff%fe@example.com" is a legal address); never decoded into junk or a 5xx.
            if (e.path === '/health' || (p === 'email' && v.includes('@')) || p === 'deviceName' || p === 'platform') assertHandled(r, path);
            else assertError(r, undefined, path);
          }
        }
      }
      for (const path of ['/auth/device/%FF%FE', '/auth/project/%FF', '/%FF%FE', '/auth/%C0%AF', '/auth/device/%']) {
        assertError(await call(a, 'DELETE', path, { token: me.deviceToken }), [400, 404], `DELETE ${path}`);
        assertError(await call(a, 'GET', path, { token: me.deviceToken }), [400, 404], `GET ${path}`);
      }
      const ff = Buffer.from([0xff, 0xfe]);
      const targets = [
        Buffer.concat([Buffer.from('/auth/login?email=a'), ff, Buffer.from('@example.com')]),
        Buffer.concat([Buffer.from('/auth/verify?token='), ff]),
        Buffer.concat([Buffer.from('/auth/login/poll?pollToken='), ff]),
        Buffer.concat([Buffer.from('/auth/revocations?since='), ff]),
        Buffer.concat([Buffer.from('/auth/device/'), ff]),
        Buffer.concat([Buffer.from('/'), ff]),
      ];
      for (const t of targets) {
        for (const method of ['GET', 'DELETE']) {
          assertError(await raw(a, rawRequest(a, method, t, [`Authorization: Bearer ${me.deviceToken}`])), undefined, `raw ${method} ${t.toString('latin1')}`);
        }
      }
      // 0xFF in header values and names.
      for (const e of BEARER) {
        const r = await raw(a, rawRequest(a, e.method, e.path, [Buffer.concat([Buffer.from('Authorization: Bearer '), ff, ff]).toString('latin1')]));
        assertError(r, [400, 401], `${e.path} 0xFF token`);
      }
      assertError(await raw(a, rawRequest(a, 'GET', '/auth/revocations', [`Authorization: Hone-Relay \xff\xfe`])), [400, 401], 'revocations 0xFF');
      assertError(await raw(a, rawRequest(a, 'GET', '/auth/device', ['X-\xff: 1'])), [400], 'header name 0xFF');
      assertError(await raw(a, Buffer.from('G\xffT /health HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1')), [400], 'method 0xFF');
      assertError(await raw(a, Buffer.from('\xff\xfe\r\n\r\n', 'latin1')), [400], 'garbage request line');
      assertError(await raw(a, Buffer.from('GET /health HTTP/9.9\r\nHost: x\r\n\r\n', 'latin1')), [400, 505].filter((s) => s < 500), 'bad HTTP version');
      // Invalid UTF-8 inside a JSON body.
      const badJson = Buffer.concat([Buffer.from('{"projectKey":"a'), ff, Buffer.from('"}')]);
      const r = await call(a, 'POST', '/auth/project', { token: me.deviceToken, headers: JSON_CT, body: badJson });
      assertHandled(r, 'JSON with raw 0xFF');
      if (r.status === 200) await call(a, 'DELETE', `/auth/project/${r.body.project.id}`, { token: me.deviceToken });
      const v = await call(a, 'POST', '/auth/verify', { headers: JSON_CT, body: Buffer.concat([Buffer.from('{"token":"'), ff, Buffer.from('"}')]) });
      assertError(v, undefined, 'verify JSON with raw 0xFF');
    });

    test('SQL-ish strings are refused or stored verbatim, never executed', async () => {
      for (const s of SQLISH) {
        const q = encodeURIComponent(s);
        assertError(await call(a, 'GET', `/auth/login?email=${q}`), [400], `login ${s}`);
        assertError(await call(a, 'GET', `/auth/login?email=${q}@example.com`), [400], `login ${s}@example.com`);
        assertError(await call(a, 'GET', `/auth/verify?token=${q}`), [404], `verify ${s}`);
        assertError(await call(a, 'POST', '/auth/verify', { headers: JSON_CT, body: JSON.stringify({ token: s }) }), [404], `POST verify ${s}`);
        assertError(await call(a, 'GET', `/auth/login/poll?pollToken=${q}`), [404, 410], `poll ${s}`);
        assertError(await call(a, 'GET', `/auth/revocations?since=${q}`, { headers: { authorization: relayAuth(s) } }), [400, 401], `revocations ${s}`);
        for (const base of ['/auth/device/', '/auth/project/']) assertError(await call(a, 'DELETE', base + q, { token: me.deviceToken }), [400, 404], `DELETE ${base}${s}`);
        assertError(await call(a, 'GET', '/auth/device', { token: s.replace(/\s/g, '') }), [401], `token ${s}`);
      }
      // Valid-shaped input carrying SQL is accepted and kept byte for byte.
      const email = `x'or'1'='1--@example.com`;
      const login = await call(a, 'GET', `/auth/login?${new URLSearchParams({ email, deviceName: `"; DROP TABLE users; --`, platform: `' OR 1=1 --` })}`);
      assert.equal(login.status, 200, login.text);
      for (const s of SQLISH) {
        const r = await call(a, 'POST', '/auth/project', { token: me.deviceToken, headers: JSON_CT, body: JSON.stringify({ projectKey: s, name: s }) });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.body.project.projectKey, s);
        assert.equal(r.body.project.name, s);
        const again = await call(a, 'POST', '/auth/project', { token: me.deviceToken, headers: JSON_CT, body: JSON.stringify({ projectKey: s }) });
        assert.equal(again.body.project.id, r.body.project.id, 'same key, same record');
        assert.equal((await call(a, 'DELETE', `/auth/project/${r.body.project.id}`, { token: me.deviceToken })).status, 200);
      }
      const list = await call(a, 'GET', '/auth/projects', { token: me.deviceToken });
      assert.deepEqual(list.body.projects.map((p: { projectKey: string }) => p.projectKey), ['keep-me']);
    });

    test('wrongly typed input: repeated query keys, JSON of the wrong shape, wrong content types', async () => {
      for (const path of ['/auth/login?email=a@example.com&email=b@example.com', '/auth/login?email=a@example.com&deviceName=x&deviceName=y',
        '/auth/login?email=a@example.com&platform=a&platform=b', '/auth/verify?token=a&token=b', `/auth/verify?token=${'a'.repeat(64)}&token=${'b'.repeat(64)}`,
        '/auth/login/poll?pollToken=a&pollToken=b', '/auth/login?email[]=a@example.com', '/auth/login?email[a]=b', '/auth/login?__proto__[x]=1&email=a@example.com',
        '/auth/login?constructor=1', '/auth/login?email=' + 'a'.repeat(300) + '@example.com', '/auth/login?email=a%0d%0aBcc:evil@example.com@example.com',
        '/auth/login?email=a@example.com&deviceName=%00', '/auth/login?email=a@example.com&deviceName=' + 'x'.repeat(300), '/auth/login?email=a@example.com&platform=a%0Ab',
        '/auth/verify?token=' + 'a'.repeat(500), '/auth/login/poll?pollToken=' + 'a'.repeat(500)]) {
        const r = await call(a, 'GET', path);
        if (path.includes('__proto__')) assertHandled(r, path);
        else assertError(r, [400, 404], path.slice(0, 100));
      }
      for (const since of ['-1', 'abc', '1e3', '1.5', '99999999999999999999', ' 1', '0x1']) {
        assertError(await call(a, 'GET', `/auth/revocations?since=${encodeURIComponent(since)}`, { headers: { authorization: relayAuth(since) } }), [400], `since=${since}`);
      }
      assertError(await call(a, 'GET', '/auth/revocations?since=1&since=2', { headers: { authorization: relayAuth('1') } }), [400, 401], 'since twice');
      const far = await call(a, 'GET', '/auth/revocations?since=999999999999999', { headers: { authorization: relayAuth('999999999999999') } });
      assert.equal(far.status, 200, far.text);
      assert.deepEqual(far.body, { ok: true, revoked: [], cursor: '999999999999999' });

      const bodies = ['null', '1', '"str"', 'true', '[]', '[{"projectKey":"a"}]', '{"projectKey":1}', '{"projectKey":{}}', '{"projectKey":null}', '{"projectKey":["a"]}',
        '{"projectKey":true}', '{"projectKey":""}', '{"projectKey":"a","name":5}', '{"projectKey":"a","name":null}', '{"projectKey":"a","name":""}',
        '{"projectKey":"a\\u0000b"}', '{"projectKey":"' + 'k'.repeat(256) + '"}', '{"projectKey":"a","__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}},"projectKey":7}',
        '{bad', '{"projectKey":"a"', '{"projectKey":"a"}{"x":1}', '\u0000', 'NaN', '{"projectKey":1e400}'];
      for (const body of bodies) {
        assertError(await call(a, 'POST', '/auth/project', { token: me.deviceToken, headers: JSON_CT, body }), [400], `project ${body.slice(0, 60)}`);
      }
      for (const body of ['null', '1', '[]', '{"token":1}', '{"token":null}', '{"token":["' + 'a'.repeat(64) + '"]}', '{"token":{}}', '{"token":"' + 'a'.repeat(64) + '","deviceName":7}',
        '{"token":"' + 'a'.repeat(64) + '","platform":{}}', '{bad', '{"token":"' + 'a'.repeat(201) + '"}']) {
        assertError(await call(a, 'POST', '/auth/verify', { headers: JSON_CT, body }), [400], `verify ${body.slice(0, 60)}`);
      }
      for (const ct of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/json-patch+json', 'image/png', 'nonsense', '']) {
        for (const [path, body] of [['/auth/project', '{"projectKey":"ct"}'], ['/auth/verify', `{"token":"${'a'.repeat(64)}"}`]]) {
          const headers: Record<string, string> = ct ? { 'content-type': ct } : {};
          const r = await call(a, 'POST', path, { token: me.deviceToken, headers, body: ct ? body : Buffer.from(body) });
          assertError(r, [400, 415], `${path} as ${ct || 'no content type'}`);
        }
      }
      // A form body is for the browser's confirm POST on /auth/verify only.
      const form = await call(a, 'POST', '/auth/project', { token: me.deviceToken, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'projectKey=form' });
      assertError(form, [415], 'form body on /auth/project');
      // JSON content type, not JSON.
      for (const e of ENDPOINTS.filter((x) => x.method !== 'GET')) {
        for (const body of ['not json', '<xml/>', '{"a":', '\xff']) {
          assertError(await call(a, e.method, e.path, { headers: { ...JSON_CT, ...creds(e) }, body }), [400], `${e.method} ${e.path} "${body}"`);
        }
      }
    });

    test('look-alike e-mail addresses and project keys never reach an existing account or project', async () => {
      // MariaDB's default collation equates "i" and "ï", "a" and "ä", "A" and "a", and ignores trailing spaces.
      const victim = await a.signIn('victim@example.com');
      for (const email of ['vïctim@example.com', 'victim@exämple.com', 'VİCTIM@example.com'.toLowerCase()]) {
        const login = await call(a, 'GET', `/auth/login?${new URLSearchParams({ email })}`);
        assert.equal(login.status, 200, login.text);
        const link = new URL(a.smtp.linkIn(await a.smtp.nextMail(email)));
        const v = await call(a, 'GET', link.pathname + link.search);
        if (v.status === 200) assert.notEqual(v.body.userId, victim.userId, `${email} signed in as victim@example.com`);
        else assertError(v, [409], `verify ${email}`);
      }
      const base = await call(a, 'POST', '/auth/project', { token: victim.deviceToken, headers: JSON_CT, body: '{"projectKey":"Repo"}' });
      assert.equal(base.status, 200, base.text);
      for (const projectKey of ['repo', 'Repo ', 'Rëpo', 'REPO']) {
        const r = await call(a, 'POST', '/auth/project', { token: victim.deviceToken, headers: JSON_CT, body: JSON.stringify({ projectKey }) });
        if (r.status === 200) {
          assert.equal(r.body.project.projectKey, projectKey);
          assert.notEqual(r.body.project.id, base.body.project.id);
        } else assertError(r, [409], `project ${projectKey}`);
      }
      const again = await call(a, 'POST', '/auth/project', { token: victim.deviceToken, headers: JSON_CT, body: '{"projectKey":"Repo"}' });
      assert.equal(again.body.project.id, base.body.project.id);
    });

    test('odd ids in DELETE /auth/device/:id and /auth/project/:id', async () => {
      for (const base of ['/auth/device/', '/auth/project/']) {
        for (const id of BAD_IDS) assertError(await call(a, 'DELETE', base + id, { token: me.deviceToken }), [400, 404, 414], `DELETE ${base}${id.slice(0, 20)}`);
        for (const id of ['9999999999', '2147483647', '2147483648', '4294967296']) assertError(await call(a, 'DELETE', base + id, { token: me.deviceToken }), [404], `DELETE ${base}${id}`);
      }
      // Someone else's records: not yours, so not found, and still there afterwards.
      assertError(await call(a, 'DELETE', `/auth/device/${other.deviceId}`, { token: me.deviceToken }), [404], 'their device');
      assertError(await call(a, 'DELETE', `/auth/project/${otherProjectId}`, { token: me.deviceToken }), [404], 'their project');
      assertError(await call(a, 'DELETE', `/auth/device/${gone.deviceId}`, { token: me.deviceToken }), [404], 'already deleted device');
      assert.equal((await call(a, 'GET', '/auth/device', { token: other.deviceToken })).status, 200);
      assert.equal((await call(a, 'GET', '/auth/projects', { token: other.deviceToken })).body.projects.length, 1);
    });

    test('broken, forged and revoked tokens get 401 on every authenticated endpoint', async () => {
      const t = me.deviceToken;
      const [payload, hash] = t.split('.');
      const [uid, did, ts] = payload.split(':');
      const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === '0' ? '1' : '0') + s.slice(i + 1);
      const claims = { userId: me.userId, deviceId: me.deviceId, issuedAt: Number(ts) };
      const cases: Array<[string, Record<string, string>]> = [
        ['no header', {}],
        ['empty header', { authorization: '' }],
        ['Bearer alone', { authorization: 'Bearer' }],
        ['Bearer space', { authorization: 'Bearer ' }],
        ['Bearer garbage', { authorization: 'Bearer garbage' }],
        ['Bearer SQL', { authorization: `Bearer ' OR 1=1 --` }],
        ['Basic', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
        ['token without scheme', { authorization: t }],
        ['two tokens', { authorization: `Bearer ${t} ${t}` }],
        ['4 KB token', { authorization: `Bearer ${'a'.repeat(4096)}` }],
        ['truncated by one', { authorization: `Bearer ${t.slice(0, -1)}` }],
        ['truncated to the payload', { authorization: `Bearer ${payload}` }],
        ['truncated to the payload and dot', { authorization: `Bearer ${payload}.` }],
        ['half', { authorization: `Bearer ${t.slice(0, t.length >> 1)}` }],
        ['flipped last hash char', { authorization: `Bearer ${payload}.${flip(hash, hash.length - 1)}` }],
        ['flipped first hash char', { authorization: `Bearer ${payload}.${flip(hash, 0)}` }],
        ['uppercase hash', { authorization: `Bearer ${payload}.${hash.toUpperCase()}` }],
        ['hash plus a char', { authorization: `Bearer ${t}0` }],
        ['other device id, same hash', { authorization: `Bearer ${uid}:${other.deviceId}:${ts}.${hash}` }],
        ['other user id, same hash', { authorization: `Bearer ${other.userId}:${did}:${ts}.${hash}` }],
        ['changed timestamp, same hash', { authorization: `Bearer ${uid}:${did}:${Number(ts) + 1}.${hash}` }],
        ['leading zeros', { authorization: `Bearer 0${uid}:${did}:${ts}.${hash}` }],
        ['zero ids', { authorization: `Bearer ${signToken({ userId: 0, deviceId: 0, issuedAt: 1 }, { secret: TEST_SECRET, algorithm: 'hmac-sha256' })}` }],
        ['negative id', { authorization: `Bearer -1:${did}:${ts}.${hash}` }],
        ['re-signed with another secret', { authorization: `Bearer ${signToken(claims, { secret: 'another-secret-0123456789abcdef0123456789', algorithm: 'hmac-sha256' })}` }],
        ['djb2-forged with the right secret', { authorization: `Bearer ${signToken(claims, { secret: TEST_SECRET, algorithm: 'djb2' })}` }],
        ['djb2 with an empty secret', { authorization: `Bearer ${signToken(claims, { secret: '', algorithm: 'djb2' })}` }],
        ['HMAC with an empty secret', { authorization: `Bearer ${signToken(claims, { secret: '', algorithm: 'hmac-sha256' })}` }],
        ['non-existent device', { authorization: `Bearer ${signToken({ ...claims, deviceId: 987654 }, { secret: TEST_SECRET, algorithm: 'hmac-sha256' })}` }],
        ['device id past INT', { authorization: `Bearer ${signToken({ ...claims, deviceId: 999999999999999 }, { secret: TEST_SECRET, algorithm: 'hmac-sha256' })}` }],
        ['user id past INT', { authorization: `Bearer ${signToken({ ...claims, userId: 999999999999999 }, { secret: TEST_SECRET, algorithm: 'hmac-sha256' })}` }],
        ['real device, wrong user, signed', { authorization: `Bearer ${signToken({ ...claims, userId: other.userId }, { secret: TEST_SECRET, algorithm: 'hmac-sha256' })}` }],
        ['re-issued for my device (not the stored one)', { authorization: `Bearer ${signToken({ ...claims, issuedAt: claims.issuedAt + 1000 }, { secret: TEST_SECRET, algorithm: 'hmac-sha256' })}` }],
        ['deleted device', { authorization: `Bearer ${gone.deviceToken}` }],
        ['relay scheme', { authorization: relayAuth('') }],
      ];
      for (const e of BEARER) {
        for (const [name, headers] of cases) {
          const init = e.path === '/auth/project' ? { headers: { ...JSON_CT, ...headers }, body: '{"projectKey":"tok"}' } : { headers };
          assertError(await call(a, e.method, e.path, init), [401], `${e.method} ${e.path}: ${name}`);
        }
      }
      // The deleted device's token must not sneak through via a body or query either.
      assertError(await call(a, 'GET', `/auth/device?token=${encodeURIComponent(me.deviceToken)}`), [401], 'token in the query');
    });

    test('relay authentication of /auth/revocations', async () => {
      const mac = hmacHex(TEST_SECRET, 'revocations|');
      for (const [name, auth] of [['Bearer device token', `Bearer ${me.deviceToken}`], ['garbage', 'Hone-Relay nope'], ['other secret', relayAuth('', 'other')],
        ['MAC for another since', relayAuth('5')], ['uppercase MAC', `Hone-Relay ${mac.toUpperCase()}`], ['truncated MAC', `Hone-Relay ${mac.slice(0, -1)}`],
        ['lowercase scheme', `hone-relay ${mac}`], ['extra space', `Hone-Relay  ${mac}`], ['trailing junk', `Hone-Relay ${mac} x`]] as const) {
        assertError(await call(a, 'GET', '/auth/revocations', { headers: { authorization: auth } }), [401], `revocations: ${name}`);
      }
      const ok = await call(a, 'GET', '/auth/revocations', { headers: { authorization: relayAuth('') } });
      assert.equal(ok.status, 200, ok.text);
      assert.ok(ok.body.revoked.some((r: { deviceId: number }) => r.deviceId === gone.deviceId), 'the deleted device is listed');
    });

    test('HTML callers of /auth/verify get a 4xx page, never a 5xx', async () => {
      for (const path of ['/auth/verify?token=%FF%FE', `/auth/verify?token=${encodeURIComponent(`' OR 1=1 --`)}`, '/auth/verify?token=a&token=b', '/auth/verify']) {
        const r = await call(a, 'GET', path, { headers: { accept: 'text/html' } });
        assert.ok(r.status >= 400 && r.status < 500, `${path} → ${r.status}`);
      }
      for (const body of ['token=%FF%FE', `token=${encodeURIComponent(`"; DROP TABLE users; --`)}`, 'token=a&token=b', '', '%%%', 'token']) {
        const r = await call(a, 'POST', '/auth/verify', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
        assert.ok(r.status >= 400 && r.status < 500, `form ${body} → ${r.status} ${r.text.slice(0, 200)}`);
      }
    });

    test('after the barrage the server is healthy and nothing is lost', async () => {
      const h = await call(a, 'GET', '/health');
      assert.equal(h.status, 200, h.text);
      assert.equal(h.body.ok, true);
      const mine = await call(a, 'GET', '/auth/devices', { token: me.deviceToken });
      assert.equal(mine.status, 200, mine.text);
      assert.deepEqual(mine.body.devices.map((d: { id: number }) => d.id), [me.deviceId]);
      const projects = await call(a, 'GET', '/auth/projects', { token: me.deviceToken });
      assert.deepEqual(projects.body.projects.map((p: { id: number; projectKey: string }) => [p.id, p.projectKey]), [[projectId, 'keep-me']]);
      assert.equal((await call(a, 'GET', '/auth/projects', { token: other.deviceToken })).body.projects[0].id, otherProjectId);
      const again = await a.signIn('hostile@example.com', 'After', 'linux');
      assert.equal(again.userId, me.userId);
      const d = await call(a, 'GET', '/auth/device', { token: again.deviceToken });
      assert.equal(d.status, 200, d.text);
      assert.equal(d.body.device.deviceName, 'After');
      const fresh = await a.signIn('new-after-barrage@example.com');
      assert.notEqual(fresh.userId, me.userId);
      assert.equal((await call(a, 'GET', '/auth/subscription', { token: fresh.deviceToken })).body.tier, 'pro');
    });
  });
}

test('behind a proxy (trustProxy) the per-IP limit keys on the address the proxy added, not one the client wrote', async () => {
  const a = await startAuth('sqlite', { trustProxy: true, 'login.perIp': 1, 'login.perEmail': 100 });
  try {
    const login = (xff: string, email: string) => a.request(`/auth/login?email=${email}`, { headers: { 'x-forwarded-for': xff } });
    assert.equal((await login('203.0.113.9, 198.51.100.7', 'one@example.com')).status, 200);
    // A forged first entry does not make a new address: the proxy's entry (last) is the same.
    const forged = await login('192.0.2.1, 198.51.100.7', 'two@example.com');
    assert.equal(forged.status, 429);
    assert.equal((await login('198.51.100.8', 'three@example.com')).status, 200);
  } finally {
    await a.close();
  }
});
