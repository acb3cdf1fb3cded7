// The folder lock of `hone-sync mirror`: one holder at a time, a live holder named in the refusal, a dead holder's or
// a damaged lock taken over, another host's lock respected, released only by its holder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderLocked, lockFolder } from '../../src/cli/mirror/lock.ts';

const fresh = () => mkdtempSync(join(tmpdir(), 'hone-lock-'));
const lockFile = (root: string) => join(root, '.hone-sync', 'lock');
const plant = (root: string, holder: object | string) => {
  mkdirSync(join(root, '.hone-sync'), { recursive: true });
  writeFileSync(lockFile(root), typeof holder === 'string' ? holder : JSON.stringify(holder));
};

test('one holder: a second lock on the folder is refused naming the live holder; release frees it', () => {
  const root = fresh();
  const first = lockFolder(root, () => 1_700_000_000_000);
  assert.equal(statSync(first.file).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(first.file, 'utf8')), { pid: process.pid, host: hostname(), since: 1_700_000_000_000 });
  // a live process (this test's parent) holding the lock
  plant(root, { pid: process.ppid, host: hostname(), since: 1 });
  assert.throws(() => lockFolder(root), (e: unknown) => e instanceof FolderLocked && e.holder.pid === process.ppid && /already mirroring .*; stop it first.*remove .*lock/.test(e.message));
  first.release(); // not ours any more: left alone
  assert.equal(existsSync(lockFile(root)), true);
  rmSync(lockFile(root));
  const again = lockFolder(root);
  again.release();
  assert.equal(existsSync(lockFile(root)), false);
  rmSync(root, { recursive: true, force: true });
});

test('a lock whose process is gone, or a damaged one, is taken over; another host\'s lock is respected', () => {
  const root = fresh();
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  plant(root, { pid: dead, host: hostname(), since: 1 });
  lockFolder(root).release();
  plant(root, 'not json');
  lockFolder(root).release();
  plant(root, { pid: dead, host: 'another-machine', since: 1 });
  assert.throws(() => lockFolder(root), /another-machine/);
  rmSync(root, { recursive: true, force: true });
});
