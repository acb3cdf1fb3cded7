// hone-sync's exit codes (documented in --help) and CliError, the one-line failure every command throws.
// A CliError's message already says what to do next.

export const EXIT = {
  OK: 0,
  /** Something unexpected (a bug): the stack trace is printed. */
  FAILURE: 1,
  /** Bad command line or setting value. */
  USAGE: 2,
  /** Sync is off on this device (syncEnabled=false): nothing was contacted. */
  SYNC_OFF: 3,
  /** Not signed in, or signed out by the server (device removed, token invalid). */
  SIGNED_OUT: 4,
  /** A server (auth or relay) could not be reached or is unavailable. */
  UNREACHABLE: 5,
  /** The server refused: tier limit, not found, forbidden, rate limited, link expired or used. */
  REFUSED: 6,
  /** Waited too long: the sign-in link was not opened, a message was not acknowledged. */
  TIMEOUT: 7,
  /** Interrupted (Ctrl-C) while waiting. */
  INTERRUPTED: 130,
} as const;

export class CliError extends Error {
  readonly exitCode: number;
  readonly code: string;
  constructor(exitCode: number, code: string, message: string) {
    super(message);
    this.exitCode = exitCode;
    this.code = code;
  }
}

export const usage = (message: string) => new CliError(EXIT.USAGE, 'USAGE', `${message}; see hone-sync --help`);
