// Reads a passphrase for `hone-sync key set`: HONE_SYNC_PASSPHRASE when set; else from the terminal without echo,
// typed twice; else (stdin not a terminal) the first line of stdin. app.ts gives it the process's streams.
import { MAX_PASSPHRASE_CHARS } from '../client/e2e/kdf.ts';
import { CliError, EXIT, usage } from './exit-codes.ts';

export interface PassphraseStreams {
  env: Record<string, string | undefined>;
  stdin: NodeJS.ReadStream;
  /** The prompt goes here (stderr), never the passphrase. */
  prompt(text: string): void;
}

/** Reads one line from a terminal in raw mode, echoing nothing; Ctrl-C interrupts, backspace deletes. */
function readHidden(s: PassphraseStreams, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = s.stdin;
    let text = '';
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      s.prompt('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new CliError(EXIT.INTERRUPTED, 'CANCELLED', 'cancelled; no key was set'));
        if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else if (ch >= ' ' && text.length < MAX_PASSPHRASE_CHARS) text += ch;
      }
    };
    s.prompt(prompt);
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** The first line of a piped stdin (at most MAX_PASSPHRASE_CHARS + a little is read). */
function readLine(stdin: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = () => {
      stdin.off('data', onData);
      stdin.off('end', finish);
      stdin.off('error', reject);
      stdin.pause();
      resolve(text.split(/\r?\n/)[0]);
    };
    const onData = (chunk: string) => {
      text += chunk;
      if (text.includes('\n') || text.length > MAX_PASSPHRASE_CHARS + 2) finish();
    };
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.on('end', finish);
    stdin.on('error', reject);
    stdin.resume();
  });
}

/** The passphrase for `project`, from the environment, the terminal (twice) or stdin. */
export async function readPassphrase(s: PassphraseStreams, project: string): Promise<string> {
  const fromEnv = s.env.HONE_SYNC_PASSPHRASE;
  if (fromEnv) return fromEnv;
  if (s.stdin.isTTY) {
    const first = await readHidden(s, `Passphrase for project ${project} (not shown): `);
    const again = await readHidden(s, 'The same passphrase again: ');
    if (first !== again) throw usage('the two passphrases differ; nothing was changed');
    return first;
  }
  return readLine(s.stdin);
}
