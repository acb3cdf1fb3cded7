// docs/relay.md cannot drift from the relay's code where that can be checked mechanically: the config keys and log
// events (and source files) it names exist, every metric and drop reason is listed, every logged event is in its log tables, and every
// error code the relay sends is in the error table with the close code the code uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { relayConfigSchema } from '../../src/relay/config.ts';
import { loggedEvents, relayMetrics } from '../../scripts/docs-operations.ts';

const file = (rel: string) => fileURLToPath(new URL(`../../${rel}`, import.meta.url));
const DOC = readFileSync(file('docs/relay.md'), 'utf8');
const SOURCES = (readdirSync(file('src/relay'), { recursive: true }) as string[])
  .filter((f) => f.endsWith('.ts') && !f.startsWith('page'))
  .map((f) => ({ name: f, text: readFileSync(join(file('src/relay'), f), 'utf8') }));
const SOURCE = SOURCES.map((s) => s.text).join('\n');

/** The rows of the table whose header row starts with `| <first> |`: each row's cells, trimmed. */
function table(first: string): string[][] {
  const lines = DOC.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`| ${first} |`));
  assert.ok(at >= 0, `docs/relay.md has a table headed ${first}`);
  const rows: string[][] = [];
  for (const l of lines.slice(at + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(l.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim()));
  }
  return rows;
}
const ticked = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

/** The events of the relay's log tables (the tables headed `event`). */
function documentedEvents(): Set<string> {
  const lines = DOC.split('\n');
  const events = new Set<string>();
  lines.forEach((l, i) => {
    if (!l.startsWith('| `event` |')) return;
    for (const row of lines.slice(i + 2)) {
      if (!row.startsWith('|')) break;
      for (const e of ticked(row.split('|')[1])) for (const part of e.split(' / ')) events.add(part);
    }
  });
  // "`cluster.redis.down` / `cluster.redis.up`" is two events in one cell.
  return events;
}

test('the config keys and log events it names exist', () => {
  const events = new Set([...loggedEvents()].filter(([, p]) => p.includes('relay') || p.includes('common')).map(([e]) => e));
  const keys = new Set(Object.keys(relayConfigSchema));
  const files = new Set(['relay.conf.example', 'relay.db']);
  const sourceFiles = new Set(SOURCES.map((s) => s.name.split('/').pop()));
  for (const word of new Set(ticked(DOC))) {
    // A source file it names exists under src/relay.
    if (/^[\w-]+\.ts$/.test(word)) {
      assert.ok(sourceFiles.has(word), `docs/relay.md names \`${word}\`: no such file under src/relay`);
      continue;
    }
    // A dotted lower-case name is a config key, a log event or a file.
    if (!/^[a-z]+(\.[a-zA-Z]+)+$/.test(word)) continue;
    assert.ok(keys.has(word) || events.has(word) || files.has(word), `docs/relay.md names \`${word}\`: neither a relay config key nor a logged event`);
  }
});

test('every relay log event is in its log tables, and every event there is logged', () => {
  const documented = documentedEvents();
  const logged = [...loggedEvents()].filter(([, p]) => p.includes('relay') || p.includes('common')).map(([e]) => e);
  for (const e of logged) assert.ok(documented.has(e), `log event ${e} is missing from docs/relay.md`);
  for (const e of documented) assert.ok(logged.includes(e), `docs/relay.md lists ${e}, which the relay never logs`);
});

test('every metric is listed, every listed metric exists, and the drop reasons are exactly the code\'s', async () => {
  const names = (await relayMetrics()).map((m) => m.name);
  const cells = table('metric').map((r) => r[0]);
  const listed = cells.flatMap(ticked).map((m) => m.replace(/\{.*$/, ''));
  for (const n of names) assert.ok(listed.includes(n), `metric ${n} is missing from docs/relay.md`);
  for (const m of listed) if (!m.endsWith('*')) assert.ok(names.includes(m), `docs/relay.md lists ${m}, which the relay does not export`);

  const union = /export type DropReason =([^;]+);/.exec(readFileSync(file('src/relay/metrics.ts'), 'utf8'));
  assert.ok(union, 'metrics.ts declares DropReason');
  const reasons = [...union[1].matchAll(/'([a-z_]+)'/g)].map((m) => m[1]).sort();
  const row = table('metric').find((r) => r[0] === '`hone_relay_messages_dropped_total{reason}`');
  assert.ok(row, 'the dropped-messages row');
  assert.deepEqual(ticked(row[1]).sort(), reasons);
});

test('every error code the relay sends is in the error table, with the close code the code closes with', () => {
  const rows = new Map(table('code').flatMap((r) => ticked(r[0]).map((code) => [code, r[2]] as const)));
  // Where the relay sends an error frame: out.error, hub.end / refuse (with the close code), bad (frames), JoinRefused.
  const sent = new Map<string, Set<number>>();
  const note = (code: string, close?: number) => {
    if (!sent.has(code)) sent.set(code, new Set());
    if (close !== undefined) sent.get(code)!.add(close);
  };
  const constants: Record<string, number> = { POLICY: 1008, TRY_LATER: 1013 };
  for (const m of SOURCE.matchAll(/(?:out\.error\(|\bbad\()'([A-Z][A-Z_]+)'/g)) note(m[1]);
  for (const m of SOURCE.matchAll(/(?:\brefuse\(\w+, \w+, |\bend\(\w+, )'([A-Z][A-Z_]+)', .+?, (\d{4}|POLICY|TRY_LATER)(?:, true)?\);/g)) {
    note(m[1], Number(constants[m[2]] ?? m[2]));
  }
  for (const m of SOURCE.matchAll(/new JoinRefused\('([A-Z][A-Z_]+)', [^;]*?(?:, (\d{4}))?\);/g)) note(m[1], Number(m[2] ?? 1013));
  assert.ok(sent.size >= 15, `the source scan finds the codes (${[...sent.keys()].join(', ')})`);
  for (const [code, closes] of sent) {
    const connection = rows.get(code);
    assert.ok(connection !== undefined, `error code ${code} is missing from docs/relay.md`);
    for (const close of closes) assert.match(connection, new RegExp(`closed ${close}\\b`), `${code} closes ${close}: docs/relay.md says "${connection}"`);
  }
  for (const code of rows.keys()) assert.ok(SOURCE.includes(`'${code}'`), `docs/relay.md lists ${code}, which the relay never sends`);
});
