// The hostile suite (hostile.suite.ts) on the single relay (SQLite).
import { startRelay } from '../helpers/relay.ts';
import { hostileSuite } from './hostile.suite.ts';

hostileSuite(startRelay, 'single relay');
