// Endpoints for relays and operators: GET /auth/revocations (HMAC-authenticated, SPEC §5) and GET /health.
import type { FastifyInstance } from 'fastify';
import { checkRelayMac } from '../authenticate.ts';
import { revocationsMessage } from '../../common/token.ts';
import type { AuthContext } from '../context.ts';
import { errorBody } from '../http-errors.ts';
import { toIso } from '../time.ts';

export const REVOCATIONS_PAGE = 1000;

export function opsRoutes(app: FastifyInstance, ctx: AuthContext, version: string): void {
  const started = Date.now();

  app.get<{ Querystring: { since?: string } }>('/auth/revocations', {
    // Every relay calls this once a second: its requests are not worth a log line each.
    logLevel: 'warn',
    schema: { querystring: { type: 'object', properties: { since: { type: 'string', pattern: '^[0-9]{0,15}$' } } } },
  }, async (request) => {
    const since = request.query.since ?? '';
    checkRelayMac(ctx, request, revocationsMessage(since), 'revocations|<since>');
    const rows = await ctx.db.selectFrom('revocations').select(['id', 'userId', 'deviceId', 'revokedAt', 'roomId'])
      .where('id', '>', Number(since || 0)).orderBy('id').limit(REVOCATIONS_PAGE).execute();
    const cursor = rows.length ? String(rows[rows.length - 1].id) : since;
    return {
      ok: true, cursor,
      revoked: rows.map((r) => ({ userId: r.userId, deviceId: r.deviceId, revokedAt: toIso(r.revokedAt), ...(r.roomId ? { roomId: r.roomId } : {}) })),
    };
  });

  app.get('/health', async (_request, reply) => {
    const base = { version, uptimeSeconds: Math.round((Date.now() - started) / 1000), mailer: ctx.mailer.describe };
    try {
      await ctx.adb.ping();
      return { ok: true, status: 'ok', ...base, database: { dialect: ctx.adb.dialect, ok: true } };
    } catch {
      return reply.code(503).header('retry-after', '5').send({
        ...errorBody('DATABASE_UNAVAILABLE', 'The database is unavailable.'), status: 'degraded', ...base, database: { dialect: ctx.adb.dialect, ok: false },
      });
    }
  });
}
