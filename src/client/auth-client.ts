// AuthClient: typed calls to hone-auth (SPEC §5) over an injectable fetch — login and waiting for the link,
// devices, projects, subscription. Every failure is an AuthError carrying the server's code (or UNREACHABLE).

export interface Device { id: number; deviceName: string; platform: string; createdAt: string; lastSeen: string; current: boolean }
export interface Project { id: number; projectKey: string; name: string; roomId: string; createdAt: string }
export type Tier = 'free' | 'personal' | 'pro' | 'team';
export interface Subscription { tier: Tier; expiresAt: string | null }
export interface LoginHandle {
  email: string;
  pollToken: string;
  /** ms since the epoch, from the server's expiresAt */
  expiresAt: number;
  /** The code to show this device's user, to be typed on the sign-in page when it is opened elsewhere (absent from older servers). */
  matchCode?: string;
}
export interface SignedIn { deviceToken: string; userId: number; deviceId: number }

export class AuthError extends Error {
  readonly code: string;
  /** HTTP status; 0 when the server could not be reached or did not answer in time. */
  readonly status: number;
  /** Seconds, from Retry-After, when the server sent one. */
  readonly retryAfter: number | null;
  constructor(code: string, status: number, message: string, retryAfter: number | null = null) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export interface AuthClientOptions {
  /** Base URL, e.g. https://auth.hone.codes */
  url: string;
  token?: string;
  fetch?: typeof fetch;
  /** Per-request time limit (default 10 s). */
  timeoutMs?: number;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Called after every poll and every failed attempt: time left before the link expires. */
  onTick?: (info: { remainingMs: number; attempts: number; lastError?: AuthError }) => void;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** First poll interval (default 1 s); grows ×1.5 per poll up to `maxIntervalMs` (default 5 s). */
  intervalMs?: number;
  maxIntervalMs?: number;
}

const abortable = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export class AuthClient {
  readonly url: string;
  token: string;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;

  constructor(opts: AuthClientOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.token = opts.token ?? '';
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** One request; answers the parsed success body (status 2xx) or throws an AuthError. */
  private async call(method: string, path: string, opts: { body?: unknown; auth?: boolean; signal?: AbortSignal } = {}): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.auth !== false) {
      if (!this.token) throw new AuthError('NOT_SIGNED_IN', 401, 'This device is not signed in.');
      headers.authorization = `Bearer ${this.token}`;
    }
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const signals = [AbortSignal.timeout(this.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
    let res: Response;
    try {
      res = await this.fetchFn(this.url + path, {
        method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: AbortSignal.any(signals),
      });
    } catch (err) {
      if (opts.signal?.aborted) throw new AuthError('CANCELLED', 0, 'Cancelled.');
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs / 1000} s` : e.cause?.code ?? e.cause?.message ?? e.message;
      throw new AuthError('UNREACHABLE', 0, `cannot reach the auth service at ${this.url} (${why})`);
    }
    const text = await res.text().catch(() => '');
    let body: any = null;
    try {
      body = JSON.parse(text);
    } catch { /* handled below */ }
    const retry = res.headers.get('retry-after');
    const retryAfter = retry !== null && /^\d+$/.test(retry) ? Number(retry) : null;
    if (res.ok && body && body.ok === true) return { status: res.status, body };
    if (body && body.ok === false && body.error && typeof body.error.code === 'string') {
      throw new AuthError(body.error.code, res.status, String(body.error.message ?? body.error.code), retryAfter);
    }
    throw new AuthError(res.status >= 500 ? 'UNAVAILABLE' : 'BAD_RESPONSE', res.status, `the auth service at ${this.url} answered HTTP ${res.status} without a Hone answer (is syncAuthUrl right?)`, retryAfter);
  }

  /** Sends the magic link to `email`; the handle lets this device wait for it to be opened anywhere. */
  async login(email: string, deviceName: string, platform: string): Promise<LoginHandle> {
    const q = new URLSearchParams({ email, deviceName, platform });
    const { body } = await this.call('GET', `/auth/login?${q}`, { auth: false });
    const expiresAt = Date.parse(body.expiresAt);
    if (typeof body.pollToken !== 'string' || !Number.isFinite(expiresAt)) throw new AuthError('BAD_RESPONSE', 200, 'the auth service answered the login without a poll token');
    const matchCode = typeof body.matchCode === 'string' && /^[A-Z0-9]{4,12}$/.test(body.matchCode) ? body.matchCode : undefined;
    return { email, pollToken: body.pollToken, expiresAt, ...(matchCode ? { matchCode } : {}) };
  }

  /**
   * Finishes a login with the 6-digit code from the e-mail instead of waiting for the link (POST /auth/login/code).
   * A wrong code is CODE_MISMATCH (400, the message says how many tries are left); five lock the login (LOGIN_LOCKED).
   */
  async finishWithCode(handle: LoginHandle, code: string, signal?: AbortSignal): Promise<SignedIn> {
    const { body } = await this.call('POST', '/auth/login/code', { auth: false, body: { pollToken: handle.pollToken, code }, signal });
    if (typeof body.deviceToken !== 'string') throw new AuthError('BAD_RESPONSE', 200, 'the auth service answered the code without a device token');
    return { deviceToken: body.deviceToken, userId: body.userId, deviceId: body.deviceId };
  }

  /**
   * Polls until the link is opened (on any device) and answers the new device's token; polls back off from
   * `intervalMs` to `maxIntervalMs`. Network failures are retried; it ends with LINK_EXPIRED at the link's expiry
   * and CANCELLED when `signal` aborts.
   */
  async waitForLink(handle: LoginHandle, opts: WaitOptions = {}): Promise<SignedIn> {
    const now = opts.now ?? Date.now;
    const sleep = opts.sleep ?? abortable;
    const max = opts.maxIntervalMs ?? 5000;
    let interval = opts.intervalMs ?? 1000;
    let attempts = 0;
    const q = `/auth/login/poll?${new URLSearchParams({ pollToken: handle.pollToken })}`;
    for (;;) {
      if (opts.signal?.aborted) throw new AuthError('CANCELLED', 0, 'Cancelled.');
      let lastError: AuthError | undefined;
      try {
        attempts++;
        const { status, body } = await this.call('GET', q, { auth: false, signal: opts.signal });
        if (status === 200 && typeof body.deviceToken === 'string') return { deviceToken: body.deviceToken, userId: body.userId, deviceId: body.deviceId };
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        if (err.code === 'CANCELLED') throw err;
        // Only the unreachable / overloaded cases are worth another try; 4xx answers are final.
        if (err.status !== 0 && err.status !== 429 && err.status < 500) throw err;
        lastError = err;
      }
      const remainingMs = handle.expiresAt - now();
      opts.onTick?.({ remainingMs: Math.max(0, remainingMs), attempts, lastError });
      if (remainingMs <= 0) throw new AuthError('LINK_EXPIRED', 410, 'The sign-in link expired before it was opened; request a new one.');
      try {
        await sleep(Math.min(interval, remainingMs), opts.signal);
      } catch {
        throw new AuthError('CANCELLED', 0, 'Cancelled.');
      }
      interval = Math.min(max, interval * 1.5);
    }
  }

  /** This device (GET /auth/device). */
  async me(): Promise<Device> {
    return (await this.call('GET', '/auth/device')).body.device;
  }

  async devices(): Promise<Device[]> {
    return (await this.call('GET', '/auth/devices')).body.devices;
  }

  async removeDevice(id: number): Promise<void> {
    await this.call('DELETE', `/auth/device/${encodeURIComponent(String(id))}`);
  }

  async projects(): Promise<Project[]> {
    return (await this.call('GET', '/auth/projects')).body.projects;
  }

  /** Registers a project (idempotent by key); TIER_LIMIT (403) past the tier's allowance. */
  async addProject(projectKey: string, name?: string): Promise<Project> {
    return (await this.call('POST', '/auth/project', { body: name === undefined ? { projectKey } : { projectKey, name } })).body.project;
  }

  async removeProject(id: number): Promise<void> {
    await this.call('DELETE', `/auth/project/${encodeURIComponent(String(id))}`);
  }

  async subscription(): Promise<Subscription> {
    const { body } = await this.call('GET', '/auth/subscription');
    return { tier: body.tier, expiresAt: body.expiresAt ?? null };
  }
}
