// The client's settings file (`~/.hone/sync.conf`, KEY=VALUE) with the IDE's setting names and defaults.
// Reading is tolerant (bad lines and unknown keys are warnings, never a lost token); writing edits in place, atomically, 0600.
import { readFileSync } from 'node:fs';
import { hostname, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, parseKeyValue } from '../common/config.ts';
import { parseToken } from '../common/token.ts';
import { looseModeWarning, writeFileAtomic } from './atomic-file.ts';

export interface SyncSettings {
  /** Cross-device sync on/off; off by default, and nothing contacts a server while off. */
  syncEnabled: boolean;
  syncRelayUrl: string;
  syncAuthUrl: string;
  /** Stored device token after login; empty = signed out. */
  syncDeviceToken: string;
  /** This device's name: shown in the device list and used as its label in relay rooms. */
  syncDeviceName: string;
  /** The address this device signed in with (for `status`). */
  syncEmail: string;
}

export type SettingKey = keyof SyncSettings;

interface KeyInfo {
  doc: string;
  default: () => string;
  /** Normalises a raw value or throws a SettingsError naming what is wrong. */
  check: (raw: string) => string;
}

export class SettingsError extends Error {
  readonly expected = true;
}

const bool = (raw: string) => {
  if (/^(true|yes|on|1)$/i.test(raw)) return 'true';
  if (/^(false|no|off|0)$/i.test(raw)) return 'false';
  throw new SettingsError('expected true or false');
};

const url = (schemes: string[]) => (raw: string) => {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new SettingsError(`expected a URL such as ${schemes[0]}://host:port`);
  }
  if (!schemes.includes(u.protocol.slice(0, -1))) throw new SettingsError(`expected a ${schemes.join(' or ')} URL`);
  return raw.replace(/\/+$/, '');
};

const defaultDeviceName = () => hostname().slice(0, 100) || 'device';

export const SETTINGS: Record<SettingKey, KeyInfo> = {
  syncEnabled: { doc: 'Enable cross-device sync (false until you turn it on).', default: () => 'false', check: bool },
  syncRelayUrl: { doc: 'Relay server WebSocket URL.', default: () => 'wss://sync.hone.codes', check: url(['wss', 'ws']) },
  syncAuthUrl: { doc: 'Auth service URL.', default: () => 'https://auth.hone.codes', check: url(['https', 'http']) },
  syncDeviceToken: {
    doc: 'Device token stored after login (secret).', default: () => '',
    check: (raw) => {
      if (raw !== '' && parseToken(raw) === null) throw new SettingsError('expected a device token userId:deviceId:timestamp.hash (from hone-sync login)');
      return raw;
    },
  },
  syncDeviceName: {
    doc: 'Name of this device (device list, relay label).', default: defaultDeviceName,
    check: (raw) => {
      if (raw.length < 1 || raw.length > 100 || /[\u0000-\u001f\u007f]/.test(raw) || raw === 'host' || raw === 'broadcast') {
        throw new SettingsError('expected 1 to 100 printable characters, not "host" or "broadcast"');
      }
      return raw;
    },
  },
  syncEmail: { doc: 'E-mail address this device signed in with.', default: () => '', check: (raw) => raw },
};

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

export function isSettingKey(key: string): key is SettingKey {
  return Object.hasOwn(SETTINGS, key);
}

export function defaultSettings(): SyncSettings {
  return fromStrings({});
}

function fromStrings(values: Partial<Record<SettingKey, string>>): SyncSettings {
  const get = (k: SettingKey) => values[k] ?? SETTINGS[k].default();
  return {
    syncEnabled: get('syncEnabled') === 'true',
    syncRelayUrl: get('syncRelayUrl'),
    syncAuthUrl: get('syncAuthUrl'),
    syncDeviceToken: get('syncDeviceToken'),
    syncDeviceName: get('syncDeviceName'),
    syncEmail: get('syncEmail'),
  };
}

/** Checks one value as `config set` would; returns it normalised or throws a SettingsError. */
export function checkSetting(key: string, raw: string): string {
  if (!isSettingKey(key)) throw new SettingsError(`unknown setting "${key}"; known: ${SETTING_KEYS.join(', ')}`);
  try {
    return SETTINGS[key].check(raw.trim());
  } catch (err) {
    throw new SettingsError(`${key}: ${(err as Error).message}, got "${key === 'syncDeviceToken' ? '***' : raw.slice(0, 80)}"`);
  }
}

/** The settings file: `--config`, else HONE_SYNC_CONFIG, else ~/.hone/sync.conf. */
export function settingsPath(opts: { flag?: string; env?: Record<string, string | undefined>; home?: string } = {}): string {
  const env = opts.env ?? process.env;
  if (opts.flag) return resolve(opts.flag);
  if (env.HONE_SYNC_CONFIG) return resolve(env.HONE_SYNC_CONFIG);
  return join(opts.home ?? homedir(), '.hone', 'sync.conf');
}

