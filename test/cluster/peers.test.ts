// SPEC §6.1 (test/relay/peers.suite.ts) on the cluster engine: one node, two on the same Redis, two on two Redis shards.
import { clusterEngine } from '../relay/engines.ts';
import { peersSuite } from '../relay/peers.suite.ts';

peersSuite(clusterEngine(1));
peersSuite(clusterEngine(2));
peersSuite(clusterEngine(2, 2));
