// Prometheus metrics of one relay (prom-client, a registry per relay instance so tests can run several).
// Live gauges read the engine when scraped; counters are bumped by the routing code.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type DropReason =
  | 'rate_limited' | 'bad_frame' | 'bad_envelope' | 'from_mismatch' | 'room_mismatch' | 'frame_too_large'
  | 'buffer_unavailable' | 'not_joined' | 'slow_consumer';

export interface LiveValues {
  connections(): number;
  rooms(): number;
  buffered(): number;
  revocations(): number;
}

export function createMetrics(live: LiveValues) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'hone_relay_' });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  gauge('hone_relay_connections', 'Open WebSocket connections.', live.connections);
  gauge('hone_relay_rooms', 'Rooms with at least one device connected to this relay (not rooms only in a host hand-over window).', live.rooms);
  gauge('hone_relay_buffered_messages', 'Envelopes held in the catch-up buffer.', live.buffered);
  gauge('hone_relay_revoked_devices', 'Revoked devices known to this relay.', live.revocations);

  const routed = new Counter({ name: 'hone_relay_messages_routed_total', help: 'Envelopes delivered to a peer (one per recipient).', registers: [registry] });
  const accepted = new Counter({ name: 'hone_relay_messages_buffered_total', help: 'Envelopes made durable in the buffer (each got a seq).', registers: [registry] });
  const replayed = new Counter({ name: 'hone_relay_messages_replayed_total', help: 'Envelopes sent in catch-up (deltas) frames.', registers: [registry] });
  const duplicates = new Counter({ name: 'hone_relay_messages_duplicate_total', help: 'Envelopes whose msgId was already seen: acknowledged, not routed again.', registers: [registry] });
  const dropped = new Counter({ name: 'hone_relay_messages_dropped_total', help: 'Frames refused or not delivered, by reason.', labelNames: ['reason'], registers: [registry] });
  const frameBytes = new Counter({ name: 'hone_relay_frame_bytes_total', help: 'WebSocket frame bytes, by direction.', labelNames: ['direction'], registers: [registry] });
  const joins = new Counter({ name: 'hone_relay_joins_total', help: 'Join attempts, by result (ok or the error code).', labelNames: ['result'], registers: [registry] });
  const closes = new Counter({ name: 'hone_relay_disconnects_total', help: 'Connections closed by the relay, by error code.', labelNames: ['code'], registers: [registry] });
  const revocationPulls = new Counter({ name: 'hone_relay_revocation_pulls_total', help: 'Revocation pulls from auth, by result.', labelNames: ['result'], registers: [registry] });
  const latency = new Histogram({
    name: 'hone_relay_routing_seconds', help: 'From receiving an envelope to handing it to its recipients (includes the buffer write).',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
  });

  const bytesIn = frameBytes.labels('in');
  const bytesOut = frameBytes.labels('out');
  const drops = new Map<string, ReturnType<typeof dropped.labels>>();
  return {
    registry,
    routed, accepted, replayed, duplicates, joins, closes, revocationPulls, latency, bytesIn, bytesOut,
    drop(reason: DropReason): void {
      let child = drops.get(reason);
      if (!child) drops.set(reason, (child = dropped.labels(reason)));
      child.inc();
    },
  };
}

export type RelayMetrics = ReturnType<typeof createMetrics>;
