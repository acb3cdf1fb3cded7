// The V8 flags hone-relay sets at start are ones this Node knows (V8 only prints a warning for an unknown flag,
// so a renamed flag would silently stop applying).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RELAY_V8_FLAGS } from '../../src/relay/gc-tuning.ts';

test('the relay V8 flags are recognised by this runtime', () => {
  const module = fileURLToPath(new URL('../../src/relay/gc-tuning.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { tuneGarbageCollector } from ${JSON.stringify(module)}; tuneGarbageCollector(); console.log('applied');`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /applied/);
  assert.doesNotMatch(r.stdout + r.stderr, /unrecognized flag/i);
  assert.ok(RELAY_V8_FLAGS.length > 0);
});
