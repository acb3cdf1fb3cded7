// Revocation across a restart (revocation.suite.ts) on the single relay.
import { localEngine } from './engines.ts';
import { revocationSuite } from './revocation.suite.ts';

revocationSuite(localEngine, Number(process.env.HONE_TEST_RUNS ?? 1));
