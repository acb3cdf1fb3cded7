// The real hone-relay process (src/relay/app.ts) killed and restarted on the same SQLite file: every acked
// envelope arrives exactly once and in order, seq continues; SIGTERM closes sockets with 1001 and exits 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RelayClient, sleep, TEST_SECRET, token } from '../helpers/relay.ts';

const APP = fileURLToPath(new URL('../../src/relay/app.ts', import.meta.url));

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HONE_') && v !== undefined) env[k] = v;
  return env;
}

interface RelayProcess {
  child: ChildProcess;
  http: string;
  ws: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the relay and waits for its `"event":"listening"` log line (pino JSON, with `http` and `ws` URLs). */
function startProcess(configFile: string, cwd: string): Promise<RelayProcess> {
  const child = spawn(process.execPath, [APP, '--config', configFile], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no "listening" line within 10 s:\n${out}`)); }, 10_000);
    const onData = (d: string) => {
      out += d;
      for (const line of out.split('\n')) {
        if (!line.includes('"event":"listening"')) continue;
        let rec: any;
        try { rec = JSON.parse(line); } catch { continue; }
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        child.stdout!.on('data', (x: string) => (out += x));
        child.stderr!.on('data', (x: string) => (out += x));
        resolve({ child, http: rec.http, ws: rec.ws, output: () => out, exited });
        return;
      }
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    exited.then((e) => { clearTimeout(timer); reject(new Error(`relay exited (${e.code ?? e.signal}) before listening:\n${out}`)); });
  });
}

describe('hone-relay process: crash and restart', () => {
  let dir: string;
  let configFile: string;
  const children: ChildProcess[] = [];
  const clients: RelayClient[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hone-relay-crash-'));
    configFile = join(dir, 'relay.conf');
    writeFileSync(configFile, [
      '# written by crash.test.ts', 'host=127.0.0.1', 'port=0', 'ws.port=0', `auth.secret=${TEST_SECRET}`,
      `sqlite.path=${join(dir, 'data', 'relay.db')}`, 'log.level=info', '',
    ].join('\n'));
  });
  after(() => {
    for (const c of clients) c.terminate();
    for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(): Promise<RelayProcess> {
    const p = await startProcess(configFile, dir);
    children.push(p.child);
    return p;
  }
  async function joinRoom(p: RelayProcess, device: string, lastSeq?: number): Promise<{ c: RelayClient; joined: any }> {
    const c = await RelayClient.connect(p.ws);
    clients.push(c);
    const joined = await c.join('pair-CRASH1', device, token(1, device === 'a' ? 1 : 2), { shape: 'flag', lastSeq });
    assert.equal(joined.type, 'joined', JSON.stringify(joined));
    return { c, joined };
  }

  test('SIGKILL mid-stream: every acked envelope arrives exactly once, in order; seq continues', async () => {
    const p1 = await start();
    assert.match(p1.http, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(p1.ws, /^ws:\/\/127\.0\.0\.1:\d+/);
    const health = await fetch(p1.http + '/health');
    assert.equal(health.status, 200);
    await health.arrayBuffer();

    const { c: a } = await joinRoom(p1, 'a');
    const { c: b } = await joinRoom(p1, 'b');
    const acks = new Map<string, number>();
    for (let i = 0; i < 10; i++) a.envelope('broadcast', { i }, { msgId: `m-${i}` });
    for (let i = 0; i < 10; i++) acks.set(`m-${i}`, (await a.next((f) => f?.type === 'ack' && f.msgId === `m-${i}`)).seq);
    let bSeq = 0;
    for (let i = 0; i < 10; i++) bSeq = (await b.next((f) => f?.msgId === `m-${i}`)).seq;
    assert.equal(bSeq, acks.get('m-9'));
    b.terminate();

    // stream more, and kill the process from inside the ack handler while most are still in flight
    const total = 150;
    const killAt = 60;
    let killed = false;
    a.ws.on('message', (data) => {
      if (killed) return;
      const f = JSON.parse(String(data));
      if (f.type === 'ack') acks.set(f.msgId, f.seq);
      if (acks.size >= killAt) {
        killed = true;
        p1.child.kill('SIGKILL');
      }
    });
    for (let i = 10; i < total; i++) a.envelope('broadcast', { i }, { msgId: `m-${i}` });
    await p1.exited;
    await a.closed;
    const ackedBeforeKill = new Map(acks);

    const p2 = await start();
    const { c: b2, joined } = await joinRoom(p2, 'b', bSeq);
    const maxAcked = Math.max(...ackedBeforeKill.values());
    assert.ok(joined.seq >= maxAcked, `joined.seq ${joined.seq} after restart, acked up to ${maxAcked}`);
    const d = await b2.next('deltas', 5000);
    const entries = d.deltas.map((e: any) => ({ seq: e.seq, env: JSON.parse(e.payload) }));
    const seqs = entries.map((e: any) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'in order');
    assert.equal(new Set(seqs).size, seqs.length, 'no seq twice');
    const ids = entries.map((e: any) => e.env.msgId);
    assert.equal(new Set(ids).size, ids.length, 'no envelope twice');
    for (const [id, seq] of ackedBeforeKill) {
      if (seq <= bSeq) continue;
      const hit = entries.find((e: any) => e.env.msgId === id);
      assert.ok(hit, `acked ${id} (seq ${seq}) is lost after the crash`);
      assert.equal(hit.seq, seq, `${id} keeps its acked seq`);
    }

    // the sender reconnects and resends everything it has no ack for, plus one acked one: no duplicates
    const { c: a2 } = await joinRoom(p2, 'a');
    const resend = [...Array(total).keys()].map((i) => `m-${i}`).filter((id) => !ackedBeforeKill.has(id)).slice(0, 60);
    resend.unshift('m-12');
    for (const id of resend) a2.envelope('broadcast', { i: Number(id.slice(2)) }, { msgId: id });
    const after = new Map<string, number>();
    for (const id of resend) after.set(id, (await a2.next((f) => f?.type === 'ack' && f.msgId === id, 5000)).seq);
    assert.equal(after.get('m-12'), ackedBeforeKill.get('m-12'), 'an acked msgId resent after the restart is acked with its first seq');
    for (const id of resend) {
      const buffered = entries.find((e: any) => e.env.msgId === id);
      if (buffered) assert.equal(after.get(id), buffered.seq, `${id} was durable before the crash: same seq`);
      else assert.ok(after.get(id)! > Math.max(maxAcked, ...seqs), `${id}: new seq continues after the restart`);
    }
    await sleep(300);
    const live = b2.envelopes();
    const all = [...ids, ...live.map((e) => e.msgId)];
    assert.equal(new Set(all).size, all.length, `an envelope reached b twice: ${all.join(',')}`);
    for (const id of resend) assert.ok(all.includes(id), `${id} never reached b`);

    a2.envelope('broadcast', { i: 'fresh' }, { msgId: 'fresh' });
    const fresh = await a2.next((f) => f?.type === 'ack' && f.msgId === 'fresh');
    assert.ok(fresh.seq > Math.max(...after.values(), ...seqs), 'seq continues after the restart');
    p2.child.kill('SIGTERM');
    await p2.exited;
  });

  test('SIGTERM: sockets closed with 1001, buffer flushed, exit code 0', async () => {
    const p = await start();
    const { c: a, joined } = await joinRoom(p, 'a');
    const { c: b } = await joinRoom(p, 'b');
    for (let i = 0; i < 20; i++) a.envelope('b', { t: i }, { msgId: `t-${i}` });
    let last = 0;
    for (let i = 0; i < 20; i++) last = (await a.next((f) => f?.type === 'ack' && f.msgId === `t-${i}`)).seq;
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    const [ca, cb] = await Promise.all([a.waitClose(5000), b.waitClose(5000)]);
    assert.equal(ca.code, 1001);
    assert.equal(cb.code, 1001);
    const exit = await p.exited;
    assert.equal(exit.code, 0, p.output().slice(-2000));
    assert.ok(Date.now() - t0 < 5000);

    const p2 = await start();
    const { c: b2 } = await joinRoom(p2, 'b', joined.seq);
    const d = await b2.next('deltas', 5000);
    const got = d.deltas.map((e: any) => JSON.parse(e.payload).msgId);
    assert.deepEqual(got, [...Array(20).keys()].map((i) => `t-${i}`));
    assert.equal(d.deltas.at(-1).seq, last);
    p2.child.kill('SIGTERM');
    assert.equal((await p2.exited).code, 0);
  });
});