const besideSettings = (settingsFile: string, ext: string) => (settingsFile.endsWith('.conf') ? settingsFile.slice(0, -5) : settingsFile) + ext;

/** Where per-room state (lastSeq) lives: beside the settings file (`sync.conf` → `sync.state`). */
export function statePath(settingsFile: string): string {
  return besideSettings(settingsFile, '.state');
}

/** Where this device's project keys live (src/client/e2e/key-store.ts): beside the settings file, `sync.keys`, mode 0600. */
export function keysPath(settingsFile: string): string {
  return besideSettings(settingsFile, '.keys');
}

export interface LoadedSettings {
  settings: SyncSettings;
  path: string;
  exists: boolean;
  /** One line each: bad lines, unknown keys, bad values (the default is used), loose permissions. */
  warnings: string[];
}

interface Line {
  raw: string;
  key: string | null;
  value: string;
}

function readLines(path: string): { lines: Line[]; exists: boolean; warnings: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { lines: [], exists: false, warnings: [] };
    throw new SettingsError(`${path}: cannot read the settings file (${code ?? String(err)})`);
  }
  const warnings: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).map((raw, i): Line => {
    let parsed: Map<string, { value: string }>;
    try {
      parsed = parseKeyValue(raw, path);
    } catch (err) {
      const why = err instanceof ConfigError ? err.message.replace(/^.*?:1: /, '') : String(err);
      warnings.push(`${path}:${i + 1}: line ignored (kept in the file): ${why}`);
      return { raw, key: null, value: '' };
    }
    const [entry] = [...parsed];
    return entry ? { raw, key: entry[0], value: entry[1].value } : { raw, key: null, value: '' };
  });
  if (lines.length > 0 && lines[lines.length - 1].raw === '') lines.pop();
  return { lines, exists: true, warnings };
}

/** Reads the settings; a missing file gives the defaults. Throws only when the file exists but cannot be read. */
export function loadSettings(path: string): LoadedSettings {
  const { lines, exists, warnings } = readLines(path);
  const values: Partial<Record<SettingKey, string>> = {};
  const seen = new Map<string, number>();
  lines.forEach((l, i) => {
    if (l.key === null) return;
    if (!isSettingKey(l.key)) return void warnings.push(`${path}:${i + 1}: unknown setting "${l.key}" is ignored (kept in the file)`);
    if (seen.has(l.key)) warnings.push(`${path}:${i + 1}: "${l.key}" is set again (line ${seen.get(l.key)}); the last one wins`);
    seen.set(l.key, i + 1);
    try {
      values[l.key] = SETTINGS[l.key].check(l.value);
    } catch (err) {
      if (l.key === 'syncDeviceToken') {
        values[l.key] = l.value; // never drop a token: the server decides whether it is still good
        warnings.push(`${path}:${i + 1}: syncDeviceToken does not look like a device token; it is kept as is`);
      } else {
        warnings.push(`${path}:${i + 1}: ${l.key}: ${(err as Error).message}; using the default (${SETTINGS[l.key].default()})`);
      }
    }
  });
  const loose = exists && values.syncDeviceToken ? looseModeWarning(path, 'your device token') : null;
  if (loose) warnings.push(loose);
  return { settings: fromStrings(values), path, exists, warnings };
}

/**
 * Sets (string) or removes (null) keys, keeping every other line — comments, unknown keys, lines it cannot parse —
 * exactly as they were; written atomically with mode 0600. Values are checked first (SettingsError).
 */
export function updateSettings(path: string, patch: Partial<Record<SettingKey, string | null>>): void {
  const checked: Array<[SettingKey, string | null]> = Object.entries(patch).map(([k, v]) => [k as SettingKey, v === null || v === undefined ? null : checkSetting(k, v)]);
  const { lines } = readLines(path);
  const out: string[] = [];
  const done = new Set<SettingKey>();
  for (const l of lines) {
    const hit = l.key !== null ? checked.find(([k]) => k === l.key) : undefined;
    if (!hit) {
      out.push(l.raw);
      continue;
    }
    const [key, value] = hit;
    if (value === null || done.has(key)) continue; // removed, or a duplicate line of a key we just set
    out.push(`${key}=${value}`);
    done.add(key);
  }
  if (lines.length === 0) out.push('# Hone Sync settings (hone-sync config set KEY VALUE). Holds your device token: keep it private.');
  for (const [key, value] of checked) if (value !== null && !done.has(key)) out.push(`${key}=${value}`);
  writeFileAtomic(path, out.join('\n') + '\n', 0o600);
}
