// Turns AuthError codes and relay refusals into CliErrors: one line that says what happened and what to do next.
import { AuthError } from '../client/auth-client.ts';
import { CliError, EXIT } from './exit-codes.ts';

export const SIGNED_OUT_HINT = 'signed out on this device, run hone-sync login <email>';

export function fromAuthError(err: AuthError, authUrl: string): CliError {
  switch (err.code) {
    case 'UNREACHABLE':
      return new CliError(EXIT.UNREACHABLE, err.code, `${err.message}; check the network, or the address with hone-sync config get syncAuthUrl`);
    case 'NOT_SIGNED_IN':
      return new CliError(EXIT.SIGNED_OUT, err.code, 'not signed in on this device; run hone-sync login <email>');
    case 'TOKEN_REVOKED':
    case 'INVALID_TOKEN':
    case 'UNAUTHORIZED':
      return new CliError(EXIT.SIGNED_OUT, err.code, `${SIGNED_OUT_HINT} (the auth service says: ${err.message})`);
    case 'TIER_LIMIT':
      return new CliError(EXIT.REFUSED, err.code, `${err.message} See your tier with hone-sync status.`);
    case 'RATE_LIMITED':
      return new CliError(EXIT.REFUSED, err.code, `${err.message}${err.retryAfter ? ` (retry after ${err.retryAfter} s)` : ''}`);
    case 'LINK_EXPIRED':
      return new CliError(EXIT.TIMEOUT, err.code, `${err.message.replace(/;.*$/, '')}; run hone-sync login again`);
    case 'CANCELLED':
      return new CliError(EXIT.INTERRUPTED, err.code, 'cancelled');
    default:
      if (err.status >= 500 || err.code === 'UNAVAILABLE') {
        return new CliError(EXIT.UNREACHABLE, err.code, `the auth service at ${authUrl} is unavailable right now (${err.message}); try again in a minute`);
      }
      if (err.code === 'BAD_RESPONSE') return new CliError(EXIT.UNREACHABLE, err.code, err.message);
      return new CliError(EXIT.REFUSED, err.code, `${err.message} (${err.code})`);
  }
}

/** A fatal refusal by the relay (RelayClient 'fatal' event). */
export function fromRelayFatal(f: { code: string; message: string }, device: string): CliError {
  switch (f.code) {
    case 'TOKEN_REVOKED':
    case 'INVALID_TOKEN':
      return new CliError(EXIT.SIGNED_OUT, f.code, `${SIGNED_OUT_HINT} (the relay says: ${f.message})`);
    case 'REPLACED':
      return new CliError(EXIT.REFUSED, f.code, `another client joined this room with the same device name "${device}"; give one of them another name: hone-sync config set syncDeviceName <name>`);
    case 'ROOM_FORBIDDEN':
      return new CliError(EXIT.REFUSED, f.code, `the relay refuses this room: ${f.message} (is syncRelayUrl the relay of your auth service?)`);
    case 'BAD_URL':
      return new CliError(EXIT.USAGE, f.code, `${f.message}; fix it with hone-sync config set syncRelayUrl wss://host`);
    default:
      return new CliError(EXIT.REFUSED, f.code, `the relay refused: ${f.message} (${f.code})`);
  }
}

/** Said when the relay refuses a device token that hone-auth accepts: the two servers hold different secrets. */
export const SECRET_MISMATCH_MESSAGE = "the relay refuses this device's token although the auth service accepts it: the relay and hone-auth are set up with different auth.secret values (the server's operator must set the same one in both; signing in again will not help)";

/**
 * A relay refusal of the token (INVALID_TOKEN), told apart: when the auth service accepts the same token (`authAccepts`
 * resolves), the servers' secrets differ; else the device is signed out as the relay says.
 */
export async function checkRelayRefusal(err: CliError, authAccepts: () => Promise<unknown>): Promise<CliError> {
  if (err.code !== 'INVALID_TOKEN') return err;
  const accepted = await authAccepts().then(() => true, () => false);
  return accepted ? new CliError(EXIT.UNREACHABLE, 'SECRET_MISMATCH', SECRET_MISMATCH_MESSAGE) : err;
}

export function explain(err: unknown, authUrl: string): unknown {
  return err instanceof AuthError ? fromAuthError(err, authUrl) : err;
}
