// SPEC §6.1 (peers.suite.ts) on the single relay (SQLite); test/cluster/peers.test.ts runs it on the cluster engine.
import { localEngine } from './engines.ts';
import { peersSuite } from './peers.suite.ts';

peersSuite(localEngine);
