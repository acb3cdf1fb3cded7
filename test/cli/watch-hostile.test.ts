// `hone-sync watch` (the real CLI as a child process, real hone-auth and hone-relay) while a peer in the room sends
// terminal control sequences: payloads and labels are printed escaped (no ESC, CR or C1 byte reaches the terminal,
// no fake status line), and --json lines stay JSON that parses back to exactly what the peer sent.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';
import { RelayClient as RawClient, startRelay } from '../helpers/relay.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { run, start } from './run.ts';

/** Every control character a terminal acts on (C0 but LF, DEL, C1), and the bidi overrides. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/u;

const FAKE = '\u001b[2J\r\u2714 all files verified\n';
const EVIL_LABEL = 'evil\u001b[31m\r';

describe('hone-sync watch: what a peer sends cannot drive the terminal', () => {
  let auth: TestAuth;
  let relay: TestRelay;
  let dir: string;
  let env: Record<string, string>;
  let roomId = '';
  let evilToken = '';
  const hs = (...args: string[]) => run(args, env);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hone-sync-watch-'));
    auth = await startAuth('sqlite', { 'tiers.default': 'pro' });
    relay = await startRelay({ 'auth.url': auth.url });
    env = { HOME: dir, HONE_SYNC_CONFIG: join(dir, 'sync.conf') };
    const phone = await auth.signIn('ann@example.com', 'phone');
    evilToken = (await auth.signIn('ann@example.com', 'evil')).deviceToken;
    for (const [k, v] of [['syncEnabled', 'true'], ['syncAuthUrl', auth.url], ['syncRelayUrl', relay.wsUrl],
      ['syncDeviceName', 'phone'], ['syncDeviceToken', phone.deviceToken]]) {
      const r = await hs('config', 'set', k, v);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal((await hs('projects', 'add', 'notes')).code, 0);
    roomId = JSON.parse((await hs('projects', '--json')).stdout).projects[0].roomId;
  });
  after(async () => {
    await relay.close();
    await auth.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `watch notes --count 2 …`, lets the hostile peer join and send a string and a JSON payload; the result. */
  const watchWhilePeerSends = async (...flags: string[]) => {
    const w = start(['watch', 'notes', '--count', '2', '--timeout', '15', ...flags], env);
    await w.waitFor(flags.includes('--json') ? /"event":"joined"/ : /watching "notes"/);
    const evil = await RawClient.connect(relay.wsUrl);
    try {
      assert.equal((await evil.join(roomId, EVIL_LABEL, evilToken)).type, 'joined');
      evil.envelope('broadcast', FAKE);
      evil.envelope('broadcast', { text: FAKE, csi: '\u009b2J', rtl: '\u202eexe.txt' });
      const done = await w.done;
      assert.equal(done.code, 0, done.stderr);
      return done;
    } finally {
      await evil.closeAndWait();
    }
  };

  test('plain output: payloads, the JSON payload and the from-label escaped; no raw control byte, no fake line', async () => {
    const { stdout, stderr } = await watchWhilePeerSends();
    assert.doesNotMatch(stdout + stderr, RAW_CONTROL, JSON.stringify(stdout + stderr));
    const lines = stdout.split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 2, stdout);
    const label = 'evil\\u001b[31m\\r';
    assert.match(lines[0], /^\[\d+\] /);
    assert.equal(lines[0].replace(/^\[\d+\] /, ''), `${label} → broadcast: \\u001b[2J\\r\u2714 all files verified\\n`);
    assert.equal(lines[1].replace(/^\[\d+\] /, ''), `${label} → broadcast: {"text":"\\u001b[2J\\r\u2714 all files verified\\n","csi":"\\u009b2J","rtl":"\\u202eexe.txt"}`);
    assert.ok(!(stdout + stderr).split('\n').some((l) => l.startsWith('\u2714')), 'no line of its own starts with the fake check mark');
    // The presence line names the peer escaped too.
    assert.ok(stderr.includes(`* ${label} joined`), stderr);
  });

  test('--json: one JSON line per event, no raw control byte, and each parses back to exactly what the peer sent', async () => {
    const { stdout } = await watchWhilePeerSends('--json');
    assert.doesNotMatch(stdout, RAW_CONTROL, JSON.stringify(stdout));
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const messages = events.filter((e) => e.event === 'message');
    assert.deepEqual(messages.map((m) => [m.from, m.payload]), [
      [EVIL_LABEL, FAKE],
      [EVIL_LABEL, { text: FAKE, csi: '\u009b2J', rtl: '\u202eexe.txt' }],
    ]);
    assert.ok(events.some((e) => e.event === 'presence' && e.device === EVIL_LABEL && e.state === 'joined'));
  });
});
