// Revocation across a restart, written once for every engine (revocation.test.ts: single relay; test/cluster: 1 and
// 2 nodes): a removed device stays refused after the relay restarts with auth down, and the devices that rejoin
// route to each other at once (issue 17: a cluster node once lost A's first broadcast to C here).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAuth } from '../helpers/auth.ts';
import type { TestAuth } from '../helpers/auth.ts';
import type { EngineCase, Relays } from './engines.ts';

export function revocationSuite(engine: EngineCase, runs = 1): void {
  describe(`revocation across a restart with auth down, on the ${engine.name}`, () => {
    let auth: TestAuth;
    before(async () => {
      auth = await startAuth('sqlite');
    });
    after(() => auth.close());

    for (let run = 1; run <= runs; run++) {
      test(`removed device refused after the restart; A's broadcast reaches C at once${runs > 1 ? ` (run ${run})` : ''}`, async () => {
        let r: Relays = await engine.start({ 'auth.url': auth.url });
        const email = `rev${run}-${Date.now()}@example.com`;
        const [a, b, c] = [await auth.signIn(email, 'A'), await auth.signIn(email, 'B'), await auth.signIn(email, 'C')];
        const room = `pair-REV${run}${Date.now()}`;
        try {
          const ca = await r.node(0).device(room, 'a', { token: a.deviceToken });
          const cb = await r.node(1).device(room, 'b', { token: b.deviceToken });
          const cc = await r.node(1).device(room, 'c', { token: c.deviceToken });
          ca.envelope('broadcast', 'before', { msgId: 'before' });
          await cc.next((f) => f?.payload === 'before');
          await auth.json(`/auth/device/${b.deviceId}`, { method: 'DELETE', token: a.deviceToken });
          await r.node(1).pullRevocations();
          assert.equal((await cb.next('error')).code, 'TOKEN_REVOKED');
          const lastC = cc.envelopes().at(-1).seq;
          // The relay restarts while auth is unreachable.
          await auth.app.close();
          r = await r.restart();
          const { answer } = await (async () => {
            const x = await r.node(0).connect();
            return { answer: await x.join(room, 'b', b.deviceToken) };
          })();
          assert.equal(answer.code, 'TOKEN_REVOKED', 'still refused after the restart, with auth down');
          // A and C rejoin at once (as reconnecting clients do); A sends as soon as it is in, C may still be joining.
          const joiningC = r.node(0).device(room, 'c', { token: c.deviceToken, lastSeq: lastC });
          const ra = await r.node(1).device(room, 'a', { token: a.deviceToken, lastSeq: 0 });
          ra.envelope('broadcast', 'after restart', { msgId: 'after' });
          const rc = await joiningC;
          await ra.next((f) => f?.type === 'ack' && f.msgId === 'after');
          // Live, or in C's catch-up if it was accepted before C's replay read the buffer: either way exactly once.
          const seen = () => [...rc.envelopes().map((e) => e.payload), ...rc.frames.filter((f) => f.data?.type === 'deltas').flatMap((f) => f.data.deltas.map((d: any) => JSON.parse(d.payload).payload))];
          for (let i = 0; i < 100 && !seen().includes('after restart'); i++) await new Promise((res) => setTimeout(res, 20));
          assert.deepEqual(seen().filter((p) => p === 'after restart'), ['after restart'], `C received: ${rc.frames.map((f) => f.raw.slice(0, 150)).join(' | ')}`);
        } finally {
          await r.close();
          if (auth.app.server.listening === false) {
            await auth.close().catch(() => {});
            auth = await startAuth('sqlite');
          }
        }
      });
    }
  });
}
