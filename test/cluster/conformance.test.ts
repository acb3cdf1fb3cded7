// The single relay's protocol, security and hostile suites (test/relay/*.suite.ts) on the cluster engine, with one
// node, with two (clients alternate between the nodes), and with two nodes on two Redis shards.
import { clusterRelay } from '../relay/engines.ts';
import { hostileSuite } from '../relay/hostile.suite.ts';
import { protocolSuite } from '../relay/protocol.suite.ts';
import { securitySuite } from '../relay/security.suite.ts';

for (const [nodes, shards] of [[1, 1], [2, 1], [2, 2]]) {
  const start = clusterRelay(nodes, shards);
  const name = `cluster engine, ${nodes} node${nodes === 1 ? '' : 's'}${shards > 1 ? ` on ${shards} shards` : ''}`;
  protocolSuite(start, name, nodes);
  securitySuite(start, name);
  hostileSuite(start, name);
}
