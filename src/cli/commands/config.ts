// `hone-sync config get [key]` and `config set <key> <value>`: read and change the settings file.
import { checkSetting, isSettingKey, SETTING_KEYS, SETTINGS, updateSettings } from '../../client/settings.ts';
import type { SettingKey, SyncSettings } from '../../client/settings.ts';
import type { Ctx } from '../context.ts';
import { print, table } from '../context.ts';
import { CliError, EXIT, usage } from '../exit-codes.ts';

const mask = (t: string) => (t ? `${t.split('.')[0]}.…` : '');

export function shown(s: SyncSettings, key: SettingKey, reveal: boolean): string {
  const v = s[key];
  return key === 'syncDeviceToken' && !reveal ? mask(String(v)) : String(v);
}

export async function config(ctx: Ctx): Promise<void> {
  const [sub, key, value, extra] = ctx.args.rest;
  if (sub === 'get' || sub === undefined) {
    if (key !== undefined && !isSettingKey(key)) throw new CliError(EXIT.USAGE, 'USAGE', `unknown setting "${key}"; known: ${SETTING_KEYS.join(', ')}`);
    if (key !== undefined) {
      // Asked for by name: the value itself (the token too, for scripts that move it).
      return print(ctx, { [key]: ctx.settings[key] }, String(ctx.settings[key]));
    }
    const all = Object.fromEntries(SETTING_KEYS.map((k) => [k, k === 'syncDeviceToken' ? mask(ctx.settings[k]) : ctx.settings[k]]));
    return print(ctx, { file: ctx.settingsFile, exists: ctx.loaded.exists, settings: all }, () =>
      `# ${ctx.settingsFile}${ctx.loaded.exists ? '' : ' (not created yet: defaults)'}\n` +
      table(SETTING_KEYS.map((k) => [`${k}=${shown(ctx.settings, k, false)}`, `# ${SETTINGS[k].doc}`])));
  }
  if (sub === 'set') {
    if (key === undefined || value === undefined || extra !== undefined) throw usage('usage: hone-sync config set <key> <value>');
    if (!isSettingKey(key)) throw new CliError(EXIT.USAGE, 'USAGE', `unknown setting "${key}"; known: ${SETTING_KEYS.join(', ')}`);
    let normalised: string;
    try {
      normalised = checkSetting(key, value);
    } catch (err) {
      throw new CliError(EXIT.USAGE, 'BAD_VALUE', (err as Error).message);
    }
    updateSettings(ctx.settingsFile, { [key]: normalised });
    const hint = key === 'syncEnabled' && normalised === 'true' && !ctx.settings.syncDeviceToken ? '\nNext: hone-sync login <email>' : '';
    return print(ctx, { ok: true, key, value: key === 'syncDeviceToken' ? mask(normalised) : normalised },
      `${key}=${key === 'syncDeviceToken' ? mask(normalised) : normalised}${hint}`);
  }
  throw usage(`unknown config command "${sub}" (get or set)`);
}
