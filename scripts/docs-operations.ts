// Regenerates the generated blocks of docs/operations.md — the config key tables of both services (from their schemas)
// and the relay's metric table (from its Prometheus registry); test/deploy/operations-doc.test.ts fails when they are stale.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Schema } from '../src/common/config.ts';
import { envName } from '../src/common/config.ts';
import { authConfigSchema } from '../src/auth/config.ts';
import { relayConfigSchema } from '../src/relay/config.ts';
import { createMetrics } from '../src/relay/metrics.ts';
import { describeType } from './config-example.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DOC_PATH = join(ROOT, 'docs', 'operations.md');

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string) => (s === '' ? '(empty)' : '`' + s + '`');

/** One Markdown table row per key: key, default, accepted values, environment variable, meaning. */
export function renderConfigTable(schema: Schema): string {
  const rows = ['| key | default | values | environment | meaning |', '|---|---|---|---|---|'];
  for (const [key, spec] of Object.entries(schema)) {
    rows.push(`| \`${key}\` | ${code(String(spec.default))} | ${cell(describeType(spec))} | \`${envName(key)}\` | ${cell(spec.doc)} |`);
  }
  return rows.join('\n');
}

const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
  .flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));

export interface MetricDoc { name: string; type: string; labels: string[]; help: string }

/**
 * Every metric of the relay: those createMetrics registers (read from a live registry), then those registered
 * elsewhere in src/relay with `new Gauge|Counter|Histogram({ name: 'hone_relay_…', help: '…'` (read from the source).
 */
export async function relayMetrics(): Promise<MetricDoc[]> {
  const { registry } = createMetrics({ connections: () => 0, rooms: () => 0, buffered: () => 0, revocations: () => 0 });
  const out: MetricDoc[] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    if (/^hone_relay_(process|nodejs)_/.test(m.name)) continue;
    const labels = (registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] })?.labelNames ?? [];
    out.push({ name: m.name, type: String(m.type), labels: [...labels], help: m.help });
  }
  const re = /new (Gauge|Counter|Histogram|Summary)\b[^(]*\(\{\s*name: '(hone_relay_\w+)',\s*help: '((?:[^'\\]|\\.)*)'(?:,\s*labelNames: \[([^\]]*)\])?/g;
  for (const file of walk(join(ROOT, 'src', 'relay')).sort()) {
    for (const m of readFileSync(file, 'utf8').matchAll(re)) {
      if (out.some((x) => x.name === m[2])) continue;
      out.push({ name: m[2], type: m[1].toLowerCase(), labels: (m[4] ?? '').split(',').map((l) => l.trim().replace(/^'|'$/g, '')).filter(Boolean), help: m[3].replace(/\\'/g, "'") });
    }
  }
  return out;
}

/** The relay's own metrics (name, type, labels, help) and, in one row, the process metrics prom-client adds. */
export async function renderRelayMetrics(): Promise<string> {
  const rows = ['| metric | type | labels | meaning |', '|---|---|---|---|'];
  for (const m of await relayMetrics()) {
    rows.push(`| \`${m.name}\` | ${m.type} | ${m.labels.map((l) => '`' + l + '`').join(', ') || '—'} | ${cell(m.help)} |`);
  }
  // The default set varies with the platform and Node version, so it is summarised, not listed.
  rows.push('| `hone_relay_process_*`, `hone_relay_nodejs_*` | | | prom-client\'s default metrics: CPU, resident memory, open file descriptors, heap, GC, event-loop lag |');
  return rows.join('\n');
}

export async function renderBlocks(): Promise<Record<string, string>> {
  return {
    'auth-config': renderConfigTable(authConfigSchema),
    'relay-config': renderConfigTable(relayConfigSchema),
    'relay-metrics': await renderRelayMetrics(),
  };
}

const begin = (name: string) => `<!-- BEGIN generated:${name} (npm run docs:operations; do not edit by hand) -->`;
const end = (name: string) => `<!-- END generated:${name} -->`;

/** Replaces the text between each block's BEGIN and END markers; a missing marker is an error. */
export function applyBlocks(doc: string, blocks: Record<string, string>): string {
  for (const [name, body] of Object.entries(blocks)) {
    const b = doc.indexOf(begin(name));
    const e = doc.indexOf(end(name));
    if (b < 0 || e < b) throw new Error(`docs/operations.md: markers for generated:${name} not found`);
    doc = doc.slice(0, b) + begin(name) + '\n' + body + '\n' + doc.slice(e);
  }
  return doc;
}

/** Every `event: '…'` the services log, by program (auth, relay, common), found in their sources. */
export function loggedEvents(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const program of ['auth', 'relay', 'common']) {
    for (const file of walk(join(ROOT, 'src', program))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\bevent: '([A-Za-z0-9_.]+)'/g)) {
        const where = out.get(m[1]) ?? [];
        if (!where.includes(program)) where.push(program);
        out.set(m[1], where);
      }
    }
  }
  return out;
}

if (import.meta.main) {
  writeFileSync(DOC_PATH, applyBlocks(readFileSync(DOC_PATH, 'utf8'), await renderBlocks()));
  process.stdout.write(`wrote ${DOC_PATH}\n`);
}
