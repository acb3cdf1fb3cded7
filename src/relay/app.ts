#!/usr/bin/env node
// hone-relay: not built yet (issue "hone-relay"); says so instead of pretending.
process.stderr.write('hone-relay: not yet — the relay lands with its own issue; see README.\n');
process.exit(1);
