// Builds the hone-auth Fastify app from injected config, database, clock and mailer; tests call this directly.
// Registers the error mapping, the routes, and the form parser for the browser's confirm POST.
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { loggerOptions } from '../common/log.ts';
import { VERSION } from '../common/version.ts';
import type { AuthConfig } from './config.ts';
import type { AuthContext } from './context.ts';
import type { AuthDb } from './db/database.ts';
import { clientErrorHandler, errorHandler, HttpError, notFoundHandler } from './http-errors.ts';
import { trustOneProxy } from '../common/http-errors.ts';
import type { Mailer } from './mailer.ts';
import { createMailer } from './mailer.ts';
import { createRateLimiter } from '../common/rate-limit.ts';
import { deviceRoutes } from './routes/devices.ts';
import { loginRoutes } from './routes/login.ts';
import { opsRoutes } from './routes/ops.ts';
import { projectRoutes } from './routes/projects.ts';
import { relayTokenRoutes } from './routes/relay-token.ts';
import { createReadCache } from './store/read-cache.ts';
import { verifyRoutes } from './routes/verify.ts';
import type { Clock } from './time.ts';
import { systemClock } from './time.ts';

export interface AuthDeps {
  config: AuthConfig;
  db: AuthDb;
  clock?: Clock;
  mailer?: Mailer;
  /** Where log lines go instead of stdout (tests capture them); redaction applies either way. */
  logStream?: { write(line: string): unknown };
}

export const BODY_LIMIT = 64 * 1024;
/** E-mailed codes that may be typed per account per day (POST /auth/login/code), right or wrong. */
export const CODE_TRIES_PER_DAY = 10;

export async function buildAuthServer(deps: AuthDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const clock = deps.clock ?? systemClock;
  const ctx: AuthContext = {
    config,
    adb: deps.db,
    db: deps.db.db,
    cache: deps.db.sqlite ? createReadCache(deps.db.sqlite) : undefined,
    clock,
    mailer: deps.mailer ?? createMailer(config),
    background: new Set(),
    keys: { secret: config['auth.secret'], previousSecret: config['auth.previousSecret'], algorithm: config['token.algorithm'] },
    limits: {
      loginPerEmail: createRateLimiter({ limit: config['login.perEmail'], windowMs: 15 * 60_000, clock }),
      loginPerIp: createRateLimiter({ limit: config['login.perIp'], windowMs: 15 * 60_000, clock }),
      perIp: createRateLimiter({ limit: config['ratelimit.perIp'], windowMs: 60_000, clock }),
      codeTriesPerEmail: createRateLimiter({ limit: CODE_TRIES_PER_DAY, windowMs: 24 * 60 * 60_000, clock }),
    },
  };
  const app = Fastify({
    logger: { ...loggerOptions(config['log.level']), ...(deps.logStream ? { stream: deps.logStream } : {}) },
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: 100 },
    // One hop (nginx): the address it appended, never one the client wrote into X-Forwarded-For.
    trustProxy: config.trustProxy ? trustOneProxy : false,
    return503OnClosing: true,
    clientErrorHandler,
    // Bad percent-encoding in the path, over-long path parameters: the standard body, not Fastify's default one.
    frameworkErrors: errorHandler,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (req, body, done) => {
    // Only the browser's confirm POST sends a form; everywhere else the API takes JSON alone (SPEC §5).
    if (req.routeOptions.url !== '/auth/verify') return done(new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.'), undefined);
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  // A callback hook, not an async one: no promise per response.
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    done(null, payload);
  });
  loginRoutes(app, ctx);
  verifyRoutes(app, ctx);
  deviceRoutes(app, ctx);
  projectRoutes(app, ctx);
  relayTokenRoutes(app, ctx);
  opsRoutes(app, ctx, VERSION);
  app.addHook('onClose', async () => {
    await Promise.all(ctx.background);
    ctx.mailer.close();
  });
  return app;
}
