// The single relay's protocol, security and hostile suites (test/relay/*.suite.ts) on the cluster engine, with one
// node and with two (clients alternate between the nodes).
import { clusterRelay } from '../relay/engines.ts';
import { hostileSuite } from '../relay/hostile.suite.ts';
import { protocolSuite } from '../relay/protocol.suite.ts';
import { securitySuite } from '../relay/security.suite.ts';

for (const nodes of [1, 2]) {
  const start = clusterRelay(nodes);
  const name = `cluster engine, ${nodes} node${nodes === 1 ? '' : 's'}`;
  protocolSuite(start, name, nodes);
  securitySuite(start, name);
  hostileSuite(start, name);
}
