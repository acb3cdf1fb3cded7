// The browser-safe entry of the client library (what a bundler such as esbuild starts from for the web console):
// RelayClient and its protocol, emitter and backoff — nothing that needs Node.
export { MAX_SEQ_JUMP, RelayClient } from './relay-client.ts';
export type { RelayClientOptions, RelayEvents, RelayMessage, RelayState, SeqPosition, SeqStore, Timers, WebSocketCtor, WebSocketLike } from './relay-client.ts';
export { backoffDelay } from './backoff.ts';
export type { BackoffOptions } from './backoff.ts';
export { Emitter } from './emitter.ts';
export { FATAL_CODES, RETRYABLE_CODES } from './protocol.ts';
export type { Envelope, Target } from './protocol.ts';
