// Pulls revocations from hone-auth every second (SPEC §5/§6), keeps them in the engine's store and closes the
// revoked devices' live connections. When auth is unreachable the relay keeps serving and logs the failure.
import { relayAuthorization, revocationsMessage } from '../common/token.ts';
import type { Revocation, RevocationStore } from './engine/contract.ts';
import type { Scheduler, Timer } from './scheduler.ts';

export interface PullerState {
  ok: boolean | null;
  lastSuccess: number | null;
  lastError: string | null;
  /** Auth answered 401: it does not accept this relay's signature, i.e. auth.secret differs (the relay is degraded). */
  secretRejected: boolean;
}

/** What a 401 from /auth/revocations means, said where the operator looks (log, /health, status page). */
export const SECRET_REJECTED = "auth answered 401: hone-auth does not accept this relay's signature, so auth.secret differs between relay.conf and auth.conf; set the same value in both";

export interface PullerDeps {
  authUrl: string;
  secret: string;
  store: RevocationStore;
  fetch: typeof fetch;
  intervalMs: number;
  /** A page of revocations just pulled (not empty). */
  onRevoked(page: Revocation[]): void;
  onResult(ok: boolean): void;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  clock: () => number;
  scheduler: Scheduler;
}

const FAILURE_LOG_EVERY_MS = 60_000;

function isRevocation(v: unknown): v is Revocation {
  const r = v as Revocation;
  return typeof r === 'object' && r !== null && Number.isSafeInteger(r.userId) && Number.isSafeInteger(r.deviceId) && typeof r.revokedAt === 'string'
    && (r.roomId === undefined || (typeof r.roomId === 'string' && r.roomId.length > 0 && r.roomId.length <= 255));
}

export function startRevocationPuller(deps: PullerDeps): { state: PullerState; stop(): void; pullNow(): Promise<void> } {
  const state: PullerState = { ok: null, lastSuccess: null, lastError: null, secretRejected: false };
  let timer: Timer | null = null;
  let stopped = false;
  let lastFailureLog = 0;
  let running: Promise<void> | null = null;

  async function pageOnce(): Promise<number> {
    const since = deps.store.cursor();
    const res = await deps.fetch(`${deps.authUrl}/auth/revocations?since=${encodeURIComponent(since)}`, {
      headers: { authorization: relayAuthorization(deps.secret, revocationsMessage(since)) },
      signal: AbortSignal.timeout(5000),
    });
    if (res.status === 401) throw Object.assign(new Error(SECRET_REJECTED), { secretRejected: true });
    if (res.status !== 200) throw new Error(`auth answered ${res.status}`);
    const body = (await res.json()) as { revoked?: unknown; cursor?: unknown };
    if (!Array.isArray(body.revoked) || typeof body.cursor !== 'string' || !body.revoked.every(isRevocation)) {
      throw new Error('auth answered an unexpected body');
    }
    const revoked = body.revoked as Revocation[];
    if (revoked.length > 0 || body.cursor !== since) deps.store.add(revoked, body.cursor);
    if (revoked.length > 0) deps.onRevoked(revoked);
    return body.cursor === since ? 0 : revoked.length;
  }

  async function pull(): Promise<void> {
    try {
      // Pages of up to 1000 until auth has nothing newer.
      for (let i = 0; i < 100 && (await pageOnce()) >= 1000; i++);
      if (state.ok === false) deps.log.info({ event: 'revocations.recovered' }, 'revocations: auth reachable again');
      state.ok = true;
      state.lastSuccess = deps.clock();
      state.lastError = null;
      state.secretRejected = false;
      deps.onResult(true);
    } catch (err) {
      const message = (err as Error).message;
      const rejected = (err as { secretRejected?: boolean }).secretRejected === true;
      const now = deps.clock();
      if (state.ok !== false || rejected !== state.secretRejected || now - lastFailureLog >= FAILURE_LOG_EVERY_MS) {
        lastFailureLog = now;
        deps.log.warn({ event: 'revocations.failed', authUrl: deps.authUrl, err: message },
          rejected ? 'revocations: hone-auth rejects this relay\'s auth.secret (401); devices signed in there are refused here until both have the same secret'
            : 'revocations: cannot reach auth; serving with the revocations already known');
      }
      state.secretRejected = rejected;
      state.ok = false;
      state.lastError = message;
      deps.onResult(false);
    }
  }

  function loop(): void {
    if (stopped) return;
    running = pull().finally(() => {
      running = null;
      if (!stopped) {
        timer = deps.scheduler.after(deps.intervalMs, loop);
      }
    });
  }
  loop();

  return {
    state,
    stop() {
      stopped = true;
      timer?.cancel();
    },
    async pullNow() {
      if (running) await running;
      await pull();
    },
  };
}
