// The cluster's callback EVALSHA (callback-command.ts) against the real Redis: replies, error replies, a connection
// that is down, and hostile arguments each reach the callback exactly once; it also pins the ioredis internals it replaces.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Command, Redis } from 'ioredis';
import { evalshaWithCallback } from '../../src/relay/engine/redis/callback-command.ts';
import type { Arg } from '../../src/relay/engine/redis/callback-command.ts';
import { SHARED_REDIS } from '../helpers/cluster.ts';
import { runSnippet, srcModule } from '../helpers/process.ts';

const ECHO = "return {KEYS[1], ARGV[1], #ARGV, tonumber(ARGV[2]) * 2}";
const FAIL = "return redis.error_reply('HONE_TEST refused')";
const sha = (lua: string) => createHash('sha1').update(lua).digest('hex');

/** Runs one command and collects every callback call (so a second call would show). */
function run(conn: Redis, script: string, keys: number, args: Arg[]) {
  const calls: Array<{ err: Error | null; reply: unknown }> = [];
  const errors: Error[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the callback was never called')), 5000);
    evalshaWithCallback(conn, sha(script), keys, args, (err, reply) => {
      calls.push({ err, reply });
      clearTimeout(t);
      resolve();
    }, (err) => errors.push(err));
  });
  return { calls, errors, done };
}

