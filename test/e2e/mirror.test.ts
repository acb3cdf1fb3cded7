// End to end with real processes (auth on SQLite and MariaDB, relay, SMTP, the hone-sync CLI on "desktop" and "phone"): login by
// e-mail, projects add, two mirrors converging, an offline phone's conflicting edit, a relay SIGKILLed and restarted, a device removed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStack } from '../helpers/e2e.ts';
import type { Device, Proc, Stack } from '../helpers/e2e.ts';
import { converged, fileIs, gone, tree } from './folders.ts';
import { sleep } from '../helpers/wait.ts';

const EMAIL = 'ann@example.com';

function flow(kind: 'sqlite' | 'mysql', full: boolean) {
  describe(`mirror end to end on ${kind === 'sqlite' ? 'SQLite' : 'MariaDB'}`, { timeout: 110_000 }, () => {
    let stack: Stack;
    let desk: Device;
    let phone: Device;
    let A: string;
    let B: string;
    let ma: Proc;
    let mb: Proc;
    const mirrors: Proc[] = [];
    const mirrorOn = async (dev: Device, dir: string) => {
      const p = dev.start(['mirror', dir, '--project', 'notes', '--create']);
      mirrors.push(p);
      await p.waitFor(/mirroring .* as "/, 15_000);
      return p;
    };

    before(async () => {
      stack = await startStack(kind);
      A = join(stack.dir, 'desk-notes');
      B = join(stack.dir, 'phone-notes');
    });
    after(async () => {
      if (process.env.HONE_E2E_DEBUG) for (const m of mirrors) console.log(`---- mirror ${m.child.pid}\n${m.out()}`);
      await Promise.all(mirrors.map((m) => m.stop('SIGKILL')));
      if (stack) await stack.close();
    });

    test('login on "desktop" and "phone" through the e-mailed links; projects add once the user is pro', { timeout: 30_000 }, async () => {
      desk = await stack.device('desktop');
      phone = await stack.device('phone');
      for (const dev of [desk, phone]) {
        const r = await stack.login(dev, EMAIL);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`Signed in as ${EMAIL} on "${dev.name}"`));
      }
      const refused = await desk.run(['projects', 'add', 'notes']);
      assert.equal(refused.code, 6, refused.stderr);
      assert.match(refused.stderr, /free tier allows 0 synced projects/);
      const tier = await stack.setTier(EMAIL, 'pro');
      assert.equal(tier.code, 0, tier.stderr);
      assert.match(tier.stdout, /is now pro/);
      const added = await desk.run(['projects', 'add', 'notes', '--json']);
      assert.equal(added.code, 0, added.stderr);
      assert.equal(JSON.parse(added.stdout).project.projectKey, 'notes');
      const seen = await phone.run(['projects', '--json']);
      assert.deepEqual(JSON.parse(seen.stdout).projects.map((p: any) => p.projectKey), ['notes']);
    });

    test('both mirror the project: existing files go across, .git and node_modules stay home, edits go both ways', { timeout: 30_000 }, async () => {
      mkdirSync(join(A, '.git'), { recursive: true });
      mkdirSync(join(A, 'node_modules', 'dep'), { recursive: true });
      mkdirSync(join(A, 'src'), { recursive: true });
      writeFileSync(join(A, '.git', 'HEAD'), 'ref: refs/heads/main\n');
      writeFileSync(join(A, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
      writeFileSync(join(A, 'README.md'), '# notes\n');
      writeFileSync(join(A, 'src', 'main.ts'), 'console.log(1);\n');
      ma = await mirrorOn(desk, A);
      mb = await mirrorOn(phone, B); // the folder does not exist yet: created (--create)
      await converged(A, B, 15_000, (t) => 'README.md' in t && 'src/main.ts' in t);
      assert.equal(existsSync(join(B, '.git')), false, '.git is not synced');
      assert.equal(existsSync(join(B, 'node_modules')), false, 'node_modules is not synced');

      writeFileSync(join(A, 'src', 'main.ts'), 'console.log("edited on desktop");\n');
      await fileIs(join(B, 'src', 'main.ts'), 'console.log("edited on desktop");\n');
      await mb.waitFor(/← desktop: updated src\/main\.ts/);
      writeFileSync(join(B, 'todo.txt'), 'written on the phone\n');
      await fileIs(join(A, 'todo.txt'), 'written on the phone\n');
      await ma.waitFor(/← phone: created todo\.txt/);
      if (!full) return;
      // chunked: 700 KB is four 192 KiB chunks
      const big = Buffer.alloc(700_000);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
      writeFileSync(join(B, 'big.bin'), big);
      await fileIs(join(A, 'big.bin'), big);
      rmSync(join(A, 'todo.txt'));
      await gone(join(B, 'todo.txt'));
      await mb.waitFor(/← desktop: deleted todo\.txt/);
      writeFileSync(join(A, 'shared.txt'), 'v1\n');
      await fileIs(join(B, 'shared.txt'), 'v1\n');
      await converged(A, B);
    });

    if (full) {
      test('phone offline: desktop edits; a conflicting offline edit on the phone is kept; back within the window, they converge', { timeout: 30_000 }, async () => {
        mb.child.kill('SIGKILL');
        await mb.exited;
        writeFileSync(join(A, 'src', 'main.ts'), 'console.log("while the phone was away");\n');
        writeFileSync(join(A, 'new-on-desktop.txt'), 'hello from the desktop\n');
        rmSync(join(A, 'README.md'));
        const m0 = ma.mark();
        writeFileSync(join(A, 'shared.txt'), 'desktop edit\n');
        await ma.waitFor(/→ sent shared\.txt/, 5000, m0);
        await sleep(50);
        // the phone edits the same file later, while its mirror is not running (last writer wins: the phone)
        writeFileSync(join(B, 'shared.txt'), 'phone edit (offline)\n');
        writeFileSync(join(B, 'offline-note.txt'), 'made on the phone while offline\n');
        mb = await mirrorOn(phone, B);
        const t = await converged(A, B, 15_000, (x) => 'shared.txt.conflict-desktop' in x && 'offline-note.txt' in x && !('README.md' in x));
        assert.equal(readFileSync(join(A, 'shared.txt'), 'utf8'), 'phone edit (offline)\n');
        assert.equal(readFileSync(join(B, 'shared.txt.conflict-desktop'), 'utf8'), 'desktop edit\n', 'the losing edit is kept, not lost');
        assert.equal(readFileSync(join(B, 'src', 'main.ts'), 'utf8'), 'console.log("while the phone was away");\n');
        assert.equal(readFileSync(join(B, 'new-on-desktop.txt'), 'utf8'), 'hello from the desktop\n');
        assert.ok(!('README.md' in t));
        await ma.waitFor(/! conflict in shared\.txt: phone's later edit wins; this device's edit is kept as shared\.txt\.conflict-desktop/);
      });

      test('the relay is killed (SIGKILL) mid-stream and restarted on the same ports: nothing is lost', { timeout: 40_000 }, async () => {
        const before = Object.keys(tree(A)).length;
        const [ma0, mb0] = [ma.mark(), mb.mark()];
        // a burst of edits, and the relay killed while they are on the way
        for (let i = 0; i < 30; i++) writeFileSync(join(A, `burst-${i}.txt`), `burst ${i}\n`);
        await ma.waitFor(/→ sent burst-/, 5000, ma0);
        await stack.killRelay('SIGKILL');
        // both sides change things while there is no relay
        writeFileSync(join(A, 'during-outage-desk.txt'), 'desk, relay down\n');
        writeFileSync(join(B, 'during-outage-phone.txt'), 'phone, relay down\n');
        writeFileSync(join(B, 'src', 'main.ts'), 'console.log("phone, relay down");\n');
        await ma.waitFor(/not connected/, 10_000, ma0);
        await sleep(500);
        await stack.startRelay();
        await ma.waitFor(/reconnected to the relay/, 15_000, ma0);
        await mb.waitFor(/reconnected to the relay/, 15_000, mb0);
        const t = await converged(A, B, 20_000, (x) => Object.keys(x).length === before + 32);
        for (let i = 0; i < 30; i++) assert.equal(readFileSync(join(B, `burst-${i}.txt`), 'utf8'), `burst ${i}\n`);
        assert.equal(readFileSync(join(A, 'during-outage-phone.txt'), 'utf8'), 'phone, relay down\n');
        assert.equal(readFileSync(join(B, 'during-outage-desk.txt'), 'utf8'), 'desk, relay down\n');
        assert.equal(readFileSync(join(A, 'src', 'main.ts'), 'utf8'), 'console.log("phone, relay down");\n');
        assert.ok('during-outage-desk.txt' in t);
      });
    }

    test('desktop removes the phone: the phone\'s mirror is disconnected and told to sign in again (exit 4)', { timeout: 30_000 }, async () => {
      const list = await desk.run(['devices', '--json']);
      assert.equal(list.code, 0, list.stderr);
      const phoneDev = JSON.parse(list.stdout).devices.find((d: any) => d.deviceName === 'phone');
      assert.ok(phoneDev, list.stdout);
      const rm = await desk.run(['devices', 'rm', String(phoneDev.id)]);
      assert.equal(rm.code, 0, rm.stderr);
      const t0 = Date.now();
      const exit = await Promise.race([mb.exited, sleep(10_000).then(() => null)]);
      assert.ok(exit, `the phone's mirror still runs 10 s after its device was removed:\n${mb.out()}`);
      assert.equal(exit.code, 4, mb.out());
      assert.match(mb.stderr(), /^hone-sync: signed out on this device, run hone-sync login <email> \(the relay says: .*\)$/m);
      assert.ok(Date.now() - t0 < 5000, `disconnected after ${Date.now() - t0} ms`);
      // the desktop keeps mirroring; the phone's CLI is refused by auth too
      const again = await phone.run(['projects']);
      assert.equal(again.code, 4, again.stderr);
      assert.match(again.stderr, /signed out on this device, run hone-sync login/);
      assert.equal(ma.child.exitCode, null, 'the desktop mirror is still running');
    });
  });
}

flow('sqlite', true);
flow('mysql', process.env.HONE_E2E_MYSQL_FULL !== '0');
