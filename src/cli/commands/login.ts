// `hone-sync login <email>` and `hone-sync logout`: the magic-link sign-in of this device, and signing it out.
import { updateSettings } from '../../client/settings.ts';
import { parseToken } from '../../common/token.ts';
import { AuthError } from '../../client/auth-client.ts';
import type { Ctx } from '../context.ts';
import { authClient, print, requireSync } from '../context.ts';
import { usage } from '../exit-codes.ts';
import { startSpinner } from '../spinner.ts';

const PLATFORMS: Record<string, string> = { darwin: 'macos', win32: 'windows' };

export async function login(ctx: Ctx): Promise<void> {
  const [email, extra] = ctx.args.rest;
  if (!email || extra !== undefined) throw usage('usage: hone-sync login <email>');
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw usage(`"${email}" is not an e-mail address`);
  requireSync(ctx);
  const auth = authClient(ctx);
  const deviceName = ctx.settings.syncDeviceName;
  const handle = await auth.login(email, deviceName, PLATFORMS[process.platform] ?? process.platform);
  ctx.io.stderr(`A sign-in link for "${deviceName}" was sent to ${email}. Open it on any device (this one or your phone).\n`);
  const spinner = startSpinner(ctx.io, handle.expiresAt, (left) => `waiting for the link to be opened… ${left} left (Ctrl-C to cancel)`);
  let lastProblem = '';
  let signed;
  try {
    signed = await auth.waitForLink(handle, {
      signal: ctx.signal,
      onTick: ({ lastError }) => {
        const problem = lastError ? `still trying: ${lastError.message}` : '';
        if (problem && problem !== lastProblem) spinner.note(problem);
        lastProblem = problem;
      },
    });
  } catch (err) {
    spinner.stop();
    throw err;
  }
  spinner.stop();
  updateSettings(ctx.settingsFile, { syncDeviceToken: signed.deviceToken, syncEmail: email.toLowerCase() });
  print(ctx, { ok: true, email: email.toLowerCase(), userId: signed.userId, deviceId: signed.deviceId, deviceName },
    `Signed in as ${email.toLowerCase()} on "${deviceName}" (device ${signed.deviceId}).`);
}

export async function logout(ctx: Ctx): Promise<void> {
  const token = ctx.settings.syncDeviceToken;
  if (!token) return print(ctx, { ok: true, signedIn: false }, 'Not signed in on this device.');
  const claims = parseToken(token);
  let note = '';
  if (!ctx.settings.syncEnabled) {
    note = ' Sync is off, so the auth service was not told: the device stays in your device list until removed (hone-sync devices rm on another device).';
  } else if (claims) {
    try {
      await authClient(ctx).removeDevice(claims.deviceId);
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      if (err.status !== 401 && err.code !== 'DEVICE_NOT_FOUND') {
        note = ` The auth service could not be told (${err.message}); remove device ${claims.deviceId} with hone-sync devices rm on another device.`;
      }
    }
  }
  updateSettings(ctx.settingsFile, { syncDeviceToken: null, syncEmail: null });
  print(ctx, { ok: true, signedIn: false, deviceId: claims?.deviceId ?? null, serverNotified: note === '' }, `Signed out of this device.${note}`);
}
