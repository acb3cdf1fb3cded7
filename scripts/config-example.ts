// Writes auth.conf.example from authConfigSchema, so the documented keys, defaults and docs cannot drift.
// `npm run config:example` regenerates it; test/auth/config-example.test.ts fails when it is stale.
import { writeFileSync } from 'node:fs';
import type { KeySpec, Schema } from '../src/common/config.ts';
import { envName } from '../src/common/config.ts';
import { authConfigSchema } from '../src/auth/config.ts';

/** Keys written as live `key=value` lines in auth.conf.example (the ones an operator sets first). */
export const AUTH_LIVE_KEYS: readonly string[] = ['auth.secret', 'auth.publicUrl'];

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

function describeType(spec: KeySpec): string {
  switch (spec.type) {
    case 'int': return `whole number ${spec.min}–${spec.max}`;
    case 'bool': return 'true or false';
    case 'enum': return `one of ${spec.values.join(', ')}`;
    case 'url': return 'URL';
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

export function renderAuthExample(): string {
  return renderExample(authConfigSchema, 'hone-auth configuration (auth.conf)', AUTH_LIVE_KEYS);
}

export const AUTH_EXAMPLE_PATH = new URL('../auth.conf.example', import.meta.url);

if (import.meta.main) {
  writeFileSync(AUTH_EXAMPLE_PATH, renderAuthExample());
  process.stdout.write(`wrote ${AUTH_EXAMPLE_PATH.pathname}\n`);
}
