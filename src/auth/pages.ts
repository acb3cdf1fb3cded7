// The HTML pages and e-mails of hone-auth: the confirm page (context, matchCode, decline), its result pages, the sign-in
// e-mail and the "New device signed in" notice. Small, self-contained, readable on a phone; every value is HTML-escaped.
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const STYLE = `body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border-radius:12px;box-shadow:0 2px 12px #0001;padding:2rem 1.5rem;max-width:26rem;width:calc(100% - 2rem);box-sizing:border-box;text-align:center}
h1{font-size:1.35rem;margin:0 0 .75rem}p{line-height:1.5;margin:.5rem 0;color:#4a5263}
button{font-size:1.05rem;padding:.8rem 1rem;border:0;border-radius:8px;background:#3b5bdb;color:#fff;cursor:pointer;width:100%;margin-top:1rem}
.choice{display:grid;grid-template-columns:1fr 1fr;gap:.75rem}.choice button{margin-top:.75rem}#decline{background:#495057}
dl{text-align:left;margin:.5rem 0 1rem}dt{color:#868e96;font-size:.85rem;margin-top:.6rem}dd{margin:0;font-weight:600;overflow-wrap:anywhere}
label{display:block;margin-top:1rem;text-align:left}input[name=matchCode]{font-size:1.4rem;letter-spacing:.2em;text-transform:uppercase;text-align:center;width:100%;box-sizing:border-box;padding:.5rem;margin-top:.35rem;border:1px solid #adb5bd;border-radius:8px}
.problem{color:#c92a2a}
.ok h1{color:#2b8a3e}.bad h1{color:#c92a2a}small{color:#868e96}`;

