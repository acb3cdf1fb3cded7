// `hone-sync login <email>` and `hone-sync logout`: the sign-in of this device (the e-mailed link opened anywhere, with
// the matchCode shown here, or the e-mailed code typed here), and signing it out.
import { updateSettings } from '../../client/settings.ts';
import { parseToken } from '../../common/token.ts';
import { createInterface } from 'node:readline';
import type { Interface } from 'node:readline';
import { AuthError } from '../../client/auth-client.ts';
import type { AuthClient, LoginHandle, SignedIn } from '../../client/auth-client.ts';
import type { Ctx } from '../context.ts';
import { authClient, print, requireSync } from '../context.ts';
import { usage } from '../exit-codes.ts';
import { startSpinner } from '../spinner.ts';

const PLATFORMS: Record<string, string> = { darwin: 'macos', win32: 'windows' };

export async function login(ctx: Ctx): Promise<void> {
  const input = ctx.io.stdin;
  const [email, extra] = ctx.args.rest;
  if (!email || extra !== undefined) throw usage('usage: hone-sync login <email>');
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw usage(`"${email}" is not an e-mail address`);
  requireSync(ctx);
  const auth = authClient(ctx);
  const deviceName = ctx.settings.syncDeviceName;
  const handle = await auth.login(email, deviceName, PLATFORMS[process.platform] ?? process.platform);
  ctx.io.stderr(`A sign-in link for "${deviceName}" was sent to ${email}. Open it on this device, or on another one (your phone)`
    + (handle.matchCode ? ` and enter ${handle.matchCode} there when the page asks.\n` : '.\n')
    + 'Or type the 6-digit code from the e-mail here and press Enter.\n');
  // While a person may be typing, the spinner must not redraw the line: one line only.
  const spinner = startSpinner({ ...ctx.io, isTTY: ctx.io.isTTY && input.isTTY !== true }, handle.expiresAt, (left) => `waiting for the link to be opened or the code to be typed… ${left} left (Ctrl-C to cancel)`);
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lastProblem = '';
  let signed;
  try {
    const polled = auth.waitForLink(handle, {
      signal,
      onTick: ({ lastError }) => {
        const problem = lastError ? `still trying: ${lastError.message}` : '';
        if (problem && problem !== lastProblem) spinner.note(problem);
        lastProblem = problem;
      },
    });
    polled.catch(() => {});
    signed = await Promise.race([polled, typedCode(ctx, auth, handle, lines, signal, spinner.note)]);
  } catch (err) {
    spinner.stop();
    throw err;
  } finally {
    stop.abort();
    lines.close();
  }
  spinner.stop();
  const normalized = email.trim().toLowerCase().normalize('NFC');
  updateSettings(ctx.settingsFile, { syncDeviceToken: signed.deviceToken, syncEmail: normalized });
  print(ctx, { ok: true, email: normalized, userId: signed.userId, deviceId: signed.deviceId, deviceName },
    `Signed in as ${normalized} on "${deviceName}" (device ${signed.deviceId}).`);
}

/**
 * Resolves when a line typed on this terminal is the e-mailed code; a wrong code is said and the wait goes on;
 * a code the server refuses for good (locked, declined, expired) rejects. Never resolves if no code is typed.
 */
function typedCode(ctx: Ctx, auth: AuthClient, handle: LoginHandle, lines: Interface, signal: AbortSignal, note: (line: string) => void): Promise<SignedIn> {
  return new Promise((resolve, reject) => {
    let busy = false;
    lines.on('line', async (line) => {
      const code = line.replace(/[\s-]+/g, '');
      if (code === '' || busy || signal.aborted) return;
      if (!/^\d{6}$/.test(code)) return note('The code in the e-mail is 6 digits; type it and press Enter (or open the link).');
      busy = true;
      try {
        resolve(await auth.finishWithCode(handle, code, signal));
      } catch (err) {
        if (err instanceof AuthError && (err.code === 'CODE_MISMATCH' || err.status === 0 || err.status === 429 || err.status >= 500)) note(err.message);
        else reject(err);
      } finally {
        busy = false;
      }
    });
  });
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
