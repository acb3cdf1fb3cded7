// Writes auth.conf.example and relay.conf.example from the config schemas, so documented keys cannot drift.
// `npm run config:example` regenerates them; test/common/config-example.test.ts fails when one is stale.
import { writeFileSync } from 'node:fs';
import type { KeySpec, Schema } from '../src/common/config.ts';
import { envName } from '../src/common/config.ts';
import { authConfigSchema } from '../src/auth/config.ts';
import { relayConfigSchema } from '../src/relay/config.ts';

const WIDTH = 100;

function wrap(text: string, prefix: string): string[] {
  const lines: string[] = [];
  let line = '';
  // A `code span` is kept on one line.
  for (const word of text.match(/`[^`]*`\S*|\S+/g) ?? []) {
    if (line && prefix.length + line.length + 1 + word.length > WIDTH) {
      lines.push(prefix + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(prefix + line);
  return lines;
}

export function describeType(spec: KeySpec): string {
  switch (spec.type) {
    case 'int': return `whole number ${spec.min}–${spec.max}`;
    case 'bool': return 'true or false';
    case 'enum': return `one of ${spec.values.join(', ')}`;
    case 'url': return 'URL';
    case 'urls': return 'URL list';
    case 'string': return spec.maxLength === undefined ? 'text' : `text, at most ${spec.maxLength} characters`;
  }
}

/**
 * Renders a KEY=VALUE example file: every key with its doc as `#` comments, its type and environment variable,
 * and its default as a commented-out `# key=default` line (a live `key=default` line for keys in `live`).
 */
export function renderExample(schema: Schema, title: string, live: readonly string[] = []): string {
  const out: string[] = [
    ...wrap(title, '# '),
    '#',
    ...wrap('Generated from the configuration schema by `npm run config:example`; do not edit by hand.', '# '),
    ...wrap('Format: KEY=VALUE, one per line; lines starting with # are comments. Commented-out lines show the defaults.', '# '),
    ...wrap('Every key can also be set by an environment variable, HONE_ + the key upper-cased with . → _ (auth.secret → HONE_AUTH_SECRET), which wins over this file.', '# '),
  ];
  for (const [key, spec] of Object.entries(schema)) {
    out.push('');
    out.push(...wrap(spec.doc, '# '));
    out.push(`# (${describeType(spec)}; environment ${envName(key)})`);
    out.push(`${live.includes(key) ? '' : '# '}${key}=${String(spec.default)}`);
  }
  return out.join('\n') + '\n';
}

export interface Example {
  schema: Schema;
  title: string;
  /** Keys written as live `key=value` lines (the ones an operator sets first). */
  live: readonly string[];
  path: URL;
}

export const EXAMPLES: readonly Example[] = [
  { schema: authConfigSchema, title: 'hone-auth configuration (auth.conf)', live: ['auth.secret', 'auth.publicUrl'], path: new URL('../auth.conf.example', import.meta.url) },
  { schema: relayConfigSchema, title: 'hone-relay configuration (relay.conf)', live: ['auth.secret', 'auth.url'], path: new URL('../relay.conf.example', import.meta.url) },
];

export const renderFor = (e: Example): string => renderExample(e.schema, e.title, e.live);

if (import.meta.main) {
  for (const e of EXAMPLES) {
    writeFileSync(e.path, renderFor(e));
    process.stdout.write(`wrote ${e.path.pathname}\n`);
  }
}
