// The single relay's SQLite buffer on its own: the window, replay and `complete`, counters across a reopen,
// the worker's checkpoints keeping the WAL drained, and the move of a schema-1 file.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteState } from '../../src/relay/engine/local/sqlite-state.ts';
import type { SqliteState } from '../../src/relay/engine/local/sqlite-state.ts';

const dir = mkdtempSync(join(tmpdir(), 'hone-relay-buffer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function accept(state: SqliteState, room: string, n: number, from = 'd1', to = 'broadcast'): Promise<number[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => new Promise<number>((resolve, reject) => {
    state.buffer.accept({ room, from, to, msgId: null, head: '{"seq":', tail: `,"n":${i}}`, receivedAt: 0 }, (err, seq) => (err ? reject(err) : resolve(seq)));
  })));
}

test('replay, the window and complete; counters and the buffer survive a reopen', async () => {
  const path = join(dir, 'a.db');
  const clock = { now: 1_000_000 };
  let state = openSqliteState({ path, ttlMs: 60_000, clock: () => clock.now });
  assert.deepEqual(await accept(state, 'r1', 3), [1, 2, 3]);
  clock.now += 30_000;
  assert.deepEqual(await accept(state, 'r1', 2), [4, 5]);
  await accept(state, 'r2', 1);
  let r = await state.buffer.replay('r1', 2, 1e9);
  assert.deepEqual(r.entries.map((e) => e.seq), [3, 4, 5]);
  assert.equal(r.complete, true);
  assert.equal(r.entries[0].text, '{"seq":3,"n":2}');
  await state.close();

  state = openSqliteState({ path, ttlMs: 60_000, clock: () => clock.now });
  assert.equal(state.buffer.size(), 6);
  assert.equal((await state.buffer.position('r1')).seq, 5);
  clock.now += 40_000; // the first three are now older than the window
  state.trim();
  assert.equal(state.buffer.size(), 3);
  r = await state.buffer.replay('r1', 0, 1e9);
  assert.deepEqual(r.entries.map((e) => e.seq), [4, 5]);
  assert.equal(r.complete, false, 'seqs 1-3 left the buffer');
  assert.equal((await state.buffer.replay('r1', 3, 1e9)).complete, true);
  assert.equal((await state.buffer.replay('r1', 99, 1e9)).complete, false, 'a lastSeq the room never reached');
  clock.now += 120_000;
  state.trim();
  await state.close();

  // Everything expired, yet the sequence continues.
  state = openSqliteState({ path, ttlMs: 60_000, clock: () => clock.now });
  assert.equal(state.buffer.size(), 0);
  assert.deepEqual(await accept(state, 'r1', 1), [6]);
  await state.close();
});

test('the checkpoint worker keeps the WAL drained under a stream of writes', async () => {
  const path = join(dir, 'wal.db');
  const state = openSqliteState({ path, ttlMs: 60_000, clock: Date.now });
  for (let i = 0; i < 20; i++) await accept(state, `room-${i % 5}`, 500);
  await new Promise((r) => setTimeout(r, 600));
  const probe = new DatabaseSync(path);
  const [row] = probe.prepare('PRAGMA wal_checkpoint(PASSIVE)').all() as Array<{ busy: number; log: number; checkpointed: number }>;
  probe.close();
  assert.equal(row.checkpointed, row.log, `all WAL frames already copied (${row.checkpointed} of ${row.log})`);
  await state.close();
});

test('a schema-1 buffer (messages keyed by room and seq) is moved into the log at start', async () => {
  const path = join(dir, 'v1.db');
  const old = new DatabaseSync(path);
  old.exec(`CREATE TABLE messages (room TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL, target TEXT NOT NULL, msgId TEXT,
      text TEXT NOT NULL, createdAt INTEGER NOT NULL, PRIMARY KEY (room, seq)) WITHOUT ROWID;
    CREATE TABLE room_seq (room TEXT PRIMARY KEY, seq INTEGER NOT NULL, updatedAt INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO messages VALUES ('r', 7, 'd1', 'broadcast', 'm7', '{"seq":7}', ${Date.now()});
    INSERT INTO room_seq VALUES ('r', 7, ${Date.now()});
    PRAGMA user_version = 1;`);
  old.close();
  const state = openSqliteState({ path, ttlMs: 60_000, clock: Date.now });
  const r = await state.buffer.replay('r', 6, 1e9);
  assert.deepEqual(r.entries.map((e) => [e.seq, e.text]), [[7, '{"seq":7}']]);
  assert.deepEqual(await accept(state, 'r', 1), [8]);
  // The msgId is still recognised as a duplicate after the move.
  const dup = await new Promise<[number, boolean]>((resolve) => state.buffer.accept({ room: 'r', from: 'd1', to: 'broadcast', msgId: 'm7', head: '', tail: '', receivedAt: 0 }, (_e, seq, d) => resolve([seq, d])));
  assert.deepEqual(dup, [7, true]);
  await state.close();
});
