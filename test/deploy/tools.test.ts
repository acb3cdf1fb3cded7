// test/helpers/tools.ts as `npm test` meets it on a fresh machine: a test whose system tool is absent is reported as
// skipped, naming the tool and its install command; under CI=true the same file fails (.ci/run installs the tools).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv } from '../helpers/process.ts';
import { findTool, requires } from '../helpers/tools.ts';

const TOOLS_MODULE = fileURLToPath(new URL('../helpers/tools.ts', import.meta.url));

test('requires: found on PATH runs; absent skips with the install command; CI=true throws', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-tools-'));
  try {
    writeFileSync(join(dir, 'strip'), '#!/bin/sh\n');
    chmodSync(join(dir, 'strip'), 0o755);
    assert.equal(findTool('strip', { PATH: dir }), join(dir, 'strip'));
    assert.deepEqual(requires(['strip'], { PATH: dir }), { skip: false });
    assert.deepEqual(requires(['strip', 'openssl'], { PATH: '/nonexistent' }), {
      skip: 'needs strip (apt-get install binutils), openssl (apt-get install openssl)',
    });
    assert.throws(() => requires(['strip'], { PATH: '/nonexistent', CI: 'true' }), /CI=true and this test needs strip \(apt-get install binutils\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('node --test reports the skip with its reason, and fails the file under CI=true', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-tools-'));
  try {
    const file = join(dir, 'needs-strip.test.ts');
    writeFileSync(file, `import { test } from 'node:test';
import { requires } from ${JSON.stringify(TOOLS_MODULE)};
test('builds the binaries', requires(['strip']), () => { throw new Error('ran without strip'); });
`);
    // PATH without strip (the child is started by its full path, so it needs no PATH); without NODE_TEST_CONTEXT,
    // which would make the child report to this runner instead of printing.
    const { NODE_TEST_CONTEXT: _, ...parent } = cleanEnv({ PATH: '/nonexistent', CI: '' });
    const run = (env: Record<string, string>) => spawnSync(process.execPath, ['--test', '--test-reporter=tap', file],
      { cwd: dir, env: { ...parent, ...env }, encoding: 'utf8', timeout: 60_000 });
    const fresh = run({});
    assert.equal(fresh.status, 0, fresh.stdout + fresh.stderr);
    assert.match(fresh.stdout, /ok 1 - builds the binaries # SKIP needs strip \(apt-get install binutils\)/);
    const ci = run({ CI: 'true' });
    assert.notEqual(ci.status, 0);
    assert.match(ci.stdout + ci.stderr, /CI=true and this test needs strip \(apt-get install binutils\): \.ci\/run installs it/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
