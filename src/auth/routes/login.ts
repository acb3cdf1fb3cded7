// GET /auth/login (send a magic link and a code), GET /auth/login/poll (the asking device waits for it to be opened)
// and POST /auth/login/code (the asking device finishes with the e-mailed code). Same answer whether or not the
// address is known; limited per e-mail and per IP. HEAD is not served: it must never send mail or take a token.
import type { FastifyInstance } from 'fastify';
import { limitByIp } from '../authenticate.ts';
import { newUserTier } from '../config.ts';
import type { AuthContext } from '../context.ts';
import { HttpError } from '../http-errors.ts';
import { loginMail } from '../pages.ts';
import * as S from '../schemas.ts';
import { announceDevice, clientAddress } from '../signin.ts';
import { completeWithCode, createLink, normalizeCode, pollLink } from '../store/links.ts';

interface LoginQuery { email: string; deviceName?: string; platform?: string }

export function loginRoutes(app: FastifyInstance, ctx: AuthContext): void {
  const ttlMs = ctx.config['login.ttl.minutes'] * 60_000;

  app.get<{ Querystring: LoginQuery }>('/auth/login', {
    exposeHeadRoute: false,
    schema: { querystring: { type: 'object', required: ['email'], properties: { email: S.email, deviceName: S.deviceName, platform: S.platform } } },
  }, async (request) => {
    const email = S.normalizeEmail(request.query.email);
    const requestIp = clientAddress(request);
    for (const [limiter, key, what] of [[ctx.limits.loginPerIp, requestIp, 'this address'], [ctx.limits.loginPerEmail, email, 'this e-mail address']] as const) {
      const r = limiter.hit(key);
      if (!r.allowed) throw new HttpError(429, 'RATE_LIMITED', `Too many sign-in links for ${what}; try again in ${Math.ceil(r.retryAfter / 60)} minutes.`, { 'retry-after': String(r.retryAfter) });
    }
    const { deviceName = null, platform = null } = request.query;
    const link = await createLink(ctx.db, { email, deviceName, platform, requestIp, now: ctx.clock(), ttlMs });
    const params = new URLSearchParams({ token: link.token });
    if (deviceName) params.set('deviceName', deviceName);
    if (platform) params.set('platform', platform);
    const url = `${ctx.config['auth.publicUrl']}/auth/verify?${params}`;
    try {
      const minutes = ctx.config['login.ttl.minutes'];
      await ctx.mailer.send({ to: email, link: url, code: link.code, ...loginMail({ link: url, code: link.code, minutes, requestIp, deviceName }) });
    } catch (err) {
      request.log.error({ event: 'mail.failed', email, mailer: ctx.mailer.describe, reason: (err as Error).message }, 'login e-mail could not be sent; the link was not delivered');
      throw new HttpError(503, 'MAIL_UNAVAILABLE', 'The sign-in e-mail could not be sent right now; try again in a few minutes.', { 'retry-after': '60' });
    }
    request.log.info({ event: 'login.sent', mailer: ctx.mailer.describe }, 'sign-in link sent');
    return { ok: true, pollToken: link.pollToken, expiresAt: new Date(link.expiresAt).toISOString(), matchCode: link.matchCode };
  });

  app.get<{ Querystring: { pollToken: string } }>('/auth/login/poll', {
    exposeHeadRoute: false,
    schema: { querystring: { type: 'object', required: ['pollToken'], properties: { pollToken: S.pollToken } } },
  }, async (request, reply) => {
    limitByIp(ctx, request);
    const r = await pollLink(ctx.db, request.query.pollToken, ctx.clock(), ttlMs);
    if (r.status === 'pending') return reply.code(202).send({ ok: true, status: 'pending' });
    request.log.info({ event: 'login.polled', userId: r.result.userId, deviceId: r.result.deviceId }, 'device token delivered to the polling device');
    return r.result;
  });

  app.post<{ Body: { pollToken: string; code: string } }>('/auth/login/code', {
    schema: { body: { type: 'object', required: ['pollToken', 'code'], additionalProperties: false, properties: { pollToken: S.pollToken, code: S.emailedCode } } },
  }, async (request) => {
    limitByIp(ctx, request);
    const code = normalizeCode(request.body.code);
    if (!/^\d{6}$/.test(code)) throw new HttpError(400, 'BAD_REQUEST', 'code: expected the 6 digits from the sign-in e-mail.');
    const done = await completeWithCode(ctx.db, ctx.keys, {
      pollToken: request.body.pollToken, code, now: ctx.clock(), defaultTier: newUserTier(ctx.config),
      // 5 tries per login are not enough on their own: an attacker can start logins all day. Each account gets
      // CODE_TRIES_PER_DAY typed codes a day (10 in 10^6 per day); the e-mailed link keeps working past it.
      beforeTry: (email) => {
        const r = ctx.limits.codeTriesPerEmail.hit(email);
        if (!r.allowed) throw new HttpError(429, 'RATE_LIMITED', 'Too many codes were typed for this account today; open the link in the e-mail instead.', { 'retry-after': String(r.retryAfter) });
      },
    });
    announceDevice(ctx, request, done, 'code');
    return done.result;
  });
}
