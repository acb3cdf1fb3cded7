// GET /auth/login (send a magic link) and GET /auth/login/poll (the asking device waits for it to be opened).
// Same answer whether or not the address is known; limited per e-mail and per IP.
import type { FastifyInstance } from 'fastify';
import { limitByIp } from '../authenticate.ts';
import type { AuthContext } from '../context.ts';
import { HttpError } from '../http-errors.ts';
import { loginMail } from '../pages.ts';
import * as S from '../schemas.ts';
import { createLink, pollLink } from '../store/links.ts';

interface LoginQuery { email: string; deviceName?: string; platform?: string }

export function loginRoutes(app: FastifyInstance, ctx: AuthContext): void {
  const ttlMs = ctx.config['login.ttl.minutes'] * 60_000;

  app.get<{ Querystring: LoginQuery }>('/auth/login', {
    schema: { querystring: { type: 'object', required: ['email'], properties: { email: S.email, deviceName: S.deviceName, platform: S.platform } } },
  }, async (request) => {
    const email = request.query.email.toLowerCase();
    for (const [limiter, key, what] of [[ctx.limits.loginPerIp, request.ip, 'this address'], [ctx.limits.loginPerEmail, email, 'this e-mail address']] as const) {
      const r = limiter.hit(key);
      if (!r.allowed) throw new HttpError(429, 'RATE_LIMITED', `Too many sign-in links for ${what}; try again in ${Math.ceil(r.retryAfter / 60)} minutes.`, { 'retry-after': String(r.retryAfter) });
    }
    const { deviceName = null, platform = null } = request.query;
    const link = await createLink(ctx.db, { email, deviceName, platform, now: ctx.clock(), ttlMs });
    const params = new URLSearchParams({ token: link.token });
    if (deviceName) params.set('deviceName', deviceName);
    if (platform) params.set('platform', platform);
    const url = `${ctx.config['auth.publicUrl']}/auth/verify?${params}`;
    try {
      await ctx.mailer.send({ to: email, link: url, ...loginMail(url, ctx.config['login.ttl.minutes']) });
    } catch (err) {
      request.log.error({ event: 'mail.failed', email, mailer: ctx.mailer.describe, reason: (err as Error).message }, 'login e-mail could not be sent; the link was not delivered');
      throw new HttpError(503, 'MAIL_UNAVAILABLE', 'The sign-in e-mail could not be sent right now; try again in a few minutes.', { 'retry-after': '60' });
    }
    request.log.info({ event: 'login.sent', mailer: ctx.mailer.describe }, 'sign-in link sent');
    return { ok: true, pollToken: link.pollToken, expiresAt: new Date(link.expiresAt).toISOString() };
  });

  app.get<{ Querystring: { pollToken: string } }>('/auth/login/poll', {
    schema: { querystring: { type: 'object', required: ['pollToken'], properties: { pollToken: { type: 'string', minLength: 1, maxLength: 200 } } } },
  }, async (request, reply) => {
    limitByIp(ctx, request);
    const r = await pollLink(ctx.db, request.query.pollToken, ctx.clock(), ttlMs);
    if (r.status === 'pending') return reply.code(202).send({ ok: true, status: 'pending' });
    request.log.info({ event: 'login.polled', userId: r.result.userId, deviceId: r.result.deviceId }, 'device token delivered to the polling device');
    return r.result;
  });
}
