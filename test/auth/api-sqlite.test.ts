// The hone-auth HTTP suite over embedded SQLite.
import { authSuite } from './api.suite.ts';

authSuite('sqlite');
