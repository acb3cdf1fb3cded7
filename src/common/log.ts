// pino options shared by the programs: request URLs logged without their query strings (which can carry
// magic-link and poll tokens) and authorization headers never logged.
import type { FastifyRequest } from 'fastify';

export function loggerOptions(level: string) {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'token', 'deviceToken', 'pollToken'], censor: '[redacted]' },
    serializers: {
      req: (req: FastifyRequest) => ({ method: req.method, url: String(req.url).split('?')[0], remoteAddress: req.ip }),
    },
  };
}