describe('relay cluster: EVALSHA answered through a callback', () => {
  let conn: Redis;
  before(async () => {
    conn = new Redis(SHARED_REDIS, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    await conn.connect();
    await conn.script('LOAD', ECHO);
    await conn.script('LOAD', FAIL);
  });
  after(() => conn.disconnect());

  test('a reply reaches the callback once, as UTF-8 strings and numbers', async () => {
    const r = run(conn, ECHO, 1, ['hone:test:κλειδί', 'héllo ✓', 21]);
    await r.done;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(r.calls, [{ err: null, reply: ['hone:test:κλειδί', 'héllo ✓', 2, 42] }]);
    assert.deepEqual(r.errors, []);
  });

  test('many in flight answer in order, each once', async () => {
    const runs = Array.from({ length: 500 }, (_, i) => run(conn, ECHO, 1, ['k', `m${i}`, i]));
    await Promise.all(runs.map((r) => r.done));
    runs.forEach((r, i) => assert.deepEqual(r.calls, [{ err: null, reply: ['k', `m${i}`, 2, 2 * i] }]));
  });

  test('an error reply, an unknown script and hostile arguments give an error, once, and the connection carries on', async () => {
    const refused = run(conn, FAIL, 0, []);
    const unknown = run(conn, 'return "never loaded" -- hone', 0, []);
    const hostile = run(conn, ECHO, 1, ['k\r\n*1\r\n$4\r\nPING', '\u0000'.repeat(3), 'not a number']);
    const big = run(conn, ECHO, 1, ['k', 'x'.repeat(1 << 20), 1]);
    await Promise.all([refused.done, unknown.done, hostile.done, big.done]);
    assert.match(String(refused.calls[0].err), /HONE_TEST refused/);
    assert.match(String(unknown.calls[0].err), /NOSCRIPT/);
    assert.equal(hostile.calls[0].err !== null, true, 'tonumber(nil) * 2 is a script error');
    assert.deepEqual(big.calls[0].reply, ['k', 'x'.repeat(1 << 20), 2, 2]);
    for (const r of [refused, unknown, hostile]) {
      assert.equal(r.calls.length, 1);
      assert.equal(r.errors.length, 1, 'onError is told of every error');
    }
    assert.equal(await conn.ping(), 'PONG');
  });

  test('while the connection is down the callback gets an error at once, exactly once', async () => {
    const down = new Redis(SHARED_REDIS, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    const r = run(down, ECHO, 1, ['k', 'v', 1]);
    await r.done;
    assert.equal(r.calls.length, 1);
    assert.match(String(r.calls[0].err), /enableOfflineQueue|closed|writeable/);
    down.disconnect();
  });

  test('the commands pending when the connection drops fail, each once', async () => {
    const conn2 = new Redis(SHARED_REDIS, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
    await conn2.connect();
    const runs = Array.from({ length: 50 }, (_, i) => run(conn2, ECHO, 1, ['k', 'v', i]));
    conn2.disconnect();
    await Promise.all(runs.map((r) => r.done));
    for (const r of runs) assert.equal(r.calls.length, 1);
  });

  test('a callback that throws does not keep the other commands from their answers, and surfaces as an uncaught exception', () => {
    // In a child process, which records the uncaught exceptions. Replies (ioredis guards those), then the commands
    // failed together when the connection closes (one loop in ioredis, guarded by callback-command.ts).
    const module = srcModule('relay/engine/redis/callback-command.ts');
    const code = `
      import { Redis } from 'ioredis';
      import { evalshaWithCallback } from ${JSON.stringify(module)};
      const conn = new Redis(${JSON.stringify(SHARED_REDIS)}, { enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
      await conn.connect();
      const sha = await conn.script('LOAD', ${JSON.stringify(ECHO)});
      process.on('uncaughtException', (err) => console.log('uncaught:' + err.message));
      const answered = [];
      const send = (i, last) => evalshaWithCallback(conn, sha, 1, ['k', 'm' + i, i], (err, reply) => {
        answered.push(err ? 'error' : reply[1] + '=' + reply[3]);
        if (i % 10 === 3) throw new Error('callback bug ' + i);
        if (i === last) console.log('answered:' + answered.splice(0).join(','));
      });
      for (let i = 0; i < 10; i++) send(i, 9);
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (let i = 10; i < 20; i++) send(i, 19);
      conn.stream.destroy();
      await new Promise((resolve) => setTimeout(resolve, 200));`;
    const r = runSnippet(code);
    const lines = r.stdout.split('\n');
    assert.deepEqual(lines.filter((l) => l.startsWith('uncaught:')), ['uncaught:callback bug 3', 'uncaught:callback bug 13'], r.stdout + r.stderr);
    const answered = lines.filter((l) => l.startsWith('answered:')).map((l) => l.slice(9).split(','));
    assert.deepEqual(answered, [Array.from({ length: 10 }, (_, i) => `m${i}=${2 * i}`), Array(10).fill('error')]);
  });

  test('behaviour it relies on: ioredis builds the command through initPromise, so no command holds a promise or closure of its own', async () => {
    // What ioredis is handed for two commands: if ioredis stopped calling initPromise (or called it before the fields
    // it reads exist), each command would carry a fresh promise and per-command resolve/reject closures again.
    const sent: any[] = [];
    const spy = Object.create(conn, { sendCommand: { value: (command: any) => { sent.push(command); return conn.sendCommand(command); } } });
    const a = run(spy, ECHO, 1, ['k', 'a', 1]);
    const b = run(spy, ECHO, 1, ['k', 'b', 2]);
    await Promise.all([a.done, b.done]);
    assert.equal(sent.length, 2);
    assert.equal(sent[0].promise, sent[1].promise, 'one shared promise, not one per command');
    assert.equal(sent[0].resolve, sent[1].resolve, 'one shared resolve function, not a closure per command');
    assert.equal(sent[0].reject, sent[1].reject);
    assert.deepEqual([sent[0].isSettled, sent[0].isResolved], [true, true], 'ioredis settled it through the shared resolve');
    assert.deepEqual(a.calls, [{ err: null, reply: ['k', 'a', 2, 2] }]);
    // The version it was measured and written against (package.json pins it exactly).
    const { createRequire } = await import('node:module');
    assert.equal(createRequire(import.meta.url)('ioredis/package.json').version, '6.0.0');
  });

  test('the ioredis internals it replaces are still there (a rename would silently bring the promise back)', () => {
    const proto = Command.prototype as unknown as Record<string, unknown>;
    assert.equal(typeof proto.initPromise, 'function');
    assert.equal(typeof proto.stringifyArguments, 'function');
    assert.equal(typeof proto.transformReply, 'function');
  });
});
