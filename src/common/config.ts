// KEY=VALUE configuration files with HONE_* environment overrides (SPEC §2).
// Each program declares a schema once; loadConfig parses, validates and types it; an unknown key is warned about.
import { readFileSync } from 'node:fs';

export type KeySpec =
  | { type: 'string'; default: string; doc: string; secret?: boolean; maxLength?: number }
  | { type: 'int'; default: number; doc: string; min: number; max: number }
  | { type: 'bool'; default: boolean; doc: string }
  | { type: 'enum'; default: string; values: readonly string[]; doc: string }
  | { type: 'url'; default: string; doc: string }
  /** One URL or several, comma-separated (spaces around the commas are dropped). */
  | { type: 'urls'; default: string; doc: string };

export type Schema = Record<string, KeySpec>;

export type ConfigOf<S extends Schema> = {
  -readonly [K in keyof S]: S[K] extends { type: 'int' } ? number
    : S[K] extends { type: 'bool' } ? boolean
    : S[K] extends { type: 'enum'; values: readonly (infer V)[] } ? V
    : string;
};

export class ConfigError extends Error {}

/** `auth.secret` → `HONE_AUTH_SECRET`. */
export function envName(key: string): string {
  return 'HONE_' + key.toUpperCase().replace(/\./g, '_');
}

/** Parses `KEY=VALUE` lines; `#` starts a comment line; blank lines are skipped. */
export function parseKeyValue(text: string, fileName: string): Map<string, { value: string; line: number }> {
  const out = new Map<string, { value: string; line: number }>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${fileName}:${i + 1}: expected KEY=VALUE, got "${line.slice(0, 60)}"`);
    const key = line.slice(0, eq).trim();
    if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(key)) throw new ConfigError(`${fileName}:${i + 1}: "${key}" is not a valid key`);
    out.set(key, { value: line.slice(eq + 1).trim(), line: i + 1 });
  });
  return out;
}

/** The URLs of a `urls` value (as loadConfig normalised it: comma-separated, no spaces); none when empty. */
export function urlList(value: string): string[] {
  return value === '' ? [] : value.split(',');
}

function isUrl(raw: string): boolean {
  try {
    return /^(https?|wss?|redis|rediss):$/.test(new URL(raw).protocol);
  } catch {
    return false;
  }
}

function convert(key: string, spec: KeySpec, raw: string, where: string): string | number | boolean {
  const bad = (what: string) => new ConfigError(`${where}${key}: ${what}, got "${spec.type === 'string' && spec.secret ? '***' : raw.slice(0, 80)}"`);
  switch (spec.type) {
    case 'int': {
      if (!/^-?\d{1,15}$/.test(raw)) throw bad(`expected a whole number from ${spec.min} to ${spec.max}`);
      const n = Number(raw);
      if (n < spec.min || n > spec.max) throw bad(`expected a whole number from ${spec.min} to ${spec.max}`);
      return n;
    }
    case 'bool':
      if (/^(true|yes|on|1)$/i.test(raw)) return true;
      if (/^(false|no|off|0)$/i.test(raw)) return false;
      throw bad('expected true or false');
    case 'enum':
      if (!spec.values.includes(raw)) throw bad(`expected one of ${spec.values.join(', ')}`);
      return raw;
    case 'url':
      if (raw === '') return raw;
      if (!isUrl(raw)) throw bad('expected a URL such as https://host:port');
      return raw.replace(/\/+$/, '');
    case 'urls': {
      if (raw === '') return raw;
      const list = raw.split(',').map((u) => u.trim());
      const wrong = list.findIndex((u) => !isUrl(u));
      if (wrong >= 0) throw bad(`expected one URL or several separated by commas; item ${wrong + 1} ("${list[wrong].slice(0, 60)}") is not a URL such as redis://host:6379`);
      return list.map((u) => u.replace(/\/+$/, '')).join(',');
    }
    case 'string':
      if (spec.maxLength !== undefined && raw.length > spec.maxLength) throw bad(`expected at most ${spec.maxLength} characters`);
      return raw;
  }
}

