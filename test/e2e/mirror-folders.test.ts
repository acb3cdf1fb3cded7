// `hone-sync mirror` as a person runs it (issue 19): a missing folder needs --create, a second mirror on a folder is
// refused by its lock, empty folders and folder deletes travel, renames are sent as renames, large transfers show progress.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Device, Proc, Stack } from '../helpers/e2e.ts';
import { converged, fileIs, gone } from './folders.ts';
import { projectStack } from './project-stack.ts';

describe('hone-sync mirror: folders, lock, renames, progress', { timeout: 150_000 }, () => {
  let stack: Stack;
  let desk: Device;
  let phone: Device;
  let A: string;
  let B: string;
  let ma: Proc;
  let mb: Proc;
  const procs: Proc[] = [];
  const start = (dev: Device, args: string[]) => {
    const p = dev.start(['mirror', ...args, '--project', 'notes']);
    procs.push(p);
    return p;
  };

  before(async () => {
    ({ stack, devices: [desk, phone] } = await projectStack(['desktop', 'phone']));
    A = join(stack.dir, 'desk-notes');
    B = join(stack.dir, 'phone-notes');
    mkdirSync(A);
  });
  after(async () => {
    if (process.env.HONE_E2E_DEBUG) for (const p of procs) console.log(`---- ${p.child.pid}\n${p.out()}`);
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await stack?.close();
  });

  test('a folder that does not exist is an error naming --create; with --create it is made', async () => {
    const typo = join(stack.dir, 'phnoe-notes');
    const r = await phone.run(['mirror', typo, '--project', 'notes']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^hone-sync: .*phnoe-notes does not exist .*; check the path, or add --create to mirror into a new folder$/m);
    assert.equal(existsSync(typo), false, 'nothing created');
    ma = start(desk, [A]);
    await ma.waitFor(/mirroring .* as "desktop"/, 20_000);
    mb = start(phone, [B, '--create']);
    await mb.waitFor(/mirroring .*phone-notes \(created\) .* as "phone"/, 20_000);
  });

  test('a second mirror on the same folder is refused by the lock and the first keeps running; a dead holder\'s lock is taken over', async () => {
    const second = await desk.run(['mirror', A, '--project', 'notes']);
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`another hone-sync mirror \\(pid ${ma.child.pid} on .*\\) is already mirroring ${A.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; stop it first`));
    assert.equal(ma.child.exitCode, null, 'the first mirror is still running');
    writeFileSync(join(A, 'still.txt'), 'the first mirror still syncs\n');
    await fileIs(join(B, 'still.txt'), 'the first mirror still syncs\n');
    ma.child.kill('SIGKILL');
    await ma.exited;
    ma = start(desk, [A]);
    await ma.waitFor(/mirroring .* as "desktop"/, 20_000);
  });

  test('empty folders are created on the other side; a deleted folder leaves no empty folders behind', async () => {
    mkdirSync(join(A, 'empty', 'deeper'), { recursive: true });
    mkdirSync(join(A, 'docs', 'sub'), { recursive: true });
    writeFileSync(join(A, 'docs', 'a.md'), 'a\n');
    writeFileSync(join(A, 'docs', 'sub', 'b.md'), 'b\n');
    await converged(A, B, 15_000, (t) => 'empty/deeper/' in t && 'docs/sub/b.md' in t);
    rmSync(join(A, 'docs'), { recursive: true });
    await gone(join(B, 'docs'));
    rmSync(join(B, 'empty', 'deeper'), { recursive: true });
    await gone(join(A, 'empty', 'deeper'));
    const t = await converged(A, B, 15_000, (x) => !('docs/' in x) && !('empty/deeper/' in x));
    assert.ok('empty/' in t, 'the parent the phone kept is still there');
  });

  test('a large file shows progress; renaming it (and a folder) sends the rename, not the content again', async () => {
    const big = Buffer.alloc(6 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    const [a0, b0] = [ma.mark(), mb.mark()];
    mkdirSync(join(A, 'old'));
    writeFileSync(join(A, 'old', 'big.dat'), big);
    writeFileSync(join(A, 'old', 'note.txt'), 'small\n');
    await fileIs(join(B, 'old', 'big.dat'), big, 30_000);
    await ma.waitFor(/… sending old\/big\.dat to the other devices: 6\.0 MB of 6\.0 MB \(100%\)/, 10_000, a0);
    await mb.waitFor(/… receiving old\/big\.dat from desktop: .* \(\d+%\)/, 10_000, b0);
    assert.ok(mb.out().slice(b0).split('\n').filter((l) => l.startsWith('… receiving old/big.dat')).length <= 11, 'at most a line per tenth');

    const [a1, b1] = [ma.mark(), mb.mark()];
    renameSync(join(A, 'old', 'big.dat'), join(A, 'old', 'renamed.dat'));
    await fileIs(join(B, 'old', 'renamed.dat'), big);
    await gone(join(B, 'old', 'big.dat'));
    await ma.waitFor(/→ sent old\/renamed\.dat \(6\.0 MB\): same content as old\/big\.dat, not sent again/, 10_000, a1);
    await mb.waitFor(/← desktop: created old\/renamed\.dat \(6\.0 MB\) from the local copy old\/big\.dat/, 10_000, b1);

    const [a2, b2] = [ma.mark(), mb.mark()];
    renameSync(join(A, 'old'), join(A, 'new'));
    await fileIs(join(B, 'new', 'renamed.dat'), big);
    await gone(join(B, 'old'));
    await converged(A, B, 15_000, (t) => 'new/note.txt' in t && !('old/' in t));
    // The file is written before its line is printed: wait for the lines rather than read the output at once.
    await ma.waitFor(/→ sent new\/renamed\.dat \(6\.0 MB\): same content as old\/renamed\.dat, not sent again/, 10_000, a2);
    await mb.waitFor(/← desktop: created new\/renamed\.dat \(6\.0 MB\) from the local copy old\/renamed\.dat/, 10_000, b2);
    assert.doesNotMatch(mb.out().slice(b1), /… receiving/, 'no content transfer for the renames');
    assert.deepEqual(readdirSync(B).sort(), ['.hone-sync', 'empty', 'new', 'still.txt']);
    assert.equal(readFileSync(join(B, 'new', 'note.txt'), 'utf8'), 'small\n');
  });
});
