// /auth/verify: JSON for the IDE and scripts; for a browser, a confirm page whose POST alone uses up the link,
// so mail scanners that prefetch links cannot burn it (SPEC §5).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { limitByIp } from '../authenticate.ts';
import type { AuthContext } from '../context.ts';
import { classify, HttpError } from '../http-errors.ts';
import { confirmPage, failurePage, signedInPage } from '../pages.ts';
import * as S from '../schemas.ts';
import { consumeLink, LINK_ERRORS, linkState } from '../store/links.ts';

interface VerifyInput { token: string; deviceName?: string; platform?: string }

const verifySchema = { type: 'object', required: ['token'], properties: { token: S.linkToken, deviceName: S.deviceName, platform: S.platform } } as const;
const TOKEN_RE = /^[0-9a-fA-F]{64}$/;

function wantsHtml(request: FastifyRequest): boolean {
  if (request.method === 'POST') return String(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  return /\btext\/html\b/.test(String(request.headers.accept ?? ''));
}

function sendHtml(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.code(status)
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .type('text/html; charset=utf-8')
    .send(html);
}

export function verifyRoutes(app: FastifyInstance, ctx: AuthContext): void {
  async function consume(request: FastifyRequest, input: VerifyInput, reply: FastifyReply) {
    if (!TOKEN_RE.test(input.token)) throw LINK_ERRORS.unknown();
    const result = await consumeLink(ctx.db, ctx.keys, {
      token: input.token.toLowerCase(), deviceName: input.deviceName ?? null, platform: input.platform ?? null,
      now: ctx.clock(), defaultTier: ctx.config['tiers.default'],
    });
    request.log.info({ event: 'device.signed_in', userId: result.userId, deviceId: result.deviceId }, 'device signed in');
    if (wantsHtml(request)) return sendHtml(reply, 200, signedInPage(result.deviceName));
    const { deviceName: _name, ...body } = result;
    return body;
  }

  async function handle(request: FastifyRequest, reply: FastifyReply, input: VerifyInput, confirmFirst: boolean) {
    limitByIp(ctx, request);
    try {
      if (!confirmFirst) return await consume(request, input, reply);
      const state = TOKEN_RE.test(input.token) ? await linkState(ctx.db, input.token.toLowerCase(), ctx.clock()) : { state: 'unknown' as const };
      if (state.state !== 'valid') throw LINK_ERRORS[state.state]();
      const deviceName = input.deviceName ?? state.deviceName ?? 'this device';
      return sendHtml(reply, 200, confirmPage(input.token, deviceName, input.platform ?? state.platform ?? ''));
    } catch (err) {
      if (!wantsHtml(request)) throw err;
      const [status, code, message] = classify(err);
      if (status >= 500 && !(err instanceof HttpError)) request.log.error({ err }, 'verify failed');
      return sendHtml(reply, status, failurePage(code, message));
    }
  }

  app.get<{ Querystring: VerifyInput }>('/auth/verify', { schema: { querystring: verifySchema } },
    (request, reply) => handle(request, reply, request.query, wantsHtml(request)));
  app.post<{ Body: VerifyInput }>('/auth/verify', { schema: { body: verifySchema } },
    (request, reply) => handle(request, reply, request.body, false));
}
