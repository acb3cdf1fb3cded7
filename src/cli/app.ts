#!/usr/bin/env node
// hone-sync: not built yet (issue "hone-sync"); says so instead of pretending.
process.stderr.write('hone-sync: not yet — the client and CLI land with their own issue; see README.\n');
process.exit(1);
