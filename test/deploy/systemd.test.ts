// deploy/systemd units as shipped: systemd-analyze verify accepts them (with ExecStart pointed at the built binaries),
// and they say what docs/self-hosting.md relies on: dedicated user, StateDirectory, restart on failure, hardening.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBinaries } from '../../scripts/build-bin.ts';
import { requires } from '../helpers/tools.ts';

const UNITS = ['hone-auth', 'hone-relay'] as const;
const unitPath = (name: string) => fileURLToPath(new URL(`../../deploy/systemd/${name}.service`, import.meta.url));

for (const name of UNITS) {
  test(`${name}.service: user, config, state, restart and hardening`, () => {
    const text = readFileSync(unitPath(name), 'utf8');
    const has = (line: string) => assert.ok(text.split('\n').includes(line), `${name}.service has ${line}`);
    has(`User=${name}`);
    has(`ExecStart=/usr/local/bin/${name} --config /etc/hone-sync/${name.slice(5)}.conf`);
    has(`StateDirectory=${name}`);
    has(`WorkingDirectory=/var/lib/${name}`);
    has('Restart=on-failure');
    for (const h of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'CapabilityBoundingSet=']) has(h);
    assert.ok(!/^MemoryDenyWriteExecute=yes/m.test(text), 'the JIT needs W+X memory');
  });
}

test('systemd-analyze verify accepts both units', requires(['systemd-analyze', 'strip']), async () => {
  const built = await buildBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'hone-systemd-'));
  try {
    const files = UNITS.map((name) => {
      const file = join(dir, `${name}.service`);
      writeFileSync(file, readFileSync(unitPath(name), 'utf8').replace(`ExecStart=/usr/local/bin/${name}`, `ExecStart=${built.paths[name]}`));
      return file;
    });
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
