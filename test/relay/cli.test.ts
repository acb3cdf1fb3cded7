// The real hone-relay entry point as an operator runs it: flags, the secret rules of development mode,
// fatal one-line errors, serving on the configured ports, and a clean SIGTERM exit.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { VERSION } from '../../src/common/version.ts';
import { freePort, oneLine, programRunner } from '../helpers/process.ts';

const APP = fileURLToPath(new URL('../../src/relay/app.ts', import.meta.url));
const SECRET = 'relay-cli-secret-0123456789abcdef0123456789abcdef';

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'hone-relay-cli-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

const { start, run } = programRunner(APP, () => dir);

/** Waits until the output contains the listening line; answers its parsed JSON. */
async function listening(out: () => string, timeoutMs = 15_000): Promise<{ http: string; ws: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = out().split('\n').find((l) => l.includes('"event":"listening"'));
    if (line) return JSON.parse(line);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not listening; output:\n${out()}`);
}

describe('hone-relay command line', () => {
  test('--version and --help', async () => {
    assert.equal((await run(['--version'])).stdout.trim(), VERSION);
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /hone-relay \[--config relay\.conf\] \[--dev\]/);
  });

  test('an empty secret without --dev is a start-up error naming auth.secret', async () => {
    const r = await run([], { HONE_SQLITE_PATH: join(dir, 'nosecret', 'relay.db') });
    assert.equal(r.code, 2);
    assert.match(oneLine(r), /auth\.secret: required/);
  });

  test("hone-auth's flags (--expires, --json) are refused, naming the relay's flags", async () => {
    for (const flag of ['--expires', '--json']) {
      const r = await run(flag === '--json' ? [flag] : [flag, 'x'], { HONE_AUTH_SECRET: SECRET });
      assert.notEqual(r.code, 0);
      assert.equal(oneLine(r), `hone-relay: unknown flag ${flag}; the flags: --config, --dev, --help, --version`);
    }
  });

  test('bad values, unknown flags and unknown commands: one line, non-zero', async () => {
    const port = await run([], { HONE_AUTH_SECRET: SECRET, HONE_WS_PORT: '70000' });
    assert.equal(port.code, 2);
    assert.match(oneLine(port), /HONE_WS_PORT: ws\.port: expected a whole number from 0 to 65535/);
    const flag = await run(['--frobnicate']);
    assert.notEqual(flag.code, 0);
    assert.match(oneLine(flag), /frobnicate/);
    const cmd = await run(['frobnicate'], { HONE_AUTH_SECRET: SECRET });
    assert.notEqual(cmd.code, 0);
    assert.match(oneLine(cmd), /unknown command "frobnicate"/);
    const cluster = await run([], { HONE_AUTH_SECRET: SECRET, HONE_CLUSTER_REDIS: 'redis://127.0.0.1:6379', HONE_CLUSTER_PREFIX: 'no spaces' });
    assert.equal(cluster.code, 2);
    assert.match(oneLine(cluster), /cluster\.prefix/);
  });

  test('--dev without a secret serves with a loud warning and takes any token', async () => {
    const { child, done, out } = start(['--dev'], { HONE_HOST: '127.0.0.1', HONE_PORT: '0', HONE_WS_PORT: '0', HONE_SQLITE_PATH: join(dir, 'dev', 'relay.db') });
    try {
      const urls = await listening(out);
      assert.match(out(), /DEVELOPMENT MODE WITHOUT A SECRET/);
      const ws = new WebSocket(urls.ws + '/ws');
      const first = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
      await new Promise((resolve) => ws.once('open', resolve));
      ws.send(JSON.stringify({ type: 'join', room: 'pair-DEV', device: 'd1' }));
      assert.equal(JSON.parse(await first).type, 'joined');
      ws.close();
    } finally {
      child.kill('SIGTERM');
      await done;
    }
  });

  test('serves /health on the configured port from a config file, warns without auth.url, exits 0 on SIGTERM', async () => {
    const [port, wsPort] = [await freePort(), await freePort()];
    const conf = join(dir, 'relay.conf');
    writeFileSync(conf, `auth.secret=${SECRET}\nhost=127.0.0.1\nport=${port}\nws.port=${wsPort}\nsqlite.path=${join(dir, 'serve', 'relay.db')}\nfrobnicate=1\n`);
    const { child, done, out } = start(['--config', conf], {});
    const urls = await listening(out);
    assert.equal(urls.http, `http://127.0.0.1:${port}`);
    assert.equal(urls.ws, `ws://127.0.0.1:${wsPort}`);
    assert.match(out(), /unknown key "frobnicate" is ignored/);
    assert.match(out(), /auth\.url is empty/);
    const health = await (await fetch(`${urls.http}/health`)).json() as { status: string; version: string };
    assert.equal(health.status, 'ok');
    assert.equal(health.version, VERSION);
    assert.ok(!out().includes(SECRET), 'the secret is never printed');
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0);
    assert.match(out(), /"event":"shutdown"/);
  });

  test('Redis unreachable at start: cluster.redis.down said, and the listening line says DEGRADED', async () => {
    const redisPort = await freePort(); // nothing listens there
    const { child, done, out } = start([], {
      HONE_AUTH_SECRET: SECRET, HONE_HOST: '127.0.0.1', HONE_PORT: '0', HONE_WS_PORT: '0', HONE_CLUSTER_REDIS: `redis://127.0.0.1:${redisPort}`,
    });
    try {
      const urls = await listening(out, 30_000);
      const lines = out().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      const down = lines.findIndex((l) => l.event === 'cluster.redis.down');
      const up = lines.findIndex((l) => l.event === 'listening');
      assert.ok(down >= 0 && down < up, `cluster.redis.down before listening:\n${out()}`);
      assert.equal(lines[down].msg, 'cluster: Redis did not answer within 5 s of start; serving degraded (joins refused, envelopes answered BUFFER_UNAVAILABLE) until it does (with several shards: in the rooms of those that did not answer, named in cluster.shards)');
      assert.match(lines[up].msg, / — DEGRADED: Redis unreachable, joins are refused until it answers$/);
      assert.equal((await (await fetch(`${urls.http}/health`)).json() as { status: string }).status, 'degraded');
    } finally {
      child.kill('SIGTERM');
      await done;
    }
  });

  test('a port already in use exits non-zero with one clear line', async () => {
    const { createServer } = await import('node:net');
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address() as { port: number };
    try {
      const r = await run([], { HONE_AUTH_SECRET: SECRET, HONE_HOST: '127.0.0.1', HONE_PORT: '0', HONE_WS_PORT: String(port), HONE_SQLITE_PATH: join(dir, 'inuse', 'relay.db') });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /address already in use/);
      assert.ok(!/\bat .*\.ts:\d+/.test(r.stderr), 'no stack trace');
    } finally {
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });
});
