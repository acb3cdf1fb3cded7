// SPEC §6.1 (test/relay/peers.suite.ts) on the cluster engine with one node and with two on the same Redis.
import { clusterEngine } from '../relay/engines.ts';
import { peersSuite } from '../relay/peers.suite.ts';

peersSuite(clusterEngine(1));
peersSuite(clusterEngine(2));
