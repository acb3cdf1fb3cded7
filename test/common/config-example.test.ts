// ${name} and relay.conf.example are generated from the config schemas; this fails when they drift apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { envName, loadConfig, parseKeyValue } from '../../src/common/config.ts';
import type { Schema } from '../../src/common/config.ts';
import { EXAMPLES, renderExample, renderFor } from '../../scripts/config-example.ts';

for (const example of EXAMPLES) {
const name = example.path.pathname.split('/').pop() as string;
const examplePath = fileURLToPath(example.path);
const schema = example.schema;
const LIVE = example.live;

test(`${name} is what the schema renders (run npm run config:example after changing the schema)`, () => {
  assert.equal(readFileSync(examplePath, 'utf8'), renderFor(example));
});

test(`${name} documents every key with its doc, env name and default`, () => {
  const text = readFileSync(examplePath, 'utf8');
  const lines = text.split('\n');
  for (const [key, spec] of Object.entries(schema)) {
    const line = `${key}=${String(spec.default)}`;
    const live = lines.includes(line);
    const commented = lines.includes(`# ${line}`);
    assert.ok(live !== commented, `exactly one ${key}= line`);
    assert.equal(live, LIVE.includes(key), key);
    assert.ok(text.includes(envName(key)), `${key}: env name`);
    const firstWord = spec.doc.split(' ')[0];
    assert.ok(text.includes(`# ${firstWord}`), `${key}: doc`);
  }
});

test(`${name} parses with loadConfig to the defaults, without warnings`, () => {
  const warnings: string[] = [];
  const config = loadConfig(schema, { file: examplePath, mustExist: true, env: {}, warn: (m) => warnings.push(m) });
  assert.deepEqual(warnings, []);
  for (const [key, spec] of Object.entries(schema)) assert.equal(config[key as keyof typeof config], spec.default, key);
  assert.deepEqual([...parseKeyValue(readFileSync(examplePath, 'utf8'), examplePath).keys()].sort(), [...LIVE].sort());
});

test(`${name}: uncommenting every default line still parses to the defaults`, () => {
  const text = readFileSync(examplePath, 'utf8').replace(/^# ([A-Za-z][A-Za-z0-9_.-]*=)/gm, '$1');
  const entries = parseKeyValue(text, 'uncommented');
  assert.deepEqual([...entries.keys()].sort(), Object.keys(schema).sort());
  const warnings: string[] = [];
  const config = loadConfig(schema, { overrides: Object.fromEntries([...entries].map(([k, v]) => [k, v.value])), env: {}, warn: (m) => warnings.push(m) });
  for (const [key, spec] of Object.entries(schema)) assert.equal(config[key as keyof typeof config], spec.default, key);
});

}

test('renderExample: docs, types, live and commented defaults', () => {
  const schema = {
    port: { type: 'int', default: 1, min: 0, max: 9, doc: 'The port.' },
    mode: { type: 'enum', default: 'a', values: ['a', 'b'], doc: 'The mode.' },
    'x.y': { type: 'string', default: '', doc: 'A ' + 'long '.repeat(40) + 'doc with `a code span`.' },
  } as const satisfies Schema;
  const text = renderExample(schema, 'Title', ['mode']);
  assert.ok(text.startsWith('# Title\n'));
  assert.ok(text.includes('# The port.\n# (whole number 0–9; environment HONE_PORT)\n# port=1\n'));
  assert.ok(text.includes('# (one of a, b; environment HONE_MODE)\nmode=a\n'));
  assert.ok(text.includes('# x.y=\n'));
  for (const line of text.split('\n')) assert.ok(line.length <= 100, line);
  assert.ok(text.includes('`a code span`'), 'code spans are not split');
});
