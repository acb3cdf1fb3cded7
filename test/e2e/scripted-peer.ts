// A hostile device for the end-to-end suites: a raw WebSocket that joins a room with a real device token (read from a
// logged-in device's settings file) and sends whatever envelope the test scripts, recording every frame it receives.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKeyValue } from '../../src/common/config.ts';
import type { Device } from '../helpers/e2e.ts';
import { sleep } from '../helpers/wait.ts';

export interface ScriptedPeer {
  label: string;
  /** Every frame received, parsed. */
  frames: any[];
  /** Sends an envelope (fields as given, plus from/room/ts/msgId) and resolves on its ack or error frame. */
  send(fields: Record<string, unknown>): Promise<any>;
  /** Like send, but sent again while the relay answers RATE_LIMITED (its per-connection byte budget refills in time). */
  sendPaced(fields: Record<string, unknown>): Promise<any>;
  /** Sends a text frame as is. */
  raw(text: string): void;
  /** Resolves with the first received frame (from index `since`) for which `match` holds. */
  waitFor(match: (f: any) => boolean, timeoutMs?: number, since?: number): Promise<any>;
  close(): void;
}

export function deviceToken(dev: Device): string {
  const text = readFileSync(join(dev.home, 'sync.conf'), 'utf8');
  const token = parseKeyValue(text, 'sync.conf').get('syncDeviceToken')?.value;
  if (!token) throw new Error(`${dev.name} is not signed in`);
  return token;
}

export async function scriptedPeer(url: string, room: string, label: string, token: string): Promise<ScriptedPeer> {
  const ws = new WebSocket(url);
  const frames: any[] = [];
  const waiters = new Set<() => void>();
  let n = 0;
  const prefix = randomBytes(6).toString('hex');
  ws.onmessage = (ev) => {
    try {
      frames.push(JSON.parse(String(ev.data)));
    } catch {
      frames.push({ unparsed: String(ev.data) });
    }
    for (const w of [...waiters]) w();
  };
  const peer: ScriptedPeer = {
    label, frames,
    raw: (text) => ws.send(text),
    send(fields) {
      const msgId = `${prefix}-${++n}`; // unique per connection: the relay acks a repeated msgId without routing it
      const since = frames.length;
      ws.send(JSON.stringify({ from: label, room, ts: Date.now(), msgId, to: 'broadcast', ...fields }));
      return peer.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.msgId === msgId, 10_000, since);
    },
    async sendPaced(fields) {
      for (;;) {
        const answer = await peer.send(fields);
        if (answer.type !== 'error' || answer.code !== 'RATE_LIMITED') return answer;
        await sleep(250);
      }
    },
    waitFor(match, timeoutMs = 10_000, since = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const f = frames.slice(since).find(match);
          if (f === undefined) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(f);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching frame within ${timeoutMs} ms; last frames: ${JSON.stringify(frames.slice(-5)).slice(0, 2000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => ws.close(),
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => ws.send(JSON.stringify({ type: 'join', room, device: label, token }));
    ws.onerror = () => reject(new Error(`${label}: cannot connect to ${url}`));
    peer.waitFor((f) => f.type === 'joined' || f.type === 'error', 10_000).then((f) => (f.type === 'joined' ? resolve() : reject(new Error(`${label}: join refused: ${JSON.stringify(f)}`))), reject);
  });
  return peer;
}
