// A real SMTP server (smtp-server, in-process) on port 0 that keeps every message it receives.
// Tests read the login e-mail from it and follow the link inside.
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  raw: string;
  /** The body with quoted-printable soft breaks and escapes undone. */
  text: string;
}

export function decodeQuotedPrintable(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

export interface TestSmtp {
  port: number;
  mails: ReceivedMail[];
  /** Resolves with the next sign-in mail (one with a verify link) to `to` that has not been taken yet. */
  nextMail(to: string, timeoutMs?: number): Promise<ReceivedMail>;
  /** Resolves with the next "New device signed in" notice to `to` that has not been taken yet. */
  nextNotice(to: string, timeoutMs?: number): Promise<ReceivedMail>;
  /** The verify link in a mail. */
  linkIn(mail: ReceivedMail): string;
  /** The 6-digit code in a sign-in mail. */
  codeIn(mail: ReceivedMail): string;
  close(): Promise<void>;
}

export async function startSmtp(): Promise<TestSmtp> {
  const mails: ReceivedMail[] = [];
  const taken = new Set<ReceivedMail>();
  const waiters: Array<() => void> = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), raw, text: decodeQuotedPrintable(raw) });
        waiters.splice(0).forEach((w) => w());
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    mails,
    nextMail: (to, timeoutMs) => next(to, timeoutMs, (m) => /\/auth\/verify\?/.test(m.text)),
    nextNotice: (to, timeoutMs) => next(to, timeoutMs, (m) => /^Subject: New device signed in/mi.test(m.raw)),
    linkIn(mail) {
      const m = /https?:\/\/[^\s"<>]+\/auth\/verify\?[^\s"<>]+/.exec(mail.text);
      if (!m) throw new Error('no verify link in the mail');
      return m[0].replace(/&amp;/g, '&');
    },
    codeIn(mail) {
      const m = /Your code: (\d{6})/.exec(mail.text);
      if (!m) throw new Error('no code in the mail');
      return m[1];
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };

  async function next(to: string, timeoutMs = 5000, kind: (m: ReceivedMail) => boolean): Promise<ReceivedMail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = mails.find((x) => !taken.has(x) && x.to.includes(to.toLowerCase()) && kind(x));
      if (m) {
        taken.add(m);
        return m;
      }
      if (Date.now() > deadline) throw new Error(`no mail for ${to} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }
}
