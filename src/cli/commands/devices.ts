// `hone-sync devices` and `devices rm <id>`: the account's devices; removing one signs it out everywhere.
import { updateSettings } from '../../client/settings.ts';
import type { Ctx } from '../context.ts';
import { authClient, print, requireToken, table } from '../context.ts';
import { usage } from '../exit-codes.ts';

export async function devices(ctx: Ctx): Promise<void> {
  const [sub, id, extra] = ctx.args.rest;
  const me = requireToken(ctx);
  const auth = authClient(ctx);
  if (sub === undefined || sub === 'list') {
    const list = await auth.devices();
    return print(ctx, { devices: list }, () => table([
      ['ID', 'NAME', 'PLATFORM', 'LAST SEEN', ''],
      ...list.map((d) => [String(d.id), d.deviceName, d.platform, d.lastSeen, d.current ? '(this device)' : '']),
    ]));
  }
  if (sub === 'rm' || sub === 'remove') {
    if (!id || extra !== undefined || !/^[1-9]\d{0,9}$/.test(id)) throw usage('usage: hone-sync devices rm <id> (the ID column of hone-sync devices)');
    await auth.removeDevice(Number(id));
    const self = Number(id) === me.deviceId;
    if (self) updateSettings(ctx.settingsFile, { syncDeviceToken: null, syncEmail: null });
    return print(ctx, { ok: true, removed: Number(id), self },
      self ? `Removed device ${id}: this device is now signed out.` : `Removed device ${id}; it is signed out everywhere within seconds.`);
  }
  throw usage(`unknown devices command "${sub}" (list or rm <id>)`);
}
