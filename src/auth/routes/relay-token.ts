// POST /auth/relay/token: a relay with token.algorithm=djb2 asks whether auth issued a djb2 token to a device that
// still exists (SPEC §6.1). Signed like /auth/revocations: HMAC with auth.secret over the token's digest.
import type { FastifyInstance } from 'fastify';
import { verifyToken } from '../../common/token.ts';
import { tokenCheckMessage } from '../../common/token.ts';
import { checkRelayMac, matches } from '../authenticate.ts';
import type { AuthContext } from '../context.ts';
import { findDevice } from '../store/devices.ts';

export function relayTokenRoutes(app: FastifyInstance, ctx: AuthContext): void {
  app.post<{ Body: { token: string } }>('/auth/relay/token', {
    logLevel: 'warn',
    schema: { body: { type: 'object', required: ['token'], additionalProperties: false, properties: { token: { type: 'string', minLength: 1, maxLength: 128 } } } },
  }, async (request) => {
    const { token } = request.body;
    checkRelayMac(ctx, request, tokenCheckMessage(token), 'token|<SHA-256 of the token>');
    const claims = verifyToken(token, ctx.keys);
    return { ok: true, valid: !!claims && matches(await findDevice(ctx.db, claims.deviceId), claims, token) };
  });
}
