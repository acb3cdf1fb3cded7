// The V8 flags hone-relay sets at start are ones this Node knows (V8 only prints a warning for an unknown flag,
// so a renamed flag would silently stop applying).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RELAY_V8_FLAGS } from '../../src/relay/gc-tuning.ts';
import { runSnippet, srcModule } from '../helpers/process.ts';

test('the relay V8 flags are recognised by this runtime', () => {
  const r = runSnippet(`import { tuneGarbageCollector } from ${JSON.stringify(srcModule('relay/gc-tuning.ts'))}; tuneGarbageCollector(); console.log('applied');`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /applied/);
  assert.doesNotMatch(r.stdout + r.stderr, /unrecognized flag/i);
  assert.ok(RELAY_V8_FLAGS.length > 0);
});
