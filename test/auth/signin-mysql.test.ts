// The sign-in against phishing over MariaDB (the suite: signin.suite.ts).
import { signinSuite } from './signin.suite.ts';

signinSuite('mysql');
