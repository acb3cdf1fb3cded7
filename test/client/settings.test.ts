// The settings file: missing → defaults, tolerant reading (corrupt lines, unknown keys, bad values, duplicates),
// in-place atomic writes with mode 0600 that keep everything they do not change — above all the token.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSetting, defaultSettings, loadSettings, settingsPath, statePath, updateSettings } from '../../src/client/settings.ts';
import { fileSeqStore, seqKey } from '../../src/client/seq-store.ts';

const TOKEN = '12:34:1700000000000.' + 'ab'.repeat(32);
const dir = () => mkdtempSync(join(tmpdir(), 'hone-sync-settings-'));

describe('settings file', () => {
  test('the IDE names and defaults; a missing file means defaults, no warnings', () => {
    const s = loadSettings(join(dir(), 'nope', 'sync.conf'));
    assert.equal(s.exists, false);
    assert.deepEqual(s.warnings, []);
    assert.equal(s.settings.syncEnabled, false);
    assert.equal(s.settings.syncRelayUrl, 'wss://sync.hone.codes');
    assert.equal(s.settings.syncAuthUrl, 'https://auth.hone.codes');
    assert.equal(s.settings.syncDeviceToken, '');
    assert.ok(s.settings.syncDeviceName.length > 0);
    assert.deepEqual(defaultSettings().syncEnabled, false);
  });

  test('path: --config wins over HONE_SYNC_CONFIG over ~/.hone/sync.conf; state sits beside it', () => {
    assert.equal(settingsPath({ flag: '/x/a.conf', env: { HONE_SYNC_CONFIG: '/y/b.conf' }, home: '/h' }), '/x/a.conf');
    assert.equal(settingsPath({ env: { HONE_SYNC_CONFIG: '/y/b.conf' }, home: '/h' }), '/y/b.conf');
    assert.equal(settingsPath({ env: {}, home: '/h' }), '/h/.hone/sync.conf');
    assert.equal(statePath('/h/.hone/sync.conf'), '/h/.hone/sync.state');
    assert.equal(statePath('/h/settings'), '/h/settings.state');
  });

  test('writes create the folder and a 0600 file atomically (no temporary files left), and read back', () => {
    const d = dir();
    const p = join(d, 'deep', 'sync.conf');
    updateSettings(p, { syncEnabled: 'yes', syncDeviceToken: TOKEN, syncAuthUrl: 'http://127.0.0.1:8445/' });
    assert.equal(statSync(p).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(d, 'deep')), ['sync.conf']);
    const s = loadSettings(p);
    assert.deepEqual(s.warnings, []);
    assert.equal(s.settings.syncEnabled, true);
    assert.equal(s.settings.syncDeviceToken, TOKEN);
    assert.equal(s.settings.syncAuthUrl, 'http://127.0.0.1:8445', 'trailing slash trimmed');
    // An existing file with loose permissions is tightened by the next write (rename of a fresh 0600 file).
    chmodSync(p, 0o644);
    assert.match(loadSettings(p).warnings.join('\n'), /readable by other users.*chmod 600/);
    updateSettings(p, { syncEmail: 'a@b.c' });
    assert.equal(statSync(p).mode & 0o777, 0o600);
  });

  test('corrupt lines, unknown keys, bad values and duplicates are warnings; the token survives and lines are kept', () => {
    const p = join(dir(), 'sync.conf');
    writeFileSync(p, [
      '# my settings', 'this line is garbage', `syncDeviceToken=${TOKEN}`, 'syncEnabled=maybe', 'colour=blue',
      'syncRelayUrl=ftp://nope', 'syncRelayUrl=ws://127.0.0.1:8444', '=novalue', '',
    ].join('\n'), { mode: 0o600 });
    const s = loadSettings(p);
    assert.equal(s.settings.syncDeviceToken, TOKEN);
    assert.equal(s.settings.syncEnabled, false, 'a bad value falls back to the (safe) default');
    assert.equal(s.settings.syncRelayUrl, 'ws://127.0.0.1:8444');
    const w = s.warnings.join('\n');
    assert.match(w, /:2: line ignored.*expected KEY=VALUE/);
    assert.match(w, /:4: syncEnabled: expected true or false; using the default \(false\)/);
    assert.match(w, /:5: unknown setting "colour"/);
    assert.match(w, /:7: "syncRelayUrl" is set again/);
    assert.match(w, /:8: line ignored/);

    updateSettings(p, { syncEnabled: 'true', syncRelayUrl: 'ws://127.0.0.1:9999' });
    const text = readFileSync(p, 'utf8');
    assert.equal(text, [
      '# my settings', 'this line is garbage', `syncDeviceToken=${TOKEN}`, 'syncEnabled=true', 'colour=blue',
      'syncRelayUrl=ws://127.0.0.1:9999', '=novalue', '',
    ].join('\n'));
    // Removing the token (logout) removes only that line.
    updateSettings(p, { syncDeviceToken: null });
    assert.equal(loadSettings(p).settings.syncDeviceToken, '');
    assert.match(readFileSync(p, 'utf8'), /colour=blue/);
  });

  test('a token that does not look like one is kept (with a warning), never dropped', () => {
    const p = join(dir(), 'sync.conf');
    writeFileSync(p, 'syncDeviceToken=legacy-token-format\n', { mode: 0o600 });
    const s = loadSettings(p);
    assert.equal(s.settings.syncDeviceToken, 'legacy-token-format');
    assert.match(s.warnings[0], /does not look like a device token; it is kept/);
  });

  test('checkSetting validates what config set writes', () => {
    assert.equal(checkSetting('syncEnabled', 'on'), 'true');
    assert.throws(() => checkSetting('syncEnabled', 'perhaps'), /syncEnabled: expected true or false/);
    assert.throws(() => checkSetting('syncRelayUrl', 'http://x'), /expected a wss or ws URL/);
    assert.throws(() => checkSetting('syncAuthUrl', 'not a url'), /expected a URL/);
    assert.throws(() => checkSetting('syncDeviceToken', 'secret-junk'), (e: Error) => /device token/.test(e.message) && !e.message.includes('secret-junk'));
    assert.throws(() => checkSetting('syncDeviceName', 'broadcast'), /not "host" or "broadcast"/);
    assert.throws(() => checkSetting('colour', 'x'), /unknown setting "colour"; known: syncEnabled/);
    assert.throws(() => updateSettings(join(dir(), 'x.conf'), { syncEnabled: 'nah' }), /expected true or false/);
  });

  test('lastSeq state file: per room and device, survives a restart, other rooms kept, odd names encoded', () => {
    const p = join(dir(), 'sync.state');
    const a = fileSeqStore(p, 'room.one', 'desk', 0);
    const b = fileSeqStore(p, 'pair-X', 'my phone/2', 0);
    assert.equal(a.load(), null);
    a.save(5);
    b.save(9);
    a.save(7);
    assert.deepEqual(fileSeqStore(p, 'room.one', 'desk').load(), { seq: 7, epoch: '' });
    assert.deepEqual(fileSeqStore(p, 'pair-X', 'my phone/2').load(), { seq: 9, epoch: '' });
    assert.match(seqKey('pair-X', 'my phone/2'), /^lastSeq\.pair-X\.b64_[A-Za-z0-9_-]+$/);
    assert.equal(statSync(p).mode & 0o777, 0o600);
    const delayed = fileSeqStore(p, 'room.one', 'desk', 10_000);
    delayed.save(8);
    assert.deepEqual(fileSeqStore(p, 'room.one', 'desk').load(), { seq: 7, epoch: '' }, 'not written before the delay');
    delayed.flush();
    assert.deepEqual(fileSeqStore(p, 'room.one', 'desk').load(), { seq: 8, epoch: '' });
    // the epoch its lastSeq belongs to is kept beside it (SPEC §6.1), and a damaged one reads as unknown
    a.save(3, 'ep-2');
    assert.deepEqual(fileSeqStore(p, 'room.one', 'desk').load(), { seq: 3, epoch: 'ep-2' });
    assert.deepEqual(fileSeqStore(p, 'pair-X', 'my phone/2').load(), { seq: 9, epoch: '' }, 'other rooms keep theirs');
    a.save(4);
    assert.deepEqual(fileSeqStore(p, 'room.one', 'desk').load(), { seq: 4, epoch: '' });
    // an epoch that is not one (a line break in it) never reaches the KEY=VALUE file, so it cannot add a line
    a.save(6, 'ep\nlastSeq.pair-X.b64_x=999');
    assert.deepEqual(fileSeqStore(p, 'room.one', 'desk').load(), { seq: 6, epoch: '' });
    assert.doesNotMatch(readFileSync(p, 'utf8'), /999/);
  });
});
