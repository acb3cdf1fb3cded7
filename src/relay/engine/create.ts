// Picks the engine a relay's config asks for: the cluster engine on Redis when cluster.redis is set, else the
// single relay on SQLite at sqlite.path. The only place that knows there are two.
import type { Clock } from '../../common/clock.ts';
import type { RelayConfig } from '../config.ts';
import type { Scheduler } from '../scheduler.ts';
import type { RelayEngine } from './contract.ts';
import { createLocalEngine } from './local/engine.ts';
import { createClusterEngine } from './redis/engine.ts';
import type { ClusterLog } from './redis/engine.ts';

export function createEngine(config: RelayConfig, clock: Clock, scheduler: Scheduler, log: { log: ClusterLog }): RelayEngine {
  // The cluster's windows run on Redis's clock (hand-over, buffer window): it keeps its own timers.
  return config['cluster.redis'] ? createClusterEngine(config, clock, log) : createLocalEngine(config, clock, scheduler);
}
