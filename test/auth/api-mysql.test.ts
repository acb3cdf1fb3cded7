// The hone-auth HTTP suite over the real MariaDB at 127.0.0.1:3306 (a fresh database per run).
import { authSuite } from './api.suite.ts';

authSuite('mysql');
