// `hone-sync status`: the settings, and — only when sync is on — who this device is, the tier, and whether the auth
// service and the relay answer. Exits non-zero when signed out or a server cannot be reached.
import { AuthError } from '../../client/auth-client.ts';
import type { Device, Project, Subscription } from '../../client/auth-client.ts';
import { parseToken } from '../../common/token.ts';
import type { Ctx } from '../context.ts';
import { authClient, print } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { fromAuthError } from '../explain.ts';
import { projectKeys } from '../project-keys.ts';

/** Opens a WebSocket to the relay and closes it: true when the relay accepted the connection. */
export function probeRelay(url: string, timeoutMs = 3000): Promise<{ reachable: boolean; error?: string }> {
  return new Promise((resolve) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      return resolve({ reachable: false, error: (err as Error).message });
    }
    const timer = setTimeout(() => done(false, `no answer within ${timeoutMs / 1000} s`), timeoutMs);
    const done = (reachable: boolean, error?: string) => {
      clearTimeout(timer);
      ws.onopen = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000);
      } catch { /* not open */ }
      resolve(error ? { reachable, error } : { reachable });
    };
    ws.onopen = () => done(true);
    ws.onerror = () => done(false, 'connection failed');
    ws.onclose = (ev) => done(false, `closed ${ev.code}`);
  });
}

export async function status(ctx: Ctx): Promise<number> {
  const s = ctx.settings;
  const claims = parseToken(s.syncDeviceToken);
  const report: Record<string, unknown> = {
    settingsFile: ctx.settingsFile, syncEnabled: s.syncEnabled, syncAuthUrl: s.syncAuthUrl, syncRelayUrl: s.syncRelayUrl,
    deviceName: s.syncDeviceName, signedIn: !!s.syncDeviceToken, email: s.syncEmail || null, userId: claims?.userId ?? null, deviceId: claims?.deviceId ?? null,
  };
  const lines = [
    `settings   ${ctx.settingsFile}${ctx.loaded.exists ? '' : ' (not created yet)'}`,
    `sync       ${s.syncEnabled ? 'on' : 'off — turn it on with: hone-sync config set syncEnabled true'}`,
    `auth       ${s.syncAuthUrl}`,
    `relay      ${s.syncRelayUrl}`,
    `device     ${s.syncDeviceName}${claims ? ` (device ${claims.deviceId})` : ''}`,
    `signed in  ${s.syncDeviceToken ? `yes${s.syncEmail ? `, as ${s.syncEmail}` : ''}` : 'no — run hone-sync login <email>'}`,
  ];
  let code: number = EXIT.OK;
  const keys = projectKeys(ctx);
  // Each project and whether this device encrypts it; only the keys when the project list cannot be fetched.
  const encryption = (list: Project[] | null) => {
    const rows = list
      ? list.map((p) => ({ projectKey: p.projectKey, name: p.name, roomId: p.roomId, encrypted: keys.some((k) => k.room === p.roomId), keyId: keys.find((k) => k.room === p.roomId)?.keyId ?? null }))
      : keys.map((k) => ({ projectKey: k.project, name: k.project, roomId: k.room, encrypted: true, keyId: k.keyId }));
    report.projects = rows;
    for (const r of rows) lines.push(`project    ${r.projectKey}: ${r.encrypted ? `end-to-end encrypted (key id ${r.keyId})` : `not encrypted — hone-sync key set ${r.projectKey}`}`);
  };
  let projectList: Project[] | null = null;
  if (s.syncEnabled) {
    if (s.syncDeviceToken) {
      const auth = authClient(ctx);
      try {
        const [me, sub, list]: [Device, Subscription, Project[]] = await Promise.all([auth.me(), auth.subscription(), auth.projects()]);
        report.device = me;
        report.subscription = sub;
        projectList = list;
        lines.push(`account    ${me.deviceName} on ${me.platform}, tier ${sub.tier}${sub.expiresAt ? ` until ${sub.expiresAt}` : ''}`);
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        const e = fromAuthError(err, s.syncAuthUrl);
        report.authError = { code: err.code, message: e.message };
        lines.push(`account    ${e.message}`);
        code = e.exitCode;
      }
    }
    const relay = await probeRelay(s.syncRelayUrl);
    report.relay = relay;
    lines.push(`relay up   ${relay.reachable ? 'yes' : `no (${relay.error}) — check the network or syncRelayUrl`}`);
    if (!relay.reachable && code === EXIT.OK) code = EXIT.UNREACHABLE;
  }
  encryption(projectList);
  print(ctx, report, lines.join('\n'));
  return code;
}
