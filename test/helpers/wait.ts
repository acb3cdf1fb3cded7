// Waiting in tests for what another process or socket does (never for behaviour about time, which tests drive):
// a plain sleep and one poll-until-true that every helper and test shares.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until `cond` holds or `ms` passed; answers whether it held. */
export async function until(cond: () => boolean, ms: number, step = 25): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(step);
  }
  return true;
}
