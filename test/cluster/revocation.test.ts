// Revocation across a restart (test/relay/revocation.suite.ts) on the cluster engine: 1 node, 2 nodes, 2 nodes on 2 shards.
import { clusterEngine } from '../relay/engines.ts';
import { revocationSuite } from '../relay/revocation.suite.ts';

const runs = Number(process.env.HONE_TEST_RUNS ?? 1);
revocationSuite(clusterEngine(1), runs);
revocationSuite(clusterEngine(2), runs);
revocationSuite(clusterEngine(2, 2), runs);
