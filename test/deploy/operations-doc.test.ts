// docs/operations.md cannot drift from the code: its key and metric tables are what the schemas and the relay's
// registry render, every config key, metric and logged event is in it, and a key added to a schema shows up as a row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envName } from '../../src/common/config.ts';
import type { Schema } from '../../src/common/config.ts';
import { authConfigSchema } from '../../src/auth/config.ts';
import { relayConfigSchema } from '../../src/relay/config.ts';
import { createMetrics } from '../../src/relay/metrics.ts';
import { applyBlocks, DOC_PATH, loggedEvents, relayMetrics, renderBlocks, renderConfigTable } from '../../scripts/docs-operations.ts';

function sourceFiles(program: string): string[] {
  const root = fileURLToPath(new URL(`../../src/${program}/`, import.meta.url));
  return (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => join(root, f));
}

const doc = () => readFileSync(DOC_PATH, 'utf8');

/** The text of a section, from its heading to the next heading of the same or a higher level. */
function section(heading: string): string {
  const text = doc();
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `docs/operations.md has the heading ${heading}`);
  const level = heading.split(' ')[0];
  const rest = text.slice(start + heading.length + 2);
  const next = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  return next < 0 ? rest : rest.slice(0, next);
}

test('docs/operations.md is up to date (run npm run docs:operations after changing a schema or a metric)', async () => {
  assert.equal(doc(), applyBlocks(doc(), await renderBlocks()));
});

for (const [heading, schema] of [['### hone-auth (`auth.conf`)', authConfigSchema], ['### hone-relay (`relay.conf`)', relayConfigSchema]] as const) {
  test(`every key of ${heading.slice(4)} is documented with its default and environment variable`, () => {
    const text = section(heading);
    for (const [key, spec] of Object.entries(schema as Schema)) {
      const row = text.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));
      assert.ok(row, `undocumented key ${key}`);
      assert.ok(row.includes(`\`${envName(key)}\``), `${key}: environment variable`);
      assert.ok(row.includes(String(spec.default) === '' ? '(empty)' : `\`${spec.default}\``), `${key}: default`);
    }
  });
}

test('a key added to a schema becomes a row of the rendered table', () => {
  const schema: Schema = { ...relayConfigSchema, 'new.key': { type: 'int', default: 7, min: 1, max: 9, doc: 'Something new.' } };
  const table = renderConfigTable(schema);
  assert.ok(table.includes('| `new.key` | `7` | whole number 1–9 | `HONE_NEW_KEY` | Something new. |'));
  assert.equal(table.split('\n').length, Object.keys(schema).length + 2);
});

test('every relay metric is documented', async () => {
  const { registry } = createMetrics({ connections: () => 0, rooms: () => 0, buffered: () => 0, revocations: () => 0 });
  const text = section('## Metrics');
  for (const m of await registry.getMetricsAsJSON()) {
    if (/^hone_relay_(process|nodejs)_/.test(m.name)) continue;
    assert.ok(text.includes(`| \`${m.name}\` |`), `undocumented metric ${m.name}`);
  }
  assert.ok(text.includes('`hone_relay_process_*`'));
  // Metrics registered outside createMetrics are found in the source, and every name the source mentions is documented.
  const found = await relayMetrics();
  for (const file of sourceFiles('relay')) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'(hone_relay_[a-z_]+)'/g)) {
      if (m[1].endsWith('_')) continue;
      assert.ok(found.some((x) => x.name === m[1]), `${m[1]} (${file}) is found by the metric scan`);
      assert.ok(text.includes(`| \`${m[1]}\` |`), `undocumented metric ${m[1]}`);
    }
  }
});

test('every log event the services emit is in the log table', () => {
  const text = section('## Logs');
  const events = loggedEvents();
  assert.ok(events.size >= 10, 'the source scan finds the events');
  for (const [event, programs] of events) {
    const row = text.split('\n').find((l) => l.startsWith(`| \`${event}\` |`));
    assert.ok(row, `undocumented log event ${event} (${programs.join(', ')})`);
    const documented = row.split('|')[2].trim();
    for (const p of programs) assert.ok(documented === 'both' || documented === p, `${event}: logged by ${p}, documented for ${documented}`);
  }
});

test("the relay's /health row names every field /health answers (cluster mode included)", async () => {
  const { healthBody } = await import('../../src/relay/http.ts');
  const state = { ok: false, lastSuccess: null, lastError: 'x', secretRejected: false };
  const body = healthBody({
    startedAt: 0, clock: () => 0, rooms: () => 0, connections: () => 0, buffered: () => 0, devMode: false,
    revocations: () => ({ authUrl: 'http://a', known: 0, state }),
    engine: () => ({ status: 'ok', fields: { cluster: { redis: 'connected', nodeId: 'n', roomsLocal: 0, roomsRemote: 0 } } }),
  });
  const row = doc().split('\n').find((l) => l.startsWith('| hone-relay | 8443 (`port`) | `/health` |'));
  assert.ok(row, 'the /health row');
  const fields = [...Object.keys(body), ...Object.keys(body.revocations), ...Object.keys((body as { cluster?: object }).cluster ?? {})];
  for (const f of fields) assert.ok(row.includes(`"${f}"`), `/health field ${f} is missing from the row`);
});
