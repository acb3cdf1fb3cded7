// POST /auth/relay/token: a relay with token.algorithm=djb2 asks whether auth issued a djb2 token to a device that
// still exists (SPEC §6.1). Signed like /auth/revocations: HMAC with auth.secret over the token's digest.
import type { FastifyInstance } from 'fastify';
import { sha256Hex, safeEqual, verifyMac, verifyToken } from '../../common/token.ts';
import { tokenCheckMessage } from '../../relay/token-confirm.ts';
import { limitByIp } from '../authenticate.ts';
import type { AuthContext } from '../context.ts';
import { HttpError } from '../http-errors.ts';
import { findDevice } from '../store/devices.ts';

export function relayTokenRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.post<{ Body: { token: string } }>('/auth/relay/token', {
    logLevel: 'warn',
    schema: { body: { type: 'object', required: ['token'], additionalProperties: false, properties: { token: { type: 'string', minLength: 1, maxLength: 128 } } } },
  }, async (request) => {
    const { token } = request.body;
    const m = /^Hone-Relay ([0-9a-f]{64})$/.exec(String(request.headers.authorization ?? ''));
    if (!m || !verifyMac(tokenCheckMessage(token), m[1], ctx.keys)) {
      limitByIp(ctx, request);
      throw new HttpError(401, 'UNAUTHORIZED', 'Send "Authorization: Hone-Relay <HMAC-SHA256 of token|<SHA-256 of the token>>".');
    }
    const claims = verifyToken(token, ctx.keys);
    const device = claims ? await findDevice(ctx.db, claims.deviceId) : undefined;
    const valid = !!claims && !!device && device.userId === claims.userId && safeEqual(device.token, sha256Hex(token));
    return { ok: true, valid };
  });
}
