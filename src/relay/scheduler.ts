// The timers the relay takes from outside, beside its clock: the real ones (unref'd: they never keep a process
// alive), or a test's, which runs them when the test moves its clock, so relay tests drive time instead of sleeping.
export interface Timer {
  cancel(): void;
}

export interface Scheduler {
  /** Runs `fn` once, `ms` from now. */
  after(ms: number, fn: () => void): Timer;
  /** Runs `fn` every `ms`. */
  every(ms: number, fn: () => void): Timer;
}

export const systemScheduler: Scheduler = {
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
};
