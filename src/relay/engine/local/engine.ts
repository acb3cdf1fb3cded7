// The single-relay engine: rooms and connection counts in this process, everything durable in SQLite (trimmed every
// 100 ms), connections per address per minute counted here. Always ready; health has nothing to add.
import type { Clock } from '../../../common/clock.ts';
import { createRateLimiter } from '../../../common/rate-limit.ts';
import type { RelayConfig } from '../../config.ts';
import type { Scheduler } from '../../scheduler.ts';
import { systemScheduler } from '../../scheduler.ts';
import type { ConnectionCounter, RelayEngine } from '../contract.ts';
import { createLocalRooms } from './rooms.ts';
import { openSqliteState } from './sqlite-state.ts';

/** Open connections per key, in this process. */
export function createLocalCounter(): ConnectionCounter {
  const open = new Map<string, number>();
  return {
    async acquire(key, limit) {
      const n = open.get(key) ?? 0;
      if (n >= limit) return false;
      open.set(key, n + 1);
      return true;
    },
    release(key) {
      const n = (open.get(key) ?? 0) - 1;
      if (n > 0) open.set(key, n);
      else open.delete(key);
    },
  };
}

export function createLocalEngine(config: RelayConfig, clock: Clock, scheduler: Scheduler = systemScheduler): RelayEngine {
  const ttlMs = config['buffer.ttl.seconds'] * 1000;
  const state = openSqliteState({ path: config['sqlite.path'], ttlMs, clock, roomBytes: config['limits.room.bufferBytes'] });
  const rooms = createLocalRooms({ handOverMs: ttlMs, clock, scheduler, hasBuffered: (room) => state.hasBuffered(room) });
  const trim = scheduler.every(100, () => {
    try {
      state.trim();
    } catch {
      // Disk full or I/O error: the next turn tries again; envelope writes report their own failures.
    }
  });
  return {
    buffer: state.buffer,
    rooms,
    revocations: state.revocations,
    connections: createLocalCounter(),
    ready: async () => true,
    health: () => ({ status: 'ok', fields: {} }),
    rateLimiter: (opts) => createRateLimiter({ ...opts, clock }),
    registerMetrics() {},
    async close() {
      trim.cancel();
      rooms.close();
      await state.close();
    },
  };
}