export function page(title: string, body: string, kind: '' | 'ok' | 'bad' = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · Hone Sync</title><style>${STYLE}</style></head><body><main class="${kind}">${body}</main></body></html>`;
}

/** What the confirm page tells the person holding the link about the login it would complete (SPEC §5). */
export interface ConfirmContext {
  token: string;
  email: string;
  serverHost: string;
  requestIp: string;
  /** Milliseconds since the device asked. */
  ageMs: number;
  deviceName: string;
  platform: string;
  /** Opened from another address than the one that asked: the page asks for the matchCode. */
  needsMatchCode: boolean;
  /** A problem with the last try (wrong or missing code), shown above the form. */
  problem?: string;
}

export function ago(ms: number): string {
  const min = Math.floor(ms / 60_000);
  if (min < 1) return 'less than a minute ago';
  if (min < 60) return `${min} minute${min === 1 ? '' : 's'} ago`;
  const h = Math.floor(min / 60);
  return `${h} hour${h === 1 ? '' : 's'} ago`;
}

export function confirmPage(c: ConfirmContext): string {
  const e = escapeHtml;
  const device = `${e(c.deviceName)}${c.platform ? ` · ${e(c.platform)}` : ''}`;
  const code = c.needsMatchCode
    ? `<label for="matchCode">Enter the code shown on the device that asked</label>
<input id="matchCode" name="matchCode" required maxlength="20" autocomplete="off" autocapitalize="characters" spellcheck="false">`
    : '';
  return page(`Sign in ${c.deviceName}`, `<h1>Sign in to Hone Sync?</h1>
<dl>
<dt>Account</dt><dd id="account">${e(c.email)}</dd>
<dt>Server</dt><dd id="server">${e(c.serverHost)}</dd>
<dt>Requested from</dt><dd id="requester">${e(c.requestIp)}, ${e(ago(c.ageMs))}</dd>
<dt>Device <small>(as reported by the requesting device)</small></dt><dd id="device">${device}</dd>
</dl>
${c.problem ? `<p class="problem" id="problem">${e(c.problem)}</p>` : ''}<form method="post" action="/auth/verify">
<input type="hidden" name="token" value="${e(c.token)}">
<input type="hidden" name="deviceName" value="${e(c.deviceName)}">
<input type="hidden" name="platform" value="${e(c.platform)}">
${code}<div class="choice">
<button type="submit" id="confirm">Sign in ${e(c.deviceName)}</button>
<button type="submit" id="decline" name="decline" value="1" formnovalidate>This wasn't me</button>
</div>
</form><p><small>If you did not just ask to sign in on that device, press "This wasn't me": nothing gets access.</small></p>`);
}

export function declinedPage(): string {
  return page('Sign-in cancelled', `<h1 id="result">Sign-in cancelled</h1><p>Nothing was signed in and the device that asked gets no access. This link no longer works.</p>
<p>If you did not ask for it, someone typed your e-mail address; your account and devices are unchanged.</p>`, 'ok');
}

export function signedInPage(deviceName: string): string {
  return page('Signed in', `<h1 id="result">Signed in</h1><p><strong>${escapeHtml(deviceName)}</strong> is now signed in to Hone Sync.</p><p>You can close this page and return to Hone.</p>`, 'ok');
}

const FAILURES: Record<string, [string, string]> = {
  LINK_EXPIRED: ['Link expired', 'This sign-in link has expired. Ask Hone for a new one.'],
  LINK_USED: ['Link already used', 'This sign-in link has already been used. Each link works once; ask Hone for a new one if you need to.'],
  LINK_NOT_FOUND: ['Unknown link', 'This sign-in link is not valid. Check that you opened the whole link from the e-mail, or ask Hone for a new one.'],
  LOGIN_DECLINED: ['Sign-in cancelled', 'This sign-in was cancelled with "This wasn\'t me"; nothing was signed in. Ask Hone for a new link if it was you.'],
  LOGIN_LOCKED: ['Sign-in locked', 'Too many wrong codes were entered, so this sign-in is locked and nothing was signed in. Ask Hone for a new link if it was you.'],
};

export function failurePage(code: string, fallbackMessage: string): string {
  const [title, text] = FAILURES[code] ?? ['Could not sign in', fallbackMessage];
  return page(title, `<h1 id="result">${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`, 'bad');
}

export function loginMail(m: { link: string; code: string; minutes: number; requestIp: string; deviceName: string | null }): { subject: string; text: string; html: string } {
  const who = `${m.deviceName ? `"${m.deviceName}"` : 'A device'} at address ${m.requestIp}`;
  const warn = 'Never tell anyone this code or forward this e-mail. If you did not ask to sign in, ignore this e-mail, or open the link and press "This wasn\'t me".';
  return {
    subject: 'Sign in to Hone Sync',
    text: `${who} asked to sign in to Hone Sync with this address.\n\nOpen this link to sign in:\n\n${m.link}\n\nOr type this code on the device that asked.\nYour code: ${m.code}\n\nBoth work once and expire in ${m.minutes} minutes. ${warn}\n`,
    html: `<p>${escapeHtml(who)} asked to sign in to Hone Sync with this address.</p><p><a href="${escapeHtml(m.link)}">Sign in to Hone Sync</a></p>
<p>Or type this code on the device that asked.<br>Your code: <strong>${m.code}</strong></p><p>Both work once and expire in ${m.minutes} minutes. ${escapeHtml(warn)}</p>`,
  };
}

export function newDeviceMail(d: { deviceName: string; platform: string; requestIp: string | null; confirmIp: string | null; at: string; deviceId: number; serverHost: string }): { subject: string; text: string; html: string } {
  const lines = [
    `A new device signed in to your Hone Sync account on ${d.serverHost}:`,
    '',
    `  Device:   ${d.deviceName} (${d.platform}), as reported by the device`,
    `  Address:  ${d.requestIp ?? 'unknown'}`,
    ...(d.confirmIp && d.confirmIp !== d.requestIp ? [`  Confirmed from: ${d.confirmIp}`] : []),
    `  Time:     ${d.at}`,
    `  Device ID: ${d.deviceId}`,
    '',
    `If this was not you, remove it at once: hone-sync devices rm ${d.deviceId} (on one of your devices), or in the IDE's list of devices.`,
  ];
  return {
    subject: 'New device signed in to Hone Sync',
    text: lines.join('\n') + '\n',
    html: lines.map((l) => (l === '' ? '' : `<p>${escapeHtml(l.trim())}</p>`)).join(''),
  };
}
