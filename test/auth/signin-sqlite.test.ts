// The sign-in against phishing over SQLite (the suite: signin.suite.ts).
import { signinSuite } from './signin.suite.ts';

signinSuite('sqlite');
