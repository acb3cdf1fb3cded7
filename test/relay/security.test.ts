// The security suite (security.suite.ts) on the single relay (SQLite).
import { startRelay } from '../helpers/relay.ts';
import { securitySuite } from './security.suite.ts';

securitySuite(startRelay, 'single relay');
