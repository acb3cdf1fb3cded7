// /auth/verify: JSON for the IDE and scripts; for a browser, a confirm page whose POST alone uses up the link, so
// mail scanners that prefetch links cannot burn it. Only the requesting address completes in one step; any other
// needs the matchCode typed on the page; "This wasn't me" ends the login; HEAD changes nothing (SPEC §5).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { limitByIp } from '../authenticate.ts';
import { newUserTier } from '../config.ts';
import type { AuthContext } from '../context.ts';
import { classify, HttpError } from '../http-errors.ts';
import { confirmPage, declinedPage, failurePage, signedInPage } from '../pages.ts';
import * as S from '../schemas.ts';
import { announceDevice, clientAddress, serverHost } from '../signin.ts';
import { consumeLink, declineLink, LINK_ERRORS, linkState, normalizeCode } from '../store/links.ts';
import type { LinkState } from '../store/links.ts';
import { fromDbTime } from '../time.ts';

interface VerifyInput { token: string; deviceName?: string; platform?: string; matchCode?: string; decline?: string }

const verifySchema = { type: 'object', required: ['token'], properties: { token: S.linkToken, deviceName: S.deviceName, platform: S.platform } } as const;
const confirmSchema = {
  type: 'object', required: ['token'],
  properties: { ...verifySchema.properties, matchCode: S.matchCode, decline: { type: 'string', enum: ['1'] } },
} as const;
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
  /** The link's state for a token as sent (any case); a malformed one is unknown without a database read. */
  const stateOfToken = async (token: string): Promise<LinkState> =>
    TOKEN_RE.test(token) ? linkState(ctx.db, token.toLowerCase(), ctx.clock()) : { state: 'unknown' };

  async function showConfirm(request: FastifyRequest, reply: FastifyReply, input: VerifyInput, status = 200, problem?: string) {
    const state = await stateOfToken(input.token);
    if (state.state !== 'valid') throw LINK_ERRORS[state.state]();
    const l = state.link;
    return sendHtml(reply, status, confirmPage({
      token: input.token, email: l.email, serverHost: serverHost(ctx), requestIp: l.requestIp ?? 'unknown',
      ageMs: Math.max(0, ctx.clock() - fromDbTime(l.createdAt)),
      deviceName: l.deviceName ?? input.deviceName ?? 'this device', platform: l.platform ?? input.platform ?? '',
      needsMatchCode: l.requestIp !== clientAddress(request), problem,
    }));
  }

  async function consume(request: FastifyRequest, input: VerifyInput, reply: FastifyReply, page: boolean) {
    if (!TOKEN_RE.test(input.token)) throw LINK_ERRORS.unknown();
    const token = input.token.toLowerCase();
    if (input.decline === '1') {
      await declineLink(ctx.db, token, ctx.clock());
      request.log.info({ event: 'login.declined' }, 'sign-in declined from the link ("This wasn\'t me")');
      return wantsHtml(request) ? sendHtml(reply, 200, declinedPage()) : { ok: true, status: 'declined' };
    }
    const done = await consumeLink(ctx.db, ctx.keys, {
      token, deviceName: input.deviceName ?? null, platform: input.platform ?? null, now: ctx.clock(), defaultTier: newUserTier(ctx.config),
      confirm: { from: clientAddress(request), matchCode: page ? normalizeCode(input.matchCode ?? '') : undefined },
    });
    announceDevice(ctx, request, done, page ? 'page' : 'link');
    if (wantsHtml(request)) return sendHtml(reply, 200, signedInPage(done.deviceName));
    return done.result;
  }

  async function handle(request: FastifyRequest, reply: FastifyReply, input: VerifyInput, mode: 'page' | 'json' | 'post') {
    limitByIp(ctx, request);
    try {
      if (mode === 'page') return await showConfirm(request, reply, input);
      return await consume(request, input, reply, mode === 'post');
    } catch (err) {
      if (!wantsHtml(request)) throw err;
      const [status, code, message] = classify(err);
      // A wrong or missing matchCode: the same page again, saying what went wrong.
      if (code === 'CODE_MISMATCH' || code === 'MATCH_CODE_REQUIRED') return showConfirm(request, reply, input, status, message).catch(() => sendHtml(reply, status, failurePage(code, message)));
      if (status >= 500 && !(err instanceof HttpError)) request.log.error({ err }, 'verify failed');
      return sendHtml(reply, status, failurePage(code, message));
    }
  }

  app.get<{ Querystring: VerifyInput }>('/auth/verify', { exposeHeadRoute: false, schema: { querystring: verifySchema } },
    (request, reply) => handle(request, reply, request.query, wantsHtml(request) ? 'page' : 'json'));
  // HEAD (link checkers): the link's state as a status code, nothing changed, nothing sent.
  app.head<{ Querystring: VerifyInput }>('/auth/verify', { schema: { querystring: verifySchema } }, async (request, reply) => {
    limitByIp(ctx, request);
    const { state } = await stateOfToken(request.query.token);
    return reply.code(state === 'valid' ? 200 : LINK_ERRORS[state]().status).type('text/html; charset=utf-8').send();
  });
  app.post<{ Body: VerifyInput }>('/auth/verify', { schema: { body: confirmSchema } },
    (request, reply) => handle(request, reply, request.body, 'post'));
}
