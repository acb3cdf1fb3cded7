// Sends login e-mails through SMTP (nodemailer), or prints the link and code to the console when smtp.host is empty.
// The console form is for development only; the SMTP form never logs the link or the code.
import { createTransport } from 'nodemailer';

export interface LoginMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The sign-in link, for the console mailer; absent for notices. */
  link?: string;
  /** The e-mailed 6-digit code, for the console mailer (typed where `hone-sync login` waits); absent for notices. */
  code?: string;
}

export interface Mailer {
  readonly describe: string;
  send(mail: LoginMail): Promise<void>;
  close(): void;
}

export interface SmtpOptions {
  'smtp.host': string;
  'smtp.port': number;
  'smtp.user': string;
  'smtp.password': string;
  'smtp.from': string;
}

export function createMailer(opts: SmtpOptions, print: (line: string) => void = (l) => process.stdout.write(l + '\n')): Mailer {
  if (!opts['smtp.host']) {
    return {
      describe: 'console (development: login links and codes are printed here)',
      async send(mail) {
        print(mail.link ? `[hone-auth] login link for ${mail.to}: ${mail.link}${mail.code ? ` code ${mail.code}` : ''}` : `[hone-auth] mail to ${mail.to}: ${mail.subject}`);
      },
      close() {},
    };
  }
  const transport = createTransport({
    host: opts['smtp.host'],
    port: opts['smtp.port'],
    secure: opts['smtp.port'] === 465,
    auth: opts['smtp.user'] ? { user: opts['smtp.user'], pass: opts['smtp.password'] } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
    tls: { rejectUnauthorized: opts['smtp.host'] !== '127.0.0.1' && opts['smtp.host'] !== 'localhost' },
  });
  return {
    describe: `smtp ${opts['smtp.host']}:${opts['smtp.port']}`,
    async send(mail) {
      await transport.sendMail({ from: opts['smtp.from'], to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
    },
    close: () => transport.close(),
  };
}
