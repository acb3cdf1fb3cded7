// The relay's HTTP port (Fastify): GET /health, GET /metrics (Prometheus) and the status page at /.
// Errors use the same body as hone-auth; nothing here reads or changes rooms.
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { clientErrorHandler, makeErrorHandler, notFoundHandler } from '../common/http-errors.ts';
import { loggerOptions } from '../common/log.ts';
import { VERSION } from '../common/version.ts';
import type { RelayConfig } from './config.ts';
import type { RelayMetrics } from './metrics.ts';
import type { PullerState } from './revocations.ts';

export interface HealthSource {
  startedAt: number;
  clock: () => number;
  rooms(): number;
  connections(): number;
  buffered(): number;
  revocations(): { authUrl: string | null; known: number; state: PullerState | null };
  devMode: boolean;
}

export function healthBody(src: HealthSource) {
  const rev = src.revocations();
  return {
    ok: true as const,
    status: 'ok',
    version: VERSION,
    uptimeSeconds: Math.round((src.clock() - src.startedAt) / 1000),
    rooms: src.rooms(),
    connections: src.connections(),
    bufferedMessages: src.buffered(),
    devMode: src.devMode,
    revocations: {
      authUrl: rev.authUrl,
      known: rev.known,
      ok: rev.state?.ok ?? null,
      lastSuccess: rev.state?.lastSuccess ? new Date(rev.state.lastSuccess).toISOString() : null,
    },
  };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function statusPage(h: ReturnType<typeof healthBody>): string {
  const rows: Array<[string, string]> = [
    ['Status', h.status], ['Version', h.version], ['Up for', `${h.uptimeSeconds} s`], ['Rooms', String(h.rooms)],
    ['Connections', String(h.connections)], ['Buffered messages', String(h.bufferedMessages)],
    ['Revocations', h.revocations.authUrl ? `${h.revocations.known} known, auth ${h.revocations.ok === false ? 'unreachable' : 'reachable'}` : 'not pulled (auth.url empty)'],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="10"><title>Hone Sync relay</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
main{max-width:34rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.4rem;margin:0 0 1rem}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002}
th,td{text-align:left;padding:.6rem .9rem;border-bottom:1px solid #eceef2}
th{font-weight:500;color:#5b6475;width:45%}
tr:last-child th,tr:last-child td{border-bottom:0}
p{color:#5b6475;font-size:.9rem}
</style></head>
<body><main><h1>Hone Sync relay${h.devMode ? ' <small>(development mode)</small>' : ''}</h1>
<table>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>
<p>Machine-readable: <a href="/health">/health</a> · <a href="/metrics">/metrics</a>. This page refreshes every 10 s.</p>
</main></body></html>`;
}

export async function buildHttp(deps: { config: RelayConfig; metrics: RelayMetrics; health: HealthSource; logStream?: { write(line: string): unknown } }): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { ...loggerOptions(deps.config['log.level']), ...(deps.logStream ? { stream: deps.logStream } : {}) },
    bodyLimit: 16 * 1024,
    trustProxy: deps.config.trustProxy,
    return503OnClosing: true,
    clientErrorHandler,
    frameworkErrors: makeErrorHandler(),
  });
  app.setErrorHandler(makeErrorHandler());
  app.setNotFoundHandler(notFoundHandler);
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
  });
  app.get('/health', async () => healthBody(deps.health));
  app.get('/metrics', async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  app.get('/', async (_request, reply) => {
    reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
    return statusPage(healthBody(deps.health));
  });
  return app;
}
