// An ioredis EVALSHA command that answers through a callback instead of a promise, for the one script a cluster node
// runs per envelope (ACCEPT): ioredis's Command makes a promise and two closures per command that outlive scavenges.
import { Command } from 'ioredis';
import type { Redis } from 'ioredis';

export type Arg = string | number;
export type ReplyCallback = (err: Error | null, reply: unknown) => void;

/**
 * ioredis's `Command.initPromise` wraps the promise's resolve and reject in closures made inside the executor; at
 * thousands of commands a second those keep each command alive across young-generation collections, which lengthens
 * every pause (docs/design/relay-cluster.md, "the per-envelope ACCEPT script answers through a callback"). This
 * subclass replaces `initPromise` (private in ioredis's types, hence the prototype assignment below) so a command holds
 * one callback and no promise.
 * It relies on what the command connection is given in connectRedis: no `commandTimeout` (so no per-command timer),
 * no `showFriendlyErrorStack`, no key prefix; and on EVALSHA having no argument or reply transformer in ioredis.
 */
class CallbackCommand extends Command {
  declare done: ReplyCallback;
  /** Told of every error before `done` (shared by all commands of a connection, so no closure per command). */
  declare onError: ((err: Error) => void) | undefined;
}

/** Resolve and reject are the same two functions for every command; ioredis calls them as methods. */
function settle(this: CallbackCommand, reply: unknown): void {
  if (this.isSettled) return;
  let value: unknown;
  try {
    value = this.transformReply(reply as Buffer);
  } catch (err) {
    return fail.call(this, err as Error);
  }
  this.isResolved = true;
  this.isSettled = true;
  answer(this, null, value);
}

function fail(this: CallbackCommand, err: Error): void {
  if (this.isSettled) return;
  this.isSettled = true;
  this.onError?.(err);
  answer(this, err, undefined);
}

/**
 * A callback that throws must not stop ioredis half-way: ioredis guards the replies it parses, but when a connection
 * closes it fails every pending command in one loop, and a throw there would leave the rest unanswered. So the error
 * is thrown again once ioredis is done, as an exception in a promise handler would be (and it ends the process).
 */
function answer(command: CallbackCommand, err: Error | null, value: unknown): void {
  try {
    command.done(err, value);
  } catch (thrown) {
    queueMicrotask(() => {
      throw thrown;
    });
  }
}

/** Resolved once and shared: what `sendCommand` returns for these commands (the answer goes to the callback). */
const SENT = Promise.resolve(undefined);

Object.defineProperty(CallbackCommand.prototype, 'initPromise', {
  value(this: CallbackCommand) {
    this.isResolved = false;
    this.isSettled = false;
    this.stringifyArguments();
    this.resolve = settle;
    this.reject = fail;
    this.promise = SENT;
  },
});

/** Sends EVALSHA `sha` with `numberOfKeys` of `args` as keys on `conn`; `done` is called exactly once, after `onError`. */
export function evalshaWithCallback(
  conn: Redis, sha: string, numberOfKeys: number, args: Arg[], done: ReplyCallback, onError?: (err: Error) => void,
): void {
  const command = new CallbackCommand('evalsha', [sha, numberOfKeys, ...args], { replyEncoding: 'utf8' });
  command.done = done;
  command.onError = onError;
  conn.sendCommand(command);
}
