// The few HTML pages of hone-auth: the magic-link confirm page, its result pages and the login e-mail.
// Small, self-contained, readable on a phone; every value is HTML-escaped.
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const STYLE = `body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border-radius:12px;box-shadow:0 2px 12px #0001;padding:2rem 1.5rem;max-width:26rem;width:calc(100% - 2rem);box-sizing:border-box;text-align:center}
h1{font-size:1.35rem;margin:0 0 .75rem}p{line-height:1.5;margin:.5rem 0;color:#4a5263}
button{font-size:1.05rem;padding:.8rem 1.4rem;border:0;border-radius:8px;background:#3b5bdb;color:#fff;cursor:pointer;width:100%;margin-top:1rem}
.ok h1{color:#2b8a3e}.bad h1{color:#c92a2a}small{color:#868e96}`;

export function page(title: string, body: string, kind: '' | 'ok' | 'bad' = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · Hone Sync</title><style>${STYLE}</style></head><body><main class="${kind}">${body}</main></body></html>`;
}

export function confirmPage(token: string, deviceName: string, platform: string): string {
  return page(`Sign in ${deviceName}`, `<h1>Sign in to Hone Sync</h1>
<p>This signs in <strong>${escapeHtml(deviceName)}</strong>${platform ? ` (${escapeHtml(platform)})` : ''}.</p>
<form method="post" action="/auth/verify">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<input type="hidden" name="deviceName" value="${escapeHtml(deviceName)}">
<input type="hidden" name="platform" value="${escapeHtml(platform)}">
<button type="submit" id="confirm">Sign in ${escapeHtml(deviceName)}</button>
</form><p><small>If you did not ask to sign in, close this page; nothing happens.</small></p>`);
}

export function signedInPage(deviceName: string): string {
  return page('Signed in', `<h1 id="result">Signed in</h1><p><strong>${escapeHtml(deviceName)}</strong> is now signed in to Hone Sync.</p><p>You can close this page and return to Hone.</p>`, 'ok');
}

const FAILURES: Record<string, [string, string]> = {
  LINK_EXPIRED: ['Link expired', 'This sign-in link has expired. Ask Hone for a new one.'],
  LINK_USED: ['Link already used', 'This sign-in link has already been used. Each link works once; ask Hone for a new one if you need to.'],
  LINK_NOT_FOUND: ['Unknown link', 'This sign-in link is not valid. Check that you opened the whole link from the e-mail, or ask Hone for a new one.'],
};

export function failurePage(code: string, fallbackMessage: string): string {
  const [title, text] = FAILURES[code] ?? ['Could not sign in', fallbackMessage];
  return page(title, `<h1 id="result">${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`, 'bad');
}

export function loginMail(link: string, minutes: number): { subject: string; text: string; html: string } {
  return {
    subject: 'Sign in to Hone Sync',
    text: `Open this link to sign in to Hone Sync:\n\n${link}\n\nIt works once and expires in ${minutes} minutes. If you did not ask for it, ignore this e-mail.\n`,
    html: `<p>Open this link to sign in to Hone Sync:</p><p><a href="${escapeHtml(link)}">Sign in to Hone Sync</a></p><p>It works once and expires in ${minutes} minutes. If you did not ask for it, ignore this e-mail.</p>`,
  };
}
