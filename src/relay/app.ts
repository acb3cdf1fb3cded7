#!/usr/bin/env node
// hone-relay: reads relay.conf (or --config) and HONE_* overrides, then serves until SIGTERM/SIGINT.
// The only place with process-wide state: signals, exit codes, the real clock.
import { exitOnSignals, expected, fail, listenFailure, parseCommonArgs } from '../common/cli.ts';
import { loadConfig, urlList } from '../common/config.ts';
import { VERSION } from '../common/version.ts';
import { redactRedisUrl } from './engine/redis/shards.ts';
import { checkRelayConfig, isInsecureDev, relayConfigSchema } from './config.ts';
import { tuneGarbageCollector } from './gc-tuning.ts';
import { buildRelay } from './server.ts';

const HELP = `hone-relay ${VERSION} — the WebSocket relay of Hone Sync

usage:
  hone-relay [--config relay.conf] [--dev]      serve (default config ./relay.conf; absent = defaults)
  hone-relay --version | --help

Every config key can be set as HONE_<KEY> (auth.secret → HONE_AUTH_SECRET). See relay.conf.example.`;

async function main(): Promise<void> {
  tuneGarbageCollector();
  const args = parseCommonArgs(process.argv.slice(2), () => ({ command: '', flags: ['config', 'dev'] }));
  if (args.help) return void console.log(HELP);
  if (args.version) return void console.log(VERSION);
  if (args.positionals.length > 0 && args.positionals[0] !== 'serve') throw expected(`unknown command "${args.positionals[0]}"; see hone-relay --help`);

  // Warnings go out as they come, so one printed before a refusal is not lost with it.
  const config = checkRelayConfig(loadConfig(relayConfigSchema, {
    file: args.config ?? './relay.conf', mustExist: args.config !== undefined,
    overrides: args.dev ? { dev: true } : {}, warn: (m) => process.stderr.write(`hone-relay: warning: ${m}\n`),
  }));
  if (isInsecureDev(config)) {
    process.stderr.write('hone-relay: WARNING: DEVELOPMENT MODE WITHOUT A SECRET — device tokens are NOT checked and anyone can join any room. Never expose this relay.\n');
  }
  if (config['token.algorithm'] === 'djb2') {
    process.stderr.write('hone-relay: WARNING: token.algorithm=djb2 accepts 32-bit non-cryptographic tokens that can be forged; use it only while migrating old deployments.\n');
  }
  if (!config['auth.url'] && !isInsecureDev(config)) {
    process.stderr.write('hone-relay: warning: auth.url is empty, so revocations are not pulled: devices removed in hone-auth keep relay access.\n');
  }

  const relay = await buildRelay({ config }).catch((err: NodeJS.ErrnoException) => {
    const listen = listenFailure(err, `${config.host} port ${config.port} or ws.port ${config['ws.port']}`);
    if (listen) throw listen;
    if (err.code === 'ERR_SQLITE_ERROR' || /SQLITE|database/i.test(String(err.message))) throw expected(`cannot use the buffer database ${config['sqlite.path']} (sqlite.path): ${err.message}`);
    throw err;
  });
  const storage = config['cluster.redis'] ? { cluster: urlList(config['cluster.redis']).map(redactRedisUrl).join(','), prefix: config['cluster.prefix'] } : { sqlite: config['sqlite.path'] };
  relay.log.info({ event: 'listening', http: relay.httpUrl, ws: relay.wsUrl, ...storage },
    `hone-relay ${VERSION} listening on ${relay.httpUrl} (health, metrics, status) and ${relay.wsUrl} (WebSocket)${relay.redisDownAtStart ? ' — DEGRADED: Redis unreachable, joins are refused until it answers' : ''}`);

  exitOnSignals(relay.log, 'shutting down: closing connections with 1001 and flushing the buffer', () => relay.close());
}

main().catch((err) => fail('hone-relay', err));
