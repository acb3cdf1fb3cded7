// The protocol suite (protocol.suite.ts) on the single relay (SQLite).
import { startRelay } from '../helpers/relay.ts';
import { protocolSuite } from './protocol.suite.ts';

protocolSuite(startRelay, 'single relay');