export interface LoadOptions {
  /** Path of the KEY=VALUE file; a missing file means defaults unless `mustExist`. */
  file?: string;
  mustExist?: boolean;
  env?: Record<string, string | undefined>;
  /** Values that win over file and environment (command-line flags, tests). */
  overrides?: Record<string, string | number | boolean>;
  warn?: (message: string) => void;
  /** Filled with the keys given explicitly (file, environment or overrides), for rules about keys left unset. */
  explicit?: Set<string>;
}

/** The schema key an unknown one was probably meant to be: same up to case, or within two edits. */
function closest(key: string, known: string[]): string | undefined {
  const k = key.toLowerCase();
  let best: [string, number] | undefined;
  for (const cand of known) {
    const c = cand.toLowerCase();
    if (c === k) return cand;
    const d = editDistance(k, c);
    if (d <= 2 && (!best || d < best[1])) best = [cand, d];
  }
  if (best) return best[0];
  return known.find((cand) => k.startsWith(cand.toLowerCase()) || cand.toLowerCase().startsWith(k));
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** Reads the file, applies HONE_* overrides, validates every key against the schema. */
export function loadConfig<S extends Schema>(schema: S, opts: LoadOptions = {}): ConfigOf<S> {
  const env = opts.env ?? process.env;
  let entries = new Map<string, { value: string; line: number }>();
  const fileName = opts.file ?? '(none)';
  if (opts.file) {
    let text: string | undefined;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || opts.mustExist) throw new ConfigError(`${opts.file}: cannot read config file (${code ?? String(err)})`);
    }
    if (text !== undefined) entries = parseKeyValue(text, opts.file);
  }
  // SPEC §2: an unknown key is warned about, never silently ignored; a misspelt one names the key it resembles.
  // (Where a typo would matter most, smtp.hostname= leaving smtp.host empty, hone-auth refuses to start anyway.)
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  for (const [key, { line }] of entries) {
    if (key in schema) continue;
    const guess = closest(key, Object.keys(schema));
    warn(`${fileName}:${line}: unknown key "${key}" is ignored${guess ? ` (did you mean ${guess}?)` : ''}`);
  }
  const out: Record<string, string | number | boolean> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const fromEnv = env[envName(key)];
    const fromFile = entries.get(key);
    if ((opts.overrides && key in opts.overrides) || fromEnv !== undefined || fromFile) opts.explicit?.add(key);
    if (opts.overrides && key in opts.overrides) {
      const v = opts.overrides[key];
      out[key] = typeof v === 'string' ? convert(key, spec, v, 'option ') : v;
    } else if (fromEnv !== undefined) {
      out[key] = convert(key, spec, fromEnv.trim(), `${envName(key)}: `);
    } else if (fromFile) {
      out[key] = convert(key, spec, fromFile.value, `${fileName}:${fromFile.line}: `);
    } else {
      out[key] = spec.default;
    }
  }
  return out as ConfigOf<S>;
}

/** The self-hosting guide's example secret (docs/self-hosting.md): copied as is, it is a secret everyone knows. */
export const PLACEHOLDER_SECRET = 'PASTE-THE-SECRET-HERE-0123456789abcdef';

/** Refuses the guide's placeholder (and anything still starting with its PASTE-THE-SECRET-HERE marker). */
export function checkNotPlaceholder(key: string, value: string): void {
  if (value.toUpperCase().startsWith(PLACEHOLDER_SECRET.slice(0, 21))) {
    throw new ConfigError(`${key}: still the placeholder from the self-hosting guide; generate a real one with \`hone-auth secret\``);
  }
}

/** Defaults of a schema with some values replaced; what tests and benchmarks start from. */
export function configWith<S extends Schema>(schema: S, values: Partial<ConfigOf<S>> = {}): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) out[key] = spec.default;
  return { ...out, ...values } as ConfigOf<S>;
}
