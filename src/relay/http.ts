// The relay's HTTP port (Fastify): GET /health, GET /metrics (Prometheus) and the status page at /.
// Errors use the same body as hone-auth; nothing here reads or changes rooms.
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { clientErrorHandler, makeErrorHandler, notFoundHandler, trustOneProxy } from '../common/http-errors.ts';
import { loggerOptions } from '../common/log.ts';
import { VERSION } from '../common/version.ts';
import type { RelayConfig } from './config.ts';
import type { EngineHealth } from './engine/contract.ts';
import type { RelayMetrics } from './metrics.ts';
import { CONSOLE_JS } from './page/console-bundle.ts';
import type { PullerState } from './revocations.ts';
import { SECRET_REJECTED } from './revocations.ts';

export interface HealthSource {
  startedAt: number;
  clock: () => number;
  rooms(): number;
  connections(): number;
  buffered(): number;
  revocations(): { authUrl: string | null; known: number; state: PullerState | null };
  devMode: boolean;
  /** The engine's status and fields (cluster: this node's view of the cluster). */
  engine: () => EngineHealth;
}

export function healthBody(src: HealthSource) {
  const rev = src.revocations();
  const engine = src.engine();
  return {
    ok: true as const,
    status: engine.status === 'degraded' || rev.state?.secretRejected ? 'degraded' : 'ok',
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
      error: rev.state?.lastError ?? null,
    },
    ...engine.fields,
  };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The status page for self-hosters and the live console; numbers are filled in here and refreshed by /console.js. */
function statusPage(h: ReturnType<typeof healthBody>, ports: { http: number; ws: number }): string {
  const row = (id: string, label: string, value: string) => `<tr><th>${label}</th><td id="${id}">${escapeHtml(value)}</td></tr>`;
  const auth = h.revocations.error === SECRET_REJECTED ? "rejects this relay's auth.secret (401): set the same secret in both" : h.revocations.ok === false ? 'unreachable' : 'reachable';
  const revocations = h.revocations.authUrl ? `${h.revocations.known} known, auth ${auth}` : 'not pulled (auth.url empty)';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hone Sync relay</title>
<style>
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
main{max-width:44rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.4rem;margin:0 0 1rem}
h2{font-size:1.1rem;margin:2rem 0 .6rem}
section.card,table{width:100%;background:#fff;border-radius:10px;box-shadow:0 1px 3px #0002}
table{border-collapse:collapse}
th,td{text-align:left;padding:.55rem .9rem;border-bottom:1px solid #eceef2}
th{font-weight:500;color:#5b6475;width:45%}
tr:last-child th,tr:last-child td{border-bottom:0}
section.card{padding:1rem}
label{display:block;font-size:.85rem;color:#5b6475;margin:.5rem 0 .2rem}
input{width:100%;font:inherit;padding:.5rem .6rem;border:1px solid #cfd4dc;border-radius:6px;background:#fff}
fieldset{border:0;margin:0;padding:0;min-width:0}
.row{display:flex;gap:.5rem;align-items:flex-end}
.row>div{flex:1;min-width:0}
button{font:inherit;padding:.5rem 1.1rem;border:0;border-radius:6px;background:#2f6fed;color:#fff;cursor:pointer;margin-top:.8rem}
fieldset:disabled button{background:#9bb5ea;cursor:default}
ol{list-style:none;margin:1rem 0 0;padding:0;font:13px/1.45 ui-monospace,monospace;max-height:60vh;overflow:auto}
li{padding:.35rem .1rem;border-top:1px solid #eceef2;display:flex;gap:.6rem;overflow-wrap:anywhere}
li time{color:#8a93a3;flex:none}
li.error span{color:#b3261e}
li.sent span{color:#2f6fed}
li.info span{color:#5b6475}
p.note{color:#5b6475;font-size:.9rem}
@media (max-width:30rem){.row{flex-direction:column;align-items:stretch}.row>div{flex:none!important}th{width:50%}}
</style></head>
<body data-http-port="${ports.http}" data-ws-port="${ports.ws}"><main>
<h1>Hone Sync relay${h.devMode ? ' <small>(development mode: tokens not checked)</small>' : ''}</h1>
<table>
${row('h-status', 'Status', h.status)}
${row('h-version', 'Version', h.version)}
${row('h-uptime', 'Up for', `${h.uptimeSeconds} s`)}
${row('h-rooms', 'Rooms', String(h.rooms))}
${row('h-connections', 'Connections', String(h.connections))}
${row('h-buffered', 'Buffered messages', String(h.bufferedMessages))}
${row('h-revocations', 'Revocations', revocations)}
</table>
<p class="note">Machine-readable: <a href="/health">/health</a> · <a href="/metrics">/metrics</a>. Figures refresh every 5 s.</p>
<h2>Live console</h2>
<section class="card">
<form id="join-form" autocomplete="off">
<label for="url">Relay WebSocket URL</label><input id="url" name="url" spellcheck="false">
<label for="token">Device token</label><input id="token" name="token" type="password" placeholder="userId:deviceId:timestamp.hash" spellcheck="false">
<div class="row"><div><label for="room">Room ID</label><input id="room" name="room" spellcheck="false"></div>
<div><label for="device">Device label</label><input id="device" name="device" spellcheck="false"></div></div>
<button id="join" type="submit">Join</button>
</form>
<form id="send-form" autocomplete="off"><fieldset id="send-box" disabled>
<div class="row"><div><label for="text">Message</label><input id="text" name="text"></div>
<div style="flex:0 0 9rem"><label for="to">To</label><input id="to" name="to" value="broadcast" spellcheck="false"></div></div>
<button type="submit">Send</button>
</fieldset></form>
<ol id="log" aria-live="polite"></ol>
</section>
<p class="note">The token stays in this page; it is sent only to the relay, in the join frame.</p>
</main><script src="/console.js"></script></body></html>`;
}

const PAGE_CSP = "default-src 'none'; script-src 'self'; connect-src 'self' ws: wss:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface HttpDeps {
  config: RelayConfig;
  metrics: RelayMetrics;
  health: HealthSource;
  /** The listening ports, so the page can find the WebSocket port when opened directly. */
  ports: () => { http: number; ws: number };
  logStream?: { write(line: string): unknown };
}

export async function buildHttp(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { ...loggerOptions(deps.config['log.level']), ...(deps.logStream ? { stream: deps.logStream } : {}) },
    bodyLimit: 16 * 1024,
    trustProxy: deps.config.trustProxy ? trustOneProxy : false,
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
    reply.type('text/html; charset=utf-8').header('content-security-policy', PAGE_CSP).header('referrer-policy', 'no-referrer');
    return statusPage(healthBody(deps.health), deps.ports());
  });
  app.get('/console.js', async (_request, reply) => {
    reply.type('text/javascript; charset=utf-8');
    return CONSOLE_JS;
  });
  return app;
}
