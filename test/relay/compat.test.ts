// Wire compatibility with Hone IDE clients in the field (SPEC §6): replays byte-for-byte the text frames such a
// client sends and reads the answers the way it does (substring and regex on the raw text, not a JSON parser).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RelayClient, startRelay, token } from '../helpers/relay.ts';
import type { TestRelay } from '../helpers/relay.ts';

/** What the IDE does with every frame: the first `"seq":N` in the text is the room sequence number. */
const ideSeq = (raw: string): number | null => {
  const m = /"seq":(\d+)/.exec(raw);
  return m ? Number(m[1]) : null;
};

// Escaped JSON strings exactly as the IDE writes them: payload is a string holding JSON, which may itself say "seq".
const EDIT = '{\\"op\\":\\"edit\\",\\"file\\":\\"src/main.ts\\",\\"seq\\":987,\\"range\\":[1,2,1,9],\\"text\\":\\"let s = \\\\\\"seq\\\\\\":5\\"}';
const CURSOR = '{\\"op\\":\\"cursor\\",\\"line\\":12,\\"col\\":4}';
const UNICODE = '{\\"op\\":\\"edit\\",\\"text\\":\\"h\\u00e9llo \\u2028 \\ud83d\\ude80 ✓\\"}';

describe('Hone IDE wire compatibility', () => {
  let r: TestRelay;
  let desktopToken: string;
  let phoneToken: string;
  before(async () => {
    r = await startRelay();
    desktopToken = token(7, 70);
    phoneToken = token(7, 71);
  });
  after(() => r.close());

  test('the IDE join, ping and escaped-payload envelopes, read back the way the IDE reads them', async () => {
    const desktop = await r.connect();
    desktop.send(`{"join":true,"room":"pair-ABC123","device":"desktop-1","token":"${desktopToken}","lastSeq":0}`);
    const joined = await desktop.nextFrame('joined');
    assert.ok(joined.raw.includes('"type":"joined"'), `the IDE looks for "type":"joined" in: ${joined.raw}`);

    const phone = await r.connect();
    phone.send(`{"join":true,"room":"pair-ABC123","device":"phone-1","token":"${phoneToken}","lastSeq":0}`);
    assert.ok((await phone.nextFrame('joined')).raw.includes('"type":"joined"'));

    desktop.send('{"type":"ping"}');
    const pong = await desktop.nextFrame('pong');
    assert.ok(pong.raw.includes('"type":"pong"'), pong.raw);

    const sent = [
      `{"from":"desktop-1","to":"broadcast","room":"pair-ABC123","seq":0,"ts":1700000000000,"encrypted":false,"payload":"${EDIT}"}`,
      // payload first and a stale client seq: the relay's seq must still come first in the forwarded text
      `{"payload":"${CURSOR}","seq":41,"encrypted":false,"ts":1700000000001,"room":"pair-ABC123","to":"phone-1","from":"desktop-1"}`,
      `{"from":"desktop-1","to":"broadcast","room":"pair-ABC123","seq":3,"ts":1700000000002,"encrypted":true,"payload":"${UNICODE}","v":2,"client":{"name":"hone-ide","build":"1.4.2"},"nonce":"b64/+="}`,
      // payload as a JSON value holding a "seq" key
      `{"from":"desktop-1","to":"broadcast","room":"pair-ABC123","ts":1700000000003,"payload":{"seq":77,"ops":[{"seq":78}]}}`,
    ];
    for (const s of sent) desktop.send(s);

    const got = [];
    for (let i = 0; i < sent.length; i++) got.push(await phone.nextFrame((f) => f && f.type === undefined && f.from === 'desktop-1'));
    let last = 0;
    got.forEach((f, i) => {
      const original = JSON.parse(sent[i]);
      const seq = ideSeq(f.raw);
      assert.equal(seq, f.data.seq, `the first "seq" in the text is the room seq: ${f.raw}`);
      assert.ok(seq! > last, 'increasing');
      last = seq!;
      assert.deepEqual(f.data.payload, original.payload, 'payload unchanged');
      const keys = Object.keys(f.data);
      assert.deepEqual(keys.slice(0, 5), ['from', 'to', 'room', 'seq', 'ts'], `relay fields first: ${f.raw}`);
      assert.equal(keys.at(-1), 'payload', `payload last: ${f.raw}`);
      assert.equal(f.data.ts, original.ts, 'the client ts is kept when it is a number');
      for (const k of Object.keys(original)) assert.ok(k in f.data, `field ${k} kept`);
      for (const k of ['from', 'to', 'room']) assert.equal(f.data[k], original[k]);
    });
    // the escaped payload string travels byte-for-byte
    assert.ok(got[0].raw.includes(`"payload":"${EDIT}"`), got[0].raw);
    assert.ok(got[2].raw.includes(`"payload":"${UNICODE}"`) || got[2].data.payload === JSON.parse(sent[2]).payload, got[2].raw);
    assert.deepEqual(got[2].data.client, { name: 'hone-ide', build: '1.4.2' });
    assert.equal(got[2].data.v, 2);
    assert.equal(got[2].data.nonce, 'b64/+=');
    assert.equal(got[2].data.encrypted, true);
    const extraOrder = Object.keys(got[2].data).slice(5, -1);
    assert.deepEqual(extraOrder, ['encrypted', 'v', 'client', 'nonce'], 'other fields in the order sent');
  });

  test('deltas: entries carry the forwarded envelope as a JSON string the IDE can read like a live frame', async () => {
    const room = 'pair-XYZ789';
    const desktop = await r.connect();
    desktop.send(`{"join":true,"room":"${room}","device":"desktop-1","token":"${desktopToken}","lastSeq":0}`);
    await desktop.next('joined');
    const watcher = await r.connect();
    watcher.send(`{"join":true,"room":"${room}","device":"watcher","token":"${desktopToken}"}`);
    await watcher.next('joined');
    for (let i = 0; i < 3; i++) {
      desktop.send(`{"from":"desktop-1","to":"broadcast","room":"${room}","seq":${i},"ts":${1700000000000 + i},"encrypted":false,"payload":"${EDIT}","n":${i}}`);
    }
    const live: string[] = [];
    for (let i = 0; i < 3; i++) live.push((await watcher.nextFrame((f) => f?.n === i)).raw);

    const phone = await r.connect();
    phone.send(`{"join":true,"room":"${room}","device":"phone-1","token":"${phoneToken}","lastSeq":0}`);
    await phone.next('joined');
    const frame = await phone.nextFrame('deltas');
    assert.ok(frame.raw.includes('"type":"deltas"'), frame.raw.slice(0, 200));
    const d = frame.data;
    assert.equal(d.room, room);
    assert.equal(d.complete, true);
    assert.equal(d.deltas.length, 3);
    d.deltas.forEach((entry: any, i: number) => {
      assert.deepEqual(Object.keys(entry).sort(), ['createdAt', 'deviceId', 'payload', 'seq']);
      assert.equal(typeof entry.payload, 'string', 'the forwarded envelope as a JSON string');
      assert.equal(entry.deviceId, 'desktop-1');
      assert.equal(ideSeq(entry.payload), entry.seq, 'the first "seq" of the inner text is the room seq');
      assert.deepEqual(JSON.parse(entry.payload), JSON.parse(live[i]), 'the same envelope peers received live');
      assert.equal(JSON.parse(entry.payload).payload, JSON.parse(`"${EDIT}"`));
    });
    assert.equal(ideSeq(frame.raw), d.deltas[0].seq, 'in the deltas text, the first "seq" is the first entry\'s');
  });

  test('the IDE reconnect: join again with its highest seq as lastSeq gets only newer envelopes', async () => {
    const room = 'pair-REC001';
    const a = await r.connect();
    a.send(`{"join":true,"room":"${room}","device":"desktop-1","token":"${desktopToken}","lastSeq":0}`);
    await a.next('joined');
    const b = await r.connect();
    b.send(`{"join":true,"room":"${room}","device":"phone-1","token":"${phoneToken}","lastSeq":0}`);
    await b.next('joined');
    let lastSeq = 0;
    for (let i = 0; i < 2; i++) {
      a.send(`{"from":"desktop-1","to":"broadcast","room":"${room}","seq":0,"ts":1,"payload":"${CURSOR}","i":${i}}`);
      lastSeq = ideSeq((await b.nextFrame((f) => f?.i === i)).raw)!;
    }
    b.terminate();
    for (let i = 2; i < 4; i++) a.send(`{"from":"desktop-1","to":"broadcast","room":"${room}","seq":0,"ts":1,"payload":"${CURSOR}","i":${i}}`);
    const b2 = await RelayClient.connect(r.wsUrl);
    try {
      await new Promise((res) => setTimeout(res, 100));
      b2.send(`{"join":true,"room":"${room}","device":"phone-1","token":"${phoneToken}","lastSeq":${lastSeq}}`);
      await b2.next('joined');
      const d = await b2.next('deltas');
      assert.deepEqual(d.deltas.map((e: any) => JSON.parse(e.payload).i), [2, 3]);
    } finally {
      b2.terminate();
    }
  });
});
