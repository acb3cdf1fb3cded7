// Pieces the sign-in routes share (SPEC §5, "Sign-in that a phishing e-mail cannot turn against the user"):
// the client address a login is bound to, this server's host name, and the "New device signed in" e-mail.
import type { FastifyRequest } from 'fastify';
import type { AuthContext } from './context.ts';
import { newDeviceMail } from './pages.ts';
import type { Completed } from './store/links.ts';

/** The client address after trustProxy, IPv4-mapped IPv6 written as IPv4 so one client is one address. */
export function clientAddress(request: FastifyRequest): string {
  const ip = request.ip ?? '';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** The host people reach this service on (auth.publicUrl's), shown on the confirm page and in notices. */
export function serverHost(ctx: AuthContext): string {
  try {
    return new URL(ctx.config['auth.publicUrl']).host;
  } catch {
    return ctx.config['auth.publicUrl'];
  }
}

/**
 * Logs the sign-in and e-mails the account that a device was added. Sent after the answer: a mail server that is
 * slow or down delays or loses only the notice (logged as mail.failed), never the sign-in.
 */
export function announceDevice(ctx: AuthContext, request: FastifyRequest, done: Completed, how: 'link' | 'page' | 'code'): void {
  const { userId, deviceId } = done.result;
  request.log.info({ event: 'device.signed_in', userId, deviceId, how }, 'device signed in');
  const mail = newDeviceMail({
    deviceName: done.deviceName, platform: done.platform, requestIp: done.requestIp, confirmIp: how === 'code' ? null : clientAddress(request),
    at: new Date(ctx.clock()).toISOString(), deviceId, serverHost: serverHost(ctx),
  });
  const sending: Promise<void> = ctx.mailer.send({ to: done.email, ...mail }).catch((err: Error) => {
    request.log.error({ event: 'mail.failed', userId, mailer: ctx.mailer.describe, reason: err.message }, 'new-device notice could not be sent');
  }).finally(() => ctx.background.delete(sending));
  ctx.background.add(sending);
}
