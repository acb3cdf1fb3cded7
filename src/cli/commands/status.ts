// `hone-sync status`: the settings, and — only when sync is on — who this device is, the tier, and whether the auth
// service and the relay answer. Exits non-zero when signed out or a server cannot be reached.
import { AuthError } from '../../client/auth-client.ts';
import type { Device, Project, Subscription } from '../../client/auth-client.ts';
import { parseToken } from '../../common/token.ts';
import type { Ctx } from '../context.ts';
import { authClient, print } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { fromAuthError, SECRET_MISMATCH_MESSAGE } from '../explain.ts';
import { projectKeys } from '../project-keys.ts';

/** A room no account owns (issued format, wrong MAC): a join with a good token is refused ROOM_FORBIDDEN, never joined. */
const PROBE_ROOM = `${'0'.repeat(24)}.${'0'.repeat(32)}`;

/**
 * Opens a WebSocket to the relay: reachable when it accepts the connection. With `token`, also sends a join to a room
 * no one owns, so the relay checks the token first: `tokenRefused` when it answers INVALID_TOKEN.
 */
export function probeRelay(url: string, timeoutMs = 3000, token?: { token: string; device: string }): Promise<{ reachable: boolean; error?: string; tokenRefused?: boolean }> {
  return new Promise((resolve) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      return resolve({ reachable: false, error: (err as Error).message });
    }
    let opened = false;
    const timer = setTimeout(() => done(opened, opened ? undefined : `no answer within ${timeoutMs / 1000} s`), timeoutMs);
    const done = (reachable: boolean, error?: string, tokenRefused?: boolean) => {
      clearTimeout(timer);
      ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
      try {
        ws.close(1000);
      } catch { /* not open */ }
      resolve({ reachable, ...(error ? { error } : {}), ...(tokenRefused ? { tokenRefused } : {}) });
    };
    ws.onopen = () => {
      opened = true;
      if (!token) return done(true);
      ws.send(JSON.stringify({ type: 'join', room: PROBE_ROOM, device: `${token.device.slice(0, 80)}/status`, token: token.token }));
    };
    ws.onmessage = (ev) => {
      let code: unknown;
      try { code = JSON.parse(String(ev.data)).code; } catch { /* not JSON: the token was not refused */ }
      done(true, undefined, code === 'INVALID_TOKEN');
    };
    ws.onerror = () => done(opened, opened ? undefined : 'connection failed');
    ws.onclose = (ev) => done(opened, opened ? undefined : `closed ${ev.code}`);
  });
}

export async function status(ctx: Ctx): Promise<number> {
  const s = ctx.settings;
  const claims = parseToken(s.syncDeviceToken);
  const report: Record<string, unknown> = {
    settingsFile: ctx.settingsFile, syncEnabled: s.syncEnabled, syncAuthUrl: s.syncAuthUrl, syncRelayUrl: s.syncRelayUrl,
    deviceName: s.syncDeviceName, signedIn: !!s.syncDeviceToken, email: s.syncEmail || null, userId: claims?.userId ?? null, deviceId: claims?.deviceId ?? null,
  };
  const signedIn = `signed in  ${s.syncDeviceToken ? `yes${s.syncEmail ? `, as ${s.syncEmail}` : ''}` : 'no — run hone-sync login <email>'}`;
  const lines = [
    `settings   ${ctx.settingsFile}${ctx.loaded.exists ? '' : ' (not created yet)'}`,
    `sync       ${s.syncEnabled ? 'on' : 'off — turn it on with: hone-sync config set syncEnabled true'}`,
    `auth       ${s.syncAuthUrl}`,
    `relay      ${s.syncRelayUrl}`,
    `device     ${s.syncDeviceName}${claims ? ` (device ${claims.deviceId})` : ''}`,
    signedIn,
  ];
  let code: number = EXIT.OK;
  const keys = projectKeys(ctx);
  // Each project and whether this device encrypts it; only the keys when the project list cannot be fetched.
  const encryption = (list: Project[] | null) => {
    const rows = list
      ? list.map((p) => {
        const keyId = keys.find((k) => k.room === p.roomId)?.keyId ?? null;
        return { projectKey: p.projectKey, name: p.name, roomId: p.roomId, encrypted: keyId !== null, keyId };
      })
      : keys.map((k) => ({ projectKey: k.project, name: k.project, roomId: k.room, encrypted: true, keyId: k.keyId }));
    report.projects = rows;
    for (const r of rows) lines.push(`project    ${r.projectKey}: ${r.encrypted ? `end-to-end encrypted (key id ${r.keyId})` : `not encrypted — hone-sync key set ${r.projectKey}`}`);
  };
  let projectList: Project[] | null = null;
  let authAccepts = false;
  if (s.syncEnabled) {
    if (s.syncDeviceToken) {
      const auth = authClient(ctx);
      try {
        const [me, sub, list]: [Device, Subscription, Project[]] = await Promise.all([auth.me(), auth.subscription(), auth.projects()]);
        report.device = me;
        report.subscription = sub;
        projectList = list;
        authAccepts = true;
        lines.push(`account    ${me.deviceName} on ${me.platform}, tier ${sub.tier}${sub.expiresAt ? ` until ${sub.expiresAt}` : ''}`);
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        const e = fromAuthError(err, s.syncAuthUrl);
        report.authError = { code: err.code, message: e.message };
        code = e.exitCode;
        // Signed out by the server (device removed, token invalid): said once, in place of "signed in yes".
        if (code === EXIT.SIGNED_OUT) {
          report.signedIn = false;
          lines[lines.indexOf(signedIn)] = `signed in  no — ${e.message}`;
        } else lines.push(`account    ${e.message}`);
      }
    }
    const relay = await probeRelay(s.syncRelayUrl, 3000, authAccepts ? { token: s.syncDeviceToken, device: s.syncDeviceName } : undefined);
    report.relay = relay;
    if (relay.tokenRefused) {
      report.relayError = { code: 'SECRET_MISMATCH', message: SECRET_MISMATCH_MESSAGE };
      lines.push(`relay up   yes, but ${SECRET_MISMATCH_MESSAGE}`);
      if (code === EXIT.OK) code = EXIT.UNREACHABLE;
    } else lines.push(`relay up   ${relay.reachable ? 'yes' : `no (${relay.error}) — check the network or syncRelayUrl`}`);
    if (!relay.reachable && code === EXIT.OK) code = EXIT.UNREACHABLE;
  }
  encryption(projectList);
  print(ctx, report, lines.join('\n'));
  return code;
}
